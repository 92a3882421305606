"""The roadmap ablation's clients: the naive client with the roadmap's steps applied one by one.

Every step keeps everything of the step before it and changes one thing:

1. the naive client (``w2o_naive_client.py``) without its per-message ``logging.info`` call:
   ``websockets`` on stock asyncio, ``json.loads`` into dicts, ``float`` prices, an
   ``asyncio.Queue`` hop to a consumer task, ``print(json.dumps(...), flush=True)`` per message;
2. typed structs: the frame is decoded by msgspec into ``Struct`` types, the queue carries a
   ``Struct`` and the line is encoded from one (prices still floats);
3. fixed-point prices: ``tickwire.fixedpoint`` parses the decimal text into integers and formats
   them back, exactly (no float anywhere);
4. the consumer is called directly by the receive loop instead of through the queue.

``--queue N`` sets the queue size of steps 1 to 3 (default 100, the naive client's; 0 means
unbounded). CPU pinning, the ablation's step 5, is step 4 started on one core by the harness
(``os.sched_setaffinity``, as ``tickwire`` pins itself).

    python benchmarks/w2o_step_client.py ws://127.0.0.1:PORT/stream --step N [--queue N] [--duration S]
    python benchmarks/w2o_step_client.py --time-decode [--frames N]

``--time-decode`` prints, as JSON, the ns per frame of the decode of step 1 (``json.loads`` into a
dict and the field reads and ``float`` conversions the naive client makes) and of step 2 (the
msgspec ``Struct`` decode and the same conversions), on the frames the benchmark sender sends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from websockets.asyncio.client import connect

from tickwire.fixedpoint import PriceCache, text_cache
from tickwire.venues.binance import BinanceBookTicker

SUBSCRIBE = json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1})
SYMBOL = "BTC-USDT"
SCALE = 8  # Binance sends 8 decimals
STEPS = (1, 2, 3, 4)


class Envelope(msgspec.Struct, gc=False):
    data: BinanceBookTicker | None = None  # None: the subscription ack (tickwire's wire struct)


class FloatQuote(msgspec.Struct, gc=False):
    type: str
    symbol: str
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    u: int
    price: float = 0.0


class FixedQuote(msgspec.Struct, gc=False):
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    u: int


class FixedLine(msgspec.Struct, gc=False):
    type: str
    symbol: str
    bid: str
    bid_size: str
    ask: str
    ask_size: str
    u: int
    price: str


# ---------------------------------------------------------------------------------------------
# decode: frame text -> the quote the step carries (None for anything that is not a bookTicker)


def decode_dict(raw: str | bytes) -> dict[str, Any] | None:
    msg = json.loads(raw)
    data = msg.get("data")
    if data is None:
        return None
    return {
        "type": "price",
        "symbol": SYMBOL,
        "bid": float(data["b"]),
        "bid_size": float(data["B"]),
        "ask": float(data["a"]),
        "ask_size": float(data["A"]),
        "u": data["u"],
    }


_decode_envelope = msgspec.json.Decoder(Envelope).decode


def decode_struct(raw: str | bytes) -> FloatQuote | None:
    data = _decode_envelope(raw).data
    if data is None:
        return None
    return FloatQuote("price", SYMBOL, float(data.b), float(data.B), float(data.a), float(data.A), data.u)


_prices = PriceCache(SCALE)
_parse_price = _prices.parse


def decode_fixed(raw: str | bytes) -> FixedQuote | None:
    data = _decode_envelope(raw).data
    if data is None:
        return None
    parse = _parse_price
    return FixedQuote(parse(data.b), parse(data.B), parse(data.a), parse(data.A), data.u)


# ---------------------------------------------------------------------------------------------
# emit: one line per quote on stdout, flushed


def emit_dict(quote: dict[str, Any]) -> None:
    quote["price"] = (quote["bid"] + quote["ask"]) / 2
    print(json.dumps(quote), flush=True)


_encode = msgspec.json.Encoder().encode


def emit_struct(quote: FloatQuote) -> None:
    quote.price = (quote.bid + quote.ask) / 2
    print(_encode(quote).decode(), flush=True)


_texts = text_cache(SCALE)
_format = _texts.format
_mid_texts = text_cache(SCALE + 1)  # (bid + ask) / 2 is exact one decimal further


def emit_fixed(quote: FixedQuote) -> None:
    line = FixedLine(
        "price", SYMBOL, _format(quote.bid), _format(quote.bid_size), _format(quote.ask),
        _format(quote.ask_size), quote.u, _mid_texts.format((quote.bid + quote.ask) * 5),
    )  # fmt: skip
    print(_encode(line).decode(), flush=True)


PIPELINES: dict[int, tuple[Callable[[Any], Any], Callable[[Any], None]]] = {
    1: (decode_dict, emit_dict),
    2: (decode_struct, emit_struct),
    3: (decode_fixed, emit_fixed),
    4: (decode_fixed, emit_fixed),
}


# ---------------------------------------------------------------------------------------------
# the receive loop: through a queue (steps 1-3) or a direct call (step 4)


async def consume(queue: asyncio.Queue, emit: Callable[[Any], None]) -> None:  # type: ignore[type-arg]
    while True:
        emit(await queue.get())


async def receive_queued(url: str, decode: Callable[[Any], Any], emit: Callable[[Any], None], size: int) -> None:
    queue: asyncio.Queue = asyncio.Queue(size)  # type: ignore[type-arg]
    task = asyncio.create_task(consume(queue, emit))
    async with connect(url) as ws:
        await ws.send(SUBSCRIBE)
        async for raw in ws:
            quote = decode(raw)
            if quote is not None:
                await queue.put(quote)
    task.cancel()


async def receive_direct(url: str, decode: Callable[[Any], Any], emit: Callable[[Any], None]) -> None:
    async with connect(url) as ws:
        await ws.send(SUBSCRIBE)
        async for raw in ws:
            quote = decode(raw)
            if quote is not None:
                emit(quote)


async def run(url: str, step: int, queue_size: int, duration: float) -> None:
    decode, emit = PIPELINES[step]
    if step >= 4:
        receiving = receive_direct(url, decode, emit)
    else:
        receiving = receive_queued(url, decode, emit, queue_size)
    try:
        await asyncio.wait_for(receiving, duration)
    except asyncio.TimeoutError:
        pass


# ---------------------------------------------------------------------------------------------
# --time-decode


def time_decode(frames: int, repeats: int = 7, batch_s: float = 0.05) -> dict[str, float]:
    """ns per frame of step 1's and step 2's decode over the sender's first ``frames`` payloads
    (as text, as ``websockets`` hands them over); the median over ``repeats`` of the fastest of
    several batches, the two decodes alternating."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import w2o_server

    payloads = [w2o_server.frame_payload(seq).decode() for seq in range(1, frames + 1)]
    decoders = {"dict_json_loads": decode_dict, "msgspec_struct": decode_struct}
    best: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(repeats):
        for name, decode in decoders.items():
            fastest = float("inf")
            deadline = time.perf_counter() + batch_s
            while time.perf_counter() < deadline:
                start = time.perf_counter_ns()
                for payload in payloads:
                    decode(payload)
                fastest = min(fastest, (time.perf_counter_ns() - start) / len(payloads))
            best[name].append(fastest)
    return {name: sorted(values)[len(values) // 2] for name, values in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--step", type=int, choices=STEPS)
    parser.add_argument("--queue", type=int, default=100, help="queue size of steps 1-3 (0: unbounded)")
    parser.add_argument("--duration", type=float, default=120.0, help="hard stop (seconds)")
    parser.add_argument("--time-decode", action="store_true", help="time step 1's and step 2's decode")
    parser.add_argument("--frames", type=int, default=1000, help="frames per --time-decode batch")
    args = parser.parse_args()
    if args.time_decode:
        print(json.dumps(time_decode(args.frames)))
        return
    if args.url is None or args.step is None:
        parser.error("a URL and --step are needed (or --time-decode)")
    asyncio.run(run(args.url, args.step, args.queue, args.duration))


if __name__ == "__main__":
    main()
