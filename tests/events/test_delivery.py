"""The delivery worker against a real HTTP receiver on loopback."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
import trustme

from regauth.config.events import DeliverySettings, EventWebhookSettings
from regauth.errors import ConfigError
from regauth.events.delivery import BACKLOG_SECONDS, DeliveryMetrics, DeliveryWorker, Endpoint
from regauth.events.outbox import Outbox, enqueue
from regauth.metrics import MetricRegistry
from regauth.ports import SystemClock, SystemRandom
from regauth.store import Database
from tests.conftest import FrozenClock
from tests.events.receiver import Receiver

pytestmark = pytest.mark.anyio
SECRET = b"receiver-secret"
FAST = DeliverySettings(
    retry_schedule=(0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2),
    lease_seconds=5,
    poll_interval=0.05,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'events.db'}")
    database.migrate()
    yield database
    await database.dispose()


def endpoint(url: str, patterns: tuple[str, ...] = ("*",)) -> Endpoint:
    from regauth.config.events import subscribed

    def wants(type: str) -> bool:
        return any(subscribed(p, type) for p in patterns)

    return Endpoint("receiver", url, SECRET, patterns, 1.0, None, wants)


async def add(db: Database, n: int, type: str = "registry.push") -> set[str]:
    clock, random = SystemClock(), SystemRandom()
    ids = set()
    async with db.session() as session, session.begin():
        for i in range(n):
            ids.add(
                await enqueue(
                    session, type, {"i": i}, at=clock.now(), event_id=random.token_hex(16)
                )
            )
    return ids


REGISTRY = MetricRegistry()
METRICS = DeliveryMetrics(REGISTRY)


def count(result: str) -> float:
    labels = {"webhook": "receiver", "result": result}
    return REGISTRY.sample("regauth_event_deliveries_total", labels) or 0.0


def worker(db: Database, url: str, settings: DeliverySettings = FAST) -> DeliveryWorker:
    return DeliveryWorker(
        Outbox(db),
        [endpoint(url)],
        settings,
        clock=SystemClock(),
        random=SystemRandom(),
        metrics=METRICS,
    )


async def test_everything_arrives_once_the_receiver_is_back(db: Database) -> None:
    port = free_port()
    receiver = Receiver(SECRET, port)
    ids = await add(db, 40)
    w = worker(db, receiver.url)
    failed_before = count("failed")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(w.run)
        await anyio.sleep(1.0)  # down: every attempt fails with a connection error
        failed = count("failed") - failed_before
        receiver.start()
        try:
            with anyio.fail_after(20):
                while not ids <= set(receiver.counts):  # noqa: ASYNC110 — another thread fills it
                    await anyio.sleep(0.05)
                # The receiver counts an event when it arrives; the worker marks it
                # delivered once the answer is back: wait for that too.
                while await Outbox(db).backlog(SystemClock().now()) != (0, 0.0):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
        finally:
            tasks.cancel_scope.cancel()
            receiver.stop()
    await w.aclose()
    assert failed > 0
    assert set(receiver.counts) == ids
    assert receiver.bad_signatures == 0 and receiver.mismatched_ids == 0
    assert all(receiver.types[i] == "registry.push" for i in ids)
    assert await Outbox(db).backlog(SystemClock().now()) == (0, 0.0)


async def test_a_receiver_that_keeps_failing_gets_the_event_dead_lettered(db: Database) -> None:
    receiver = Receiver(SECRET, free_port()).start()
    receiver.status = 500
    settings = DeliverySettings(retry_schedule=(0.1, 0.1), lease_seconds=5, poll_interval=0.05)
    (event_id,) = await add(db, 1)
    w = worker(db, receiver.url, settings)
    before = count("failed"), count("dead")
    try:
        with anyio.fail_after(10):
            while not await Outbox(db).deliveries(state="dead"):
                await w.run_once()
                await anyio.sleep(0.05)
    finally:
        receiver.stop()
        await w.aclose()
    (dead,) = await Outbox(db).deliveries(state="dead")
    assert (dead.event_id, dead.attempts, dead.last_error) == (event_id, 3, "HTTP 500")
    assert (count("failed") - before[0], count("dead") - before[1]) == (2, 1)


async def test_events_nobody_subscribed_to_are_routed_nowhere(db: Database) -> None:
    await add(db, 3, type="token.issued")
    w = DeliveryWorker(
        Outbox(db),
        [endpoint("http://127.0.0.1:9/none", ("registry.*",))],
        FAST,
        clock=SystemClock(),
        random=SystemRandom(),
        metrics=DeliveryMetrics(MetricRegistry()),
    )
    assert await w.run_once() == 0
    await w.aclose()
    assert await Outbox(db).deliveries() == []
    assert await Outbox(db).backlog(SystemClock().now()) == (0, 0.0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def mtls_receiver(ca: trustme.CA) -> Receiver:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    return Receiver(SECRET, free_port(), tls=context).start()


def tls_hook(url: str, tmp_path: Path, ca: trustme.CA, client_cert: bool) -> Endpoint:
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    extra: dict[str, object] = {}
    if client_cert:
        client = ca.issue_cert("regauth.client.test")
        client.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
        client.private_key_pem.write_to_path(str(tmp_path / "client.key"))
        extra = {"client_certificate_bundle": "client.pem", "client_private_key": "client.key"}
    settings = EventWebhookSettings.model_validate(
        {
            "url": url,
            "secret": SECRET.decode(),
            "events": ["*"],
            "server_ca_bundle": "ca.pem",
            **extra,
        }
    )
    return Endpoint.build("receiver", settings, {}, tmp_path)


@pytest.mark.parametrize("client_cert", [True, False])
async def test_mtls_deliveries_need_the_client_certificate(
    db: Database, tmp_path: Path, ca: trustme.CA, client_cert: bool
) -> None:
    receiver = mtls_receiver(ca)
    (event_id,) = await add(db, 1)
    w = DeliveryWorker(
        Outbox(db),
        [tls_hook(receiver.url, tmp_path, ca, client_cert)],
        FAST,
        clock=SystemClock(),
        random=SystemRandom(),
        metrics=METRICS,
    )
    try:
        assert await w.run_once() == 1
    finally:
        await w.aclose()
        receiver.stop()
    (delivery,) = await Outbox(db).deliveries()
    if client_cert:
        assert delivery.state == "delivered" and set(receiver.counts) == {event_id}
    else:
        refused = ("ConnectError", "ReadError", "SSLError")
        assert delivery.state == "pending" and delivery.last_error in refused
        assert receiver.counts == {}


async def test_a_tls_error_that_escapes_the_http_client_is_a_failed_attempt(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpcore can let a bare ssl.SSLError through (a TLS 1.3 alert on the first read):
    the delivery is marked failed and retried, and the round goes on."""
    (event_id,) = await add(db, 1)
    w = worker(db, "http://127.0.0.1:9/")
    before = count("failed")

    async def refused(*args: object, **kwargs: object) -> None:
        raise ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] certificate required")

    (client,) = w._clients.values()
    monkeypatch.setattr(client, "post", refused)
    try:
        assert await w.run_once() == 1
    finally:
        await w.aclose()
    (delivery,) = await Outbox(db).deliveries()
    assert delivery.event_id == event_id
    assert delivery.state == "pending" and delivery.last_error == "SSLError"
    assert count("failed") == before + 1


def test_an_unreadable_ca_bundle_names_the_setting(tmp_path: Path) -> None:
    settings = EventWebhookSettings.model_validate(
        {"url": "https://x.test/", "secret": "s", "events": ["*"], "server_ca_bundle": "nope.pem"}
    )
    with pytest.raises(ConfigError) as info:
        Endpoint.build("siem", settings, {}, tmp_path)
    assert info.value.path == "events.webhook.siem.server_ca_bundle"


class CountingOutbox(Outbox):
    """The real outbox, counting how often the backlog gauges are re-read."""

    backlogs = 0

    async def backlog(self, now: datetime) -> tuple[int, float]:
        self.backlogs += 1
        return await super().backlog(now)


async def test_an_idle_worker_rereads_the_backlog_gauges_only_now_and_then(db: Database) -> None:
    clock = FrozenClock(datetime.now(UTC))
    registry = MetricRegistry()
    receiver = Receiver(SECRET, free_port()).start()
    outbox = CountingOutbox(db)
    w = DeliveryWorker(
        outbox,
        [endpoint(receiver.url)],
        FAST,
        clock=clock,
        random=SystemRandom(),
        metrics=DeliveryMetrics(registry),
    )
    try:
        await add(db, 2)
        later = clock.now() + timedelta(seconds=BACKLOG_SECONDS)
        assert await outbox.route(lambda _t: ["receiver"], later) == 2  # due in 10 s
        assert await w.run_once() == 0
        assert (outbox.backlogs, registry.sample("regauth_outbox_depth")) == (1, 2.0)
        clock.advance(seconds=BACKLOG_SECONDS / 2)
        assert await w.run_once() == 0
        assert outbox.backlogs == 1  # idle, and read a moment ago
        clock.advance(seconds=BACKLOG_SECONDS)
        assert await w.run_once() == 2  # due now: both delivered, then the gauges re-read
        assert (outbox.backlogs, registry.sample("regauth_outbox_depth")) == (2, 0.0)
        assert await w.run_once() == 0
        assert outbox.backlogs == 2
        clock.advance(seconds=BACKLOG_SECONDS)
        assert await w.run_once() == 0
        assert outbox.backlogs == 3  # idle, but the last reading is old
    finally:
        await w.aclose()
        receiver.stop()
