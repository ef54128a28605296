#!/usr/bin/env python3
"""Run a shell command inside a two-NUMA-node Linux guest: :mod:`memtier.kernel.guest`'s command line.

    python3 tests/numa_vm.py [--out DIR] [--timeout S] [--kernel VMLINUZ] -- memtier measure --quick \\
        --from 0 --to 1 --out '$OUT/m.csv'

The runner moved into the package (``memtier kernel-check`` boots guests too); this file keeps
its command line and the names the tests use (``import numa_vm``).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memtier.kernel.guest import (  # noqa: E402
    CHECKOUT, CPUS, INSTALL, MEMORY, NUMA, GuestFailed, GuestRun, Machine, VmUnavailable, _end_group,
    _group_alive, find_tools, guest_script, main, run_in_guest, vng_command,
)

__all__ = ["CHECKOUT", "CPUS", "INSTALL", "MEMORY", "NUMA", "GuestFailed", "GuestRun", "Machine", "VmUnavailable",
           "_end_group", "_group_alive", "find_tools", "guest_script", "main", "run_in_guest", "vng_command"]

if __name__ == "__main__":
    sys.exit(main())
