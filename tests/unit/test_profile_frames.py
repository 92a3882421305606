"""Reading self time back from py-spy's flamegraph SVG and speedscope JSON."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tickwire.profile import ProfileError, format_top_frames, self_samples

STDLIB = Path(json.__file__).parent.parent

# (frame, first sample, samples, depth): `all` holds 10 samples; `outer` calls `inner` from two
# lines and `helper`; `other` is a second root-level call.
FLAME = (
    ("all", 0, 10, 0),
    ("outer (app/main.py:10)", 0, 8, 1),
    ("inner (app/main.py:20)", 0, 5, 2),
    ("helper (lib/util.py:3)", 5, 2, 2),
    ("inner (app/main.py:21)", 7, 1, 2),
    ("other (app/main.py:30)", 8, 2, 1),
)


def flamegraph(root_at_top: bool) -> bytes:
    groups = []
    for frame, start, width, depth in FLAME:
        y = 52 + 16 * depth if root_at_top else 200 - 16 * depth
        title = frame.replace("<", "&lt;").replace(">", "&gt;")
        groups.append(
            f'<g><title>{title} ({width:,} samples, {width * 10}.00%)</title>'
            f'<rect x="{start * 10}%" y="{y}" width="{width * 10}%" height="15" fg:x="{start}" fg:w="{width}"/>'
            f'<text x="0" y="{y + 10}">{title}</text></g>'
        )
    return (
        '<?xml version="1.0" standalone="no"?><svg version="1.1" xmlns="http://www.w3.org/2000/svg" '
        'xmlns:fg="http://github.com/jonhoo/inferno"><text id="title">Flame Graph</text>'
        f'<svg id="frames" x="10" width="1180" total_samples="10">{"".join(groups)}</svg></svg>'
    ).encode()


@pytest.mark.parametrize("root_at_top", [True, False], ids=["icicle", "flame"])
def test_flamegraph_self_time_is_each_frame_less_its_callees_summed_per_function(tmp_path, root_at_top):
    path = tmp_path / "flame.svg"
    path.write_bytes(flamegraph(root_at_top))

    samples = self_samples(path, "flamegraph")

    assert samples == Counter({"inner (app/main.py)": 6, "helper (lib/util.py)": 2, "other (app/main.py)": 2})
    assert sum(samples.values()) == 10  # every sample has exactly one innermost frame


def test_speedscope_self_time_counts_each_samples_innermost_frame(tmp_path):
    frames = [
        {"name": "<module>", "file": str(STDLIB / "runpy.py"), "line": 88},
        {"name": "dumps", "file": str(STDLIB / "json" / "__init__.py"), "line": 231},
        {"name": "epoll_pwait", "file": "libc.so.6", "line": 0},
    ]
    document = {
        "shared": {"frames": frames},
        "profiles": [
            {"type": "sampled", "samples": [[0, 1], [0, 1], [0], [], [2]], "weights": [0.005] * 5},
            {"type": "sampled", "samples": [[0, 1]], "weights": [0.005]},
        ],
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(document))

    samples = self_samples(path, "speedscope")

    assert samples == Counter({"dumps (json/__init__.py)": 3, "<module> (runpy.py)": 1, "epoll_pwait (libc.so.6)": 1})


def test_a_file_that_is_not_the_format_is_a_profile_error(tmp_path):
    path = tmp_path / "flame.svg"
    path.write_text("{}")
    with pytest.raises(ProfileError, match="cannot read .*flame.svg as a py-spy flamegraph file"):
        self_samples(path, "flamegraph")
    with pytest.raises(ProfileError, match="holds no samples"):
        path.write_text('{"shared": {"frames": []}, "profiles": []}')
        self_samples(path, "speedscope")


def test_the_top_table_lists_the_most_self_time_first_with_shares():
    table = format_top_frames(Counter({"a (x.py)": 1, "b (y.py)": 3}), top=5)
    assert table.splitlines() == [
        "top 2 of 2 functions by self time (4 samples):",
        " self %  samples  function (file)",
        "  75.0%        3  b (y.py)",
        "  25.0%        1  a (x.py)",
    ]
