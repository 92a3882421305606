"""Helpers for end-to-end tests: a real ``tickwire`` subprocess against a loopback simulator."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any, Coroutine

import pytest


def run_async(coroutine: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
    """Run a test coroutine on a fresh event loop with an overall time limit."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


class TickwireProcess:
    """``python -m tickwire ARGS`` as a child process whose stdout lines are JSON."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, timeout: float = 10) -> dict[str, Any]:
        """The next JSON line of stdout (fails the test on timeout or end of output)."""
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, f"tickwire ended early; stderr: {await self.stderr()}"
        return json.loads(raw)

    async def lines(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        return [await self.line(timeout) for _ in range(count)]

    async def stderr(self) -> str:
        if self.process.returncode is None:
            return ""
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()

    async def stop(self) -> int:
        """SIGTERM, then the exit status (waits at most 5 s)."""
        if self.process.returncode is None:
            self.process.terminate()
        return await asyncio.wait_for(self.process.wait(), 5)


async def start_tickwire(*args: str) -> TickwireProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return TickwireProcess(process)


@pytest.fixture
def fixtures_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
