"""The README's receiver example verifies what regauth signs (and refuses what it should not)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from regauth.events.signature import sign

README = Path(__file__).parents[2] / "README.md"


def receiver_example() -> dict[str, Any]:
    text = README.read_text(encoding="utf-8")
    start = text.index("A receiver that verifies the signature")
    code = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert code is not None
    source = code.group(1).replace(".serve_forever()", ".server_close()")  # do not serve
    source = source.replace("8080", "0")  # any free port
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(source, "README.md", "exec"), namespace)  # noqa: S102 — our own README
    return namespace


def test_the_readme_receiver_accepts_regauth_signatures() -> None:
    example = receiver_example()
    secret = example["SECRET"]
    body = b'{"id": "e1", "type": "registry.push"}'
    now = int(time.time())
    assert example["verified"](sign(secret, now, body), body)
    assert not example["verified"](sign(b"other", now, body), body)
    assert not example["verified"](sign(secret, now - 301, body), body)
    assert not example["verified"](sign(secret, now, body), body + b" ")
    assert not example["verified"]("", body)
