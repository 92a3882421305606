"""Optional JetStream persistence of the quote subjects, for aggregators that join late.

An ingest node with ``jetstream_retention`` makes sure the stream ``QUOTES_STREAM`` keeps every
``tickwire.quote.>`` message for that many seconds (file storage; the oldest are discarded). The
ingest node's publishes stay plain core NATS publishes: the server stores what the stream's
subjects catch, so the hot path gains no acknowledgement round trip. An aggregate node with
``jetstream_replay`` first reads the last stored quote of each venue and symbol of its shard,
then subscribes as usual: it starts from the latest known book of every venue instead of waiting
for each venue's next quote.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from tickwire.scaleout.codec import QUOTE, event_subject
from tickwire.scaleout.link import NatsLink

__all__ = ["QUOTES_STREAM", "keep_quotes", "replay_last_quotes"]

QUOTES_STREAM = "TICKWIRE_QUOTES"
_FETCH_BATCH = 256
_FETCH_TIMEOUT = 1.0  # seconds; the stream holds at most one message per venue per symbol here

log = logging.getLogger("tickwire.jetstream")


async def keep_quotes(link: NatsLink, retention_seconds: float) -> None:
    """Create (or re-time) the quotes stream; raises ``nats.js.errors.Error`` if JetStream
    refuses (e.g. the server runs without ``-js``)."""
    config = StreamConfig(
        name=QUOTES_STREAM,
        subjects=[event_subject(QUOTE, "*", "*")],
        max_age=retention_seconds,
        storage=StorageType.FILE,
    )
    manager = link.client.jetstream()
    try:
        await manager.add_stream(config)
    except nats.js.errors.BadRequestError:  # it exists with other settings: take ours
        await manager.update_stream(config)
    log.info("JetStream stream %s keeps quotes for %g s", QUOTES_STREAM, retention_seconds)


async def replay_last_quotes(
    link: NatsLink, symbols: list[str], on_message: Callable[[str, bytes, int], None]
) -> int:
    """Feed ``on_message`` the last stored quote per venue of each of ``symbols``; returns how
    many. Without the stream (no ingest node keeps one) it logs that and returns 0."""
    context = link.client.jetstream()
    replayed = 0
    for symbol in symbols:
        consumer = ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT, ack_policy=AckPolicy.NONE
        )
        try:
            subscription = await context.pull_subscribe(
                event_subject(QUOTE, "*", symbol), stream=QUOTES_STREAM, config=consumer
            )
        except nats.js.errors.NotFoundError:
            log.warning("JetStream has no stream %s: nothing to replay", QUOTES_STREAM)
            return replayed
        try:
            while True:
                try:
                    messages = await subscription.fetch(_FETCH_BATCH, timeout=_FETCH_TIMEOUT)
                except nats.errors.TimeoutError:
                    break
                for message in messages:
                    on_message(message.subject, message.data, time.time_ns())
                replayed += len(messages)
                if messages[-1].metadata.num_pending == 0:
                    break
        finally:
            await subscription.unsubscribe()
    log.info("replayed %d quotes from JetStream", replayed)
    return replayed
