#!/usr/bin/env python3
"""Virtual environments for the peers of the wire-to-output benchmark, kept outside the repo.

cryptofeed gets its own venv (its dependencies are not tickwire's) under
``$XDG_CACHE_HOME/tickwire-bench`` (default ``~/.cache/tickwire-bench``), one per base
interpreter, made with ``python -m venv`` and ``pip install`` and reused while it imports the
pinned version. The pin is the newest cryptofeed release that supports the interpreter:
3.0.1 needs Python 3.13 or later; 2.4.1 is the last release that installs on 3.11.

    python benchmarks/peer_venvs.py [--base PYTHON]   # prints the venv's python
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["PeerVenvError", "cryptofeed_pin", "cryptofeed_python", "venv_root"]


class PeerVenvError(RuntimeError):
    """The peer's venv could not be made; the message says which step failed."""


def venv_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tickwire-bench"


def cryptofeed_pin(version: tuple[int, int]) -> str:
    """The cryptofeed release installed for a Python ``(major, minor)``."""
    return "3.0.1" if version >= (3, 13) else "2.4.1"


def _describe(python: str) -> dict:
    probe = ("import json, os, sys; print(json.dumps({'version': list(sys.version_info[:3]), "
             "'base': os.path.realpath(getattr(sys, '_base_executable', sys.executable))}))")
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60, check=True).stdout
        return json.loads(out)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise PeerVenvError(f"cannot run {python}: {exc}") from exc


def _installed_cryptofeed(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = "import importlib.metadata as m, cryptofeed; print(m.version('cryptofeed'))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    return done.stdout.strip() if done.returncode == 0 else None


def cryptofeed_python(base_python: str = sys.executable, log=sys.stderr) -> str:  # type: ignore[no-untyped-def]
    """The python of a venv with cryptofeed, made from ``base_python``'s base interpreter
    (created on first use, reused after)."""
    base = _describe(base_python)
    major, minor, micro = base["version"]
    pin = cryptofeed_pin((major, minor))
    tag = hashlib.sha256(base["base"].encode()).hexdigest()[:8]
    venv = venv_root() / f"cryptofeed-{pin}-py{major}.{minor}.{micro}-{tag}"
    python = venv / "bin" / "python"
    if _installed_cryptofeed(python) == pin:
        return str(python)
    print(f"# making {venv} (cryptofeed {pin} on {base['base']}; needs the package index)", file=log)
    steps = [
        [base["base"], "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"cryptofeed=={pin}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PeerVenvError(f"{' '.join(step[:4])}… failed ({done.returncode}): {tail[0]}")
    if _installed_cryptofeed(python) != pin:
        raise PeerVenvError(f"cryptofeed {pin} does not import in {venv}")
    return str(python)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=sys.executable, help="interpreter the venv is made from (default: this one)")
    args = parser.parse_args()
    try:
        print(cryptofeed_python(args.base))
    except PeerVenvError as exc:
        print(f"peer_venvs: {exc}", file=sys.stderr)
        sys.exit(1)
