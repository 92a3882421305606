"""Metric families as plain data, and what a NATS node shows of itself at ``/metrics`` and
``/debug/status`` (rendered by ``tickwire.exposition``)."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from tickwire.metrics import LatencyHistogram

__all__ = ["MetricFamily", "ObservedNode", "Staged"]


class MetricFamily(NamedTuple):
    """One Prometheus metric family: name, type, help text and ``(labels, value)`` samples."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]]


class Staged(Protocol):
    """One venue's stage histograms (``VenueStages``, ``NamedStages``)."""

    def histograms(self) -> list[tuple[str, LatencyHistogram]]: ...


class ObservedNode(Protocol):
    """What a node without venue sessions (``tickwire run --role aggregate``) shows of itself.

    An ``Engine`` (``--role all``, and ``--role ingest``, whose node is an engine) shows its
    sessions; one with a ``metric_families`` method shows those families instead of the
    aggregator's, and one with ``stage_names`` those stages (the last one counting each event
    or update it passes on: the rate ``tickwire top`` shows per venue).

    ``stages``: per venue, the stage histograms; ``venue_status``: one ``/debug/status`` venue
    entry per venue the node hears of."""

    role: str
    stage_names: tuple[str, ...]
    stages: dict[str, Staged]
    updates: int
    sinks: list[Any]

    def metric_families(self) -> list[MetricFamily]: ...

    def venue_status(self, now_ns: int) -> list[dict[str, Any]]: ...
