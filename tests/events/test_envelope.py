"""Distribution notification envelopes: the real 2.8.2 sample, malformed ones, fuzzing."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.errors import EventsError
from regauth.events.registry import parse_envelope

SAMPLE = Path(__file__).with_name("registry-push-event.json")


def sample() -> dict[str, object]:
    data: dict[str, object] = orjson.loads(SAMPLE.read_bytes())
    return data


def test_the_real_registry_push_envelope() -> None:
    (event,) = parse_envelope(SAMPLE.read_bytes())
    assert event.id == "23c6ff4e-cd37-4f0f-ae56-cc869af4f9c9"
    assert event.action == "push"
    assert event.repository == "team/app"
    assert event.tag == "1"
    assert event.digest.startswith("sha256:0d8e8a2a")
    assert event.actor == "alice"
    assert event.source_addr == "127.0.0.1:57090"
    assert event.request_id == "4d1f4f97-62fe-4460-9368-3cb0f864abbc"
    assert event.user_agent == "skopeo/1.9.3"
    # Go's nanoseconds are cut to microseconds.
    assert event.at == datetime(2026, 11, 22, 18, 26, 19, 941121, tzinfo=UTC)


def test_an_empty_list_is_valid() -> None:
    assert parse_envelope(b'{"events": []}') == ()


def _with(**changes: object) -> bytes:
    data = sample()
    event = dict(data["events"][0])  # type: ignore[index]
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return orjson.dumps({"events": [event]})


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"events": {}}',
        b'{"events": [1]}',
        _with(action="explode"),
        _with(action=None),
        _with(id=""),
        _with(id=None),
        _with(id=7),
        _with(timestamp="yesterday"),
        _with(timestamp="2026-11-22T18:26:19"),
        _with(target=None),
        _with(target={"tag": "1"}),
        _with(target={"repository": "a\nb"}),
        _with(target={"repository": "x" * 200}),
        _with(actor="alice"),
        _with(request=[]),
        orjson.dumps({"events": [sample()["events"][0]] * 1001}),  # type: ignore[index]
    ],
)
def test_malformed_envelopes_are_refused_whole(body: bytes) -> None:
    with pytest.raises(EventsError) as info:
        parse_envelope(body)
    assert info.value.status == 400
    assert info.value.code == "events.malformed"


@given(
    st.recursive(
        st.none() | st.text() | st.integers(-(2**53), 2**53),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_arbitrary_json_never_crashes(value: object) -> None:
    with contextlib.suppress(EventsError):
        parse_envelope(orjson.dumps({"events": [value]}))


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    with contextlib.suppress(EventsError):
        parse_envelope(body)
