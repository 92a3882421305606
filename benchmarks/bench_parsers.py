"""Three ways from a Binance bookTicker frame to the same validated Quote (roadmap 4.1).

    python benchmarks/bench_parsers.py [--repeat 7] [--min-time 0.2]

- ``msgspec``: tickwire's adapter (``BinanceSpot.decode``): one typed msgspec parse, then the
  price memos, the checks and the event.
- ``hand-written``: the frame's exact known shape read with ``bytes.split`` (every structural
  token checked, the numbers looked up in memos keyed by their raw bytes); anything else goes to
  the adapter.
- ``simdjson``: pysimdjson's parser (``pip install pysimdjson``) and a read of each field through
  its document, with the type checks msgspec would make.

All three give exactly the adapter's events on the recorded frames (checked before timing);
``json.loads`` (no field access, no validation) is the baseline. ns per frame, the median over
``--repeat`` repeats of the fastest short batch (see ``bench_decode.py``), the ways alternating.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from typing import Any, Callable, Sequence

from bench_decode import BINANCE, best_time, fixture_lines

from tickwire.instruments import parse_symbol
from tickwire.model import Event, Quote
from tickwire.venues.base import SymbolState
from tickwire.venues.binance import BinanceSpot

Decode = Callable[[bytes, int], Sequence[Event]]

_PRICE, _SIZE = 0, 1
# the key and closing bytes of each number of ``{..."b":"P","B":"S","a":"P","A":"S"}}`` after a
# split on ``,"``: a memo hit proves the whole part, key and quotes included
_NUMBER_PARTS = {b'b":"': (_PRICE, b'"'), b'B":"': (_SIZE, b'"'), b'a":"': (_PRICE, b'"'), b'A":"': (_SIZE, b'"}}')}
_U_PART = b'data":{"u":'
_MAX_U_DIGITS = 18


def hand_written(adapter: BinanceSpot) -> Decode:
    """A decoder of ``{"stream":"<s>@bookTicker","data":{"u":N,"s":"S","b":"P","B":"S","a":"P","A":"S"}}``
    exactly, by ``bytes.split``; any other frame, or one the checks refuse, goes to ``adapter``."""
    states: dict[str, SymbolState] = adapter._symbols  # type: ignore[attr-defined]
    streams = {b'{"stream":"' + s.encode() + b'"' for s in adapter.streams if s.endswith("@bookTicker")}
    symbols = {b's":"' + name.encode() + b'"': (state, {}) for name, state in states.items()}
    name = adapter.name

    def number(state: SymbolState, memo: dict[bytes, int], part: bytes) -> int:
        kind, tail = _NUMBER_PARTS.get(part[:4], (None, b""))
        if kind is None or not part.endswith(tail):
            raise ValueError("not the shape")
        text = part[4 : -len(tail)].decode("ascii")  # a quote or a backslash fails the parse
        value = memo[part] = (state.prices if kind == _PRICE else state.sizes).parse(text)
        return value

    def decode(payload: bytes, recv_ns: int) -> Sequence[Event]:
        parts = payload.split(b',"')
        if len(parts) == 7 and parts[0] in streams:
            found = symbols.get(parts[2])
            head = parts[1]
            if found is not None and head.startswith(_U_PART):
                state, memo = found
                u_text = head[len(_U_PART) :]
                try:
                    bid = memo.get(parts[3]) or number(state, memo, parts[3])
                    bid_size = memo.get(parts[4]) or number(state, memo, parts[4])
                    ask = memo.get(parts[5]) or number(state, memo, parts[5])
                    ask_size = memo.get(parts[6]) or number(state, memo, parts[6])
                except ValueError:
                    return adapter.decode(payload, recv_ns)
                if (
                    u_text.isdigit() and len(u_text) <= _MAX_U_DIGITS and (u_text[:1] != b"0" or len(u_text) == 1)
                    and 0 < bid < ask and bid_size > 0 and ask_size > 0
                ):
                    u = int(u_text)
                    if u > state.last_update_id:
                        state.last_update_id = u
                        return (Quote(name, state.symbol, bid, bid_size, ask, ask_size, recv_ns, 0, u),)
        return adapter.decode(payload, recv_ns)

    return decode


def simdjson_reader(adapter: BinanceSpot) -> Decode:
    """A decoder that parses with pysimdjson and reads the fields through its document; any frame
    it cannot read as a subscribed bookTicker goes to ``adapter``."""
    import simdjson

    parse = simdjson.Parser().parse
    states: dict[str, SymbolState] = adapter._symbols  # type: ignore[attr-defined]
    streams = {s for s in adapter.streams if s.endswith("@bookTicker")}
    name = adapter.name

    def decode(payload: bytes, recv_ns: int) -> Sequence[Event]:
        try:
            document = parse(payload)
            data: Any = document["data"]
            stream, u, symbol = document["stream"], data["u"], data["s"]
            texts = data["b"], data["B"], data["a"], data["A"]
        except (ValueError, KeyError, TypeError):
            return adapter.decode(payload, recv_ns)
        state = states.get(symbol) if type(symbol) is str else None
        if stream in streams and type(u) is int and state is not None and all(type(t) is str for t in texts):
            try:
                bid = state.price_memo.get(texts[0]) or state.prices.parse(texts[0])
                bid_size = state.size_memo.get(texts[1]) or state.sizes.parse(texts[1])
                ask = state.price_memo.get(texts[2]) or state.prices.parse(texts[2])
                ask_size = state.size_memo.get(texts[3]) or state.sizes.parse(texts[3])
            except ValueError:
                return adapter.decode(payload, recv_ns)
            if 0 < bid < ask and bid_size > 0 and ask_size > 0 and u > state.last_update_id:
                state.last_update_id = u
                return (Quote(name, state.symbol, bid, bid_size, ask, ask_size, recv_ns, 0, u),)
        return adapter.decode(payload, recv_ns)

    return decode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per measurement")
    args = parser.parse_args()
    frames = fixture_lines("binance/bookTicker.jsonl")
    adapters: dict[str, BinanceSpot] = {}
    ways: dict[str, Decode] = {}
    for way in ("msgspec", "hand-written", "simdjson"):
        adapter = adapters[way] = BinanceSpot([parse_symbol(s) for s in BINANCE])
        if way == "msgspec":
            ways[way] = adapter.decode
        elif way == "hand-written":
            ways[way] = hand_written(adapter)
        else:
            try:
                ways[way] = simdjson_reader(adapter)
            except ImportError:
                print("simdjson: not installed (pip install pysimdjson), left out")
    expected = None
    for way, decode in ways.items():
        adapters[way].on_connected()
        events = [decode(frame, 1) for frame in frames]
        if expected is None:
            expected = events
        elif events != expected:
            raise SystemExit(f"{way}: not the adapter's events")

    def passes(way: str) -> Callable[[], None]:
        decode, reset = ways[way], adapters[way].on_connected

        def run() -> None:
            reset()
            for frame in frames:
                decode(frame, 1)

        return run

    def loads_pass() -> None:
        for frame in frames:
            json.loads(frame)

    runs: dict[str, list[float]] = {way: [] for way in [*ways, "json.loads"]}
    for _ in range(args.repeat):
        for way in ways:
            reset_ns = best_time(adapters[way].on_connected, args.min_time / 4)
            runs[way].append((best_time(passes(way), args.min_time) - reset_ns) / len(frames))
        runs["json.loads"].append(best_time(loads_pass, args.min_time) / len(frames))
    print(f"python {platform.python_version()} ({sys.executable}); {len(frames)} recorded frames, ns per frame, "
          f"median of {args.repeat}")
    print("| way | ns per frame | json.loads / way |")
    print("|---|---:|---:|")
    baseline = statistics.median(runs["json.loads"])
    for way, figures in runs.items():
        ns = statistics.median(figures)
        print(f"| {way} | {ns:.0f} | {baseline / ns:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
