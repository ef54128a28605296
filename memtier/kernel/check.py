"""Check the simulator against the kernel it models: one workload, in a guest and in memtier.

``memtier kernel-check`` (:func:`kernel_check`) boots Debian's Linux 6.1 under QEMU
(:mod:`memtier.kernel.guest`) with a second NUMA node that the kernel puts in a *lower memory tier*,
runs a workload there with memory tiering on (``numa_balancing=2``, ``demotion_enabled=1``),
and runs the same accesses through memtier's ``numa-balancing`` policy with the settings read
from that guest; both timelines go to ``DIR/timeline.csv`` and ``DIR/timeline.png``.

The guest (issue 15's recipe).  A plain CPU-less RAM node lands in the *same* memory tier as
node 0 (``memory_tier4: 0-1``) and nothing is demoted or promoted: the kernel gives a lower
tier only to memory onlined by the dax/kmem driver (``drivers/dax/kmem.c`` registers it with
``MEMTIER_DEFAULT_DAX_ADISTANCE``, tier 22 in 6.1's ``mm/memory-tiers.c``).  So the guest boots
with ``memmap=1280M!512M memmap=256M$1792M``: 1280 MB from 512 MB is fake persistent memory
(``nd_e820``), the last 256 MB of node 1 is reserved, and node 1 has no memory at boot; the
pmem is made a devdax namespace (``ndctl create-namespace --mode=devdax --map=mem``) and onlined
as system RAM (``daxctl reconfigure-device --mode=system-ram``): node 1 (1152 MB, CPU-less,
``ZONE_MOVABLE``) appears in ``memory_tier22``.  Node 0 keeps 512 MB (about 450 MB usable).

The workload (``memtier/kernel/kernel_workload.c``, compiled here with ``gcc -static`` and run in the
guest) accesses one anonymous mapping of 4 KiB pages (``MADV_NOHUGEPAGE``) as one stream at a
fixed rate of guest time, spinning between slots (NUMA balancing's scanner is timed by the
task's CPU time, ``task_tick_numa``, so the task stays on the CPU); the stream is a function of
the access number and a seed, generated identically here (:func:`access_stream`, checked by a
digest at every checkpoint), or a recorded trace replayed after the fill (``kind="trace"``: the
program's trace build reads it from a file, :func:`trace_file_bytes`, and locks it on node 0).  At each checkpoint it counts its hot and cold pages on each node
from ``/proc/self/pagemap`` (``move_pages`` with no nodes fails for pages armed for hint faults)
and reads ``/proc/vmstat``, and its CPU time in its accesses (``work_s``: the accesses, and the
hint faults and promotions they take, :func:`fault_costs`).

Two runs alike (``-icount shift=0,sleep=off``, one vCPU: guest time is the instruction count).
With ``boot="initramfs"`` (the default) the guest boots from an initramfs built here (:mod:`memtier.kernel.bare`: busybox, ``ndctl``,
``daxctl``, the tier set-up's modules and the program) and reads nothing from the host until the
accesses are over; ``-seed 1`` gives its RDRAND one sequence, ``nokaslr`` keeps the kernel in one
place, and its RTC runs on the guest's clock (``-rtc clock=vm``: with the RTC on the host's
clock, two boots reached the program 0.9 ms of guest time apart, and their fills differed by 2.4
points; the boot reads the RTC, waiting while its update flag is up, likely the cause).  Two runs of a 12 s
``phase`` workload then wrote byte-identical rows (``tests/test_kernel_check_vm.py``).  ASLR is
off in the guest (``randomize_va_space`` 0: it put the mapping at another offset within its 2 MB
page tables each run, so kswapd's wakes by page-table pages and the scanner's 2 MB-aligned
windows fell on other pages), the mapping is 2 MB-aligned, as the policy takes it, and the
program starts on a whole minute of the guest's clock.  The virtme-ng guest (``boot="virtme"``,
the default before 2026-11-26, when memtier did not yet match the initramfs guest) reads its root through 9p, whose reads end when the host serves them: pairs of it differed by
0.2-6.9 points of hot share at some second (2026-11-26), and did so still with node 0's free
pages and LRU lists made equal before the start (the program's ballast, ``node0_free``, five
pairs, with variants: watermark boosting, proactive compaction, THP and the lockup watchdog off,
memory compacted, ``-seed``: 0.6-3.9 points after the fill, 0.5-4.3 in the first promotion
wave); on one vCPU, where
the workload and kswapd take turns at 4 ms ticks, the fill's race turns a difference of a few
instructions into hundreds of pages.

The kernel against itself (``kernel_runs``, ``--kernel-runs``).  A run that repeats to the byte is
still one of many: the same accesses started a millisecond later (a quarter of the 4 ms tick;
the program built with ``-DSTART_OFFSET_US``) moved CI's 12 s ``phase`` run's promotion wave by
3 s (the runs 99.6 points apart) and the issue's 1000 MB example by 14.5 points (2026-11-27,
``docs/kernel-check.md``).  :func:`kernel_spread` judges memtier against the runs' range.

The simulation.  The accesses of the stream are given one duration each, ``1 / rate``, on both
nodes, so the simulator's clock is the guest's nominal clock: the scan delay, period and size,
the hot threshold and the promotion rate limit then act on the same time as in the guest.  The
guest pays hint faults, scans and migrations out of the slack of its slots (the lag column says
when it could not).  memtier charges the hint faults and promotions their guest time and lets
the slack pay it back (:func:`fault_params`: the clock runs ahead of the stream only while the
task lags), charges scans nothing, and kswapd's demotions next to nothing (a cost model whose
moves cost nothing, :func:`free_moves`; kswapd runs beside the task).  The policy's parameters are read from the
guest (:func:`guest_settings`): ``/sys/kernel/debug/sched/numa_balancing/*``,
``numa_balancing_promote_rate_limit_MBps``, and node 0's watermarks and free pages from
``/proc/zoneinfo``, and 6.1's scan start for a program just ``exec()``-ed (:func:`scan_start`).
The fill of a workload larger than node 0 follows 6.1's allocator (the policy's
``fast_path_fallback`` and ``pgtable_wakes_kswapd``): a page goes to node 1 while node 0 is at
its low watermark, and kswapd, woken by the page tables of new address space, works beside
the task at the pace measured in this guest (:func:`fill_rates`, :func:`kswapd_params`).
Where memtier's policy departs from 6.1 the runs show it, and notebook 12 has the figures:
one zone per node instead of DMA and DMA32; no page cache or other tasks; timers on guest
time where the kernel's scanner runs on the task's CPU time.

Where things are.  This module runs the check: the tier set-up (:data:`TIER_SETUP`), the
program's build and the guest's run (:func:`build_workload`, :func:`run_guest`) and
:func:`kernel_check`.  The workload and its access stream are :mod:`memtier.kernel.workload`; what
the guest's readings become as the simulator's parameters, :mod:`memtier.kernel.settings`;
memtier's side (:func:`simulate_timeline`), :mod:`memtier.kernel.simulate`; reading and judging
the timelines, :mod:`memtier.kernel.compare`; a saved run's files, loaded and simulated again
(:func:`load_run`, :func:`resimulate`), :mod:`memtier.kernel.saved`.  Their public names are this
module's too (``memtier.kernel_check``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import bare, guest
from ..outputs import atomic_write, check_output, save_figure
# Re-exported too: memtier.kernel_check is this module, and every name below is public there.
from .compare import (  # noqa: F401
    COUNTERS, compare, compare_counters, compare_nodes, counters_parting, hot_masks, kernel_rows, kernel_spread,
    load_kernel_runs, load_node_maps, load_timeline, node_maps_compared, plot_counters, plot_node_maps, plot_timeline,
    read_kernel_timeline, read_node_map, spread_verdict, verdict, write_counters)
from .saved import load_run, resimulate, resimulate_grid, run_files  # noqa: F401
from .settings import (  # noqa: F401
    ACCESS_OWN_NS, FAULT_COSTS_RUN, FIRST_TOUCH_NS, HINT_FAULT_NS, KSWAPD_CPU_DEMOTED_PER_S, KSWAPD_CPU_KEPT_PER_S,
    KSWAPD_CPU_SHARE, KSWAPD_DEMOTED_PER_ALLOCATION, KSWAPD_KEPT_PER_ALLOCATION, PROMOTE_NS, SCAN_ARM_NS, SCAN_FAST_NS,
    SCAN_PTE_NS, SCAN_TRACES,
    check_tiers, direct_reclaim_settings, fault_costs, fault_params, fill_rates, first_tick_period, first_tick_rss,
    first_touch_cost, guest_settings, kswapd_params, kswapd_time, one_cpu_params, own_pages, parse_settings,
    parse_zoneinfo, reclaim_counts, scan_costs, scan_start, scan_trace, simulator_params, vmscan_trace, zone_params)
from .simulate import free_moves, simulate_timeline  # noqa: F401
from .workload import (  # noqa: F401
    MAX_TRACE_ACCESSES, PAGE, WORKLOADS, KernelCheckError, Workload, access_stream, hot_mask, stream_digests,
    trace_digest, trace_file_bytes, workload_record)

#: The guest's shape: node 0 512 MB with the CPUs, node 1 1536 MB of which 1280 MB fake pmem.
APPEND = ("memmap=1280M!512M memmap=256M$1792M",)
#: ``-icount shift=0,sleep=off``: guest time is the count of instructions (1 ns each), so two
#: runs of one workload see the same timer interrupts at the same instructions; it needs one
#: vCPU (QEMU's multi-threaded TCG does not count instructions).
ICOUNT = "-icount shift=0,sleep=off"
SOURCE = Path(__file__).with_name("kernel_workload.c")
#: An example for ``node0_free`` (``--node0-free``), which is off by default: node 0's free pages
#: (in DMA32, buddy and per-CPU lists) when the accesses start, the program locking a ballast on
#: node 0 that leaves this many after moving the other processes' pages to node 1.  The virtme-ng
#: guest's boot leaves 96 1xx-96 3xx there once they are moved (the runs of 2026-11-26): this is
#: about 2 000 below.
NODE0_FREE_PAGES = 94_000

#: The ftrace kprobes of ``scan_trace`` (:func:`run_guest`), set just before the workload
#: starts: ``task_numa_work``'s entry and return (6.1, ``kernel/sched/fair.c``: one scan, or an
#: early return when it is not yet time), ``change_prot_numa``'s entry (``mm/mempolicy.c``;
#: ``addr``/``end``: the virtual range of one chunk, x86-64's second and third arguments) and its
#: return (the PTEs it armed), and the scheduler's switches to and from the workload
#: (``sched_switch``: 6.1's ``change_pmd_range`` calls ``cond_resched`` at each 2 MB, where
#: kswapd, woken meanwhile, may run within a scan).  Read by
#: :func:`memtier.kernel.settings.scan_trace`.
SCAN_TRACE_ON = r"""T=/sys/kernel/tracing
mount -t tracefs nodev $T 2>/dev/null
echo 8192 > $T/buffer_size_kb
echo 'prev_comm == "workload" || next_comm == "workload"' > $T/events/sched/sched_switch/filter
echo 1 > $T/events/sched/sched_switch/enable
echo 'p:tnw_in task_numa_work' > $T/kprobe_events
echo 'r:tnw_out task_numa_work' >> $T/kprobe_events
echo 'p:cpi change_prot_numa addr=%si:x64 end=%dx:x64' >> $T/kprobe_events
echo 'r:cpn change_prot_numa ret=$retval:x64' >> $T/kprobe_events
echo 1 > $T/events/kprobes/enable
"""
SCAN_TRACE_OFF = r"""echo 0 > $T/events/kprobes/enable
echo 0 > $T/events/sched/sched_switch/enable
cat $T/trace > /out/scan_trace.txt
"""

#: The guest's commands before the workload: make node 1 a lower tier, turn tiering on, and
#: record what the simulation needs (``$OUT`` is the folder shared with the host).
TIER_SETUP = r"""set -e
modprobe -a nd_e820 nd_pmem dax_pmem device_dax kmem
ndctl create-namespace -f -e namespace0.0 --mode=devdax --map=mem > "$OUT/ndctl.json"
daxctl reconfigure-device --mode=system-ram dax0.0 > "$OUT/daxctl.json" 2>&1
echo 1 > /sys/kernel/mm/numa/demotion_enabled
echo 2 > /proc/sys/kernel/numa_balancing
echo 0 > /proc/sys/kernel/randomize_va_space
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
{
  echo "release $(uname -r)"
  echo "cmdline $(cat /proc/cmdline)"
  for t in /sys/devices/virtual/memory_tiering/memory_tier*; do
    echo "tier $(basename "$t") $(cat "$t/nodes" 2>/dev/null || cat "$t/nodelist")"
  done
  for f in /sys/kernel/debug/sched/numa_balancing/*; do echo "debugfs $(basename "$f") $(cat "$f")"; done
  for f in numa_balancing numa_balancing_promote_rate_limit_MBps; do echo "sysctl $f $(cat /proc/sys/kernel/$f)"; done
  echo "sysctl randomize_va_space $(cat /proc/sys/kernel/randomize_va_space)"
  for f in min_free_kbytes watermark_scale_factor; do echo "sysctl $f $(cat /proc/sys/vm/$f)"; done
  echo "sysctl demotion_enabled $(cat /sys/kernel/mm/numa/demotion_enabled)"
  echo "cpus $(nproc)"
} > "$OUT/settings.txt"
set +e
sync; echo 3 > /proc/sys/vm/drop_caches
cat /proc/zoneinfo > "$OUT/zoneinfo.txt"
"""


def tier_setup(watermark_boost_factor: int | None = None) -> str:
    """:data:`TIER_SETUP`, with ``vm.watermark_boost_factor`` written after tiering is turned on
    when given (``None``: the set-up as it is, byte for byte, so the guest runs as before).  6.1
    raises a zone's watermarks by a pageblock after a fragmenting fallback (``boost_watermark``
    from ``steal_suitable_fallback``, ``mm/page_alloc.c``), up to this many ten-thousandths of
    its high watermark (default 15000); 0 turns boosting off.  memtier does not model it."""
    if watermark_boost_factor is None:
        return TIER_SETUP
    factor = int(watermark_boost_factor)
    if factor < 0:
        raise KernelCheckError(f"watermark_boost_factor is vm.watermark_boost_factor (ten-thousandths of the high "
                               f"watermark, 0: no boosting, 6.1's default 15000), got {watermark_boost_factor}")
    anchor = "echo 2 > /proc/sys/kernel/numa_balancing\n"
    return TIER_SETUP.replace(anchor, anchor + f"echo {factor} > /proc/sys/vm/watermark_boost_factor\n", 1)


# --- the whole comparison --------------------------------------------------------------------


def build_workload(folder, vmscan_counters: bool = False, start_offset_us: int | None = None,
                   trace: bool = False, node_map: bool = False) -> Path:
    """Compile :data:`SOURCE` statically (the guest runs it from the host's files).
    ``vmscan_counters``: with ``-DVMSCAN_COUNTERS``, so that its rows also carry kswapd's reclaim
    counters and node 0's zones and lists; another binary, so another run under ``-icount``
    (``docs/kernel-check.md``: the kernel's tiering of a large fill moves with it).
    ``start_offset_us``: with ``-DSTART_OFFSET_US``, the accesses start that many microseconds
    after the whole minute (:func:`kernel_check`'s ``kernel_runs``); ``None``: the default
    binary, the same byte for byte as without that code.  ``trace``: with ``-DTRACE_WORKLOAD``, the
    build that replays a trace (kind ``"trace"``, :func:`trace_file_bytes`); another binary, which
    runs that kind only, so the default one stays the committed runs'.  ``node_map``: with
    ``-DNODE_MAP``, the build that records where every page is at every checkpoint (the file
    ``KERNEL_WORKLOAD_NODE_MAP`` names, :func:`read_node_map`); another binary too."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise KernelCheckError("kernel-check needs a C compiler to build its workload (apt-get install gcc libc6-dev)")
    binary = Path(folder) / "kernel_workload"
    flags = ["-DVMSCAN_COUNTERS"] if vmscan_counters else []
    if start_offset_us is not None:
        flags.append(f"-DSTART_OFFSET_US={int(start_offset_us)}")
    if trace:
        flags.append("-DTRACE_WORKLOAD")
    if node_map:
        flags.append("-DNODE_MAP")
    done = subprocess.run([compiler, "-O2", "-static", *flags, "-o", str(binary), str(SOURCE), "-lm"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise KernelCheckError(f"compiling {SOURCE.name} failed ({last}); a static C library is needed "
                               "(apt-get install libc6-dev)")
    return binary


def machine(icount: bool = True) -> guest.Machine:
    """The tiered guest: 2 GB, node 0 512 MB with the CPUs (one with ``icount``, else two)."""
    if icount:
        return guest.Machine(memory="2G", numa=("512M,cpus=0", "1536M"), cpus=1, append=APPEND, qemu_opts=ICOUNT)
    return guest.Machine(memory="2G", numa=("512M,cpus=0-1", "1536M"), cpus=2, append=APPEND)


def _initramfs_run(w: Workload, folder: Path, binary: Path, env: str, icount: bool, timeout: float, kernel,
                   watermark_boost_factor: int | None = None, trace_bytes: bytes | None = None,
                   scan_trace: bool = False):
    """The workload in a guest booted from an initramfs (:mod:`memtier.kernel.bare`); a trace's
    file goes in it, and the program removes it once read (``KERNEL_WORKLOAD_REMOVE_TRACE``: the
    RAM file system's pages are on node 0's lists, where kswapd would demote them first).
    ``scan_trace``: the workload runs under :data:`SCAN_TRACE_ON`'s kprobes, their trace in
    ``scan_trace.txt``."""
    trace_file = "/trace.bin" if trace_bytes is not None else None
    script = tier_setup(watermark_boost_factor) + (
        # the set-up's tools, libraries and modules are RAM file-system pages on node 0's LRU
        # lists (about 9 MB), which kswapd would demote first: removed once they have run
        'rm -rf /usr/bin/ndctl /usr/bin/daxctl /lib /lib64 /usr/lib\n'
        'sync; echo 3 > /proc/sys/vm/drop_caches\n' + (SCAN_TRACE_ON if scan_trace else "") +
        f'{env} /workload ' + " ".join(f'"{a}"' for a in w.arguments("/out/kernel_raw.csv", trace_file))
        + ' 2> /out/workload.err\nstatus=$?\n' + (SCAN_TRACE_OFF if scan_trace else "")
        + 'cat /proc/vmstat > /out/vmstat.txt\nexit $status\n')
    shape = machine(icount)
    shape = dataclasses.replace(shape, append=(*shape.append, "nokaslr"), qemu_opts=f"{shape.qemu_opts} -seed 1 -rtc base=2026-01-01T00:00:00,clock=vm")
    extra = {"/workload": binary.read_bytes()}
    if trace_file is not None:
        extra[trace_file] = trace_bytes
    return bare.run(script, folder, extra=extra, machine=shape, timeout=timeout, kernel=kernel)


def run_guest(w: Workload, folder, *, icount: bool = True, timeout: float = 600, kernel=None,
              node0_free: int | None = None, boot: str = "initramfs", vmscan_counters: bool = False,
              watermark_boost_factor: int | None = None, start_offset_us: int | None = None,
              scan_trace: bool = False, node_map: bool = False) -> dict:
    """Boot the tiered guest, run the workload; returns ``{"raw", "settings", "zoneinfo", "seconds"}``.

    ``node0_free``: the program moves the other processes' pages to node 1 and locks a ballast
    on node 0 that leaves that many pages free there (:data:`NODE0_FREE_PAGES`); ``None``: neither,
    node 0 as the boot left it.  ``zoneinfo`` is the one the program copied just before its
    start (else the one read after the tier set-up).  ``boot``: ``"virtme"``, virtme-ng's guest
    (:mod:`memtier.kernel.guest`, its root read over 9p), or ``"initramfs"``, a guest that reads
    nothing from the host (:mod:`memtier.kernel.bare`), whose runs repeat to the byte.
    ``vmscan_counters``: the program built with kswapd's counters (:func:`build_workload`).
    ``watermark_boost_factor``: written to ``vm.watermark_boost_factor`` in the set-up
    (:func:`tier_setup`; ``None``: not written).  ``start_offset_us``: the program built to start
    its accesses that many microseconds after the whole minute (:func:`build_workload`).
    ``scan_trace`` (initramfs guest only): the workload runs under ftrace kprobes on the NUMA
    scanner (:data:`SCAN_TRACE_ON`), their trace left in ``folder/scan_trace.txt``; the probes'
    own instructions are in the guest's time, so the run may differ from one without them.
    ``node_map`` (initramfs guest only): the program built to record where each page is at each
    checkpoint (:func:`build_workload`), left in ``folder/node_map.bin`` (:func:`read_node_map`)."""
    folder = Path(folder)
    if scan_trace and boot != "initramfs":
        raise KernelCheckError("scan_trace needs the initramfs guest (boot='initramfs')")
    if node_map and boot != "initramfs":
        raise KernelCheckError("node_map needs the initramfs guest (boot='initramfs')")
    setup = tier_setup(watermark_boost_factor)
    binary = build_workload(folder, vmscan_counters, start_offset_us, trace=w.kind == "trace", node_map=node_map)
    env = "KERNEL_WORKLOAD_ZONEINFO=" + f'"{folder}/ram/zoneinfo.txt"'
    trace_bytes = trace_file_bytes(w) if w.kind == "trace" else None
    if trace_bytes is not None:
        env += " KERNEL_WORKLOAD_REMOVE_TRACE=1"
        if boot == "virtme":  # copied to the guest's RAM file system from the shared folder
            (folder / "trace.bin").write_bytes(trace_bytes)
    if node0_free is not None:
        if int(node0_free) <= 0:
            raise KernelCheckError(f"node 0's free pages at the start must be a positive number, got {node0_free}")
        env += f" KERNEL_WORKLOAD_MOVE_OTHERS=1 KERNEL_WORKLOAD_COMPACT=1 KERNEL_WORKLOAD_NODE0_FREE={int(node0_free)}"
    if node_map:
        env += " KERNEL_WORKLOAD_NODE_MAP=/out/node_map.bin"
    if boot == "initramfs":
        env = env.replace(f'"{folder}/ram/zoneinfo.txt"', "/out/zoneinfo_start.txt")
        run = _initramfs_run(w, folder, binary, env, icount, timeout, kernel, watermark_boost_factor, trace_bytes,
                             scan_trace)
    elif boot != "virtme":
        raise KernelCheckError(f"boot must be 'initramfs' or 'virtme', got {boot!r}")
    # While the workload runs the guest touches no 9p file: its program and its rows live in a
    # RAM file system, copied out at the end.  -icount fixes the guest's instruction count, not
    # when the host completes a 9p request, so a write to the shared folder at each checkpoint
    # (and an exec whose pages are read through 9p) would let host timing into the run.
    ram = f'"{folder}/ram"'
    trace_mb = -(-len(trace_bytes) // (1 << 20)) if trace_bytes is not None else 0
    command = None if boot == "initramfs" else setup + (
        f'mkdir -p {ram} && mount -t tmpfs -o size={16 + trace_mb}m,mpol=bind:0 memtier-kcheck {ram} '
        f'&& cp "{binary}" {ram}/workload ' + (f'&& cp "{folder}/trace.bin" {ram}/trace.bin ' if trace_mb else "")
        + '|| exit 97\n'
        # the copy's reads through 9p left page cache on node 0: dropped, as the boot's was
        'sync; echo 3 > /proc/sys/vm/drop_caches\n'
        f'{env} {ram}/workload ' + " ".join(f'"{a}"' for a in w.arguments(
            f"{folder}/ram/kernel_raw.csv", f"{folder}/ram/trace.bin" if trace_mb else None))
        + f' 2> {ram}/workload.err\nstatus=$?\n'
        f'cat /proc/vmstat > "{folder}/vmstat.txt"\n'
        f'cp {ram}/kernel_raw.csv {ram}/workload.err "{folder}/" 2>/dev/null\n'
        f'cp {ram}/zoneinfo.txt "{folder}/zoneinfo_start.txt" 2>/dev/null\numount {ram}\nexit $status\n')
    if command is not None:
        run = guest.run_in_guest(command, folder, timeout=timeout, boot_timeout=150, kernel=kernel,
                                 machine=machine(icount))
    if run.returncode != 0:
        detail = ""
        for name in ("workload.err", "daxctl.json"):
            if (folder / name).exists() and (folder / name).read_text().strip():
                detail = f"{name}: {(folder / name).read_text().strip().splitlines()[-1]}"
                break
        raise guest.GuestFailed(f"the workload failed in the guest (status {run.returncode}; "
                                f"{detail or run.stderr.strip()[-300:]}); its files are in {folder}")
    zoneinfo = folder / "zoneinfo_start.txt"
    if not zoneinfo.exists():
        zoneinfo = folder / "zoneinfo.txt"
    return {"raw": read_kernel_timeline(folder / "kernel_raw.csv", w),
            "settings": parse_settings((folder / "settings.txt").read_text()),
            "zoneinfo": parse_zoneinfo(zoneinfo.read_text()), "zoneinfo_at_start": zoneinfo.name == "zoneinfo_start.txt",
            "seconds": run.seconds,
            "attempts": run.attempts}


def check_digests(raw: pd.DataFrame, w: Workload, stream) -> None:
    """The guest's rows against memtier's stream: the program's digest at every checkpoint must be
    :func:`stream_digests`' of the same accesses (one line where they part)."""
    ends = [int(a) for a in raw["accesses"]]
    expected = stream_digests(stream, ends)
    for end, got, want in zip(ends, raw["digest"], expected):
        if int(got) != want:
            raise KernelCheckError(f"the guest's access stream differs from memtier's after {end} accesses (digest "
                                   f"{int(got)} against {want}); the two would not simulate the same accesses")


def _header(w: Workload, result: dict, icount: bool, node0_free: int | None = None, boot: str = "initramfs",
            vmscan_counters: bool = False, watermark_boost_factor: int | None = None) -> str:
    settings = result["settings"]
    opts = " ".join(machine(icount).qemu_opts.split()) or "none"
    lines = [
        "memtier kernel-check: the kernel's and memtier's tiering of one workload (issue 15)",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"kernel: {settings.get('release', '?')} (Debian linux-image-amd64) under QEMU TCG, "
        + ("booted from an initramfs (nokaslr, -seed 1, the RTC on the guest's clock); " if boot == "initramfs"
           else "via virtme-ng; ") +
        f"cmdline extra: {' '.join(APPEND)}",
        f"qemu: {machine(icount).cpus} vCPU(s), -m 2G, nodes {', '.join(machine(icount).numa)}, options: {opts}",
        f"tiers: {settings['tiers']}; settings: {settings['debugfs']} {settings['sysctl']}",
        f"workload: {json.dumps(dataclasses.asdict(w))}",
        *([f"trace: {w.trace_pages.size} accesses over pages 0-{int(w.trace_pages.max())} (sha256 of its pages as "
           f"int32: {trace_digest(w)}), replayed round and round after the fill; copied to trace.npy beside this "
           "file"] if w.kind == "trace" else []),
        "node 0 at the start: " + (f"{node0_free} pages free (other processes' pages moved to node 1, a locked "
                                   "ballast takes the rest)" if node0_free else "as the boot left it"),
        f"guest run: {result['seconds']:.0f} s wall, {result['attempts']} boot attempt(s); "
        f"largest slot lag {result['raw']['max_lag_ms'].max():.1f} ms",
    ]
    if vmscan_counters:
        lines.append("program: built with -DVMSCAN_COUNTERS (kswapd's reclaim counters, node 0's zones and lists): "
                     "another binary than the default's, so another run")
    if watermark_boost_factor is not None:
        lines.append(f"set-up: vm.watermark_boost_factor written {int(watermark_boost_factor)} after numa_balancing "
                     "(a command more than the default set-up, so another run)")
    return "".join(f"# {line}\n" for line in lines)


def _is_the_copy(w: Workload, out: Path) -> bool:
    """The trace given is ``out/trace.npy`` itself (a run again into the same folder): not rewritten."""
    return (out / "trace.npy").exists() and Path(w.trace).resolve() == (out / "trace.npy").resolve()


#: ``kernel_runs`` allowed: each run is a guest boot of several minutes at the issue's size.
MAX_KERNEL_RUNS = 10


def check_kernel_runs(kernel_runs, run_offset_ms) -> tuple[int, float]:
    """``kernel_runs`` and ``run_offset_ms`` checked (one line naming the flag if not)."""
    if isinstance(kernel_runs, bool) or not isinstance(kernel_runs, (int, np.integer)) or \
            not 1 <= kernel_runs <= MAX_KERNEL_RUNS:
        raise KernelCheckError(f"--kernel-runs is how many times the guest runs the workload, 1 to {MAX_KERNEL_RUNS} "
                               f"(1: once, as by default), got {kernel_runs!r}")
    try:
        offset = float(run_offset_ms)
    except (TypeError, ValueError):
        offset = math.nan
    if not 0.001 <= offset <= 1000.0:
        raise KernelCheckError(f"--run-offset-ms is how much later each further run starts its accesses, "
                               f"0.001 to 1000 ms of guest time (default 1), got {run_offset_ms!r}")
    return int(kernel_runs), offset


def kernel_check(w: Workload, out, *, force: bool = False, icount: bool = True, timeout: float = 600,
                 kernel=None, progress=None, node0_free: int | None = None, boot: str = "initramfs",
                 vmscan_counters: bool = False, direct_reclaim: bool = False,
                 watermark_boost_factor: int | None = None, kernel_runs: int = 1,
                 run_offset_ms: float = 1.0, scan_trace: bool = False, node_map: bool = False) -> dict:
    """Run ``w`` in the tiered guest and in memtier; write ``out/timeline.csv``,
    ``out/timeline.png``, ``out/kernel_raw.csv`` (the program's own rows) and
    ``out/guest.json`` (what was read from the guest and given to the simulator).

    ``kernel_runs`` > 1: the guest runs the same accesses that many times, run ``k`` (from 1) with
    the program built to start them ``k * run_offset_ms`` later after the whole minute
    (:func:`build_workload`'s ``start_offset_us``): the kernel's ticks (4 ms at HZ=250) and
    periodic work then meet the fill at another phase, and nothing else changes but those few
    instructions.  Under ``-icount`` each run repeats to the byte, so what the runs differ by is
    the kernel's own sensitivity to when things happen, which no simulator can be held to more
    closely.  ``out/kernel_runs.csv`` gets every run's rows (run 0 is the timeline's kernel),
    ``out/kernel_runs_raw.csv`` every run's program rows (its counters), and
    the result a ``"spread"`` (:func:`kernel_spread`) and ``"spread_verdict"``; memtier's side is
    simulated once (its accesses and settings are the same).

    ``scan_trace`` (initramfs guest): the first run under the scanner's kprobes
    (:func:`run_guest`), their trace in ``out/scan_trace.txt``.

    ``node_map`` (initramfs guest): the first run's program records where each of its pages is at
    each checkpoint (:func:`run_guest`); ``out/node_map.npz`` holds it beside memtier's
    (:func:`load_node_maps`) and the result a ``"nodes"`` table (:func:`compare_nodes`).

    Returns ``{"timeline", "comparison", "verdict", "guest", "counters"}`` (and the spread's two);
    ``counters`` (also ``out/counters.csv``): the kernel's event counters beside memtier's at every
    checkpoint (:func:`compare_counters`)."""
    kernel_runs, run_offset_ms = check_kernel_runs(kernel_runs, run_offset_ms)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = ("timeline.csv", "timeline.png", "kernel_raw.csv", "guest.json", "counters.csv") + (
        ("kernel_runs.csv", "kernel_runs_raw.csv") if kernel_runs > 1 else ()) + (
        ("trace.npy",) if w.kind == "trace" and not _is_the_copy(w, out) else ()) + (
        ("scan_trace.txt",) if scan_trace else ()) + (("node_map.npz",) if node_map else ())
    if scan_trace and boot != "initramfs":
        raise KernelCheckError("scan_trace needs the initramfs guest (boot='initramfs')")
    if node_map and boot != "initramfs":
        raise KernelCheckError("node_map needs the initramfs guest (boot='initramfs')")
    for name in names:
        check_output(out / name, force=force, what="--out")
    tier_setup(watermark_boost_factor)  # a bad factor: one line before anything runs
    if boot == "initramfs":  # a missing tool: one line before anything runs
        bare.find_tools(kernel)
    else:
        guest.find_tools(kernel)
    say = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="memtier-kcheck-") as scratch:
        os.chmod(scratch, 0o755)
        say("booting the tiered guest and running the workload")
        result = run_guest(w, scratch, icount=icount, timeout=timeout, kernel=kernel, node0_free=node0_free,
                           boot=boot, vmscan_counters=vmscan_counters, watermark_boost_factor=watermark_boost_factor,
                           scan_trace=scan_trace, node_map=node_map)
        check_tiers(result["settings"])
        stream = access_stream(w)
        check_digests(result["raw"], w, stream)
        settings = guest_settings(result["settings"], result["zoneinfo"], w, result["zoneinfo_at_start"], boot,
                                  vcpus=machine(icount).cpus, direct_reclaim=direct_reclaim)
        runs = [kernel_rows(result["raw"]).assign(run=0, start_offset_ms=0.0, guest_seconds=result["seconds"])]
        raws = [result["raw"].assign(run=0)]
        for k in range(1, kernel_runs):
            offset_us = round(k * run_offset_ms * 1000)
            say(f"guest done in {runs[-1]['guest_seconds'].iloc[0]:.0f} s; kernel run {k + 1} of {kernel_runs}, "
                f"its accesses started {offset_us / 1000:g} ms later")
            folder = Path(scratch) / f"run{k}"
            folder.mkdir()
            folder.chmod(0o755)
            again = run_guest(w, folder, icount=icount, timeout=timeout, kernel=kernel, node0_free=node0_free,
                              boot=boot, vmscan_counters=vmscan_counters,
                              watermark_boost_factor=watermark_boost_factor, start_offset_us=offset_us)
            check_digests(again["raw"], w, stream)
            runs.append(kernel_rows(again["raw"]).assign(run=k, start_offset_ms=offset_us / 1000,
                                                         guest_seconds=again["seconds"]))
            raws.append(again["raw"].assign(run=k))
        say(f"guest done in {runs[-1]['guest_seconds'].iloc[0]:.0f} s; simulating")
        sim = simulate_timeline(w, settings, stream, progress=say, nodes=node_map)
        kernel_nodes = read_node_map(Path(scratch) / "node_map.bin", w) if node_map else None
        timeline = pd.concat([kernel_rows(result["raw"]), sim], ignore_index=True)
        runs = pd.concat(runs, ignore_index=True)
        header = _header(w, result, icount, node0_free, boot, vmscan_counters, watermark_boost_factor)
        with atomic_write(out / "kernel_raw.csv", force=force, what="--out") as handle:
            handle.write(header + (Path(scratch) / "kernel_raw.csv").read_text())
        if scan_trace:
            with atomic_write(out / "scan_trace.txt", force=force, what="--out") as handle:
                handle.write("".join(f"# memtier: {line[2:]}\n" for line in header.splitlines())
                             + (Path(scratch) / "scan_trace.txt").read_text())
        info = {"settings": result["settings"], "simulator": settings, "workload": workload_record(w),
                "icount": icount, "boot": boot, "node0_free": node0_free, "guest_seconds": result["seconds"],
                "watermark_boost_factor": watermark_boost_factor,
                "zoneinfo": (Path(scratch) / "zoneinfo.txt").read_text(),
                "vmstat_after": (Path(scratch) / "vmstat.txt").read_text() if (Path(scratch) / "vmstat.txt").exists()
                else None}
    table = compare(timeline, w.hot_pages)
    judged = verdict(table)
    counted = compare_counters(result["raw"], sim.attrs["counters"])
    extra = {"counters": counted}
    if node_map:
        maps, extra["nodes"] = node_maps_compared(kernel_nodes, sim, w,
                                                  np.arange(1, len(kernel_nodes) + 1) * w.checkpoint_ms / 1e3)
        with atomic_write(out / "node_map.npz", force=force, what="--out", binary=True) as handle:
            np.savez_compressed(handle, **maps)
    if kernel_runs > 1:
        extra["spread"] = kernel_spread(runs, timeline, w.hot_pages)
        extra["spread_verdict"] = spread_verdict(extra["spread"])
        info["kernel_runs"] = {"runs": kernel_runs, "run_offset_ms": run_offset_ms,
                               "guest_seconds": [float(x) for x in runs.groupby("run")["guest_seconds"].first()]}
    if w.kind == "trace":  # the run's outputs hold what it replayed: load_run redoes memtier's side from them
        if not _is_the_copy(w, out):
            with atomic_write(out / "trace.npy", force=force, what="--out", binary=True) as handle:
                np.save(handle, w.trace_pages)
    with atomic_write(out / "guest.json", force=force, what="--out") as handle:
        json.dump(dict(info, verdict=judged, **({"spread_verdict": extra["spread_verdict"]}
                                                if "spread_verdict" in extra else {})),
                  handle, indent=1)
    if kernel_runs > 1:
        with atomic_write(out / "kernel_runs.csv", force=force, what="--out") as handle:
            handle.write(header + f"# kernel runs: {kernel_runs}, run k's accesses started k x {run_offset_ms:g} ms "
                                  "after the whole minute (the program built with -DSTART_OFFSET_US); run 0 is "
                                  "timeline.csv's kernel\n")
            runs.to_csv(handle, index=False)
        with atomic_write(out / "kernel_runs_raw.csv", force=force, what="--out") as handle:
            handle.write(header + "# every kernel run's program rows (kernel_raw.csv's columns), a run column after them\n")
            pd.concat(raws, ignore_index=True).to_csv(handle, index=False)
    with atomic_write(out / "timeline.csv", force=force, what="--out") as handle:
        handle.write(header)
        timeline.to_csv(handle, index=False)
    write_counters(out / "counters.csv", counted, header, force=force)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    name = f"trace {Path(w.trace).name}" if w.kind == "trace" else w.kind
    axes = plot_timeline(timeline, w.hot_pages, title=f"{name}: {w.total_mb} MB, {w.hot_mb} MB hot",
                         runs=runs if kernel_runs > 1 else None)
    save_figure(axes[0].figure, out / "timeline.png", force=force, dpi=110, bbox_inches="tight")
    plt.close(axes[0].figure)
    return {"timeline": timeline, "comparison": table, "verdict": judged, "guest": settings, **extra}
