"""``tickwire run`` on real recorded Kraken v1 frames, replayed by the simulated v1 venue."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_replay
from .market_mirror import Touch, assert_lines_follow, published_count, units

RECORDED_TICKERS = Path(__file__).parent.parent / "fixtures" / "kraken" / "ticker.jsonl"
PAIRS = {"KSM/XBT": "KSM-BTC", "XMR/USD": "XMR-USD", "ETH/CHF": "ETH-CHF", "OMG/USD": "OMG-USD",
         "GRT/ETH": "GRT-ETH", "WAVES/EUR": "WAVES-EUR", "SC/EUR": "SC-EUR",
         "OCEAN/XBT": "OCEAN-BTC", "XBT/CHF": "BTC-CHF", "ADA/XBT": "ADA-BTC"}


def recorded_touches() -> dict[str, list[Touch]]:
    """Per canonical symbol, the best bid/offer of each recorded ticker frame."""
    touches: dict[str, list[Touch]] = {}
    for line in RECORDED_TICKERS.read_bytes().splitlines():
        _, ticker, _, pair = json.loads(line)
        bid, ask = ticker["b"], ticker["a"]
        touches.setdefault(PAIRS[pair], []).append(
            (units(bid[0]), units(bid[2]), units(ask[0]), units(ask[2]))
        )
    return touches


def test_the_recorded_v1_tickers_replay_through_tickwire_to_their_best_bid_offers():
    sent = recorded_touches()

    lines, status, _ = run_replay(
        "kraken_v1", RECORDED_TICKERS, list(PAIRS.values()), published_count(sent), speed=300, until_replayed=True
    )
    assert status == 0
    assert_lines_follow(lines, sent, "kraken_v1")  # and all of them: as many lines as changes
