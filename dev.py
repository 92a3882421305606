#!/usr/bin/env python3
"""Bootstrap and run tickwire from a fresh checkout with nothing but python3.

    python3 dev.py demo [flags]   # the demo: simulator + pipeline + live view
    python3 dev.py test [flags]   # the whole test suite (pytest flags pass through)
    python3 dev.py tickwire ...   # any tickwire command

The first call makes ./.venv and installs tickwire (editable) with its test extras; later calls
reuse it and reinstall only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".tickwire-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _requirements_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> None:
    digest = _requirements_digest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    if sys.version_info < (3, 11):
        sys.exit(f"dev.py: tickwire needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"dev.py: creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    print("dev.py: installing tickwire and its dependencies", file=sys.stderr)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "tickwire"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "test":
        args = [str(BIN / "python"), "-m", "pytest", *rest]
    elif command == "demo":
        args = [str(BIN / "tickwire"), "demo", *rest]
    else:
        args = [str(BIN / "tickwire"), *rest]
    os.chdir(ROOT)
    os.execv(args[0], args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
