"""HMAC-SHA256 signatures of webhook bodies, out and in (pure: no I/O, no clock).

Outbound deliveries carry ``X-Regauth-Signature: t=<unix>,v1=<hex>`` where
the hex is HMAC-SHA256 of ``"<t>.<body>"`` with the webhook's secret (the
scheme Stripe documents). Inbound callbacks are accepted in three formats:

- ``t=<unix>,v1=<hex>`` over ``"<t>.<body>"``; several ``v1`` may be listed
  (the signer rotating its secret) and any one may match; the timestamp must
  be within ``tolerance`` seconds of ``now``;
- ``sha256=<hex>`` over the raw body (GitHub's ``X-Hub-Signature-256``);
- raw ``<hex>`` over the raw body.

Several secrets may be configured during a rotation; any may match. Digests
are compared with :func:`hmac.compare_digest` only. A failure raises a
:class:`~regauth.errors.SignatureRejected` subclass whose ``code`` says why;
its text never contains a secret or the expected digest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from regauth.errors import SignatureInvalid, SignatureMalformed, SignatureMissing, SignatureStale

DEFAULT_TOLERANCE = 300
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_MAX_HEADER = 4096


@dataclass(frozen=True, slots=True)
class Verified:
    """An accepted signature: its format, timestamp (None without one) and digest.

    ``replay_key`` identifies the accepted signature; a callback service that
    sends it again is replaying (callers remember it for as long as it could
    be accepted).
    """

    format: str  # "v1" | "sha256" | "hex"
    timestamp: int | None
    digest: str

    @property
    def replay_key(self) -> str:
        material = f"{self.format}:{self.timestamp}:{self.digest}".encode()
        return hashlib.sha256(material).hexdigest()


def digest(secret: bytes, message: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``message``."""
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(secret: bytes, t: int, body: bytes) -> str:
    """The ``t=<t>,v1=<hex>`` header value for ``body`` signed at unix time ``t``."""
    return f"t={t},v1={digest(secret, _timestamped(t, body))}"


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[bytes],
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> Verified:
    """Accept ``header`` as a signature of ``body`` by one of ``secrets``, or raise."""
    value = (header or "").strip()
    if not value:
        raise SignatureMissing("the request carries no signature")
    if len(value) > _MAX_HEADER or not secrets:
        raise SignatureMalformed("the signature header is not in a supported format")
    if value.startswith("t=") or ",v1=" in value:
        return _verify_timestamped(value, body, secrets, now, tolerance)
    if value[:7].lower() == "sha256=":
        return _verify_plain("sha256", value[7:], body, secrets)
    return _verify_plain("hex", value, body, secrets)


def _timestamped(t: int, body: bytes) -> bytes:
    return str(t).encode() + b"." + body


def _verify_timestamped(
    value: str, body: bytes, secrets: Sequence[bytes], now: int, tolerance: int
) -> Verified:
    t, candidates = _parse_timestamped(value)
    if abs(now - t) > tolerance:
        raise SignatureStale("the signature timestamp is outside the accepted window")
    message = _timestamped(t, body)
    match = _first_match(candidates, message, secrets)
    if match is None:
        raise SignatureInvalid("the signature does not match the body")
    return Verified("v1", t, match)


def _parse_timestamped(value: str) -> tuple[int, list[str]]:
    t: int | None = None
    candidates: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            raise SignatureMalformed("the signature header is not in a supported format")
        if key == "t":
            if t is not None or not item.isascii() or not item.isdigit() or len(item) > 12:
                raise SignatureMalformed("the signature timestamp is not a unix time")
            t = int(item)
        elif key == "v1":
            if not _HEX.fullmatch(item):
                raise SignatureMalformed("a v1 signature is not 64 hex digits")
            candidates.append(item.lower())
        # Other schemes (v0, …) are ignored, as Stripe's verifiers do.
    if t is None or not candidates:
        raise SignatureMalformed("the signature needs both t= and v1=")
    return t, candidates


def _verify_plain(fmt: str, hexdigest: str, body: bytes, secrets: Sequence[bytes]) -> Verified:
    if not _HEX.fullmatch(hexdigest):
        raise SignatureMalformed("the signature header is not in a supported format")
    match = _first_match([hexdigest.lower()], body, secrets)
    if match is None:
        raise SignatureInvalid("the signature does not match the body")
    return Verified(fmt, None, match)


def _first_match(candidates: Sequence[str], message: bytes, secrets: Sequence[bytes]) -> str | None:
    found: str | None = None
    for secret in secrets:
        expected = digest(secret, message).encode()
        for candidate in candidates:
            # No early exit: every pair is compared, in constant time each.
            if hmac.compare_digest(expected, candidate.encode()) and found is None:
                found = candidate
    return found
