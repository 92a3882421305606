"""CPU pinning plans (pure): which CPU each of tickwire's processes runs on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["AUTO", "cpu_plan", "describe_cpus"]

AUTO = "auto"


def describe_cpus(cpus: Iterable[int]) -> str:
    """``0-3,6`` for {0, 1, 2, 3, 6}."""
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def cpu_plan(pin: Sequence[int] | str, processes: int, allowed: Iterable[int]) -> list[int]:
    """The CPU of each of ``processes`` processes (the aggregator or single process first, then
    each worker): ``pin`` round-robin, or with ``AUTO`` the ``allowed`` CPUs in order. Raises
    ValueError for an empty list, a CPU listed twice, or one this process may not run on."""
    permitted = sorted(set(allowed))
    if pin == AUTO:
        cpus = permitted
    elif isinstance(pin, str):
        raise ValueError(f"pin must be {AUTO!r} or a list of CPU ids, got {pin!r}")
    else:
        cpus = list(pin)
        if not cpus:
            raise ValueError("pin: no CPU given")
        if len(set(cpus)) != len(cpus):
            raise ValueError(f"pin: a CPU is listed twice in {','.join(map(str, cpus))}")
        refused = [cpu for cpu in cpus if cpu not in permitted]
        if refused:
            raise ValueError(
                f"pin: CPU {','.join(map(str, refused))} is not available "
                f"(this process may run on {describe_cpus(permitted)})"
            )
    return [cpus[i % len(cpus)] for i in range(processes)]
