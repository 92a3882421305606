"""A real ``nats-server`` on a free loopback port, started and killed by the scale-out tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

NATS_SERVER = shutil.which("nats-server") or next(
    (path for path in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.access(path, os.X_OK)),
    None,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """One nats-server process; ``start`` again after ``kill`` brings it back on the same port."""

    def __init__(self, store_dir: Path | None = None) -> None:
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed (Debian package nats-server; .ci/run installs it)")
        self.port = _free_port()
        self.store_dir = store_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (at most 10 s)."""
        command = [str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(self.port)]
        if self.store_dir is not None:
            command += ["-js", "-sd", str(self.store_dir)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"nats-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the server vanishes without a goodbye to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def nats_server():
    server = NatsServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def jetstream_server(tmp_path):
    server = NatsServer(store_dir=tmp_path / "jetstream")
    server.start()
    yield server
    server.kill()
