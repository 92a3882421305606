"""A node's connection to NATS (nats-py): connect and reconnect in the background, and publish
from synchronous code on the event loop without an ``await`` per message.

nats-py's ``publish`` is a coroutine that appends a PUB command to the client's pending buffer
and wakes the client's flusher task, which writes everything pending in one go when the event
loop next runs. Driving that coroutine per message costs 2–5 µs here, more than decoding the
frame, so ``NatsLink.publish`` does the same two steps itself: it appends the PUB command
(``PUB <subject> <size>\r\n<payload>\r\n``, the NATS protocol's own) to that pending buffer
and wakes the flusher if nobody has yet (0.5–1 µs). A burst of publishes from one socket read
is written with one syscall, a lone message at once. It keeps its own bound on the buffer and
counts as lost what it does not take (NATS away, buffer full). Subscriptions, reconnects,
resubscribing and flow control are nats-py's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import nats.errors
from nats.aio.client import Client
from nats.aio.subscription import Subscription

from tickwire.families import MetricFamily

__all__ = ["NatsLink"]

log = logging.getLogger("tickwire.nats")

RECONNECT_WAIT = 0.5  # seconds between reconnect attempts
MAX_PENDING_BYTES = 8 * 1024 * 1024  # not yet written to the socket: beyond this, drop and count
_CLIENT_INTERNALS = ("_pending", "_pending_data_size", "_flush_queue")  # what publish uses


class NatsLink:
    """One NATS connection: ``published`` and ``lost`` count what ``publish`` was given."""

    def __init__(self, url: str, name: str, max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self.url = url
        self.name = name
        self.client = Client()
        missing = [name for name in _CLIENT_INTERNALS if not hasattr(self.client, name)]
        if missing:
            raise RuntimeError(f"this nats-py has no {', '.join(missing)}; tickwire needs nats-py 2.x")
        self._prefixes: dict[str, bytes] = {}
        self.max_pending_bytes = max_pending_bytes
        self.published = 0
        self.lost = 0
        self.disconnects = 0
        self.reconnects = 0
        self.slow_consumer_drops = 0
        self.connected = asyncio.Event()
        self._failures_in_a_row = 0
        self._closing = False

    async def connect(self) -> None:
        """Connect, retrying every ``RECONNECT_WAIT`` seconds until NATS answers; after that
        nats-py reconnects (and resubscribes) by itself whenever the connection drops."""
        await self.client.connect(
            servers=[self.url],
            name=self.name,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT,  # type: ignore[arg-type]
            connect_timeout=2,
            pending_size=0,  # no limit of the client's own: NatsLink bounds the pending buffer
            skip_subject_validation=True,  # subjects are built from validated names
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._failures_in_a_row = 0
        self.connected.set()
        log.info("%s: connected to NATS at %s", self.name, self.url)

    def publish(self, subject: str, payload: bytes) -> bool:
        """Queue ``payload`` on ``subject`` for the client's flusher; False (and counted lost)
        when NATS is away or more than ``max_pending_bytes`` wait already."""
        client = self.client
        if not client.is_connected or client._pending_data_size > self.max_pending_bytes:
            self.lost += 1
            return False
        prefix = self._prefixes.get(subject)
        if prefix is None:
            prefix = self._prefixes[subject] = b"PUB " + subject.encode() + b" "
        command = b"%s%d\r\n%s\r\n" % (prefix, len(payload), payload)
        client._pending.append(command)
        client._pending_data_size += len(command)
        wake = client._flush_queue
        if wake.empty():
            wake.put_nowait(asyncio.get_running_loop().create_future())
        self.published += 1
        return True

    async def subscribe(
        self, subject: str, on_message: Callable[[Any], Awaitable[None]]
    ) -> Subscription:
        """Subscribe ``on_message`` (called with each nats-py ``Msg``, in order)."""
        return await self.client.subscribe(subject, cb=on_message, pending_bytes_limit=64 * 1024 * 1024)

    async def close(self) -> None:
        """Write what is pending (when connected) and close."""
        self._closing = True
        if not self.client.is_closed:
            await self.client.close()

    def metric_families(self) -> list[MetricFamily]:
        """The connection's state and counters, for ``/metrics``."""
        return [
            MetricFamily("tickwire_nats_connected", "gauge", "1 while connected to NATS.",
                         [({}, int(self.client.is_connected))]),
            MetricFamily("tickwire_nats_published_total", "counter",
                         "Messages handed to the NATS client.", [({}, self.published)]),
            MetricFamily("tickwire_nats_lost_total", "counter",
                         "Messages not sent: NATS away or too far behind.", [({}, self.lost)]),
            MetricFamily("tickwire_nats_disconnects_total", "counter",
                         "Connections to NATS lost.", [({}, self.disconnects)]),
            MetricFamily("tickwire_nats_reconnects_total", "counter",
                         "Connections to NATS established again.", [({}, self.reconnects)]),
            MetricFamily("tickwire_nats_slow_consumer_drops_total", "counter",
                         "Messages NATS dropped because this node read too slowly.",
                         [({}, self.slow_consumer_drops)]),
        ]

    async def _on_error(self, error: Exception) -> None:
        if isinstance(error, nats.errors.SlowConsumerError):
            self.slow_consumer_drops += 1
            return
        self._failures_in_a_row += 1
        if self._failures_in_a_row == 1:  # one line per outage, not one per retry
            log.warning("%s: NATS at %s: %s; retrying", self.name, self.url, error or type(error).__name__)

    async def _on_disconnected(self) -> None:
        if self.connected.is_set() and not self._closing:
            self.disconnects += 1
            log.warning("%s: disconnected from NATS at %s; reconnecting", self.name, self.url)

    async def _on_reconnected(self) -> None:
        self.reconnects += 1
        self._failures_in_a_row = 0
        log.warning("%s: reconnected to NATS at %s", self.name, self.url)
