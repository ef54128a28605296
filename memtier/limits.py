"""What memtier will allocate, checked before it does, and the largest numbers it accepts.

A run that would not fit in memory is refused *before* it allocates, with the estimate, instead
of dying half-way (or making the machine swap).  The budget is what the machine can give this
process now: the kernel's ``MemAvailable`` (``/proc/meminfo``: memory usable without swapping)
and, when the process runs under an address-space limit (``ulimit -v``, ``RLIMIT_AS``), the room
left below that limit (``/proc/self/status``'s ``VmSize`` is the space already mapped).
"""
from __future__ import annotations

import resource

#: Largest whole number the kernels hold (int64).
INT64_MAX = (1 << 63) - 1
#: Largest copy-thread (or DMA-channel) count: Linux's ``NR_CPUS`` is at most 8192 on
#: x86-64 (``CONFIG_MAXSMP``, arch/x86/Kconfig), so no call can use more threads.
MAX_WORKERS = 8192
#: Bytes one migration call may move at most: x86-64 physical addresses have at most 52 bits
#: (``MAXPHYADDR``, Intel SDM vol. 3A 4.1.4), so no machine holds more memory than 2**52 bytes.
MAX_CALL_BYTES = 1 << 52


def _proc_kib(path: str, field: str) -> int | None:
    """Bytes of a ``field: N kB`` line of a /proc file, or None where it cannot be read."""
    try:
        with open(path, encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _meminfo_available() -> int | None:
    return _proc_kib("/proc/meminfo", "MemAvailable")


def _mapped_bytes() -> int:
    return _proc_kib("/proc/self/status", "VmSize") or 0


def available_memory() -> int:
    """Bytes this process can still allocate: ``MemAvailable``, and the room below
    ``RLIMIT_AS`` when one is set.  Without ``/proc`` (not Linux), 2**62 (no limit known)."""
    budget = _meminfo_available()
    if budget is None:
        budget = 1 << 62
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        budget = min(budget, max(0, soft - _mapped_bytes()))
    return budget


def format_bytes(count: float) -> str:
    """``3.2 GiB``, ``512 MiB``: binary units, as memory is sized."""
    count = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} EiB"


class MemoryBudgetError(MemoryError, ValueError):
    """A run that would need more memory than this process can have; the message says how much."""


def check_memory(needed: float, what: str, fix: str = "") -> None:
    """Refuse, before allocating, a task that needs more than :func:`available_memory`.

    Parameters
    ----------
    needed : float
        Estimated bytes.
    what : str
        What would need them (``"simulating 100 accesses over 2**30 pages"``).
    fix : str
        How to make it smaller.
    """
    budget = available_memory()
    if needed > budget:
        raise MemoryBudgetError(
            f"{what} needs about {format_bytes(needed)}, more than the {format_bytes(budget)} "
            f"this process can have{'; ' + fix if fix else ''}")
