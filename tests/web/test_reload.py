"""Reload on file change and SIGHUP: swap atomically, keep the running config on error."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import jwt
import pytest
from starlette.testclient import TestClient

from regauth.config import load_settings
from regauth.web.app import create_asgi
from regauth.web.reload import load_with_fallback, snapshot_path
from tests.conftest import FrozenClock, make_instance
from tests.web.test_token_get import SERVICE, decode, get_token

KEY = "regauth_ak_reload-key-0123456789"
ANON_PUBLIC = '[[rules]]\nanonymous = true\nname = "public/**"\nactions = ["pull"]\n'
ANON_ALL = '[[rules]]\nanonymous = true\nname = "**"\nactions = ["pull"]\n'


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def granted(client: TestClient, scope: str, headers: dict[str, str] | None = None) -> list[object]:
    r = get_token(client, scope, auth=headers)
    if r.status_code != 200:
        return [r.status_code]
    access: list[object] = decode(r.json()["token"])[1]["access"]
    return access


def pulled(name: str) -> list[object]:
    return [{"type": "repository", "name": name, "actions": ["pull"]}]


def test_rules_reload_when_the_file_changes(tmp_path: Path, clock: FrozenClock) -> None:
    inst = make_instance(tmp_path, clock, rules=ANON_PUBLIC, extra="")
    config = tmp_path / "regauth.toml"
    config.write_text(
        config.read_text().replace("[keys]", "[server]\nreload_interval = 0.05\n[keys]")
    )
    app = create_asgi(inst.settings.model_copy(), clock=clock, config_path=config)
    failures = Records()
    logging.getLogger("regauth.reload").addHandler(failures)
    try:
        with TestClient(app) as client:
            assert granted(client, "repository:team/x:pull") == []
            # rewritten in place (truncated, then written): the watcher must not apply the
            # empty file it may see in between (defaults: another issuer, no rules)
            config.write_text(config.read_text().replace(ANON_PUBLIC, ANON_ALL))
            wait_for(lambda: granted(client, "repository:team/x:pull") == pulled("team/x"))
            # an invalid file is refused and the running configuration stays
            good = config.read_text()
            config.write_text(good + '\n[token]\nttl = "soon"\n')
            wait_for(lambda: any("reload failed" in m for m in failures.messages))
            assert granted(client, "repository:team/x:pull") == pulled("team/x")
            assert snapshot_path(config).read_text() == good
    finally:
        logging.getLogger("regauth.reload").removeHandler(failures)


class Records(logging.Handler):
    """The messages logged to the logger it is added to (from any thread)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_watcher_never_applies_a_file_caught_empty_mid_write(
    tmp_path: Path, clock: FrozenClock
) -> None:
    make_instance(tmp_path, clock, rules=ANON_PUBLIC, extra="")
    config = tmp_path / "regauth.toml"
    config.write_text(
        config.read_text().replace("[keys]", "[server]\nreload_interval = 0.05\n[keys]")
    )
    good = config.read_text()
    settings = load_settings(config, {})  # polling every 0.05 s from the start
    app = create_asgi(settings, clock=clock, config_path=config)
    with TestClient(app) as client:
        assert granted(client, "repository:public/x:pull") == pulled("public/x")
        with config.open("w"):  # truncated, and left empty for many polls
            time.sleep(0.5)
            # still the running configuration (an empty file would have no rules and
            # the default issuer, which decode() refuses)
            assert granted(client, "repository:public/x:pull") == pulled("public/x")
        config.write_text(good.replace(ANON_PUBLIC, ANON_ALL))
        wait_for(lambda: granted(client, "repository:team/x:pull") == pulled("team/x"))


def test_api_keys_reload_from_the_env_file(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELOAD_KEY_HASH", raising=False)
    env_file = tmp_path / "keys.env"
    env_file.write_text("")
    inst = make_instance(
        tmp_path,
        clock,
        rules=ANON_PUBLIC + '[[rules]]\naccount = "ci"\nname = "**"\nactions = ["pull"]\n',
    )
    config = tmp_path / "regauth.toml"
    text = config.read_text().replace(
        "[keys]", '[server]\nreload_interval = 0.05\nenv_file = "keys.env"\n[keys]'
    )
    config.write_text(text)
    app = create_asgi(inst.settings, clock=clock, config_path=config)
    headers = {"X-Api-Key": KEY}
    try:
        with TestClient(app) as client:
            assert granted(client, "repository:team/x:pull", headers) == [401]
            env_file.write_text(
                f"RELOAD_KEY_HASH=sha256:{hashlib.sha256(KEY.encode()).hexdigest()}\n"
            )
            config.write_text(
                text + '\n[[auth.api_keys]]\nid = "ci"\nhash_env = "RELOAD_KEY_HASH"\n'
            )
            # Wait on the swapped configuration, not by asking with the key: every refused
            # try counts as a failed login for the address and would end in a 429.
            wait_for(lambda: bool(app.state.regauth.runtime.settings.auth.api_keys))
            assert granted(client, "repository:team/x:pull", headers)[0] == {
                "type": "repository",
                "name": "team/x",
                "actions": ["pull"],
            }
    finally:
        os.environ.pop("RELOAD_KEY_HASH", None)


def test_a_worker_starts_from_the_last_good_configuration(
    tmp_path: Path, clock: FrozenClock
) -> None:
    make_instance(tmp_path, clock, token_extra="ttl = 123")
    config = tmp_path / "regauth.toml"
    assert load_with_fallback(config, {}).token.ttl == 123
    config.write_text(config.read_text() + "\n[nonsense]\nx = 1\n")
    assert load_with_fallback(config, {}).token.ttl == 123  # from the snapshot
    assert snapshot_path(config).stat().st_mode & 0o777 == 0o600


def test_sighup_reloads_a_running_server(tmp_path: Path) -> None:
    """A real `regauth serve`: new rules after SIGHUP, with no file polling in between."""
    regauth = Path(sys.executable).with_name("regauth")
    env = dict(
        os.environ,
        REGAUTH_ADMIN_PASSWORD="pw",
        REGAUTH_PASSWORDS__TIME_COST="1",
        REGAUTH_PASSWORDS__MEMORY_COST="1024",
    )
    port = _free_port()
    directory = tmp_path / "var"
    subprocess.run(
        [regauth, "init", "--dir", directory, "--service", SERVICE, "--port", str(port)],
        env=env,
        check=True,
        capture_output=True,
    )
    config = directory / "regauth.toml"
    text = config.read_text()
    text = (
        text[: text.index("[[rules]]")].replace("[server]\n", "[server]\nreload_interval = 3600\n")
        + ANON_PUBLIC
    )
    config.write_text(text)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [regauth, "--config", config, "serve"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ok(f"{url}/healthz"), timeout=20)

        def access() -> object:
            r = httpx.get(
                f"{url}/token", params={"service": SERVICE, "scope": "repository:team/x:pull"}
            )
            claims = jwt.decode(r.json()["token"], options={"verify_signature": False})
            return claims["access"]

        assert access() == []
        config.write_text(text.replace(ANON_PUBLIC, ANON_ALL))
        server.send_signal(signal.SIGHUP)
        wait_for(lambda: access() != [], timeout=15)
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(15)
        log.close()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
