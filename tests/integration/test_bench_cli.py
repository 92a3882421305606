"""``tickwire bench``: the roadmap ablation end to end on loopback, and its usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tickwire.bench import ABLATION

SMALL_RUN = ["--quick", "--paced-count", "400", "--rate", "2000", "--maxrate-count", "2000"]


def tickwire(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickwire", "bench", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The ablation table's data rows by step label."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("step",) and not cells[0].startswith("-"):
            rows[cells[0]] = cells
    return rows


def test_quick_ablation_prints_every_step_and_writes_results(tmp_path: Path) -> None:
    results = tmp_path / "ablation.json"
    done = tickwire("--ablation", *SMALL_RUN, "--json", str(results), "--plot", str(tmp_path / "plot.png"))
    assert done.returncode == 0, done.stderr[-2000:]

    rows = table_rows(done.stdout)
    assert list(rows) == [step.label for step in ABLATION]
    for step in ABLATION:
        cells = rows[step.label]
        assert cells[1].startswith(step.name)
        p50, p99, p999, throughput = (float(cell.strip("()").replace(",", "")) for cell in cells[2:6])
        assert 0 < p50 <= p99 <= p999
        assert throughput > 0
    delta_p50 = 7
    assert rows["0"][delta_p50] == "–"  # the baseline has nothing to compare with
    assert all(rows[step.label][delta_p50] != "–" for step in ABLATION[1:])
    assert "parse time per frame" in done.stdout

    document = json.loads(results.read_text())
    assert [row["step"] for row in document["ablation"]] == [step.label for step in ABLATION]
    for step in ABLATION:
        statistics = document["summary"][step.client]
        assert statistics["missing_paced"] == [0], step.client  # one right line per frame sent
        assert statistics["missing_maxrate"] == [0], step.client
    assert set(document["parse_time_ns"]) == {"dict_json_loads", "msgspec_struct"}
    assert (tmp_path / "plot.png").exists() or "no plot" in done.stderr


def test_without_the_benchmarks_directory_it_says_so_and_exits_2(tmp_path: Path) -> None:
    done = tickwire("--ablation", "--benchmarks-dir", str(tmp_path), timeout=30)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--benchmarks-dir" in done.stderr and "wire_to_output.py" in done.stderr


def test_peers_passes_its_clients_to_the_harness(tmp_path: Path) -> None:
    done = tickwire("--peers", "--clients", "floor,no-such-client", timeout=30)
    assert done.returncode == 2
    assert "unknown client 'no-such-client'" in done.stderr
