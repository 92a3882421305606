"""``tickwire demo`` runs end to end on a machine without network and says what it saw."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_runs_the_simulator_and_pipeline_and_prints_a_summary():
    result = subprocess.run(
        [sys.executable, "-m", "tickwire", "demo", "--duration", "3", "--rate", "50",
         "--symbols", "BTC-USDT,ETH-USDT"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    summary = result.stdout[result.stdout.index("tickwire demo:"):]
    updates = int(re.search(r"(\d+) consolidated updates", summary).group(1))
    venues = dict(re.findall(r"  (\w+): (\d+) frames", summary))
    assert set(venues) == {"binance", "coinbase", "kraken", "okx"}  # four venues by default
    frames = sum(int(n) for n in venues.values())
    assert all(int(n) >= 100 for n in venues.values())  # ~2 symbols x 50/s x 3 s, less start-up
    assert 0 < updates <= frames
    assert summary.count("0 reconnects, decode errors 0") == 4
    assert re.search(r"p50 \d+\.\d", summary)
