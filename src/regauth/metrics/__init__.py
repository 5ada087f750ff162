"""Prometheus counters, histograms and gauges whose update costs one float write.

``MetricRegistry(directory)`` declares families; ``counter.labels(...).inc()``
and ``histogram.observe(x)`` update this process's slot file
(:mod:`regauth.metrics.store`), and ``render()`` adds every process's slots up
into the Prometheus text format (version 0.0.4). The interface is the subset
of ``prometheus_client`` the code used, so call sites read the same; what
differs is the cost: an update here is one float addition, without a lock.
``bench/metric_costs.py`` times the three updates of one token: 2.5–8× less
than ``prometheus_client`` in process memory (which cannot add workers up)
and 6–15× less than its multiprocess mode, in the same runs.

A labelled child is resolved once and kept (``labels()`` is a dictionary
lookup afterwards). Histogram buckets are stored per bucket (not
cumulative) and summed at render time; ``_count`` is their total. A gauge
(``gauge.set(x)``) is not summed over processes: a scrape shows the value set
most recently by any of them (for server-wide values such as the outbox depth,
which every worker measures).
"""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from regauth.metrics.store import ENV, STAMP, Key, SlotFile, read_all, read_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
Labels = tuple[tuple[str, str], ...]

__all__ = [
    "CONTENT_TYPE",
    "Counter",
    "Gauge",
    "Histogram",
    "MetricRegistry",
    "directory_from_env",
]


def directory_from_env(environ: dict[str, str] | None = None) -> Path | None:
    """The server's shared metrics directory (``$REGAUTH_METRICS_DIR``), if there is one."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    path = Path(value) if value else None
    return path if path is not None and path.is_dir() else None


@dataclass(frozen=True, slots=True)
class _Family:
    name: str  # without the _total suffix for counters
    help: str
    kind: str  # "counter" | "histogram" | "gauge"
    labelnames: tuple[str, ...]
    buckets: tuple[float, ...] = ()


class _CounterChild:
    __slots__ = ("_slot", "_values")

    def __init__(self, store: SlotFile, key: Key) -> None:
        self._values = store.values
        self._slot = store.slot(key)

    def inc(self, amount: float = 1.0) -> None:
        self._values[self._slot] += amount


class _HistogramChild:
    __slots__ = ("_bounds", "_buckets", "_sum", "_values")

    def __init__(self, store: SlotFile, family: _Family, labels: Labels) -> None:
        self._values = store.values
        self._bounds = family.buckets
        les = [*map(_number, family.buckets), "+Inf"]
        self._buckets = tuple(
            store.slot((f"{family.name}_bucket", (*labels, ("le", le)))) for le in les
        )
        self._sum = store.slot((f"{family.name}_sum", labels))

    def observe(self, value: float) -> None:
        values = self._values
        values[self._buckets[bisect_left(self._bounds, value)]] += 1.0
        values[self._sum] += value


class _GaugeChild:
    __slots__ = ("_slot", "_stamp", "_values")

    def __init__(self, store: SlotFile, key: Key) -> None:
        self._values = store.values
        self._slot = store.slot(key)
        self._stamp = store.slot((key[0] + STAMP, key[1]))

    def set(self, value: float) -> None:
        self._values[self._slot] = value
        self._values[self._stamp] = time.time()


class _Metric:
    def __init__(self, registry: MetricRegistry, family: _Family) -> None:
        self._registry = registry
        self._family = family

    def _labels(self, values: tuple[str, ...]) -> Labels:
        if len(values) != len(self._family.labelnames):
            raise ValueError(f"{self._family.name} takes labels {self._family.labelnames}")
        return tuple(zip(self._family.labelnames, map(str, values), strict=True))


class Counter(_Metric):
    def __init__(
        self, registry: MetricRegistry, name: str, help: str, labelnames: Sequence[str] = ()
    ) -> None:
        base = name.removesuffix("_total")
        super().__init__(registry, registry.declare(_Family(base, help, "counter", (*labelnames,))))
        self._base = base
        self._children: dict[tuple[str, ...], _CounterChild] = {}
        self._plain = None if labelnames else self.labels()

    def labels(self, *values: str) -> _CounterChild:
        child = self._children.get(values)
        if child is None:
            key = (f"{self._base}_total", self._labels(values))
            child = self._children[values] = _CounterChild(self._registry.store, key)
        return child

    def inc(self, amount: float = 1.0) -> None:
        if self._plain is None:
            raise ValueError(f"{self._base} has labels: use labels(...).inc()")
        self._plain.inc(amount)


class Histogram(_Metric):
    def __init__(
        self,
        registry: MetricRegistry,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        buckets: Iterable[float] = DEFAULT_BUCKETS,
    ) -> None:
        bounds = tuple(sorted(b for b in buckets if not math.isinf(b)))
        super().__init__(
            registry, registry.declare(_Family(name, help, "histogram", (*labelnames,), bounds))
        )
        self._children: dict[tuple[str, ...], _HistogramChild] = {}
        self._plain = None if labelnames else self.labels()

    def labels(self, *values: str) -> _HistogramChild:
        child = self._children.get(values)
        if child is None:
            labels = self._labels(values)
            child = self._children[values] = _HistogramChild(
                self._registry.store, self._family, labels
            )
        return child

    def observe(self, value: float) -> None:
        if self._plain is None:
            raise ValueError(f"{self._family.name} has labels: use labels(...).observe()")
        self._plain.observe(value)


class Gauge(_Metric):
    def __init__(
        self, registry: MetricRegistry, name: str, help: str, labelnames: Sequence[str] = ()
    ) -> None:
        super().__init__(registry, registry.declare(_Family(name, help, "gauge", (*labelnames,))))
        self._children: dict[tuple[str, ...], _GaugeChild] = {}
        self._plain = None if labelnames else self.labels()

    def labels(self, *values: str) -> _GaugeChild:
        child = self._children.get(values)
        if child is None:
            key = (self._family.name, self._labels(values))
            child = self._children[values] = _GaugeChild(self._registry.store, key)
        return child

    def set(self, value: float) -> None:
        if self._plain is None:
            raise ValueError(f"{self._family.name} has labels: use labels(...).set()")
        self._plain.set(value)


@dataclass
class MetricRegistry:
    """The families of one process; with ``directory``, values shared with its siblings."""

    directory: Path | None = None
    reader: bool = False  # True: reads the directory, writes nothing there (the `serve` process)
    pid: int | None = None  # whose slot file (default: this process)
    families: dict[str, _Family] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = SlotFile(None if self.reader else self.directory, self.pid)

    def declare(self, family: _Family) -> _Family:
        known = self.families.setdefault(family.name, family)
        if known != family:
            raise ValueError(f"metric {family.name} declared twice, differently")
        return known

    def totals(self) -> dict[Key, float]:
        totals = read_all(self.directory, self.store)
        if any(f.kind == "gauge" for f in self.families.values()):
            totals.update(read_latest(self.directory, self.store))
        return totals

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The server-wide value of one sample (``..._total``, ``..._bucket``, ``..._sum``)."""
        wanted = sorted((labels or {}).items())
        for (sample, pairs), value in self.totals().items():
            if sample == name and sorted(pairs) == wanted:
                return value
        if name.endswith("_count"):
            base = name.removesuffix("_count")
            buckets = [
                v
                for (s, pairs), v in self.totals().items()
                if s == f"{base}_bucket" and sorted(p for p in pairs if p[0] != "le") == wanted
            ]
            return sum(buckets) if buckets else None
        return None

    def render(self) -> bytes:
        """Every declared family, summed over the server's processes, as exposition text."""
        by_sample: dict[str, list[tuple[Labels, float]]] = {}
        for (sample, labels), value in self.totals().items():
            by_sample.setdefault(sample, []).append((labels, value))
        out: list[str] = []
        for family in self.families.values():
            out += _render_family(family, by_sample)
        return ("\n".join(out) + "\n").encode()


def _render_family(family: _Family, by_sample: dict[str, list[tuple[Labels, float]]]) -> list[str]:
    kind = family.kind
    name = f"{family.name}_total" if kind == "counter" else family.name
    lines = [f"# HELP {name} {_escape_help(family.help)}", f"# TYPE {name} {kind}"]
    if kind in ("counter", "gauge"):
        for labels, value in sorted(by_sample.get(name, [])):
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return lines
    series: dict[Labels, dict[str, float]] = {}
    for labels, value in by_sample.get(f"{name}_bucket", []):
        rest = tuple(p for p in labels if p[0] != "le")
        le = dict(labels).get("le", "+Inf")
        series.setdefault(rest, {})[le] = value
    sums = dict(by_sample.get(f"{name}_sum", []))
    for rest, buckets in sorted(series.items()):
        total = 0.0
        for le in [*map(_number, family.buckets), "+Inf"]:
            total += buckets.get(le, 0.0)
            lines.append(f"{name}_bucket{_labels((*rest, ('le', le)))} {_number(total)}")
        lines.append(f"{name}_count{_labels(rest)} {_number(total)}")
        lines.append(f"{name}_sum{_labels(rest)} {_number(sums.get(rest, 0.0))}")
    return lines


def _labels(pairs: Labels) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape_value(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
