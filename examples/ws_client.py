"""A small consumer of tickwire's WebSocket API: subscribe, then print each consolidated price.

    tickwire run --venues binance,okx --symbols BTC-USDT,ETH-USDT --sink ws &
    python examples/ws_client.py BTC-USDT            # or "*" for every symbol

With a token (a server bound to another address than loopback needs one), put it in the
environment: ``TICKWIRE_WS_TOKEN=... python examples/ws_client.py --url ws://host:9465/ BTC-USDT``.
The protocol is in docs/CONSUMER_API.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class PricePrinter(WSListener):
    """Subscribes once connected; prints the price lines and the server's replies."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols

    def on_ws_connected(self, transport: WSTransport) -> None:
        request = {"op": "subscribe", "symbols": self.symbols, "id": 1}
        transport.send(WSMsgType.TEXT, json.dumps(request).encode())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()
            return
        if frame.msg_type is not WSMsgType.TEXT:
            return
        for text in frame.get_payload_as_bytes().splitlines():  # one or more lines a message
            line = json.loads(text)
            if line["type"] == "price":
                price = line["price"] or "-"  # null while no venue is usable (see "status")
                print(f"{line['symbol']:<12} {price:>16} bid {line['bid']} ask {line['ask']} "
                      f"({line['n_venues']} venues, {line['status']})")
            elif line["type"] in ("hello", "subscribed", "unsubscribed", "error"):
                print(f"# {text.decode()}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("symbols", nargs="+", help='canonical symbols, e.g. BTC-USDT, or "*"')
    parser.add_argument("--url", default="ws://127.0.0.1:9465/")
    args = parser.parse_args()
    token = os.environ.get("TICKWIRE_WS_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    transport, _ = await ws_connect(lambda: PricePrinter(args.symbols), args.url, extra_headers=headers)
    await transport.wait_disconnected()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
