"""What the session shows of a venue URL in logs and errors."""

from __future__ import annotations

from tickwire.transport.session import redacted_url


def test_urls_in_logs_and_errors_keep_no_credentials_or_query():
    assert redacted_url("wss://user:secret@stream.example.com:9443/ws?token=abc&x=1") == (
        "wss://stream.example.com:9443/ws?…"
    )
    assert redacted_url("wss://ws.okx.com:8443/ws/v5/public") == "wss://ws.okx.com:8443/ws/v5/public"
    assert redacted_url("ws://[::1]:9100/stream") == "ws://[::1]:9100/stream"
