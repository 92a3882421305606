"""tickwire: low-latency multi-venue crypto market data, consolidated."""

__version__ = "0.1.0"
