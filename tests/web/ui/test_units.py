"""Small pure parts of the UI: where a sign-in may return to, PKCE, cookie lookups."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from regauth.authn.oidc_login import code_challenge
from regauth.web.ui.signin import HOME, safe_next


@given(st.text(max_size=300))
def test_next_is_always_one_of_our_pages(value: str) -> None:
    target = safe_next(value)
    assert target == HOME or (
        target.startswith("/ui/") and "//" not in target and "\\" not in target
    )
    assert len(target) <= 512


@given(st.from_regex(r"/ui/[a-z/]{0,40}", fullmatch=True))
def test_our_own_pages_are_kept(value: str) -> None:
    assert safe_next(value) == (value if "//" not in value else HOME)


def test_code_challenge_is_rfc7636_s256() -> None:
    # RFC 7636 appendix B's known answer.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == code_challenge(verifier)
