"""The roadmap's "before": the feed handler as it is usually first written.

``websockets`` client on stock asyncio, ``json.loads`` into dicts, one enabled ``logging.info``
per message (to stderr — the benchmark harness sends stderr to /dev/null, but the log record is
still created, formatted and written), float prices, and an ``asyncio.Queue(100)`` hop to a
consumer task that prints one JSON line per message with ``print(..., flush=True)``.

    python benchmarks/w2o_naive_client.py ws://127.0.0.1:PORT/stream [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from websockets.asyncio.client import connect

log = logging.getLogger("feed")


async def consumer(queue: asyncio.Queue) -> None:  # type: ignore[type-arg]
    while True:
        quote = await queue.get()
        bid, ask = quote["bid"], quote["ask"]
        quote["price"] = (bid + ask) / 2
        print(json.dumps(quote), flush=True)


async def main(url: str, duration: float) -> None:
    queue: asyncio.Queue = asyncio.Queue(100)  # type: ignore[type-arg]
    task = asyncio.create_task(consumer(queue))
    async with connect(url) as ws:
        await ws.send(
            json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1})
        )
        async for raw in ws:
            msg = json.loads(raw)
            data = msg.get("data")
            if data is None:
                log.info("control message: %s", msg)
                continue
            log.info("bookTicker %s u=%s bid=%s ask=%s", data["s"], data["u"], data["b"], data["a"])
            await queue.put(
                {
                    "type": "price",
                    "symbol": "BTC-USDT",
                    "bid": float(data["b"]),
                    "bid_size": float(data["B"]),
                    "ask": float(data["a"]),
                    "ask_size": float(data["A"]),
                    "u": data["u"],
                }
            )
    task.cancel()


async def run(url: str, duration: float) -> None:
    try:
        await asyncio.wait_for(main(url, duration), duration)
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=120.0, help="hard stop (seconds)")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(run(args.url, args.duration))
