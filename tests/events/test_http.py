"""HTTP: registry notifications in (/events/registry), the signed approval callback (seed 003).

Every refusal asserts its status, problem code, and that no secret leaked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import jwt
import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from regauth.config import parse_settings
from regauth.errors import ConfigError, EventsError
from regauth.events.approvals import AccessRequestView, Approvals, parse_decision
from regauth.events.signature import sign
from regauth.ports import SystemRandom
from regauth.store import AuditStore, Database
from regauth.store.models_events import EventRow, RegistryEventRow
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_token_get import assert_problem, basic, get_token

NOTIFY_SECRET = "notify-s3cret-value"
APPROVAL_SECRET = "approval-s3cret-value"
SAMPLE = (Path(__file__).with_name("registry-push-event.json")).read_bytes()
MEDIA = "application/vnd.docker.distribution.events.v1+json"
EVENTS = f"""
[events.registry]
secret = "{NOTIFY_SECRET}"
[events.approval]
enabled = true
secret = "{APPROVAL_SECRET}"
service = "change-board"
"""
URL = "/api/v1/webhooks/approval-response"


@pytest.fixture
def inst(tmp_path: Path, clock: FrozenClock) -> Instance:
    instance = make_instance(tmp_path, clock, extra=EVENTS)
    instance.add_user("alice", "alice-pw")
    return instance


@pytest.fixture
def client(inst: Instance) -> Iterator[TestClient]:
    with inst.client() as c:
        yield c


def notify(client: TestClient, body: bytes = SAMPLE, headers: dict[str, str] | None = None) -> Any:
    sent = {"Authorization": f"Bearer {NOTIFY_SECRET}", "Content-Type": MEDIA}
    sent.update(headers or {})
    return client.post("/events/registry", content=body, headers=sent)


def query(inst: Instance, fn: Any) -> Any:
    async def main() -> Any:
        db = Database(inst.settings.database_url)
        try:
            return await fn(db)
        finally:
            await db.dispose()

    return anyio.run(main)


def rows(inst: Instance, model: Any) -> list[Any]:
    from sqlalchemy import select

    async def fn(db: Database) -> list[Any]:
        async with db.session() as session:
            return list((await session.scalars(select(model))).all())

    result: list[Any] = query(inst, fn)
    return result


def assert_no_secret(response: Any) -> None:
    for secret in (NOTIFY_SECRET, APPROVAL_SECRET):
        assert secret not in response.text
        assert secret not in str(response.headers)


# --------------------------------------------------------------------------- registry in


def test_a_push_notification_is_stored_audited_counted_and_queued(
    inst: Instance, client: TestClient
) -> None:
    response = notify(client)
    assert response.status_code == 200, response.text
    (row,) = rows(inst, RegistryEventRow)
    assert (row.action, row.repository, row.tag, row.actor) == ("push", "team/app", "1", "alice")
    assert (row.source_addr, row.request_id) == (
        "127.0.0.1:57090",
        "4d1f4f97-62fe-4460-9368-3cb0f864abbc",
    )
    assert row.digest.startswith("sha256:0d8e8a2a")
    (event,) = rows(inst, EventRow)
    assert event.type == "registry.push"
    assert orjson.loads(event.body)["data"]["repository"] == "team/app"
    audit = query(inst, lambda db: AuditStore(db).list())
    (record,) = [r for r in audit if r.source == "registry"]
    assert (record.outcome, record.subject, record.client_ip) == (
        "registry.push",
        "alice",
        "127.0.0.1",
    )
    metrics = client.get("/metrics").text
    assert 'regauth_registry_events_total{action="push"} 1.0' in metrics


def test_a_replayed_event_id_changes_nothing(inst: Instance, client: TestClient) -> None:
    assert notify(client).status_code == 200
    assert notify(client).status_code == 200
    assert len(rows(inst, RegistryEventRow)) == 1
    assert len(rows(inst, EventRow)) == 1
    assert 'regauth_registry_events_total{action="push"} 1.0' in client.get("/metrics").text


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {NOTIFY_SECRET}x"},
        {"Authorization": NOTIFY_SECRET},
        {"Authorization": f"Basic {NOTIFY_SECRET}"},
    ],
)
def test_a_sender_without_the_header_is_401(
    inst: Instance, client: TestClient, headers: dict[str, str]
) -> None:
    response = notify(client, headers=headers)
    assert_problem(response, 401, "events.unauthorized")
    assert_no_secret(response)
    assert rows(inst, RegistryEventRow) == []


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"events": 1}', SAMPLE.replace(b'"push"', b'"steal"'), SAMPLE[:-20]],
)
def test_a_malformed_envelope_is_400_and_changes_nothing(
    inst: Instance, client: TestClient, body: bytes
) -> None:
    response = notify(client, body)
    assert_problem(response, 400, "events.malformed")
    assert rows(inst, RegistryEventRow) == [] and rows(inst, EventRow) == []


def test_a_partly_bad_envelope_stores_none_of_it(inst: Instance, client: TestClient) -> None:
    good = orjson.loads(SAMPLE)["events"][0]
    body = orjson.dumps({"events": [good, {**good, "id": "other", "action": "nope"}]})
    assert_problem(notify(client, body), 400, "events.malformed")
    assert rows(inst, RegistryEventRow) == []


def test_another_media_type_or_a_query_string_is_refused(client: TestClient) -> None:
    assert_problem(notify(client, headers={"Content-Type": "text/plain"}), 400, "events.malformed")
    response = client.post(
        f"/events/registry?token={NOTIFY_SECRET}",
        content=SAMPLE,
        headers={"Authorization": f"Bearer {NOTIFY_SECRET}", "Content-Type": MEDIA},
    )
    assert_problem(response, 400, "request.credential_in_url")
    assert_no_secret(response)


def test_an_oversized_body_is_400_not_5xx(inst: Instance, client: TestClient) -> None:
    assert_problem(notify(client, b" " * (4 * 1024 * 1024 + 1)), 400, "events.malformed")
    big = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    assert_problem(callback(client, big, hexmac(big)), 400, "events.malformed")
    assert rows(inst, RegistryEventRow) == []


def test_without_configuration_both_endpoints_are_404(tmp_path: Path, clock: FrozenClock) -> None:
    with make_instance(tmp_path, clock).client() as client:
        assert_problem(notify(client), 404, "events.not_enabled")
        assert_problem(client.post(URL, content=b"{}"), 404, "events.not_enabled")


# --------------------------------------------------------------------------- approvals


def request_access(inst: Instance, repository: str = "team/secret") -> AccessRequestView:
    async def fn(db: Database) -> AccessRequestView:
        approvals = Approvals(db, inst.clock, SystemRandom(), service="change-board")
        return await approvals.request("alice", repository, ("push",), 7200, "hotfix")

    view: AccessRequestView = query(inst, fn)
    return view


def decision(request_id: int, verdict: str = "approve") -> bytes:
    return orjson.dumps({"request_id": request_id, "decision": verdict})


def hexmac(body: bytes, secret: str = APPROVAL_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def now(inst: Instance) -> int:
    return int(inst.clock.now().timestamp())


def callback(client: TestClient, body: bytes, signature: str | None, path: str = URL) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Regauth-Signature"] = signature
    return client.post(path, content=body, headers=headers)


FORMATS = {
    "t,v1": lambda inst, body: sign(APPROVAL_SECRET.encode(), now(inst), body),
    "raw hex": lambda inst, body: hexmac(body),
    "sha256=": lambda inst, body: f"sha256={hexmac(body)}",
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_signature_format_is_accepted(inst: Instance, client: TestClient, fmt: str) -> None:
    view = request_access(inst)
    body = decision(view.id)
    response = callback(client, body, FORMATS[fmt](inst, body))
    assert response.status_code == 200, response.text
    assert response.json() == {"request_id": view.id, "state": "approved"}
    events = sorted(e.type for e in rows(inst, EventRow))
    assert events == ["access.approved", "access.requested"]


def _stale(inst: Instance, body: bytes) -> str:
    return sign(APPROVAL_SECRET.encode(), now(inst) - 301, body)


REFUSALS = [
    (
        "wrong secret",
        lambda inst, b: sign(b"not-the-secret", now(inst), b),
        401,
        "signature.invalid",
    ),
    ("wrong secret, hex", lambda inst, b: hexmac(b, "nope"), 401, "signature.invalid"),
    ("stale timestamp", _stale, 401, "signature.stale"),
    ("missing signature", lambda inst, b: None, 401, "signature.missing"),
    ("garbage", lambda inst, b: "sha256=zz", 401, "signature.malformed"),
]


@pytest.mark.parametrize(
    ("case", "signer", "status", "code"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_refused_callbacks_change_nothing(
    inst: Instance, client: TestClient, case: str, signer: Any, status: int, code: str
) -> None:
    view = request_access(inst)
    body = decision(view.id)
    response = callback(client, body, signer(inst, body))
    assert_problem(response, status, code)
    assert_no_secret(response)
    assert "WWW-Authenticate" not in response.headers
    (row,) = query(inst, lambda db: Approvals(db, inst.clock, SystemRandom()).list())
    assert row.state == "requested"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_replayed_signature_is_refused(inst: Instance, client: TestClient, fmt: str) -> None:
    first, second = request_access(inst), request_access(inst)
    body = decision(first.id)
    signature = FORMATS[fmt](inst, body)
    assert callback(client, body, signature).status_code == 200
    assert_problem(callback(client, body, signature), 401, "signature.replayed")
    # A fresh signature for another request still works.
    other = decision(second.id, "deny")
    assert callback(client, other, FORMATS[fmt](inst, other)).json()["state"] == "denied"


@pytest.mark.parametrize("key", ["api_key", "key", "token", "secret", "signature"])
def test_a_key_in_the_query_string_is_refused_even_with_a_valid_signature(
    inst: Instance, client: TestClient, key: str
) -> None:
    view = request_access(inst)
    body = decision(view.id)
    response = callback(client, body, hexmac(body), path=f"{URL}?{key}={APPROVAL_SECRET}")
    assert_problem(response, 400, "request.credential_in_url")
    assert_no_secret(response)
    (row,) = query(inst, lambda db: Approvals(db, inst.clock, SystemRandom()).list())
    assert row.state == "requested"


def test_api_key_headers_do_not_replace_the_signature(inst: Instance, client: TestClient) -> None:
    view = request_access(inst)
    body = decision(view.id)
    response = client.post(URL, content=body, headers={"X-Api-Key": "anything"})
    assert_problem(response, 401, "signature.missing")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "events.malformed"),
        (b'{"request_id": 1}', 400, "events.malformed"),
        (b'{"request_id": -1, "decision": "approve"}', 400, "events.malformed"),
        (b'{"request_id": 999, "decision": "approve"}', 404, "access.not_found"),
    ],
)
def test_bad_decisions_are_problems(
    inst: Instance, client: TestClient, body: bytes, status: int, code: str
) -> None:
    assert_problem(callback(client, body, hexmac(body)), status, code)


def test_a_decided_request_cannot_be_decided_again(inst: Instance, client: TestClient) -> None:
    view = request_access(inst)
    body = decision(view.id)
    assert callback(client, body, hexmac(body)).status_code == 200
    again = decision(view.id, "deny")
    assert_problem(callback(client, again, hexmac(again)), 409, "access.already_decided")


def granted(client: TestClient, scope: str) -> list[str]:
    response = get_token(client, scope, auth=basic("alice", "alice-pw"))
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return [a for entry in claims["access"] for a in entry["actions"]]


def test_an_approval_grants_push_for_the_window_only(inst: Instance, client: TestClient) -> None:
    scope = "repository:team/secret:pull,push"
    assert granted(client, scope) == []
    view = request_access(inst)
    body = decision(view.id)
    assert (
        callback(client, body, sign(APPROVAL_SECRET.encode(), now(inst), body)).status_code == 200
    )
    assert granted(client, scope) == ["push"]
    assert granted(client, "repository:team/other:push") == []
    inst.clock.advance(seconds=7199)
    assert granted(client, scope) == ["push"]
    inst.clock.advance(seconds=1)
    assert granted(client, scope) == []


def test_the_trace_shows_the_temporary_grant(inst: Instance) -> None:
    with inst.client() as client:
        view = request_access(inst)
        body = decision(view.id)
        assert callback(client, body, hexmac(body)).status_code == 200
        assert granted(client, "repository:team/secret:push") == ["push"]
    records = query(inst, lambda db: AuditStore(db).list(subject="alice"))
    document = orjson.loads(records[0].document)
    (trace,) = [t for t in document["granted"][0]["trace"] if t["stage"] == "temporary"]
    assert trace["reason"] == (
        f"temporary grant #{view.id}, approved by change-board until 2026-11-23T14:00:00+00:00"
    )


def test_a_denial_grants_nothing_and_emits_access_denied(
    inst: Instance, client: TestClient
) -> None:
    view = request_access(inst)
    body = decision(view.id, "deny")
    assert callback(client, body, hexmac(body)).json()["state"] == "denied"
    assert granted(client, "repository:team/secret:push") == []
    assert "access.denied" in {e.type for e in rows(inst, EventRow)}


def test_expiry_and_revocation_emit_events(inst: Instance) -> None:
    a, b = request_access(inst), request_access(inst)

    async def fn(db: Database) -> int:
        approvals = Approvals(db, inst.clock, SystemRandom(), secrets=(APPROVAL_SECRET.encode(),))
        for view in (a, b):
            body = decision(view.id)
            await approvals.respond(hexmac(body), body)
        await approvals.revoke(b.id)
        inst.clock.advance(seconds=7200)
        return await approvals.expire(inst.clock.now())

    assert query(inst, fn) == 1
    types = sorted(e.type for e in rows(inst, EventRow))
    assert types.count("access.expired") == 1 and types.count("access.revoked") == 1


# --------------------------------------------------------------------------- configuration


def test_the_approval_endpoint_needs_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings("[events.approval]\nenabled = true\n", base_dir=tmp_path, environ={})
    assert "events.approval" in str(info.value)


def test_an_unset_secret_variable_stops_start_up(tmp_path: Path, clock: FrozenClock) -> None:
    extra = '[events.approval]\nenabled = true\nsecret_env = "TEST_UNSET_APPROVAL_SECRET"\n'
    instance = make_instance(tmp_path, clock, extra=extra)
    with pytest.raises(ConfigError) as info, instance.client():
        pass
    assert "TEST_UNSET_APPROVAL_SECRET" in str(info.value)
    assert "events.approval" in str(info.value)


@given(st.binary(max_size=300))
@hsettings(deadline=None)
def test_arbitrary_callback_bodies_never_crash_the_parser(body: bytes) -> None:
    with contextlib.suppress(EventsError):
        parse_decision(body)


@given(
    st.dictionaries(
        st.sampled_from(["request_id", "decision", "approver", "x"]),
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=200),
    )
)
def test_arbitrary_callback_objects_never_crash_the_parser(data: dict[str, object]) -> None:
    with contextlib.suppress(EventsError):
        decision = parse_decision(orjson.dumps(data))
        assert decision.request_id > 0 and decision.state in ("approved", "denied")
