"""cryptofeed as a peer in the wire-to-output benchmark.

A plain cryptofeed program: a ``FeedHandler`` with cryptofeed's own ``Binance`` feed, BTC-USDT,
the TICKER channel (Binance's bookTicker stream), and a callback that prints each ticker as a
JSON line with ``print(json.dumps(ticker.to_dict(numeric_type=str)), flush=True)``.

Three things are changed so it runs against the loopback sender, none on the message path:

* the WebSocket address: cryptofeed keeps it in the class attribute ``websocket_endpoints``, so a
  subclass points it at the loopback server (cryptofeed then appends
  ``/stream?streams=btcusdt@bookTicker`` itself, as it does for the real venue);
* plain ``ws://``: cryptofeed refuses any address but ``wss://``, and the sender speaks no TLS
  (nor does any other client in the benchmark), so the address is given as ``wss://`` and the
  ``websockets`` ``connect`` that cryptofeed's connection module calls once per connection is
  wrapped to dial ``ws://`` instead;
* the symbol list: cryptofeed reads Binance's exchangeInfo over REST before connecting. Here its
  own ``_parse_symbol_data`` reads a minimal exchangeInfo for BTCUSDT and the result goes into
  cryptofeed's symbol table, so no REST call is made.

Runs in cryptofeed's own venv (see ``peer_venvs.py``); works with cryptofeed 2.4 and 3.0.

    CRYPTOFEED_PYTHON benchmarks/w2o_cryptofeed_client.py ws://127.0.0.1:PORT [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

import cryptofeed.connection
from cryptofeed import FeedHandler
from cryptofeed.connection import WebsocketEndpoint
from cryptofeed.defines import TICKER
from cryptofeed.exchanges import Binance
from cryptofeed.symbols import Symbols
from websockets.asyncio.client import connect

EXCHANGE_INFO = {
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01000000"}],
        }
    ]
}


async def ticker(t, receipt_timestamp):  # type: ignore[no-untyped-def]
    print(json.dumps(t.to_dict(numeric_type=str)), flush=True)


def connect_without_tls(address: str, **options):  # type: ignore[no-untyped-def]
    return connect(address.replace("wss://", "ws://", 1), **options)


def main(url: str, duration: float) -> None:
    class LoopbackBinance(Binance):
        websocket_endpoints = [WebsocketEndpoint(url.replace("ws://", "wss://", 1))]

    cryptofeed.connection.connect = connect_without_tls

    symbols, info = Binance._parse_symbol_data(EXCHANGE_INFO)
    Symbols.set(Binance.id, symbols, info)
    signal.alarm(max(1, round(duration)))  # hard stop: SIGALRM's default action ends the process
    handler = FeedHandler(config={"uvloop": True, "log": {"filename": os.devnull, "level": "WARNING"}})
    if not hasattr(handler, "run_async"):
        # cryptofeed 2.x runs on the current event loop; uvloop 0.22+ no longer makes one on demand
        asyncio.set_event_loop(asyncio.new_event_loop())
    handler.add_feed(LoopbackBinance(symbols=["BTC-USDT"], channels=[TICKER], callbacks={TICKER: ticker}))
    handler.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="ws://HOST:PORT of the venue (no path: cryptofeed adds it)")
    parser.add_argument("--duration", type=float, default=120.0, help="hard stop (seconds)")
    args = parser.parse_args()
    main(args.url, args.duration)
