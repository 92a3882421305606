"""I/O: venue WebSocket sessions."""
