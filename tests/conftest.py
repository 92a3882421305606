"""Suite-wide hypothesis settings: tests assert behaviour, never wall time.

Hypothesis' per-example deadline and its "input generation is slow" health check are timings;
on a loaded 2-core CI machine they fail tests whose behaviour is right, so both are off.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "tickwire",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("tickwire")
