"""The per-venue rate guard of the transport: frames and pings past
``transport.max_frames_per_second`` within one second are dropped and counted ``rate_limited``."""

from __future__ import annotations

import pytest
from picows import WSMsgType

from tickwire.config import ConfigError, load_config
from tickwire.transport import session as session_module
from tickwire.transport.session import SessionSettings, VenueSession, _Listener
from tickwire.venues.registry import VENUES, instruments_for

SECOND = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now_ns = 1_700_000_000 * SECOND

    def __call__(self) -> int:
        return self.now_ns


class Frame:
    """What the listener reads of a picows frame."""

    def __init__(self, msg_type: WSMsgType, payload: bytes = b"{}") -> None:
        self.msg_type = msg_type
        self.fin = True
        self.payload_size = len(payload)
        self.last_in_buffer = True
        self._payload = payload

    def get_payload_as_bytes(self) -> bytes:
        return self._payload


class Transport:
    def __init__(self) -> None:
        self.pongs = 0

    def send_pong(self, payload: bytes) -> None:
        self.pongs += 1


def listener(cap: int, clock: Clock, monkeypatch: pytest.MonkeyPatch, received: list[bytes]) -> _Listener:
    monkeypatch.setattr(session_module.time, "time_ns", clock)
    config = load_config(None, {"symbols": ["BTC-USDT"], "venues": ["binance"]})
    adapter = VENUES["binance"](instruments_for("binance", config.instrument_list()), frozenset(config.channels))
    session = VenueSession(
        adapter, "ws://127.0.0.1:1", lambda payload, recv_ns, last: payload and received.append(payload),
        lambda: None, SessionSettings(max_frames_per_second=cap),
    )
    return _Listener(session)


def test_frames_and_pings_over_the_cap_in_a_second_are_dropped_and_counted(monkeypatch):
    clock, received, transport = Clock(), [], Transport()
    guarded = listener(10, clock, monkeypatch, received)
    for _ in range(8):
        guarded.on_ws_frame(transport, Frame(WSMsgType.TEXT))
    for _ in range(7):
        guarded.on_ws_frame(transport, Frame(WSMsgType.PING))
    assert (len(received), transport.pongs) == (8, 2)  # 10 let through, 5 dropped
    errors = guarded._session.adapter.stats.errors
    assert errors == {"rate_limited": 5}

    clock.now_ns += SECOND  # a new second: a new budget
    for _ in range(12):
        guarded.on_ws_frame(transport, Frame(WSMsgType.TEXT))
    assert len(received) == 8 + 10
    assert errors == {"rate_limited": 7}


def test_no_cap_by_default(monkeypatch):
    clock, received, transport = Clock(), [], Transport()
    unguarded = listener(0, clock, monkeypatch, received)
    for _ in range(10_000):
        unguarded.on_ws_frame(transport, Frame(WSMsgType.TEXT))
    assert len(received) == 10_000


def test_a_negative_cap_is_a_configuration_error():
    with pytest.raises(ConfigError, match="transport.max_frames_per_second must be >= 0"):
        load_config(None, {"symbols": ["BTC-USDT"], "transport": {"max_frames_per_second": -1}})


def test_a_read_that_ends_on_a_ping_or_a_dropped_frame_is_told_to_the_consumer(monkeypatch):
    clock, transport = Clock(), Transport()
    calls: list[tuple[bytes, bool]] = []
    monkeypatch.setattr(session_module.time, "time_ns", clock)
    config = load_config(None, {"symbols": ["BTC-USDT"], "venues": ["binance"]})
    adapter = VENUES["binance"](instruments_for("binance", config.instrument_list()), frozenset(config.channels))
    session = VenueSession(
        adapter, "ws://127.0.0.1:1", lambda payload, recv_ns, last: calls.append((payload, last)),
        lambda: None, SessionSettings(max_frame_bytes=1024),
    )
    reader = _Listener(session)
    data, ping, oversized = Frame(WSMsgType.TEXT), Frame(WSMsgType.PING), Frame(WSMsgType.TEXT, b"x" * 2048)
    data.last_in_buffer = False
    reader.on_ws_frame(transport, data)
    reader.on_ws_frame(transport, ping)  # ends the read
    assert calls == [(b"{}", False), (b"", True)]
    calls.clear()
    reader.on_ws_frame(transport, data)
    reader.on_ws_frame(transport, oversized)  # dropped, and ends the read
    assert calls == [(b"{}", False), (b"", True)]
    calls.clear()
    ping.last_in_buffer = False
    reader.on_ws_frame(transport, ping)  # a ping inside a read says nothing
    assert calls == [] and transport.pongs == 2
