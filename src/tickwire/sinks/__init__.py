"""Output sinks."""
