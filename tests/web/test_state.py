"""Caller facts from the hot path's RawHeaders equal those from Starlette's Headers.

The same scope read both ways (the router's endpoints pass a Request's headers,
``/token`` its own): address, URL, client certificate and headers agree.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from regauth.web.raw import RawHeaders
from regauth.web.state import AppState
from tests.conftest import FrozenClock, make_instance

SERVER = """
[server]
trusted_proxies = ["10.0.0.0/8"]
client_cert_header = "X-Client-Cert"
"""


def _certificate_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "robot")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _scope(raw: list[tuple[bytes, bytes]], peer: str | None, scheme: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "path": "/token",
        "root_path": "",
        "query_string": b"",
        "headers": raw,
        "client": (peer, 1234) if peer else None,
        "server": ("token.test", 8080),
    }


def test_scope_facts_equal_request_facts(tmp_path: Path, clock: FrozenClock) -> None:
    pem = quote(_certificate_pem())
    names = st.sampled_from(
        [b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-client-cert"]
    )
    values = st.sampled_from(
        [b"", b"10.1.2.3", b"192.0.2.7, 10.0.0.9", b"not-an-ip", b"https", b"reg.example:443",
         b"a.example, b.example", pem.encode(), b"-----BEGIN CERTIFICATE-----broken"]
    )  # fmt: skip
    headers = st.lists(st.tuples(names, values), max_size=6)
    peers = st.sampled_from(["10.0.0.5", "192.0.2.1", None])
    inst = make_instance(tmp_path, clock, extra=SERVER)
    with inst.client() as client:
        state: AppState = client.app.state.regauth  # type: ignore[attr-defined]

        @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
        @given(headers, peers, st.sampled_from(["http", "https"]))
        def check(raw: list[tuple[bytes, bytes]], peer: str | None, scheme: str) -> None:
            ours = state.scope_facts(_scope(raw, peer, scheme), RawHeaders(raw), "svc")
            theirs = state.caller_facts(Request(_scope(raw, peer, scheme)), "svc")
            assert ours.client_ip == theirs.client_ip
            assert ours.url == theirs.url
            assert ours.method == theirs.method
            assert ours.client_cert == theirs.client_cert
            assert ours.service == theirs.service == "svc"
            assert list(ours.headers.items()) == list(theirs.headers.items())
            assert ours.headers.get("host") == theirs.headers.get("host")

        check()
    # The forwarded certificate was accepted at least once (from a trusted proxy).
    scope = _scope([(b"x-client-cert", pem.encode())], "10.0.0.5", "http")
    assert state.scope_certificate(scope, RawHeaders(scope["headers"])) is not None
