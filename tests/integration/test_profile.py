"""``tickwire profile`` samples the real pipeline under a simulated load with py-spy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import tickwire.profile
from tickwire import cli

SVG = "{http://www.w3.org/2000/svg}"
INFERNO = "{http://github.com/jonhoo/inferno}"
HOT_PATH = (
    "_Listener.on_ws_frame (tickwire/transport/session.py",
    "Engine.frame_consumer.<locals>.on_frame (tickwire/engine.py",
    "BinanceSpot.decode (tickwire/venues/binance.py",
)


def profile(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickwire", "profile", "--venues", "binance", "--symbols",
         "BTC-USDT,ETH-USDT", "--rate", "3000", "--duration", "4", "--sample-rate", "500",
         "--top", "12", *flags],
        capture_output=True, text=True, timeout=90, cwd=tmp_path,
    )  # fmt: skip


def samples_with_a_frame(svg: ElementTree.Element) -> int:
    """The width of the frames one row from the flamegraph's root (a sample with no frame at all
    widens only the root)."""
    rows = [
        (group.find(f"{SVG}title").text, float(rect.attrib["y"]), int(rect.attrib[f"{INFERNO}w"]))
        for group in svg.iter(f"{SVG}g")
        if (rect := group.find(f"{SVG}rect")) is not None and f"{INFERNO}w" in rect.attrib
    ]
    root_y = next(y for title, y, _ in rows if title.startswith("all ("))
    return sum(width for _, y, width in rows if abs(y - root_y) == 16)


def top_table(stdout: str) -> dict[str, int]:
    rows = re.findall(r"^ +[\d.]+%  +(\d+)  (.+)$", stdout, re.MULTILINE)
    return {frame: int(samples) for samples, frame in rows}


def test_profile_writes_a_flamegraph_svg_naming_the_hot_path_and_prints_the_top_frames(tmp_path):
    result = profile(tmp_path, "-o", "flame.svg")

    assert result.returncode == 0, result.stderr
    svg = ElementTree.parse(tmp_path / "flame.svg").getroot()
    assert svg.tag == f"{SVG}svg"
    frames = [title.text or "" for title in svg.iter(f"{SVG}title")]
    for function in HOT_PATH:
        assert any(frame.startswith(function) for frame in frames), function
    assert f"wrote flame.svg (flamegraph)\ntop 12 of " in result.stdout
    assert f"by self time ({samples_with_a_frame(svg)} samples)" in result.stdout
    table = top_table(result.stdout)
    assert len(table) == 12
    assert list(table.values()) == sorted(table.values(), reverse=True)
    assert re.search(r"tickwire: binance: \d+ frames", result.stderr)  # the run's own summary


def test_profile_writes_speedscope_json_on_request(tmp_path):
    result = profile(tmp_path, "--format", "speedscope", "-o", "out/profile.json")

    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "out" / "profile.json").read_text())
    names = {f"{frame['name']} ({frame['file']}" for frame in document["shared"]["frames"]}
    assert any("on_frame (" in name and name.endswith("tickwire/engine.py") for name in names)
    samples = sum(1 for thread in document["profiles"] for stack in thread["samples"] if stack)
    assert f"wrote out/profile.json (speedscope)\ntop 12 of " in result.stdout
    assert f"by self time ({samples} samples)" in result.stdout


def test_without_py_spy_profile_says_how_to_install_it_and_exits_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(tickwire.profile, "find_py_spy", lambda: None)

    status = cli.main(["profile", "--duration", "1", "-o", str(tmp_path / "flame.svg")])

    assert status == 2
    err = capsys.readouterr().err
    assert err == f"tickwire profile: error: {tickwire.profile.PY_SPY_MISSING}\n"
    assert "pip install 'tickwire[profile]'" in err
    assert not (tmp_path / "flame.svg").exists()


def test_when_py_spy_may_not_trace_the_error_says_how_to_allow_it(monkeypatch, capsys, tmp_path):
    refusing = tmp_path / "py-spy"
    refusing.write_text("#!/bin/sh\necho 'Error: Operation not permitted (os error 1)' >&2\nexit 1\n")
    refusing.chmod(0o755)
    monkeypatch.setattr(tickwire.profile, "find_py_spy", lambda: str(refusing))

    status = cli.main(["profile", "--venues", "binance", "--symbols", "BTC-USDT", "--duration", "1",
                       "-o", str(tmp_path / "flame.svg")])

    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("tickwire profile: error: py-spy failed (py-spy may not trace processes here")
    assert "--cap-add SYS_PTRACE" in err and err.rstrip().endswith("Operation not permitted (os error 1)")
    assert err.count("\n") == 1
