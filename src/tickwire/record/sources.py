"""What can be replayed: tickwire recordings and cryptofeed captures, opened by content."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tickwire.record.capture import CaptureFile, is_capture
from tickwire.record.format import NothingToReplay, RecordingError, RecordKind
from tickwire.record.reader import RecordingFile, is_recording
from tickwire.record.writer import FILE_SUFFIX

__all__ = ["ReplaySource", "open_sources", "received_frames"]

ReplaySource = RecordingFile | CaptureFile

_CAPTURE_SUFFIX = ".jsonl.zst"


def open_sources(
    paths: Iterable[str | Path], unreplayable: list[str] | None = None
) -> list[ReplaySource]:
    """Recordings (``*.twr.zst``) and cryptofeed captures (``*.jsonl.zst``) in ``paths``, a
    directory standing for its recording files in name order. Raises RecordingError; with an
    ``unreplayable`` list, a capture with nothing to replay is described there and left out
    (RecordingError only if nothing is left)."""
    sources: list[ReplaySource] = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(path.glob(f"*{FILE_SUFFIX}"))
            if not files:
                raise RecordingError(f"{path}: no *{FILE_SUFFIX} recording files in the directory")
        elif path.is_file():
            files = [path]
        else:
            raise RecordingError(f"{path}: no such file or directory")
        for file in files:
            if is_recording(file):
                sources.append(RecordingFile(file))
            elif is_capture(file):
                try:
                    sources.append(CaptureFile(file))
                except NothingToReplay as exc:
                    if unreplayable is None:
                        raise
                    unreplayable.append(str(exc))
            else:
                raise RecordingError(
                    f"{file}: neither a tickwire recording (*{FILE_SUFFIX}) nor a cryptofeed "
                    f"capture (*{_CAPTURE_SUFFIX})"
                )
    if not sources:
        raise RecordingError("nothing to replay: " + "; ".join(unreplayable or ()))
    return sources


def received_frames(sources: Iterable[ReplaySource]) -> Iterator[tuple[str, int, bytes]]:
    """``(venue, recv_ns, payload)`` of every frame the venues sent, in recorded order."""
    for source in sources:
        for record in source.records():
            if record.kind is RecordKind.FRAME:
                yield record.venue, record.time_ns, record.payload
