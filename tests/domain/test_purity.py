"""The domain core imports only the standard library and itself (STYLE rule 1)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "src" / "regauth" / "domain"
ALLOWED_PROJECT = ("regauth.domain", "regauth.errors")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_only_stdlib_and_domain(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "regauth":
            assert name.startswith(ALLOWED_PROJECT), f"{path.name} imports {name}"
        else:
            assert top in sys.stdlib_module_names or top == "__future__", (
                f"{path.name} imports {name}"
            )


def test_importing_domain_pulls_in_no_framework() -> None:
    import subprocess

    code = (
        "import sys, regauth.domain.policy, regauth.domain.claims, regauth.domain.scope;"
        "bad = [m for m in ('starlette', 'sqlalchemy', 'regauth.config', 'pydantic', 'httpx')"
        " if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
