"""TLS: every ``wss://`` venue is verified; a loopback wss server with a certificate from a private
CA is refused (and the refusal counted as ``tls_verification``) until that CA is configured."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from tickwire.instruments import parse_symbol
from tickwire.sim import Simulator
from tickwire.transport.session import SessionSettings, VenueSession
from tickwire.venues.base import Channel, VenueAdapter
from tickwire.venues.registry import VENUES, instruments_for

from .conftest import run_async, start_tickwire

SRC = Path(__file__).resolve().parents[2] / "src" / "tickwire"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def make_ca(directory: Path) -> tuple[Path, Path]:
    """A private certificate authority: (certificate, key)."""
    cert, key = directory / "ca.pem", directory / "ca.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=tickwire test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def make_server_cert(directory: Path, ca: tuple[Path, Path], alt_names: str) -> ssl.SSLContext:
    """A server context whose certificate ``ca`` signed for ``alt_names`` (subjectAltName)."""
    name = re.sub(r"\W", "_", alt_names)
    key, request, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
    extensions = directory / f"{name}.ext"
    extensions.write_text(f"subjectAltName={alt_names}\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", request, "-subj", "/CN=tickwire test server")
    openssl("x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", extensions)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    return {
        "ca_file": str(ca[0]),
        "loopback": make_server_cert(directory, ca, "IP:127.0.0.1,DNS:localhost"),
        "elsewhere": make_server_cert(directory, ca, "DNS:feed.example.invalid"),
    }


def quiet_refused_handshakes(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """The server side of a handshake the client refused is expected here; anything else is not."""
    if not context.get("message", "").startswith("SSL handshake failed"):
        loop.default_exception_handler(context)


async def run_against(server_context: ssl.SSLContext, *extra: str, duration: str = "2"):
    """``tickwire run`` for ``duration`` seconds against a wss Binance simulator: (exit status,
    stdout lines, stderr, WebSocket connections the simulator accepted)."""
    asyncio.get_running_loop().set_exception_handler(quiet_refused_handshakes)
    async with Simulator(venues=["binance"], symbols=["BTC-USDT"], rate=50, seed=1,
                         ssl_context=server_context) as simulator:
        endpoint = simulator.endpoint("binance")
        assert endpoint.startswith("wss://127.0.0.1:")
        tickwire = await start_tickwire(
            "run", "--symbols", "BTC-USDT", "--endpoint", f"binance={endpoint}",
            "--connect-timeout", "1", "--duration", duration, *extra,
        )
        out, err = await asyncio.wait_for(tickwire.process.communicate(), 20)
        accepted = simulator.stats.connections_accepted
    return tickwire.process.returncode, out.decode().splitlines(), err.decode(), accepted


def failed_connects(stderr: str) -> tuple[int, str]:
    """The summary's failed connects of binance and their reasons."""
    match = re.search(r"binance: .* (\d+) failed connects(?: \(([^)]*)\))?", stderr)
    assert match, stderr
    return int(match.group(1)), match.group(2) or ""


def test_a_certificate_from_an_unknown_ca_is_refused_counted_and_nothing_is_published(pki):
    status, lines, stderr, accepted = run_async(run_against(pki["loopback"]))
    assert status == 0
    assert lines == []
    assert accepted == 0, "no WebSocket upgrade over an unverified connection"
    failures, reasons = failed_connects(stderr)
    assert failures >= 1
    assert reasons == f"tls_verification {failures}"
    assert "SSLCertVerificationError" in stderr
    assert "0 connects" in stderr


@pytest.mark.parametrize("how", ["flag", "config"])
def test_with_the_ca_configured_the_same_server_is_trusted_and_prices_flow(pki, tmp_path, how):
    if how == "flag":
        extra = ["--ca-file", str(pki["ca_file"])]
    else:
        config = tmp_path / "tickwire.toml"
        config.write_text(f"[transport]\nca_file = {str(pki['ca_file'])!r}\n")
        extra = ["--config", str(config)]
    status, lines, stderr, accepted = run_async(run_against(pki["loopback"], *extra))
    assert status == 0, stderr
    assert accepted >= 1
    assert failed_connects(stderr) == (0, "")
    prices = [line for line in lines if '"type":"price"' in line and '"n_venues":1' in line]
    assert prices, stderr


def test_a_trusted_certificate_for_another_host_name_is_refused(pki):
    status, lines, stderr, accepted = run_async(
        run_against(pki["elsewhere"], "--ca-file", str(pki["ca_file"]))
    )
    assert status == 0
    assert lines == [] and accepted == 0
    failures, reasons = failed_connects(stderr)
    assert failures >= 1 and reasons == f"tls_verification {failures}"
    assert "SSLCertVerificationError" in stderr


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(None, "transport.ca_file: cannot read"),
     ("not a certificate\n", "transport.ca_file: holds no PEM CA certificate")],
)
def test_a_ca_file_that_is_missing_or_not_pem_is_refused_in_one_line(tmp_path, content, complaint):
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "tickwire", "run", "--ca-file", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and complaint in result.stderr


def some_adapter(venue: str) -> VenueAdapter:
    """``venue``'s adapter for the BTC instruments it carries, on the first channel it serves."""
    candidates = [parse_symbol(s) for s in ("BTC-USDT", "BTC-USD", "BTC-USDT-PERP", "BTC-USD-PERP")]
    instruments = instruments_for(venue, candidates)
    for channel in sorted(Channel.ALL):
        try:
            return VENUES[venue](instruments, frozenset({channel}))
        except ValueError:
            continue
    raise AssertionError(f"{venue} serves no channel")


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_every_venue_default_url_is_wss_with_certificate_and_host_name_verification(venue):
    adapter = some_adapter(venue)
    session = VenueSession(adapter, None, lambda *_: None, lambda: None, SessionSettings())
    assert session.url.startswith("wss://")
    context = session.ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_no_code_turns_verification_off():
    weakening = re.compile(r"CERT_NONE|CERT_OPTIONAL|check_hostname\s*=\s*False|_create_unverified_context")
    offenders = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if weakening.search(line)
    ]
    assert offenders == []
