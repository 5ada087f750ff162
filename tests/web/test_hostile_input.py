"""Malformed and hostile requests: always a 4xx problem, never a 5xx (generated cases).

The generator is seeded (reproducible): every failing case prints its index.
Requests are driven straight into the ASGI application as served (the
``/token`` fast path in front of Starlette), so raw bytes reach every header,
parameter and body field exactly as a hostile client could send them. The
last test sends raw bytes to a real server (chunked framing, a declared
10 GiB body, requests granian answers itself).
"""

from __future__ import annotations

import base64
import contextlib
import random
import socket
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_from_bytes

import httpx2 as httpx
import orjson
import pytest
from starlette.testclient import TestClient

from regauth.web.app import create_asgi
from regauth.web.problems import MEDIA_TYPE
from tests.conftest import Instance
from tests.web.live_server import SERVICE as LIVE_SERVICE
from tests.web.live_server import make_server, running

CASES = 2000
SEED = 9_2026
SERVICE = "registry.test"
SECRET_MARK = "S3CR3T"  # every generated password carries it: no response may echo it

Header = tuple[bytes, bytes]


@dataclass
class Case:
    method: str
    path: str
    query: bytes = b""
    headers: list[Header] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    disconnect: bool = False  # the body stream ends with http.disconnect


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


async def call(app: Callable[..., Awaitable[None]], case: Case, client_ip: str) -> Answer:
    """One request through the ASGI interface; the answer as the server would send it."""
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in case.body]
    if case.disconnect:
        messages.append({"type": "http.disconnect"})
    else:
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": case.method,
        "scheme": "http",
        "path": case.path,
        "raw_path": case.path.encode("utf-8", "surrogateescape"),
        "query_string": case.query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in case.headers],
        "client": (client_ip, 40000),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(bytes(m.get("body", b"")) for m in sent if m["type"] == "http.response.body")  # type: ignore[call-overload]
    headers = dict(start.get("headers", []))  # type: ignore[call-overload]
    return Answer(int(start["status"]), headers, body)  # type: ignore[call-overload]


class Generator:
    """Random requests biased towards what a parser may trip on."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def text(self, limit: int = 40) -> str:
        r = self.r
        kind = r.randrange(6)
        n = r.randrange(limit)
        if kind == 0:
            return "".join(r.choice(string.printable) for _ in range(n))
        if kind == 1:  # any code point, surrogates included
            return "".join(chr(r.randrange(0x110000)) for _ in range(n))
        if kind == 2:
            return r.choice(["", " ", ":", "\x00", "é€", "\u202e", "%", "%ZZ", "..", "🔑"])
        if kind == 3:
            return "a" * r.choice([1, 255, 256, 4096, 20_000])
        if kind == 4:
            return r.choice(["alice", "bob", "admin", "robot$x", "alice@x"])
        return "".join(r.choice("abc:/,*@$.-_ ") for _ in range(n))

    def raw(self, limit: int = 40) -> bytes:
        r = self.r
        kind = r.randrange(4)
        if kind == 0:
            return bytes(r.randrange(256) for _ in range(r.randrange(limit)))
        if kind == 1:
            return r.choice(
                [b"\x80", b"\xc3\x28", b"\xed\xa0\x80", b"\xff\xfe", b"\xc3\xa9\xe2\x82\xac"]
            )
        return self.text(limit).encode("utf-8", "surrogatepass")

    def password(self) -> str:
        return SECRET_MARK + self.text(20)

    def scope(self) -> str:
        r = self.r
        if r.random() < 0.3:
            return self.text(80)
        typ = r.choice(["repository", "registry", "repository(plugin)", "", "x" * 300])
        name = r.choice(["alice/app", "public/base", "secret/x", "", "a" * 300, self.text(30)])
        actions = r.choice(["pull", "pull,push", "*", "", ",,", "delete", self.text(10)])
        return f"{typ}:{name}:{actions}"

    def query(self) -> bytes:
        r = self.r
        names = ["service", "scope", "offline_token", "client_id", "account", self.text(8)]
        parts: list[bytes] = []
        for _ in range(r.randrange(8)):
            name = r.choice(names)
            value: bytes
            if name == "scope":
                value = self.scope().encode("utf-8", "surrogatepass")
            elif name == "service" and r.random() < 0.6:
                value = SERVICE.encode()
            else:
                value = self.raw()
            parts.append(
                quote_from_bytes(name.encode("utf-8", "surrogatepass")).encode()
                + b"="
                + quote_from_bytes(value).encode()
            )
        if r.random() < 0.1:
            parts.append(self.raw())  # not even percent-encoded
        return b"&".join(parts)

    def authorization(self) -> bytes:
        r = self.r
        kind = r.randrange(9)
        if kind == 0:
            user = self.text(20).encode("utf-8", "surrogatepass")
            pair = user + b":" + self.password().encode("utf-8", "surrogatepass")
            return b"Basic " + base64.b64encode(pair)
        if kind == 1:  # valid base64 of invalid UTF-8
            return b"Basic " + base64.b64encode(self.raw())
        if kind == 2:  # not base64, or not ASCII at all
            return b"Basic " + self.raw()
        if kind == 3:
            return b"Basic " + base64.b64encode(b"alice:" + SECRET_MARK.encode())
        if kind == 4:
            return b"Bearer " + self.raw(200)
        if kind == 5:
            return r.choice(
                [b"Bearer regauth_pat_", b"Bearer regauth_rt_x", b"DPoP ", b"Basic", b""]
            )
        if kind == 6:
            return self.raw()
        if kind == 7:
            return b"Basic " + base64.b64encode(b"alice:" + SECRET_MARK.encode() * 5000)
        return b"Bearer " + b".".join(base64.urlsafe_b64encode(self.raw()) for _ in range(3))

    def headers(self, method: str) -> list[Header]:
        r = self.r
        found: list[Header] = []
        if r.random() < 0.7:
            found.append((b"authorization", self.authorization()))
        if r.random() < 0.1:
            found.append((b"authorization", self.authorization()))  # repeated
        if r.random() < 0.15:
            found.append((b"x-api-key", r.choice([b"", b"  ", b"regauth_ak_x", self.raw()])))
        if r.random() < 0.1:
            found += [(b"dpop", self.raw(100)) for _ in range(r.randrange(1, 3))]
        if r.random() < 0.1:
            found.append((b"x-forwarded-for", self.raw()))
        if r.random() < 0.05:
            found.append((b"host", self.raw()))
        if method == "POST" or r.random() < 0.1:
            found.append(
                (
                    b"content-type",
                    r.choice(
                        [
                            b"application/x-www-form-urlencoded",
                            b"application/x-www-form-urlencoded; charset=utf-8",
                            b"application/json",
                            b"multipart/form-data; boundary=x",
                            b"text/plain",
                            self.raw(),
                        ]
                    ),
                )
            )
        if r.random() < 0.05:
            found.append(
                (
                    b"content-length",
                    r.choice(
                        [
                            b"-1",
                            b"abc",
                            b"99999999999999999999999",
                            b"10737418240",
                            "١٢".encode(),
                            b"0",
                        ]
                    ),
                )
            )
        if r.random() < 0.05:
            found.append((self.raw(20) or b"x", self.raw()))
        return found

    def form(self) -> bytes:
        r = self.r
        if r.random() < 0.1:
            return orjson.dumps(
                {"grant_type": "password", "username": "alice", "password": self.password()}
            )
        if r.random() < 0.05:
            return self.raw(400)
        fields = {
            "grant_type": r.choice(
                ["password", "refresh_token", "", "client_credentials", self.text(10)]
            ),
            "username": self.text(20),
            "password": self.password(),
            "refresh_token": r.choice(["", "regauth_rt_" + self.text(20), self.text(40)]),
            "scope": " ".join(self.scope() for _ in range(r.randrange(4))),
            "service": r.choice([SERVICE, self.text(10)]),
            "client_id": self.text(30),
            "access_type": r.choice(["offline", "online", self.text(5)]),
        }
        parts = []
        for name, value in fields.items():
            for _ in range(r.choice([0, 1, 1, 1, 2])):  # missing or repeated
                encoded = value.encode("utf-8", "surrogatepass")
                if r.random() < 0.1:
                    encoded = self.raw() + encoded
                parts.append(name.encode() + b"=" + quote_from_bytes(encoded).encode())
        body = b"&".join(parts)
        if r.random() < 0.03:
            body += b"x=" + b"a" * 20_000  # over the form limit
        return body

    def case(self) -> Case:
        r = self.r
        method = r.choice(
            ["GET"] * 12 + ["POST"] * 10 + ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"]
        )
        path = r.choice(
            ["/token"] * 40
            + [
                "/token/",
                "/TOKEN",
                "/healthz",
                "/.well-known/jwks.json",
                "/metrics",
                "/nope",
                "/" + self.text(20),
            ]
        )
        case = Case(method, path, self.query(), self.headers(method))
        if method in ("POST", "PUT", "PATCH") or r.random() < 0.05:
            body = self.form()
            cut = sorted(r.sample(range(len(body) + 1), min(len(body) + 1, r.randrange(1, 4))))
            case.body = [
                body[a:b] for a, b in zip([0, *cut], [*cut, len(body)], strict=True) if b > a
            ]
            case.disconnect = r.random() < 0.08
        return case


def check(index: int, case: Case, answer: Answer) -> None:
    where = f"case {index}: {case.method} {case.path!r} → {answer.status} {answer.body[:200]!r}"
    assert answer.status < 500, where
    assert SECRET_MARK.encode() not in answer.body, where
    if answer.status >= 400 and case.method != "HEAD":
        assert answer.headers.get(b"content-type") == MEDIA_TYPE.encode(), where
        problem = orjson.loads(answer.body)
        assert problem["status"] == answer.status, where
        assert problem["code"].startswith(("request.", "auth.")), where
    if answer.status == 405:
        assert answer.headers.get(b"allow") in (b"GET, HEAD, POST", b"GET, HEAD"), where


@pytest.fixture
def served(instance: Instance) -> TestClient:
    return TestClient(create_asgi(instance.settings, clock=instance.clock))


def test_generated_hostile_requests_never_get_a_5xx(served: TestClient) -> None:
    cases = Generator(SEED)
    with served as client:
        app = client.app
        for index in range(CASES):
            case = cases.case()
            answer = client.portal.call(call, app, case, f"10.9.{index % 200}.{index % 7}")  # type: ignore[union-attr]
            check(index, case, answer)
        health = client.get("/healthz")
    assert health.status_code == 200


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("Basic é€…".encode(), "auth.malformed_credential"),
        (b"Basic \x80", "auth.malformed_credential"),
        (b"Basic " + base64.b64encode(b"\xff\xfe:pw"), "auth.malformed_credential"),
        (b"Basic !!!", "auth.malformed_credential"),
        (b"Basic " + base64.b64encode(b"nocolon"), "auth.malformed_credential"),
    ],
)
def test_malformed_basic_credentials_are_401(
    served: TestClient, authorization: bytes, code: str
) -> None:
    case = Case(
        "GET", "/token", b"service=" + SERVICE.encode(), [(b"authorization", authorization)]
    )
    with served as client:
        answer = client.portal.call(call, client.app, case, "10.0.0.1")  # type: ignore[union-attr]
    assert answer.status == 401
    assert orjson.loads(answer.body)["code"] == code
    assert answer.headers[b"www-authenticate"].startswith(b"Basic realm=")


def test_a_body_cut_off_midway_is_400(served: TestClient) -> None:
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    case = Case("POST", "/token", b"", form, [b"grant_type=pass"], disconnect=True)
    with served as client:
        answer = client.portal.call(call, client.app, case, "10.0.0.1")  # type: ignore[union-attr]
    assert answer.status == 400
    assert orjson.loads(answer.body)["code"] == "request.malformed"


@pytest.mark.parametrize(
    ("length", "chunks", "status"),
    [
        (b"10737418240", [], 413),  # refused before a byte is read
        (None, [b"a" * 8192] * 3, 413),  # counted while it streams
        (b"99999999999999999999999999", [], 413),
        (b"abc", [b"x"], 400),
    ],
)
def test_oversized_bodies_are_refused(
    served: TestClient, length: bytes | None, chunks: list[bytes], status: int
) -> None:
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if length is not None:
        headers.append((b"content-length", length))
    case = Case("POST", "/token", b"", headers, chunks)
    with served as client:
        answer = client.portal.call(call, client.app, case, "10.0.0.1")  # type: ignore[union-attr]
    assert answer.status == status
    assert answer.headers[b"content-type"] == MEDIA_TYPE.encode()
    expected = "request.too_large" if status == 413 else "request.malformed"
    assert orjson.loads(answer.body)["code"] == expected


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("PUT", "/token", 405, "request.method_not_allowed"),
        ("DELETE", "/token", 405, "request.method_not_allowed"),
        ("POST", "/healthz", 405, "request.method_not_allowed"),
        ("GET", "/nowhere", 404, "request.not_found"),
    ],
)
def test_framework_errors_are_problems(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    r = client.request(method, path)
    assert r.status_code == status
    assert r.headers["content-type"] == MEDIA_TYPE
    assert r.json()["code"] == code
    if path == "/token":
        assert r.headers["allow"] == "GET, HEAD, POST"


def _raw(port: int, request: bytes, timeout: float = 10) -> tuple[int, bytes, bytes]:
    """Send bytes as they are; the status line, head and body of the answer (0 when none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        with contextlib.suppress(OSError):  # the server may answer before reading it all
            conn.sendall(request)
        answer = b""
        with contextlib.suppress(TimeoutError, OSError):
            while chunk := conn.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and _complete(answer):
                    break
    if not answer.startswith(b"HTTP/1."):
        return 0, b"", b""
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def _post(body: bytes, *headers: bytes) -> bytes:
    lines = [b"POST /token HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [b"Content-Type: application/x-www-form-urlencoded", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def test_a_real_server_refuses_hostile_framing_with_4xx(tmp_path: Path) -> None:
    server = make_server(tmp_path / "srv")
    with running(server, workers=1):
        port = server.port
        form = f"grant_type=password&username=u&password=p&service={LIVE_SERVICE}".encode()
        cases = {
            "broken chunked framing": _post(b"5\r\nab\r\nzz\r\n", b"Transfer-Encoding: chunked"),
            "chunked body over the limit": _post(
                b"".join(b"4000\r\n" + b"a" * 0x4000 + b"\r\n" for _ in range(2)) + b"0\r\n\r\n",
                b"Transfer-Encoding: chunked",
            ),
            "10 GiB declared": _post(form, b"Content-Length: 10737418240"),
            "non-ASCII Basic": b"GET /token?service=x HTTP/1.1\r\nHost: a\r\n"
            + "Authorization: Basic é€…".encode()
            + b"\r\n\r\n",
            "raw 0x80 Basic": b"GET /token HTTP/1.1\r\nHost: a\r\n"
            b"Authorization: Basic \x80\r\n\r\n",
        }
        for name, request in cases.items():
            started = time.monotonic()
            status, head, body = _raw(port, request)
            assert 400 <= status < 500, f"{name}: {status} {head!r}"
            assert time.monotonic() - started < 5, name  # nothing waits for a 10 GiB body
            if status != 400 or body:
                assert b"application/problem+json" in head, f"{name}: {head!r}"
        # granian's own answers, before regauth sees the request (documented in the README)
        own = {
            "control bytes in the request line": (
                b"GET /to\x01ken HTTP/1.1\r\nHost: a\r\n\r\n",
                400,
            ),
            "64 KiB URI": (b"GET /token?" + b"a" * 65536 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
            "1000 headers": (
                b"GET /token HTTP/1.1\r\n"
                + b"".join(b"X-%d: v\r\n" % i for i in range(1000))
                + b"\r\n",
                431,
            ),
        }
        seen = {name: _raw(port, request)[0] for name, (request, _) in own.items()}
        assert seen == {name: status for name, (_, status) in own.items()}, seen
        assert httpx.get(server.url + "/healthz").status_code == 200
    assert "Traceback" not in server.log_text()
