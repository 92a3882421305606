"""The floor of the wire-to-output benchmark: picows + uvloop, no parsing, payload straight out.

Subscribes like tickwire, then appends every text payload (unparsed) plus a newline to one
buffer and writes the buffer with a single ``os.write`` when picows says the frame was the last
one of the socket read (``frame.last_in_buffer``) — the same flushing rule as tickwire's stdout
sink. A lone message is therefore written at once; a burst costs one syscall.

    python benchmarks/w2o_floor_client.py ws://127.0.0.1:PORT/stream [--duration S] [--stamp]

``--stamp`` (calibration only, not the floor): each line starts with ``time.time_ns()`` taken
first thing in the frame callback, so the harness can split latency into wire and pipe parts.
``--busy-poll``: the event loop never sleeps (a task always ready), as ``tickwire run --busy-poll``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

SUBSCRIBE = b'{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":1}'


class FloorListener(WSListener):
    stamp = False

    def __init__(self) -> None:
        self.buffer = bytearray()

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, SUBSCRIBE)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            buffer = self.buffer
            if self.stamp:
                buffer += b"%d " % time.time_ns()
            buffer += frame.get_payload_as_memoryview()
            buffer.append(10)
            if frame.last_in_buffer:
                view = memoryview(buffer)
                written = 0
                while written < len(view):
                    written += os.write(1, view[written:])
                view.release()
                buffer.clear()
        elif frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()


def spin(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon(spin, loop)


async def main(url: str, duration: float, busy_poll: bool) -> None:
    transport, _ = await ws_connect(FloorListener, url)  # auto-pong on (picows default)
    if busy_poll:
        spin(asyncio.get_running_loop())
    try:
        await asyncio.wait_for(transport.wait_disconnected(), duration)
    except asyncio.TimeoutError:
        transport.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=120.0, help="hard stop (seconds)")
    parser.add_argument("--stamp", action="store_true", help="prefix each line with the receive stamp")
    parser.add_argument("--busy-poll", action="store_true", help="never let the event loop sleep")
    args = parser.parse_args()
    FloorListener.stamp = args.stamp
    uvloop.run(main(args.url, args.duration, args.busy_poll))
