"""Coverage-guided fuzzing of every venue codec with atheris (where it installs).

    python -m tests.fuzz.fuzz_codecs [CORPUS_DIR] [libFuzzer options, e.g. -runs=200000 -max_total_time=60]

An input is one venue's recorded frames (``tests/unit/test_codec_fuzz.SEEDS``) up to one of them,
replaced: its first byte picks the venue, its second the frame, the rest is fed in that frame's place.
The check is the one of the hypothesis fuzz test (``decode_checked``): no exception escapes a codec
and every event it gives has valid prices, written in a frame it was fed. Without a corpus
directory, a fresh one is seeded with every recorded frame, so the fuzzer starts from real input.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["tickwire"]):
    from tests.unit.test_codec_fuzz import SEEDS, decode_checked

VENUE_NAMES = sorted(SEEDS)


def fuzz_one(data: bytes) -> None:
    if len(data) < 2:
        return
    make, frames = SEEDS[VENUE_NAMES[data[0] % len(VENUE_NAMES)]]
    replaced = data[1] % len(frames)
    decode_checked(make(), [*frames[:replaced], data[2:]])


def seed_corpus() -> str:
    """A new directory holding each recorded frame as the input that feeds it back unchanged."""
    directory = Path(tempfile.mkdtemp(prefix="tickwire-fuzz-corpus-"))
    for venue_index, name in enumerate(VENUE_NAMES):
        for frame_index, frame in enumerate(SEEDS[name][1]):
            (directory / f"{name}-{frame_index}").write_bytes(bytes((venue_index, frame_index)) + frame)
    return str(directory)


def main() -> None:
    arguments = sys.argv[1:]
    if not arguments or arguments[0].startswith("-"):
        arguments.insert(0, seed_corpus())
    atheris.Setup([sys.argv[0], *arguments], fuzz_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
