"""The container test's base image, made on this machine: Debian bookworm + python3.

No image is pulled. ``debootstrap`` (Debian's package, from the Debian mirror
apt uses) builds a minimal root file system with ``python3`` and
``python3-venv``; its tarball is kept in :data:`CACHE` outside the work tree
and rebuilt only when absent. ``docker import`` turns it into the ``BASE``
build argument of the Dockerfile. The Python dependencies go into the build
context as wheels (``pip wheel``, cached per list of requirements), so the image
build itself needs no network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
from pathlib import Path

import pytest

CACHE = Path("/var/cache/regauth-tests")
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv"
DEBOOTSTRAP = Path("/usr/sbin/debootstrap")
DEBOOTSTRAP_TIMEOUT = 900


def base_tarball() -> Path:
    """The cached root file system tarball, built with debootstrap when missing."""
    target = CACHE / f"debian-{SUITE}-python3.tar"
    if target.is_file():
        return target
    if not DEBOOTSTRAP.is_file():
        pytest.fail(
            f"{DEBOOTSTRAP} is missing: `make test` installs it (apt-get install debootstrap)",
            pytrace=False,
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE))
    try:
        rootfs = work / "rootfs"
        argv = [str(DEBOOTSTRAP), "--variant=minbase", f"--include={PACKAGES}"]
        result = subprocess.run(
            [*argv, SUITE, str(rootfs), MIRROR],
            capture_output=True,
            text=True,
            timeout=DEBOOTSTRAP_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"debootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        partial = work / "rootfs.tar"
        with tarfile.open(partial, "w") as tar:
            tar.add(rootfs, arcname=".")
        os.replace(partial, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def requirements(pyproject: Path) -> list[str]:
    """regauth's run-time dependencies with the PostgreSQL extra, and its build backend."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    reqs = list(project["project"]["dependencies"])
    reqs += project["project"]["optional-dependencies"]["postgres"]
    reqs += project["build-system"]["requires"]
    return [*reqs, "wheel"]


def dependency_wheels(pyproject: Path, pip: Path) -> Path:
    """A folder of wheels for every dependency, cached per list of requirements."""
    reqs = requirements(pyproject)
    digest = hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:16]
    target = CACHE / f"wheels-{digest}"
    if (target / ".complete").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wheels-", dir=CACHE))
    try:
        result = subprocess.run(
            [str(pip), "wheel", "-q", "--wheel-dir", str(work), *reqs],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"pip wheel failed:\n{result.stderr[-3000:]}")
        (work / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
