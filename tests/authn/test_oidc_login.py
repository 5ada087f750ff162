"""The UI's sign-in with an IdP: discovery failures stop start-up naming the setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from regauth.authn.oidc_login import OidcSignIn
from regauth.config.ui import UiOidcSettings
from regauth.errors import ConfigError
from regauth.ports import SystemRandom
from regauth.store import Database
from regauth.store.ui_sessions import UiSessionStore
from tests.authn.idp_fixture import Idp, SettableClock, free_port
from tests.authn.idp_fixture import clock as clock
from tests.authn.idp_fixture import idp as idp

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("settings", "path", "why"),
    [
        (
            lambda idp: {"discovery_url": f"http://127.0.0.1:{free_port()}/.well-known/x"},
            "ui.oidc",
            "OIDC discovery from http://127.0.0.1:",
        ),
        (
            lambda idp: {"discovery_url": f"{idp.issuer}/no-such-document"},
            "ui.oidc",
            "HTTP status 404",
        ),
        (
            lambda idp: (
                {"issuer": "http://127.0.0.1:9/other"} | {"discovery_url": idp.discovery_url}
            ),
            "ui.oidc.issuer",
            "names issuer",
        ),
        (
            lambda idp: {"discovery_url": f"{idp.issuer}/jwks"},
            "ui.oidc.issuer",
            "names issuer None",
        ),
    ],
)
async def test_discovery_failure_stops_start(
    idp: Idp,
    clock: SettableClock,
    tmp_path: Path,
    settings: Callable[[Idp], dict[str, str]],
    path: str,
    why: str,
) -> None:
    given = {"issuer": idp.issuer, "client_id": "regauth-ui"} | settings(idp)
    db = Database(f"sqlite:///{tmp_path / 'regauth.db'}")
    try:
        with pytest.raises(ConfigError) as raised:
            await OidcSignIn.start(
                UiOidcSettings.model_validate(given),
                base_dir=tmp_path,
                store=UiSessionStore(db),
                clock=clock,
                random=SystemRandom(),
            )
    finally:
        await db.dispose()
    assert raised.value.path == path
    assert why in raised.value.message
