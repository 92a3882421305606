"""What a running engine shows about itself, built when asked (never on the hot path).

``prometheus_text`` renders the Prometheus text format (``/metrics``); ``status`` a JSON-able
snapshot for ``tickwire top`` (``/debug/status``); ``describe_tasks`` the asyncio tasks and what
each one waits on (``/debug/tasks``). All read the engine's plain counters and histograms.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from typing import Any

from tickwire import __version__
from tickwire.aggregate.view import ExclusionCounts
from tickwire.engine import Engine, sink_status
from tickwire.families import MetricFamily, ObservedNode, Staged
from tickwire.metrics import STAGES, LatencyHistogram, LoopLagProbe, bucket_index
from tickwire.transport.session import SessionState, VenueSession

__all__ = [
    "PROMETHEUS_BOUNDS_NS",
    "VENUE_STATES",
    "aggregation_families",
    "describe_tasks",
    "histograms_status",
    "left_out_by_venue",
    "prometheus_text",
    "sink_families",
    "status",
]

PROMETHEUS_BOUNDS_NS = tuple(bound for k in range(7, 35) for bound in (1 << k, 3 << (k - 1)))
"""Upper bounds of the exposed buckets: 2**k and 1.5 * 2**k ns, from 128 ns to 25.8 s. Each is a
bound of the fine buckets, so an exposed bucket counts exactly the values below its bound (the
nanosecond equal to the bound falls in the next one)."""

VENUE_STATES = ("connecting", "live", "stale", "reconnecting", "stopped")
"""``stale``: live, but nothing arrived for half the silence timeout (a liveness ping is out)."""

_OWN_CODE = os.path.dirname(os.path.abspath(__file__))
_LE_LABELS = tuple(repr(bound / 1e9) for bound in PROMETHEUS_BOUNDS_NS)
_BOUND_BUCKETS = tuple(bucket_index(bound) for bound in PROMETHEUS_BOUNDS_NS)
_NS = 1e-9


def venue_state(session: VenueSession, now_ns: int) -> str:
    """The session's state as ``VENUE_STATES`` names it."""
    state = session.state
    if state is SessionState.LIVE:
        quiet_ns = now_ns - session.stats.last_frame_ns
        if quiet_ns > session.settings.silence_timeout * 1e9 / 2:
            return "stale"
    return state.name.lower()


class _Exposition:
    """Prometheus text, one family at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: dict[str, str], value: float) -> None:
        if labels:
            self.lines.append(f"{name}{{{_labels(labels).rstrip(',')}}} {_number(value)}")
        else:
            self.lines.append(f"{name} {_number(value)}")

    def per_venue(
        self, name: str, kind: str, help_text: str, values: dict[str, float]
    ) -> None:
        self.family(name, kind, help_text)
        for venue, value in values.items():
            self.sample(name, {"venue": venue}, value)

    def histogram(self, name: str, labels: dict[str, str], histogram: LatencyHistogram) -> None:
        below, total = histogram.cumulative_below(_BOUND_BUCKETS)
        prefix = f"{name}_bucket{{{_labels(labels)}le="
        self.lines.extend(f'{prefix}"{le}"}} {count}' for le, count in zip(_LE_LABELS, below))
        self.lines.append(f'{prefix}"+Inf"}} {total}')
        self.sample(f"{name}_sum", labels, histogram.sum_ns() * _NS if total else 0.0)
        self.sample(f"{name}_count", labels, total)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@functools.lru_cache(maxsize=4096)  # label values repeat on every scrape
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    return "".join(f'{key}="{_escape(value)}",' for key, value in labels.items())


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


async def prometheus_text(
    node: Engine | ObservedNode, probe: LoopLagProbe, started_s: float
) -> str:
    """The Prometheus text exposition (format 0.0.4) of ``node`` (an engine, or a NATS node)
    now. It lets frames through (yields to the event loop) after each venue's histograms."""
    out = _Exposition()
    out.family("tickwire_info", "gauge", "Version and role of the running tickwire.")
    out.sample("tickwire_info", {"version": __version__, "role": getattr(node, "role", "all")}, 1)
    out.family("tickwire_start_time_seconds", "gauge", "When this process started (Unix time).")
    out.sample("tickwire_start_time_seconds", {}, started_s)

    if node.stages:
        name = "tickwire_latency_seconds"
        out.family(name, "histogram", "Latency of each pipeline stage, per venue.")
        for venue, stages in node.stages.items():
            for stage, histogram in stages.histograms():
                out.histogram(name, {"venue": venue, "stage": stage}, histogram)
            await asyncio.sleep(0)
        name = "tickwire_latency_negative_total"
        out.family(name, "counter", "Stage samples below zero (clocks that disagree), counted in the lowest bucket.")
        for venue, stages in node.stages.items():
            for stage, histogram in stages.histograms():
                out.sample(name, {"venue": venue, "stage": stage}, histogram.negative)

    if isinstance(node, Engine):
        _session_families(out, node.sessions)
        out.family("tickwire_quotes_conflated_total", "counter",
                   "Quotes never let through (conflate): replaced by a later quote of the same "
                   "symbol and socket read, or the connection broke first.")
        out.sample("tickwire_quotes_conflated_total", {}, node.conflated)
        for family in sink_families(sink_status(node.sinks)):
            out.family(family.name, family.kind, family.help)
            for labels, value in family.samples:
                out.sample(family.name, labels, value)
    own_families = getattr(node, "metric_families", None)
    if own_families is not None:
        families = own_families()
    else:
        families = aggregation_families(node.updates, node.aggregator.exclusions)  # type: ignore[union-attr]
    for family in families:
        out.family(family.name, family.kind, family.help)
        for labels, value in family.samples:
            out.sample(family.name, labels, value)

    out.family("tickwire_event_loop_lag_seconds", "histogram",
               "How long a ready task waits for the event loop (sampled).")
    out.histogram("tickwire_event_loop_lag_seconds", {}, probe.lag)
    out.family("tickwire_event_loop_lag_last_seconds", "gauge", "The latest event-loop lag sample.")
    out.sample("tickwire_event_loop_lag_last_seconds", {}, probe.last_ns * _NS)
    out.family("tickwire_asyncio_tasks", "gauge", "asyncio tasks alive.")
    out.sample("tickwire_asyncio_tasks", {}, len(asyncio.all_tasks()))
    return out.text()


def aggregation_families(updates: int, exclusions: ExclusionCounts) -> list[MetricFamily]:
    """The consolidated updates published and the aggregator's exclusion counters."""
    return [
        MetricFamily("tickwire_updates_published_total", "counter",
                     "Consolidated price updates written to the sinks.", [({}, updates)]),
        MetricFamily("tickwire_exclusions_total", "counter",
                     "Times a source's quotes were left out of an instrument's price, by reason.",
                     [({"symbol": symbol, "source": source, "reason": reason}, count)
                      for (symbol, source, reason), count in sorted(exclusions.excluded.items())]),
        MetricFamily("tickwire_exclusion_returns_total", "counter",
                     "Times a left-out source came back into an instrument's price.",
                     [({"symbol": symbol, "source": source}, count)
                      for (symbol, source), count in sorted(exclusions.returned.items())]),
    ]


def sink_families(sinks: list[dict[str, Any]]) -> list[MetricFamily]:
    """The local sinks' counters (``sink_status``) and each WebSocket consumer's."""
    consumers = [c for sink in sinks if sink["sink"] == "ws" for c in sink["consumers"]]
    return [
        MetricFamily("tickwire_sink_lines_total", "counter", "Lines written by each local sink.",
                     [({"sink": sink["sink"]}, sink["lines"]) for sink in sinks]),
        MetricFamily("tickwire_sink_dropped_lines_total", "counter",
                     "Lines a local sink dropped for slow readers.",
                     [({"sink": sink["sink"]}, sink["dropped_lines"]) for sink in sinks]),
        MetricFamily("tickwire_ws_consumers", "gauge", "Consumers connected to the WebSocket API.",
                     [({}, len(consumers))] if any(sink["sink"] == "ws" for sink in sinks) else []),
        MetricFamily("tickwire_ws_consumer_sent_lines_total", "counter",
                     "Lines sent to each connected consumer.",
                     [({"consumer": str(c["id"])}, c["sent_lines"]) for c in consumers]),
        MetricFamily("tickwire_ws_consumer_dropped_lines_total", "counter",
                     "Lines a connected consumer missed (it read too slowly).",
                     [({"consumer": str(c["id"])}, c["dropped_lines"]) for c in consumers]),
        MetricFamily("tickwire_ws_consumer_conflating", "gauge",
                     "1 while the consumer gets only the latest line per symbol.",
                     [({"consumer": str(c["id"])}, int(c["conflating"])) for c in consumers]),
    ]


def _session_families(out: _Exposition, sessions: list[VenueSession]) -> None:
    def each(read: Any) -> dict[str, float]:
        return {session.name: read(session) for session in sessions}

    out.per_venue("tickwire_frames_total", "counter", "WebSocket data frames received.",
                  each(lambda s: s.stats.frames))
    out.per_venue("tickwire_received_bytes_total", "counter", "Payload bytes of the frames received.",
                  each(lambda s: s.stats.bytes))
    name = "tickwire_decode_errors_total"
    out.family(name, "counter", "Frames dropped, by venue and reason.")
    for session in sessions:
        for reason, count in sorted(session.adapter.stats.errors.items()):
            out.sample(name, {"venue": session.name, "reason": reason}, count)
    out.per_venue("tickwire_control_frames_total", "counter",
                  "Frames that carry no market data (acks, heartbeats, pongs).",
                  each(lambda s: s.adapter.stats.control))
    out.per_venue("tickwire_sequence_gaps_total", "counter", "Gaps in the venue's sequence numbers.",
                  each(lambda s: s.adapter.stats.sequence_gaps))
    out.per_venue("tickwire_connects_total", "counter", "Connections established.",
                  each(lambda s: s.stats.connects))
    out.per_venue("tickwire_reconnects_total", "counter", "Live connections lost and replaced.",
                  each(lambda s: s.stats.reconnects))
    out.per_venue("tickwire_connect_failures_total", "counter", "Connection attempts that failed.",
                  each(lambda s: s.stats.connect_failures))
    out.per_venue("tickwire_silence_timeouts_total", "counter",
                  "Connections replaced because nothing arrived for the silence timeout.",
                  each(lambda s: s.stats.silence_timeouts))

    now_ns = time.time_ns()
    name = "tickwire_venue_state"
    out.family(name, "gauge", "1 for the venue connection's current state, 0 for the others.")
    for session in sessions:
        current = venue_state(session, now_ns)
        for state in VENUE_STATES:
            out.sample(name, {"venue": session.name, "state": state}, int(state == current))
    out.per_venue("tickwire_last_frame_age_seconds", "gauge",
                  "Time since the venue's last frame (or connect).",
                  each(lambda s: max(0, now_ns - s.stats.last_frame_ns) * _NS if s.stats.last_frame_ns else 0.0))
    queues = {s.name: s.receive_queue_bytes() for s in sessions}
    out.per_venue("tickwire_socket_receive_queue_bytes", "gauge",
                  "Bytes received by the kernel and not yet read by tickwire (0 when not connected).",
                  {venue: depth or 0 for venue, depth in queues.items()})


async def status(
    node: Engine | ObservedNode, probe: LoopLagProbe, started_s: float
) -> dict[str, Any]:
    """Everything ``tickwire top`` shows, as JSON-able values (times in ns). It lets frames
    through (yields to the event loop) after each venue."""
    venues = (
        await _session_status(node) if isinstance(node, Engine) else node.venue_status(time.time_ns())
    )
    stage_names = getattr(node, "stage_names", STAGES)
    return {
        "version": __version__,
        "role": getattr(node, "role", "all"),
        "pid": os.getpid(),
        "time_ns": time.time_ns(),
        "uptime_s": time.time() - started_s,
        "timed": bool(node.stages),
        "stages": list(stage_names),
        "headline_stage": "recv_to_published" if stage_names is STAGES else stage_names[-1],
        "updates": node.updates,
        "venues": venues,
        "sinks": sink_status(node.sinks),
        "loop": {
            "lag_last_ns": probe.last_ns,
            "lag": {"buckets": probe.lag.sparse(), "negative": 0},
        },
        "tasks": describe_tasks(),
    }


def left_out_by_venue(exclusions: ExclusionCounts) -> dict[str, int]:
    """Times each venue's quotes were left out of some instrument's price."""
    left_out: dict[str, int] = {}
    for (_, source, _), count in exclusions.excluded.items():
        venue_name = source.partition(":")[0]  # a merged source is venue:QUOTE
        left_out[venue_name] = left_out.get(venue_name, 0) + count
    return left_out


def histograms_status(stages: Staged) -> dict[str, Any]:
    """A venue's stage histograms as ``status`` gives them (the non-empty buckets)."""
    return {
        stage: {"buckets": histogram.sparse(), "negative": histogram.negative}
        for stage, histogram in stages.histograms()
    }


async def _session_status(engine: Engine) -> list[dict[str, Any]]:
    left_out = left_out_by_venue(engine.aggregator.exclusions)
    venues = []
    for session in engine.sessions:
        now_ns = time.time_ns()
        stats = session.stats
        decode = session.adapter.stats
        venue: dict[str, Any] = {
            "name": session.name,
            "state": venue_state(session, now_ns),
            "frames": stats.frames,
            "bytes": stats.bytes,
            "connects": stats.connects,
            "reconnects": stats.reconnects,
            "connect_failures": stats.connect_failures,
            "connect_failures_by_reason": dict(stats.connect_failure_reasons),
            "errors": decode.total_errors,
            "errors_by_reason": dict(decode.errors),
            "sequence_gaps": decode.sequence_gaps,
            "left_out": left_out.get(session.name, 0),
            "last_frame_age_ns": now_ns - stats.last_frame_ns if stats.last_frame_ns else None,
            "receive_queue_bytes": session.receive_queue_bytes(),
            "last_error": stats.last_error or decode.last_error,
            "stages": {},
        }
        stages = engine.stages.get(session.name)
        if stages is not None:
            venue["stages"] = histograms_status(stages)
        venues.append(venue)
        await asyncio.sleep(0)
    return venues


def describe_tasks() -> list[dict[str, Any]]:
    """Each asyncio task of the running loop: its name, its coroutine stack (outermost first),
    what the innermost coroutine awaits, and where it is suspended (the innermost line of
    tickwire's own code, else the innermost line)."""
    current = asyncio.current_task()
    described = []
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        stack: list[str] = []
        innermost = own = ""
        awaited: Any = task.get_coro()
        while awaited is not None:
            code = getattr(awaited, "cr_code", None) or getattr(awaited, "gi_code", None)
            if code is None:
                break
            stack.append(code.co_qualname)
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                innermost = f"{os.path.basename(code.co_filename)}:{frame.f_lineno}"
                if code.co_filename.startswith(_OWN_CODE):
                    own = innermost
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        if task is current:
            state, waiting_on = "running", ""
        elif task.done():
            state, waiting_on = "done", ""
        else:
            state, waiting_on = "waiting", _describe_awaitable(awaited)
        described.append(
            {"name": task.get_name(), "state": state, "stack": stack, "awaiting": waiting_on, "where": own or innermost}
        )
    return described


def _describe_awaitable(awaited: Any) -> str:
    """"task NAME" when the innermost coroutine awaits another task; else "" (a plain future,
    which the stack already names: ``Event.wait``, ``sleep``, …)."""
    if isinstance(awaited, asyncio.Task):
        return f"task {awaited.get_name()}"
    return ""
