"""What the metric updates of one token request cost, per mechanism (µs).

One token = the issued counter + the latency histogram + one labelled
authentication-attempt counter. Compared: regauth's shared slot files (what
the server uses: whole-server values), prometheus_client in process memory
(per worker only: what regauth used before) and prometheus_client's
multiprocess mode (whole-server values through its mmap files).

    python bench/metric_costs.py [regauth|prometheus|prometheus-multiprocess]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
MODES = ("regauth", "prometheus", "prometheus-multiprocess")


def _updates(mode: str, directory: Path) -> Callable[[], None]:
    if mode == "regauth":
        from regauth.metrics import Counter, Histogram, MetricRegistry

        registry = MetricRegistry(directory)
        issued = Counter(registry, "issued_total", "x")
        attempts = Counter(registry, "attempts_total", "x", ["source", "result"])
        latency = Histogram(registry, "latency_seconds", "x", buckets=BUCKETS)
    else:
        import prometheus_client as p

        reg = p.CollectorRegistry()
        issued = p.Counter("issued_total", "x", registry=reg)  # type: ignore[assignment]
        attempts = p.Counter("attempts_total", "x", ["source", "result"], registry=reg)  # type: ignore[assignment]
        latency = p.Histogram("latency_seconds", "x", registry=reg, buckets=BUCKETS)  # type: ignore[assignment]

    def token() -> None:
        issued.inc()
        attempts.labels("local", "success").inc()
        latency.observe(0.003)

    return token


def measure(mode: str) -> float:
    """µs of metric updates per token with ``mode`` (multiprocess mode in a child process)."""
    if mode == "prometheus-multiprocess" and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=d)
            out = subprocess.run(
                [sys.executable, __file__, mode], env=env, capture_output=True, check=True
            )
            return float(json.loads(out.stdout)[mode])
    with tempfile.TemporaryDirectory() as d:
        token = _updates(mode, Path(d))
        number = 50_000
        return min(timeit.repeat(token, number=number, repeat=5)) / number * 1e6


LABELS = {
    "regauth": "metrics/token: regauth slot files",
    "prometheus": "metrics/token: prom. in-memory",
    "prometheus-multiprocess": "metrics/token: prom. multiprocess",
}


def costs() -> list[tuple[str, float]]:
    return [(LABELS[mode], measure(mode)) for mode in MODES]


if __name__ == "__main__":
    modes = sys.argv[1:] or list(MODES)
    print(json.dumps({mode: measure(mode) for mode in modes}))
