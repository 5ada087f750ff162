"""The hot path's own query and header parsing gives Starlette's answers (regauth.web.raw)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.datastructures import Headers, QueryParams

from regauth.web.raw import RawHeaders, query_pairs

# Queries built from the characters that matter to the grammar, plus anything else.
_QUERY_CHARS = st.sampled_from([*"&=%+;ab09AFfz é/:,\x00\xff", "%2", "%2B", "%zz", "%C3%A9"])
queries = st.one_of(
    st.lists(_QUERY_CHARS, max_size=40).map("".join),
    st.binary(max_size=60).map(lambda raw: raw.decode("latin-1")),
    st.text(max_size=40),
)


@given(queries)
@example("scope=a&scope=b&service=x&service=y")
@example("a&=b&&c=&=&%&+=%2B&d=e=f")
@example("x=%C3%A9%ff&%e9=1")
def test_query_pairs_is_parse_qsl_with_blank_values(text: str) -> None:
    assert query_pairs(text) == parse_qsl(text, keep_blank_values=True)


@given(st.binary(max_size=80))
def test_a_query_string_reads_as_starlette_reads_it(raw: bytes) -> None:
    """Latin-1 decoding, repeated names in order, last value wins for ``dict``."""
    pairs = query_pairs(raw.decode("latin-1"))
    params = QueryParams(raw)
    assert pairs == params.multi_items()
    assert [v for k, v in pairs if k == "scope"] == params.getlist("scope")
    assert dict(pairs).get("service") == params.get("service")


_NAMES = st.sampled_from(
    [b"authorization", b"dpop", b"x-api-key", b"host", b"content-length", b"x-forwarded-for"]
)
_VALUES = st.binary(max_size=20)
header_lists = st.lists(
    st.tuples(st.one_of(_NAMES, st.binary(min_size=1, max_size=8)), _VALUES), max_size=8
)
_PROBES = ["authorization", "Authorization", "DPOP", "dpop", "x-api-key", "host", "missing", "é"]


@given(header_lists)
@example([(b"dpop", b"a"), (b"dpop", b"b"), (b"host", b"h")])
@example([(b"Authorization", b"upper-case name from a non-conforming server")])
def test_raw_headers_answer_as_starlette_headers(raw: list[tuple[bytes, bytes]]) -> None:
    ours, theirs = RawHeaders(raw), Headers(raw=raw)
    for name in _PROBES:
        assert ours.get(name) == theirs.get(name)
        assert ours.get(name, "fallback") == theirs.get(name, "fallback")
        assert ours.getlist(name) == theirs.getlist(name)
        assert ours.count(name) == len(theirs.getlist(name))
        assert (name in ours) == (name in theirs)
        if name in theirs:
            assert ours[name] == theirs[name]
        else:
            with pytest.raises(KeyError):
                ours[name]
    assert ours.items() == theirs.items()
    assert ours.keys() == theirs.keys()
    assert ours.values() == theirs.values()
    assert len(ours) == len(theirs)
    assert list(ours) == list(theirs)


def test_raw_headers_repr_names_no_value() -> None:
    headers = RawHeaders([(b"authorization", b"Basic c2VjcmV0OnNlY3JldA==")])
    assert "c2VjcmV0" not in repr(headers)
    assert "authorization" in repr(headers)
