"""Instrument metadata over HTTP, fetched once before a venue connects (cold path only).

A venue adapter that needs metadata (OKX: the value of a swap contract) says which URLs it
needs with ``metadata_requests`` and reads each answer with ``load_metadata``; this module does
the GETs. ``metadata_loader`` gives the session a ``prepare`` step that returns None once every
answer is in, or a one-line problem to retry after a backoff delay.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from typing import Awaitable, Callable, Protocol, runtime_checkable

from tickwire import __version__

__all__ = ["MAX_ANSWER_BYTES", "NeedsMetadata", "Prepare", "http_get", "metadata_loader"]

MAX_ANSWER_BYTES = 16 * 1024 * 1024

Prepare = Callable[[], Awaitable[str | None]]


@runtime_checkable
class NeedsMetadata(Protocol):
    """An adapter that reads instrument metadata from the venue's REST API before connecting."""

    def metadata_requests(
        self, endpoint: str | None, rest_endpoint: str | None
    ) -> list[tuple[str, str]]: ...

    def load_metadata(self, url: str, body: bytes) -> None: ...


class HttpError(OSError):
    """An answer that is not a 200 with a body of a sane size."""


def _get(url: str, timeout: float, context: ssl.SSLContext) -> bytes:
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": f"tickwire/{__version__}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body = response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise HttpError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise HttpError(str(exc.reason)) from None
    if len(body) > MAX_ANSWER_BYTES:
        raise HttpError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
    return body


async def http_get(url: str, timeout: float, ca_file: str | None = None) -> bytes:
    """The body of a 200 answer to ``GET url`` (https verified against the system's or
    ``ca_file``'s certificates). Raises OSError (TimeoutError after ``timeout`` seconds)."""
    context = ssl.create_default_context(cafile=ca_file)
    try:
        return await asyncio.wait_for(asyncio.to_thread(_get, url, timeout, context), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no answer within {timeout:g} s") from None


def metadata_loader(
    adapter: object,
    endpoint: str | None,
    rest_endpoint: str | None,
    *,
    timeout: float,
    ca_file: str | None = None,
) -> Prepare | None:
    """The ``prepare`` step of ``adapter``'s session, or None when the adapter needs no metadata.

    Each call fetches the answers still missing and returns None once there are none, or the
    first problem (which instruments wait for what, and why) for the caller to retry later.
    """
    if not isinstance(adapter, NeedsMetadata):
        return None

    async def prepare() -> str | None:
        for url, purpose in adapter.metadata_requests(endpoint, rest_endpoint):
            try:
                adapter.load_metadata(url, await http_get(url, timeout, ca_file))
            except (OSError, ValueError) as exc:
                return f"cannot read {purpose}: GET {url}: {exc}"
        return None

    return prepare
