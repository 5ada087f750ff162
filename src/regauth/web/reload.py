"""Configuration reload without a restart (SPEC §7; seed 002's keys, which that product cannot).

A serving process reloads when its configuration file (or ``server.env_file``,
where API-key fingerprints may live) changes, or on SIGHUP. A reload reads
and validates the file, then builds a complete new :class:`Runtime` — rules,
plans, CEL policies, webhooks, API keys, identity sources — and swaps it in
one assignment; requests already running finish on the old one, which is
closed after a grace period. Any error keeps the current runtime and is
logged with the dotted path at fault.

Under granian, SIGHUP to the main process respawns the workers instead; each
new worker reads the file and, if it no longer validates, starts from the
last configuration that did (:func:`load_with_fallback`).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from regauth.config import Settings, load_settings, parse_settings
from regauth.errors import ConfigError
from regauth.metrics import MetricRegistry
from regauth.ports import Clock, Random
from regauth.runtime import Runtime

log = logging.getLogger("regauth.reload")
GRACE_SECONDS = 10.0


def snapshot_path(config: Path) -> Path:
    return config.with_name(f".{config.name}.last-good")


def load_with_fallback(config: Path, environ: Mapping[str, str]) -> Settings:
    """The configuration; if it does not validate, the last one that did (logged)."""
    apply_env_file_for(config, environ)
    try:
        settings = load_settings(config, os.environ)
    except ConfigError as exc:
        last = snapshot_path(config)
        if not last.is_file():
            raise
        log.error("configuration %s is invalid, using the last good one: %s", config, exc)
        text = last.read_text(encoding="utf-8")
        return parse_settings(text, base_dir=config.resolve().parent, environ=os.environ)
    save_snapshot(config)
    return settings


def save_snapshot(config: Path) -> None:
    target = snapshot_path(config)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_bytes(config.read_bytes())
        tmp.chmod(0o600)
        os.replace(tmp, target)
    except OSError as exc:  # a read-only directory only loses the fallback
        log.warning("could not save %s: %s", target, exc.strerror)


def apply_env_file_for(config: Path, environ: Mapping[str, str]) -> None:
    """Load ``server.env_file`` (if the raw file names one) into the environment."""
    import tomllib

    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return
    name = environ.get("REGAUTH_SERVER__ENV_FILE") or data.get("server", {}).get("env_file")
    if isinstance(name, str) and name:
        apply_env_file(config.resolve().parent / name)


def apply_env_file(path: Path) -> None:
    from dotenv import dotenv_values

    for key, value in dotenv_values(path).items():
        if value is not None:
            os.environ[key] = value


class Supervisor:
    """Owns the current runtime, its background tasks, and reloads."""

    def __init__(
        self,
        settings: Settings,
        config_path: Path | None,
        clock: Clock,
        random: Random,
        install: Callable[[Runtime], None],
        registry: MetricRegistry,
    ) -> None:
        self.settings = settings
        self._path = config_path
        self._clock = clock
        self._random = random
        self._install = install
        self._registry = registry
        self._stamp = self._file_stamp()
        self.runtime: Runtime | None = None
        self._scope: anyio.CancelScope | None = None
        self._lock = anyio.Lock()
        self._retiring: list[Runtime] = []

    @property
    def config_path(self) -> Path | None:
        return self._path

    async def prepare(self) -> Runtime:
        """Build the first runtime (outside any task group: errors surface as they are)."""
        return await Runtime.start(self.settings, self._clock, self._random, self._registry)

    async def start(self, tasks: TaskGroup, runtime: Runtime) -> None:
        self._tasks = tasks
        await self._activate(runtime)
        if self._path is not None:
            tasks.start_soon(self._watch)
            tasks.start_soon(self._on_sighup)

    async def reload(self) -> bool:
        """Build and swap a new runtime; False (and the old one kept) on any error."""
        if self._path is None:
            return False
        async with self._lock:
            try:
                apply_env_file_for(self._path, os.environ)
                settings = load_settings(self._path, os.environ)
                runtime = await Runtime.start(settings, self._clock, self._random, self._registry)
            except ConfigError as exc:
                log.error("reload failed, keeping the running configuration: %s", exc)
                return False
            old, self.settings = self.runtime, settings
            await self._activate(runtime)
            save_snapshot(self._path)
            log.info("configuration reloaded from %s", self._path)
            if old is not None:
                self._retiring.append(old)
                self._tasks.start_soon(self._retire, old)
            return True

    async def close(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        for runtime in [*self._retiring, *([self.runtime] if self.runtime else [])]:
            await runtime.close()
        self._retiring.clear()

    async def _activate(self, runtime: Runtime) -> None:
        old_scope = self._scope
        self._scope = anyio.CancelScope()
        self.runtime = runtime
        self._install(runtime)
        self._tasks.start_soon(self._background, runtime, self._scope)
        if old_scope is not None:
            old_scope.cancel()

    @staticmethod
    async def _background(runtime: Runtime, scope: anyio.CancelScope) -> None:
        with scope:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(runtime.keys.watch)
                tasks.start_soon(runtime.keys.rotate_on_schedule)
                tasks.start_soon(runtime.audit.run)
                tasks.start_soon(runtime.write_behind)
                if runtime.retention is not None:
                    tasks.start_soon(runtime.retention.run)
                if runtime.events is not None:
                    tasks.start_soon(runtime.events.worker.run)

    async def _retire(self, runtime: Runtime) -> None:
        await anyio.sleep(GRACE_SECONDS)  # let requests that hold it finish
        if runtime in self._retiring:
            self._retiring.remove(runtime)
            await runtime.close()

    def _file_stamp(self) -> tuple[object, ...]:
        if self._path is None:
            return ()
        stamps: list[object] = []
        env_file = self.settings.server.env_file
        for path in (self._path, self.settings.path(env_file) if env_file else None):
            try:
                st = path.stat() if path is not None else None
                stamps.append((st.st_mtime_ns, st.st_size) if st else None)
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    async def _watch(self) -> None:
        """Reload once a change has settled: the same stamp on two polls in a row.

        A file rewritten in place (``open(..., "w")``, ``cat > file``) is empty between
        the truncation and the write; an empty file is a valid configuration (defaults:
        another issuer, no rules), so it must not be applied while it is being written.
        An empty file is never applied by the watcher (a later write changes the stamp).
        """
        seen = self._stamp
        while True:
            await anyio.sleep(self.settings.server.reload_interval)
            stamp = self._file_stamp()
            settled, seen = stamp == seen, stamp
            if stamp != self._stamp and settled and not self._config_is_empty():
                self._stamp = stamp
                await self.reload()

    def _config_is_empty(self) -> bool:
        try:
            return self._path is not None and not self._path.read_bytes().strip()
        except OSError:
            return False  # reload() reports the unreadable file

    async def _on_sighup(self) -> None:
        try:
            with anyio.open_signal_receiver(signal.SIGHUP) as signals:
                async for _ in signals:
                    self._stamp = self._file_stamp()
                    await self.reload()
        except (ValueError, RuntimeError, NotImplementedError):
            return  # not the main thread (tests, embedded): file watching still works
