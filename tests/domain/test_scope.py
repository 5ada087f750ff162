from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.domain.scope import (
    Resource,
    ResourceActions,
    format_scope,
    merge,
    parse_scope,
    parse_scopes,
)
from regauth.errors import MalformedScope


@pytest.mark.parametrize(
    ("text", "rtype", "cls", "name", "actions"),
    [
        ("repository:team/app:pull", "repository", "", "team/app", ("pull",)),
        ("repository:team/app:pull,push", "repository", "", "team/app", ("pull", "push")),
        ("repository:team/app:pull,pull", "repository", "", "team/app", ("pull",)),
        (
            "repository:localhost:5000/team/app:pull",
            "repository",
            "",
            "localhost:5000/team/app",
            ("pull",),
        ),
        ("repository:a.b.example:443/x:*", "repository", "", "a.b.example:443/x", ("*",)),
        ("repository(plugin):vendor/p:pull", "repository", "plugin", "vendor/p", ("pull",)),
        ("registry:catalog:*", "registry", "", "catalog", ("*",)),
        ("repository:a__b/c-d.e_f:delete", "repository", "", "a__b/c-d.e_f", ("delete",)),
    ],
)
def test_parse_scope_accepts(
    text: str, rtype: str, cls: str, name: str, actions: tuple[str, ...]
) -> None:
    item = parse_scope(text)
    assert item == ResourceActions(Resource(rtype, name, cls), actions)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "repository",
        "repository:team/app",
        ":team/app:pull",
        "repository::pull",
        "repository:team/app:",
        "repository:Team/App:pull",
        "repository:team//app:pull",
        "repository:team/app:pull,,push",
        "repository:team/app:PULL",
        "Repository:team/app:pull",
        "repository(:x:pull",
        "repository:-team/app:pull",
        "repository:team/app/:pull",
        "repository:" + "a" * 300 + ":pull",
        "x" * 2000,
        "repository:team app:pull",
    ],
)
def test_parse_scope_rejects(text: str) -> None:
    with pytest.raises(MalformedScope) as info:
        parse_scope(text)
    assert info.value.status == 400
    assert info.value.code == "request.malformed_scope"


def test_parse_scopes_splits_spaces_and_merges_duplicates() -> None:
    items = parse_scopes(
        ["repository:team/app:pull repository:team/app:pull,push", "repository:team/app:pull"]
    )
    assert [format_scope(i) for i in items] == ["repository:team/app:pull,push"]


def test_merge_keeps_first_seen_order() -> None:
    a = ResourceActions(Resource("repository", "a"), ("push",))
    b = ResourceActions(Resource("repository", "b"), ("pull",))
    a2 = ResourceActions(Resource("repository", "a"), ("pull", "push"))
    assert merge([a, b, a2]) == (
        ResourceActions(Resource("repository", "a"), ("push", "pull")),
        b,
    )


def test_error_detail_does_not_echo_control_characters() -> None:
    with pytest.raises(MalformedScope) as info:
        parse_scope("repository:\x1b[31mred:pull")
    assert "\x1b" not in info.value.detail


component = st.from_regex(r"[a-z0-9]+(?:[._-][a-z0-9]+)?", fullmatch=True)
names = st.lists(component, min_size=1, max_size=4).map("/".join)
hosts = st.sampled_from(["", "localhost:5000/", "registry.example.com/", "10.0.0.1:443/"])
actions = st.lists(st.sampled_from(["pull", "push", "delete", "*"]), min_size=1, unique=True)


@given(host=hosts, name=names, acts=actions, cls=st.sampled_from(["", "plugin"]))
def test_parse_format_round_trip(host: str, name: str, acts: list[str], cls: str) -> None:
    item = ResourceActions(Resource("repository", host + name, cls), tuple(acts))
    assert parse_scope(format_scope(item)) == item


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_malformed_scope(text: str) -> None:
    try:
        item = parse_scope(text)
    except MalformedScope:
        return
    assert item.actions


@given(st.lists(st.text(alphabet="repositoy:/abc,*pulsh ", max_size=60), max_size=5))
def test_parse_scopes_never_raises_anything_else(texts: list[str]) -> None:
    with contextlib.suppress(MalformedScope):
        parse_scopes(texts)
