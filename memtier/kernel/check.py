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
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import bare, guest
from ..outputs import atomic_write, check_output, save_figure

WORKLOADS = ("hot_set", "phase", "zipf", "trace")
#: A replayed trace's accesses at most: the guest's program holds them in node 0's memory (4 bytes
#: each, 16 MB here, read before its start and counted as its own pages, :func:`own_pages`), and the
#: initramfs carries the file.
MAX_TRACE_ACCESSES = 1 << 22
PAGE = 4096
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
_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
_FNV = 0x100000001B3
_M64 = (1 << 64) - 1

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


class KernelCheckError(ValueError):
    """A bad argument or a guest result that cannot be compared (one-line message)."""


@dataclasses.dataclass(frozen=True)
class Workload:
    """One run of the workload program: what it accesses and how fast."""

    kind: str = "hot_set"
    total_mb: int = 1000
    hot_mb: int = 128
    seconds: float = 60.0
    rate: int = 200_000  # accesses a second of guest time
    slot_us: int = 1000
    checkpoint_ms: int = 1000
    seed: int = 1
    alpha: float = 1.0
    trace: str | None = None  # kind "trace": a .npy trace of page numbers (memtier.workloads.save_trace)

    def __post_init__(self):
        if self.kind not in WORKLOADS:
            raise KernelCheckError(f"--workload {self.kind!r} is not one of {', '.join(WORKLOADS)}")
        if (self.kind == "trace") != (self.trace is not None):
            raise KernelCheckError("--trace FILE.npy goes with --workload trace, and --workload trace needs it "
                                   f"(got --workload {self.kind} and --trace {self.trace})")
        for name in ("total_mb", "hot_mb", "rate", "slot_us", "checkpoint_ms"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise KernelCheckError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.hot_mb > self.total_mb:
            raise KernelCheckError(f"--hot-mb {self.hot_mb} is more than --total-mb {self.total_mb}; "
                                   "the hot set is part of the memory")
        if self.total_mb > 1400:
            raise KernelCheckError(f"--total-mb {self.total_mb} does not fit the guest (node 0: 512 MB, "
                                   "node 1: 1152 MB, and the guest's own); give at most 1400")
        if not (isinstance(self.seconds, (int, float)) and math.isfinite(self.seconds) and self.seconds > 0):
            raise KernelCheckError(f"--seconds must be a positive number, got {self.seconds!r}")
        if (self.checkpoint_ms * 1000) % self.slot_us:
            raise KernelCheckError(f"the checkpoint ({self.checkpoint_ms} ms) must be a whole number of slots "
                                   f"({self.slot_us} us)")
        if self.per_slot < 1:
            raise KernelCheckError(f"--rate {self.rate} gives no access in a slot of {self.slot_us} us")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise KernelCheckError(f"alpha must be a positive number, got {self.alpha!r}")
        if not 0 <= self.seed < 1 << 63:
            raise KernelCheckError(f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}")
        if self.checkpoints < 1:
            raise KernelCheckError(f"--seconds {self.seconds} is shorter than one checkpoint ({self.checkpoint_ms} ms)")
        if self.n_accesses <= self.total_pages:
            raise KernelCheckError(f"{self.seconds} s at {self.rate} accesses/s do not even fill "
                                   f"{self.total_mb} MB; run longer or faster")
        if self.kind == "trace":
            pages, hot = _read_trace(self)
            object.__setattr__(self, "_trace_pages", pages)
            object.__setattr__(self, "_trace_hot", hot)

    @property
    def trace_pages(self) -> np.ndarray:
        """kind ``"trace"``: the trace's page numbers (int32), as the program replays them."""
        return self._trace_pages

    @property
    def total_pages(self) -> int:
        return self.total_mb * (1 << 20) // PAGE

    @property
    def hot_pages(self) -> int:
        return self.hot_mb * (1 << 20) // PAGE

    @property
    def per_slot(self) -> int:
        return int(round(self.rate * self.slot_us * 1e-6))

    @property
    def slots(self) -> int:
        return int(round(self.seconds * 1e6 / self.slot_us))

    @property
    def slots_per_checkpoint(self) -> int:
        return self.checkpoint_ms * 1000 // self.slot_us

    @property
    def checkpoints(self) -> int:
        return self.slots // self.slots_per_checkpoint

    @property
    def n_accesses(self) -> int:
        return self.slots * self.per_slot

    @property
    def access_ns(self) -> float:
        """Nominal guest time of one access."""
        return self.slot_us * 1e3 / self.per_slot

    @property
    def switch_at(self) -> int:
        """``phase``: the access number from which the hot set is pages 0 .. hot - 1."""
        return (self.slots // 2) * self.per_slot

    def arguments(self, out: str, trace_file: str | None = None) -> list[str]:
        """The workload program's command line (kind ``"trace"``: the program built with
        ``trace=True``, :func:`build_workload`, and ``trace_file`` where it finds
        :func:`trace_file_bytes`)."""
        if (self.kind == "trace") != (trace_file is not None):
            raise KernelCheckError("the program's trace file goes with kind 'trace' only")
        return [self.kind, str(self.total_pages), str(self.hot_pages), repr(float(self.seconds)), str(self.rate),
                str(self.slot_us), str(self.checkpoint_ms), str(self.seed), repr(float(self.alpha)), out] + (
                    [trace_file] if trace_file is not None else [])


def _read_trace(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    """``w.trace`` read and checked (one line naming what to change if not): its pages (int32)
    and the hot set, the ``w.hot_pages`` pages it accesses most (ties: the lower page number)."""
    from ..traces.workloads import load_trace

    try:
        pages = load_trace(w.trace)
    except (OSError, ValueError) as error:
        raise KernelCheckError(f"--trace: {' '.join(str(error).split())}") from None
    if pages.size > MAX_TRACE_ACCESSES:
        raise KernelCheckError(f"--trace {w.trace} has {pages.size} accesses; the guest's program holds at most "
                               f"{MAX_TRACE_ACCESSES} (16 MB of node 0): save a part of it, or every "
                               f"{-(-pages.size // MAX_TRACE_ACCESSES)}th access, with memtier.workloads.save_trace("
                               f"trace[:{MAX_TRACE_ACCESSES}] or trace[::{-(-pages.size // MAX_TRACE_ACCESSES)}], "
                               "...); it is replayed round and round")
    low, high = int(pages.min()), int(pages.max())
    if low < 0:
        raise KernelCheckError(f"--trace {w.trace} has a negative page number ({low}); pages are 0 and up")
    if high >= w.total_pages:
        raise KernelCheckError(f"--trace {w.trace} accesses page {high}, beyond the {w.total_pages} pages of "
                               f"--total-mb {w.total_mb}; give --total-mb {-(-(high + 1) * PAGE // (1 << 20))} or "
                               "more (pages beyond the trace's are filled and stay cold)")
    pages = np.asarray(pages, dtype=np.int32)
    counts = np.bincount(pages, minlength=w.total_pages)
    touched = int((counts > 0).sum())
    if w.hot_pages > touched:
        raise KernelCheckError(f"--hot-mb {w.hot_mb} ({w.hot_pages} pages) is more than the {touched} pages "
                               f"--trace {w.trace} accesses; give --hot-mb {touched * PAGE // (1 << 20)} or less")
    order = np.lexsort((np.arange(w.total_pages), -counts))  # most accessed first, then lower page numbers
    hot = np.zeros(w.total_pages, dtype=bool)
    hot[order[:w.hot_pages]] = True
    return pages, hot


def trace_file_bytes(w: Workload) -> bytes:
    """The file the program's trace build reads (``read_trace`` in ``kernel_workload.c``):
    ``b"MTTRACE1"``, the trace's length and the mapping's pages (little-endian uint64), the
    pages (uint32) and one byte a page of the mapping, 1 for the hot set."""
    head = np.array([w.trace_pages.size, w.total_pages], dtype="<u8").tobytes()
    return (b"MTTRACE1" + head + w.trace_pages.astype("<u4").tobytes()
            + w._trace_hot.astype(np.uint8).tobytes())


# --- the access stream, as the program makes it -------------------------------------------------


def _splitmix64(seed: int, first: int, count: int) -> np.ndarray:
    """Outputs ``first + 1 .. first + count`` of splitmix64 from ``seed`` (the program's
    ``splitmix64``: the k-th output mixes ``seed + k x 0x9E37...``)."""
    with np.errstate(over="ignore"):
        k = np.arange(first + 1, first + count + 1, dtype=np.uint64)
        z = np.uint64(seed) + k * np.uint64(_MIX[0])
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX[1])
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX[2])
        return z ^ (z >> np.uint64(31))


def _zipf_tables(w: Workload):
    """``(page_of_rank, cdf, outputs used)``: the program's shuffle and cumulative weights,
    read-only, made once per Workload (0.16 s at 600 MB: the stream and every checkpoint's hot
    mask ask for them)."""
    made = w.__dict__.get("_zipf")
    if made is None:
        made = _make_zipf_tables(w)
        for table in made[:2]:
            table.flags.writeable = False
        object.__setattr__(w, "_zipf", made)
    return made


def _make_zipf_tables(w: Workload):
    n = w.total_pages
    draws = _splitmix64(w.seed, 0, n - 1)
    page_of_rank = np.arange(n, dtype=np.int64)
    for step, i in enumerate(range(n - 1, 0, -1)):  # Fisher-Yates from the end, as the program
        j = int(draws[step]) % (i + 1)
        page_of_rank[i], page_of_rank[j] = page_of_rank[j], page_of_rank[i]
    cdf = np.cumsum(1.0 / np.power(np.arange(1, n + 1, dtype=np.float64), w.alpha))
    return page_of_rank, cdf, n - 1


def access_stream(w: Workload) -> np.ndarray:
    """Every page number the workload program accesses, in order (int32)."""
    n, hot = w.total_pages, w.hot_pages
    j = np.arange(n, w.n_accesses, dtype=np.int64)
    if w.kind == "zipf":
        page_of_rank, cdf, used = _zipf_tables(w)
        u = (_splitmix64(w.seed, used, j.size) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 * cdf[-1]
        after = page_of_rank[np.searchsorted(cdf, u, side="right")]
    elif w.kind == "trace":  # after the fill, the trace round and round
        after = w.trace_pages[(j - n) % w.trace_pages.size]
    else:
        after = n - hot + (j - n) % hot
        if w.kind == "phase":
            moved = j >= w.switch_at
            after[moved] = (j[moved] - w.switch_at) % hot
    return np.concatenate([np.arange(n), after]).astype(np.int32)


def hot_mask(w: Workload, checkpoint: int) -> np.ndarray:
    """The hot pages at the end of checkpoint ``checkpoint`` (1-based), as the program counts them."""
    mask = np.zeros(w.total_pages, dtype=bool)
    if w.kind == "zipf":
        mask[_zipf_tables(w)[0][:w.hot_pages]] = True
    elif w.kind == "trace":
        mask[w._trace_hot] = True
    elif w.kind == "phase" and checkpoint * w.slots_per_checkpoint * w.per_slot > w.switch_at:
        mask[:w.hot_pages] = True
    else:
        mask[w.total_pages - w.hot_pages:] = True
    return mask


def stream_digests(stream: np.ndarray, ends) -> list[int]:
    """The program's digest (``d = d x 0x100000001B3 + page + 1`` mod 2**64) after each of ``ends`` accesses."""
    digests, d, start = [], 0, 0
    chunk = 1 << 20
    with np.errstate(over="ignore"):
        for end in ends:
            for lo in range(start, end, chunk):
                part = stream[lo:min(end, lo + chunk)].astype(np.uint64) + np.uint64(1)
                powers = np.cumprod(np.full(part.size, _FNV, dtype=np.uint64))[::-1]  # FNV^(len-i)
                # d x FNV^len + sum part_i x FNV^(len-1-i)
                tail = int(np.sum(part[:-1] * powers[1:], dtype=np.uint64)) + int(part[-1])
                d = (d * int(powers[0]) + tail) & _M64
            digests.append(d)
            start = end
    return digests


# --- reading the guest -----------------------------------------------------------------------


def parse_zoneinfo(text: str) -> pd.DataFrame:
    """``/proc/zoneinfo`` -> one row per zone: node, zone, free, min, low, high, managed,
    protection (of the highest zone index: what an allocation for user memory, which may use
    ``ZONE_MOVABLE``, must leave in a lower zone, ``lowmem_reserve``), pcp (free pages on the
    zone's per-CPU lists, the ``count`` of its pagesets: not in ``free``, handed out first by
    ``rmqueue_pcplist``)."""
    rows = []
    for block in re.split(r"^(?=Node \d+, zone)", text, flags=re.M):
        head = re.match(r"Node (\d+), zone\s+(\S+)", block)
        if not head:
            continue
        row = {"node": int(head.group(1)), "zone": head.group(2)}
        for key in ("pages free", "min", "low", "high", "managed"):
            found = re.search(rf"^\s+{key}\s+(\d+)", block, flags=re.M)
            row[key.replace("pages ", "")] = int(found.group(1)) if found else 0
        row["pcp"] = sum(int(v) for v in re.findall(r"^\s+count:\s+(\d+)", block, flags=re.M))
        protection = re.search(r"protection: \(([\d, ]+)\)", block)
        values = [int(v) for v in protection.group(1).split(",")] if protection else [0]
        row["protection"] = values[min(3, len(values) - 1)]  # ZONE_MOVABLE's index in 6.1 (DMA, DMA32, Normal, Movable)
        rows.append(row)
    if not rows:
        raise KernelCheckError("no zones in the guest's /proc/zoneinfo; is it the file the guest wrote?")
    return pd.DataFrame(rows)


def parse_settings(text: str) -> dict:
    """The guest's ``settings.txt`` (written by :data:`TIER_SETUP`) -> a dict."""
    settings = {"tiers": {}, "debugfs": {}, "sysctl": {}}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind in ("release", "cmdline", "cpus"):
            settings[kind] = rest.strip()
        elif kind == "tier":
            name, _, nodes = rest.partition(" ")
            settings["tiers"][name] = nodes.strip()
        elif kind in ("debugfs", "sysctl"):
            name, _, value = rest.partition(" ")
            settings[kind][name] = value.strip()
    return settings


def _tier_number(name: str) -> int:
    return int(name.removeprefix("memory_tier"))


def check_tiers(settings: dict) -> None:
    """Node 1 must be in a lower memory tier than node 0 (a higher tier number)."""
    where = {}
    for name, nodes in settings["tiers"].items():
        for part in nodes.split(","):
            if part:
                first, _, last = part.partition("-")
                for node in range(int(first), int(last or first) + 1):
                    where[node] = _tier_number(name)
    if 0 not in where or 1 not in where or not where[1] > where[0]:
        raise KernelCheckError(f"node 1 is not in a lower memory tier than node 0 in the guest (tiers: "
                               f"{settings['tiers'] or 'none'}); the dax/kmem set-up failed: see ndctl.json "
                               "and daxctl.json in the output folder")


def own_pages(w: Workload, at_start: bool = False, page_tables: bool = True) -> int:
    """Pages the workload program takes on node 0 besides its mapping: page tables (one page per
    512 mapped, and two more levels), its pagemap buffer (8 bytes a page), its hot mask (one byte
    a page), zipf's tables (12 bytes a page) and a replayed trace (4 bytes an access, and its hot
    set, one byte a page).  ``at_start``: those it takes after its start (zipf's tables and the
    trace are read before it).  ``page_tables`` False: without the last level's
    tables, which the policy takes itself when the first touches allocate them
    (``pgtable_pages``, :func:`direct_reclaim_settings`)."""
    n = w.total_pages
    tables = 0
    if w.kind == "zipf" and not at_start:
        tables = -(-n * 12 // PAGE)
    elif w.kind == "trace" and not at_start:
        tables = -(-w.trace_pages.size * 4 // PAGE) + -(-n // PAGE)
    return (n // 512 if page_tables else 0) + 2 + -(-n * 8 // PAGE) + -(-n // PAGE) + tables


def direct_reclaim_settings(settings: dict, w: Workload) -> dict:
    """kernel-check's settings (:func:`guest_settings`, or a saved ``guest.json``'s ``simulator``)
    with 6.1's direct reclaim: the workload's page tables (one page per 512 mapped, GFP_KERNEL,
    node 0 only) taken by the policy when its first touches allocate them (``pgtable_pages``),
    rather than off ``fast_capacity`` at the start, and a table that finds node 0 at its min
    watermark reclaimed for by the task (``direct_reclaim``: ``do_try_to_free_pages``).  Not
    kernel-check's default: in the fills of the saved runs page tables alone never take node 0
    from its low watermark to min (``docs/kernel-check.md``), so the rule never acts there; what
    took the guest's node 0 to min (its counters show direct reclaim in six of eight runs) is not
    modelled."""
    params = settings["params"]
    if params.get("pgtable_pages"):
        return settings
    return dict(settings, fast_capacity=settings["fast_capacity"] + w.total_pages // 512,
                params=dict(params, pgtable_pages=1.0, direct_reclaim=1.0))


#: kswapd's pace in the guest during a fill, in pages per page the workload allocates (the
#: program's nominal clock: a fill runs at ``rate`` first touches a second of it): pages
#: demoted, and pages scanned and kept (its first pass over a freshly written inactive list,
#: where every page's young bit is set: ``folio_check_references`` keeps it, 6.1).  Measured by
#: :func:`fill_rates` on ``data/kernel_check/fill_kernel_raw.csv`` (600 MB hot_set, 50 ms
#: checkpoints, one vCPU under -icount): 0.724 and 8.41.  On one vCPU kswapd shares the CPU with
#: the faulting task, whose fill lags its schedule (1.2 s behind at its end), so its pace on the
#: nominal clock is a fixed share of the fill's: valid while the fill lags, i.e. at rates whose
#: first touches the vCPU cannot keep up with (200 000 a second and more).
KSWAPD_DEMOTED_PER_ALLOCATION = 0.72
KSWAPD_KEPT_PER_ALLOCATION = 8.4
#: The same run's pace per second of kswapd's own CPU time (the guest's time less the task's):
#: on the one vCPU that time is taken from the task, whose run time times the scanner
#: (the policy's ``kswapd_shares_cpu``).  Kept: 711 000 since 2026-11-26 21:00 UTC (870 000
#: before, :func:`fill_rates`' wake interpolated within its interval); the 1000 MB
#: boosting-off run with 100 ms checkpoints kept 103 397 pages in 0.141 s (731 000).
KSWAPD_CPU_DEMOTED_PER_S = 91000.0
KSWAPD_CPU_KEPT_PER_S = 711000.0


def fill_rates(raw: pd.DataFrame, rate: float) -> dict:
    """kswapd's pace during the fill of a guest run with checkpoints a few tens of ms apart.

    - kswapd wakes when node 0 reaches its low watermark: at ``accesses - pages on node 1`` of
      the first checkpoint with a page on node 1 (every page allocated after that point went
      to node 1 or into room a demotion made);
    - its first pass ends at the start of the first interval in which it demoted at least half
      as many pages as the task allocated; until then it scanned ``pgscan - pgdemote`` pages
      and kept them: ``kept_per_s`` on the nominal clock;
    - then, to the last checkpoint of the fill (pages still absent), ``demoted_per_s``: pages
      demoted over the time left after the pages kept at that pace.

    Besides the nominal rates, ``*_per_cpu_s`` are the same over kswapd's own CPU time (the
    guest's time less the task's: nothing else runs in the guest), counted from the start of
    the interval of the wake (kswapd takes no time before it wakes: the intervals before it
    have 0.0-0.6 ms of it in 50 ms), each pace over kswapd's time less the other's pages at
    the other pace (solved together), and ``*_per_allocation`` the nominal rates over the
    fill's ``rate``.  Until 2026-11-26 21:00 UTC the CPU time at the wake was interpolated
    within its interval as the nominal time is, which put 83 % of that interval's kswapd time
    (34 ms) before the wake and gave 873 000 pages kept a CPU second, not 711 000, and the
    first pass's demotions were not taken off its time."""
    slow = (raw["slow_hot"] + raw["slow_cold"]).to_numpy()
    t, acc = raw["nominal_s"].to_numpy(float), raw["accesses"].to_numpy(float)
    guest_s, cpu_s = raw["guest_s"].to_numpy(float), raw["cpu_s"].to_numpy(float)
    demoted = raw["pgdemote_kswapd"].to_numpy(float)
    kept = raw["pgscan_kswapd"].to_numpy(float) - demoted
    full = np.flatnonzero(slow > 0)
    if full.size == 0 or full[0] == 0:
        raise KernelCheckError("fill_rates needs a run whose fill overflows node 0 after its first checkpoint")
    i = int(full[0])
    t_wake = (acc[i] - slow[i]) / rate
    other = guest_s - cpu_s  # kswapd's time (and the guest's few others'), cumulative
    steady = [r for r in range(i + 1, len(raw)) if demoted[r] - demoted[r - 1] >= 0.5 * (acc[r] - acc[r - 1])]
    filling = np.flatnonzero(raw["absent"].to_numpy() > 0)
    if not steady or filling.size == 0 or filling[-1] <= steady[0]:
        raise KernelCheckError("fill_rates: kswapd never demoted at half the fill's pace before the fill ended; "
                               "run a larger fill or closer checkpoints")
    j, k = steady[0], int(filling[-1])
    kept_per_s = kept[j - 1] / (t[j - 1] - t_wake)
    n_demoted, n_kept = demoted[k] - demoted[j - 1], kept[k] - kept[j - 1]
    demoted_per_s = n_demoted / (t[k] - t[j - 1] - n_kept / kept_per_s)
    first_cpu, then_cpu = other[j - 1] - other[i - 1], other[k] - other[j - 1]
    kept_per_cpu_s, demoted_per_cpu_s = kept[j - 1] / first_cpu, n_demoted / then_cpu
    for _ in range(50):  # each pass's time less its other pages at the other pace; the cross terms are small
        kept_per_cpu_s = kept[j - 1] / (first_cpu - demoted[j - 1] / demoted_per_cpu_s)
        demoted_per_cpu_s = n_demoted / (then_cpu - n_kept / kept_per_cpu_s)
    return {"wake_s": t_wake, "first_pass_end_s": t[j - 1], "fill_end_s": t[k],
            "demoted_per_s": demoted_per_s, "kept_per_s": kept_per_s,
            "demoted_per_cpu_s": demoted_per_cpu_s, "kept_per_cpu_s": kept_per_cpu_s,
            "demoted_per_allocation": demoted_per_s / rate, "kept_per_allocation": kept_per_s / rate}


def kswapd_time(raw: pd.DataFrame) -> pd.DataFrame:
    """Who had the one vCPU between checkpoints of a guest run: one row per interval (indexed by
    its end on the nominal clock) with the guest's time (``guest_s``), the task's CPU time
    (``task_s``, ``CLOCK_PROCESS_CPUTIME_ID``), the rest (``other_s``: kswapd's, with the
    interrupts and the few other threads of the guest), its share of the guest's time
    (``share``) and its ratio to the task's (``ratio``), kswapd's demotions and scans and its
    demotions a second of ``other_s`` (``demoted_per_other_s``); with ``pageoutrun`` (the
    counters build) the ``balance_pgdat`` runs begun (``runs``: each one after kswapd found the
    node balanced and slept).  memtier's ``kswapd_cpu_share`` gives kswapd ``share`` of the CPU
    while it is awake, i.e. ``ratio`` = share / (1 - share) of the task's time; these rows say
    what the guest gave it (``docs/kernel-check.md``, 'Why memtier's fill ends early')."""
    need = ("nominal_s", "guest_s", "cpu_s", "pgdemote_kswapd", "pgscan_kswapd")
    missing = [c for c in need if c not in raw]
    if missing:
        raise KernelCheckError(f"kswapd_time needs a guest run's rows with {', '.join(need)}; missing "
                               f"{', '.join(missing)} (read a data/kernel_check/*_kernel_raw.csv)")
    d = raw[list(need) + (["pageoutrun"] if "pageoutrun" in raw else [])].astype(float).diff().iloc[1:]
    other = d["guest_s"] - d["cpu_s"]
    table = pd.DataFrame({"guest_s": d["guest_s"], "task_s": d["cpu_s"], "other_s": other,
                          "share": other / d["guest_s"], "ratio": other / d["cpu_s"],
                          "demoted": d["pgdemote_kswapd"], "scanned": d["pgscan_kswapd"],
                          "demoted_per_other_s": d["pgdemote_kswapd"] / other})
    if "pageoutrun" in d:
        table["runs"] = d["pageoutrun"]
    table.index = raw["nominal_s"].iloc[1:].round(6).to_numpy()
    table.index.name = "nominal_s"
    return table


#: What a scan takes in the guest (ns of guest time): a present page walked, and a page armed
#: besides.  From ``data/kernel_check/scan_trace.txt`` (:func:`scan_trace`): a scan that walked
#: about 154 000 pages of node 0 and armed 18 took 7.0 ms (45 ns a page), one that walked
#: 65 536 and armed 3 888 took 3.9 ms (so 0.24 us more a page armed); the three scans of the
#: fill's pages (65 536 walked, 39 508 armed; 65 536, 12 557; 22 528, 5 575) took 13.2, 8.2 and
#: 3.1 ms against 12.4, 5.9 and 2.4 ms by these two figures.
SCAN_PTE_NS = 45.0
SCAN_ARM_NS = 240.0


def scan_trace(text: str) -> pd.DataFrame:
    """An ftrace of ``task_numa_work`` (kprobes ``tnw_in``/``tnw_out``) and of
    ``change_prot_numa``'s return (``cpn ... ret=0x...``, PTEs armed) -> one row per call:
    ``start_s``, ``ms`` (its duration), ``armed``, ``chunks`` (calls of change_prot_numa) and
    ``gap_s`` from the previous call's start."""
    rows, current = [], None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        found = re.search(r"\s(\d+\.\d+): (tnw_in|tnw_out|cpn):.*?(?:ret=(0x[0-9a-f]+))?\s*$", line)
        if not found:
            continue
        t, kind, ret = float(found.group(1)), found.group(2), found.group(3)
        if kind == "tnw_in":
            current = {"start_s": t, "armed": 0, "chunks": 0}
        elif kind == "cpn" and current is not None:
            current["armed"] += int(ret, 16) if ret else 0
            current["chunks"] += 1
        elif kind == "tnw_out" and current is not None:
            current["ms"] = 1e3 * (t - current["start_s"])
            rows.append(current)
            current = None
    if not rows:
        raise KernelCheckError("no task_numa_work calls in the trace (kprobes tnw_in/tnw_out)")
    table = pd.DataFrame(rows)[["start_s", "ms", "armed", "chunks"]]
    table["gap_s"] = table["start_s"].diff()
    return table


#: What the workload's own faults take in the guest (ns of guest time, one instruction a ns):
#: a hint fault, a promotion on top of its fault (``do_numa_page`` -> ``migrate_misplaced_page``,
#: in the task's context), and one access of the program's loop.  From the ``work_s`` column
#: (the task's CPU time in its slots' accesses) of the committed ``phase`` run
#: (:data:`FAULT_COSTS_RUN`), by :func:`fault_costs`: 1 898 ns, 10 164 ns and 28.1 ns; an
#: earlier run of 12 s gave 1 923, 10 146 and 25.9.
HINT_FAULT_NS = 1900.0
PROMOTE_NS = 10160.0
ACCESS_OWN_NS = 28.0
FAULT_COSTS_RUN = "data/kernel_check/phase_kernel_raw.csv"


def fault_costs(raw: pd.DataFrame) -> dict:
    """The guest's time for the workload's own accesses, hint faults and promotions, from a run
    with the ``work_s`` column (the task's CPU time in its slots' accesses, cumulative).

    Between two checkpoints after the fill (no page absent at either), the task's work is its
    accesses, its hint faults and its promotions, each done in its own context (``do_numa_page``
    and ``migrate_misplaced_page`` run within the fault): a least-squares fit of the work's
    increase on the increases of ``accesses``, ``numa_hint_faults`` and ``pgpromote_success``
    gives ns an access, a hint fault, and a promotion besides its fault.  The run needs both
    faults that promote and faults that do not (``phase``: after the phase change a scan arms the
    new hot set long before it is touched, and those faults find it over the hot threshold)."""
    if "work_s" not in raw:
        raise KernelCheckError("fault_costs needs a run with the work_s column (the workload program of this "
                               "version); this one has none")
    settled = raw[(raw["absent"] == 0) & (raw["absent"].shift(fill_value=1) == 0)].index
    diff = raw[["work_s", "accesses", "numa_hint_faults", "pgpromote_success"]].astype(float).diff().loc[settled]
    if len(diff) < 3 or diff["pgpromote_success"].max() <= 0 or \
            (diff["numa_hint_faults"] - diff["pgpromote_success"]).max() <= 0:
        raise KernelCheckError("fault_costs needs checkpoints after the fill with promoting and non-promoting "
                               "hint faults (a phase run of 24 s has them)")
    x = diff[["accesses", "numa_hint_faults", "pgpromote_success"]].to_numpy()
    (access, fault, promote), *_ = np.linalg.lstsq(x, diff["work_s"].to_numpy(), rcond=None)
    return {"access_ns": 1e9 * access, "hint_fault_ns": 1e9 * fault, "promote_ns": 1e9 * promote}


def simulator_params(w: Workload, scan_delay_ms: float = 1000.0, first_period_ms: float | None = None) -> dict:
    """What kernel-check gives ``numa-balancing`` besides the guest's settings:

    - 6.1's allocation and kswapd at the guest's pace (:func:`kswapd_params`);
    - scans that cost the run's clock nothing, while a scan's time in the guest
      (:data:`SCAN_PTE_NS` a page walked, :data:`SCAN_ARM_NS` more a page armed) makes the next
      one wait 32 times as long (``task_numa_work``'s overhead limit, the policy's
      ``scan_overhead_limit``);
    - 6.1's ``folio_check_references``: a page kswapd finds referenced on the inactive list is
      kept there once (``PG_referenced``) before it is activated (``referenced_kept_once``;
      without it, the fill's young pages went to the active list and, after the phase change,
      kswapd met 30 000 young pages the fill had left on the inactive list, where the kernel's
      kswapd scanned only pages it demoted, ``pgscan_kswapd`` = ``pgdemote_kswapd`` in that second);
    - 6.1's two gates on each next scan (``scan_tick_gate``): ``task_tick_numa``'s run-time gate at
      ``node_stamp`` plus the period (the scan's time, 2 ticks and 32 times the scan's time on from
      it) and ``mm->numa_next_scan``; a period doubled at a promoting fault counts from
      ``node_stamp``, a window before ``numa_next_scan`` is lost (in the 1000 MB ``phase`` run the
      new hot set's wave moves from 23-24 s to 24-25 s; ``docs/kernel-check.md``);
    - 6.1's first adjustment of the hot threshold at the first hint fault
      (``threshold_adjusts_at_once``: ``numa_promotion_adjust_threshold``'s clock,
      ``jiffies_to_msecs(jiffies)``, starts 300 s before boot and its window's start at 0, so in
      the freshly booted guest the threshold is 1125 ms from the first fault, not 1000 until 60 s:
      the ``zipf`` runs' promotions 7-8 % more, nearer the kernel's; ``docs/kernel-check.md``, the
      ``sort`` bullet);
    - the workload's hint faults and promotions on its clock, paid back by its slack
      (:func:`fault_params`);
    - the scan period from the first scan on: ``first_period_ms`` (the initramfs guest:
      :func:`first_tick_period`, 6.1's ``task_scan_start`` at the task's first tick), or, left
      None, ``scan_delay_ms``, as virtme-ng's guest's trace shows
      (``data/kernel_check/scan_trace.txt``: the first three scans 1.39 and 1.26 s apart, each
      gap the scan delay plus 32 times the scan before within 45 ms), where
      :func:`first_tick_period` gives 500 ms; why that guest keeps the scan delay is not found
      here (it would if the program's resident set were one scan window or less at its first
      tick, i.e. if it had run about 0.43 s of CPU time before its accesses)."""
    period = float(scan_delay_ms) if first_period_ms is None else float(first_period_ms)
    return {**kswapd_params(w), **fault_params(w), "scan_pte_ns": SCAN_PTE_NS, "scan_arm_ns": SCAN_ARM_NS,
            "scan_cost_charged": 0.0, "first_period_ms": period, "referenced_kept_once": 1.0, "scan_tick_gate": 1.0,
            "threshold_adjusts_at_once": 1.0}


def first_tick_rss(w: Workload, scan_delay_ms: float = 1000.0, touch_ns: float | None = None) -> int:
    """The workload program's resident pages at its first ``task_tick_numa`` (6.1,
    ``kernel/sched/fair.c``), the tick at which its run time first passes the scan period
    (``numa_scan_period`` = ``scan_delay_ms`` from ``init_numa_balancing`` at fork;
    ``node_stamp`` 0).  The fill is what it runs then: one first touch after another, each
    ``touch_ns`` of its CPU time (default :data:`FIRST_TOUCH_NS` + :data:`ACCESS_OWN_NS`, from the
    ``work_s`` of a committed run), so it has touched ``scan_delay / touch_ns`` pages of its
    mapping (at most all of them), besides its own pages (:func:`own_pages`).  Its run time
    before the accesses (the program's set-up) is taken as none: in the initramfs guest's run
    with 100 ms checkpoints (``data/kernel_check/initramfs_hot_set_fine_kernel_raw.csv``) the
    mapping held 100 000-120 000 pages when the program's CPU time since its start passed 1 s."""
    cost = (FIRST_TOUCH_NS + ACCESS_OWN_NS) if touch_ns is None else float(touch_ns)
    if not cost > 0:
        raise KernelCheckError(f"first_tick_rss needs a positive time per first touch, got {touch_ns}")
    touched = min(w.total_pages, int(float(scan_delay_ms) * 1e6 // cost))
    return touched + own_pages(w)


def first_tick_period(w: Workload, scan: dict, touch_ns: float | None = None) -> float:
    """The scan period (ms) 6.1 gives the workload program at its first tick:
    ``task_tick_numa`` sets ``numa_scan_period = task_scan_start(p)`` when ``node_stamp`` is 0,
    which without a NUMA group is ``task_scan_min(p)``: ``max(1000 ms x scan_size /
    MAX_SCAN_WINDOW, scan_period_min / task_nr_scan_windows(p))``, the windows being the
    resident set then (:func:`first_tick_rss`) in ``scan_size`` pieces (:func:`scan_start`).
    For 600 MB: about 114 000 pages by 1 s of CPU time, two windows of 256 MB, 500 ms.  The
    initramfs guest shows it (``data/kernel_check/initramfs_hot_set_fine_kernel_raw.csv``, 100 ms
    checkpoints: ``numa_pte_updates`` rose at 2.42-2.52, 3.12-3.23 and 3.93-4.03 s of guest
    time, gaps of 0.60-0.81 and 0.70-0.91 s, where 500 ms plus 32 times the scans' cost gives
    0.83 and 0.71, and the scan delay 1.33 and 1.21)."""
    return scan_start(scan, first_tick_rss(w, scan["scan_delay_ms"], touch_ns))["first_period_ms"]


#: What a first touch takes the workload in the guest besides its access (ns of guest time):
#: ``do_anonymous_page`` allocates, zeroes and maps the page in the task's fault.  From the
#: ``work_s`` column of the committed 1000 MB run (``data/kernel_check/hot_set_1000mb_kernel_raw.csv``)
#: by :func:`first_touch_cost`: 8 737 ns over the 200 000 first touches of its first second
#: (8.8 us with the access's 28 ns), where kswapd was demoting beside it.
FIRST_TOUCH_NS = 8740.0
#: kswapd's share of the one vCPU while it is awake: the workload spins (always runnable) and
#: kswapd is a nice-0 kthread, and CFS (``kernel/sched/fair.c``) gives two runnable tasks of
#: equal weight equal shares.
KSWAPD_CPU_SHARE = 0.5


def first_touch_cost(raw: pd.DataFrame, access_ns: float = ACCESS_OWN_NS) -> float:
    """ns of the task's CPU time a first touch takes besides its access, from a run with the
    ``work_s`` column: the work of the first checkpoint, whose accesses are all first touches
    (the fill), over its accesses, less an access's own time."""
    if "work_s" not in raw:
        raise KernelCheckError("first_touch_cost needs a run with the work_s column (the workload program of this "
                               "version); this one has none")
    first = raw.iloc[0]
    if not first["absent"] > 0:
        raise KernelCheckError("first_touch_cost needs a run whose fill lasts past its first checkpoint")
    return 1e9 * float(first["work_s"]) / float(first["accesses"]) - access_ns


def zone_params(zoneinfo: pd.DataFrame) -> dict:
    """The ``numa-balancing`` parameters of the fast node as two zones, from a guest's
    ``/proc/zoneinfo`` (:func:`parse_zoneinfo`): node 0's lowest populated zone (``DMA``) as
    the low zone (its free pages, its ``protection`` for a user page, its watermarks; promo =
    high + (high - low)) and the zone above it (``DMA32``) as the main zone's watermarks.
    6.1 checks watermarks zone by zone (``pgdat_balanced``, ``get_page_from_freelist``,
    ``migrate_balanced_pgdat``), and node 0's 16 MB DMA zone is what stops kswapd at the end
    of a long fill (notebook 12); ``fast_capacity`` stays both zones' free pages less the
    protection."""
    node0 = zoneinfo[(zoneinfo["node"] == 0) & (zoneinfo["managed"] > 0)].reset_index(drop=True)
    if len(node0) != 2:
        raise KernelCheckError(f"zone_params expects node 0 to have two populated zones (DMA, DMA32), got "
                               f"{node0['zone'].tolist()}")
    low, main = node0.iloc[0], node0.iloc[1]
    return {"low_zone_pages": float(low["free"]), "low_zone_protection_pages": float(low["protection"]),
            "low_zone_wmark_min_pages": float(low["min"]), "low_zone_wmark_low_pages": float(low["low"]),
            "low_zone_wmark_high_pages": float(low["high"]),
            "low_zone_wmark_promo_pages": float(low["high"] + (low["high"] - low["low"])),
            "wmark_min_pages": int(main["min"]), "wmark_low_pages": int(main["low"]),
            "wmark_high_pages": int(main["high"]), "wmark_promo_pages": int(main["high"] + (main["high"] - main["low"]))}


def one_cpu_params(zoneinfo: pd.DataFrame) -> dict:
    """The rules found behind the 1000 MB run's small first wave (notebook 12), for
    ``simulator["params"]``: the fast node as two zones (:func:`zone_params`), kswapd sharing
    the one vCPU with the task (``kswapd_cpu_share`` :data:`KSWAPD_CPU_SHARE`, at the per-CPU
    paces it already has) and the first touches' time (``first_touch_ns``
    :data:`FIRST_TOUCH_NS`).  kernel-check gives them in the initramfs guest (its default), not in
    virtme-ng's, where they move memtier's fill away from the kernel's (``docs/kernel-check.md``)."""
    return {**zone_params(zoneinfo), "kswapd_cpu_share": KSWAPD_CPU_SHARE, "first_touch_ns": FIRST_TOUCH_NS}


def vmscan_trace(text: str, start_s: float = 0.0, bin_s: float = 0.1) -> pd.DataFrame:
    """An ftrace of ``vmscan`` events (``mm_vmscan_kswapd_wake``, ``mm_vmscan_kswapd_sleep``,
    ``mm_vmscan_wakeup_kswapd``, ``mm_vmscan_lru_shrink_inactive``) -> one row per ``bin_s``
    seconds from ``start_s``: kswapd's wakes and sleeps, and of the inactive pages it scanned
    how many it reclaimed (demoted), kept (``nr_ref_keep``: young, ``FOLIOREF_KEEP``) and
    activated, and the lowest scan priority."""
    rows = {}
    pattern = re.compile(r"\s(\d+\.\d+): (mm_vmscan_\w+): (.*)$")
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        found = pattern.search(line)
        if not found:
            continue
        t = float(found.group(1)) - start_s
        if t < 0:
            continue
        event, fields = found.group(2), dict(re.findall(r"(\w+)=(\S+)", found.group(3)))
        row = rows.setdefault(int(t // bin_s), dict.fromkeys(
            ("wakes", "sleeps", "woken_by_others", "scanned", "reclaimed", "kept", "activated"), 0))
        if event == "mm_vmscan_kswapd_wake":
            row["wakes"] += 1
        elif event == "mm_vmscan_kswapd_sleep":
            row["sleeps"] += 1
        elif event == "mm_vmscan_wakeup_kswapd":
            row["woken_by_others"] += 1
        elif event == "mm_vmscan_lru_shrink_inactive":
            row["scanned"] += int(fields["nr_scanned"])
            row["reclaimed"] += int(fields["nr_reclaimed"])
            row["kept"] += int(fields["nr_ref_keep"])
            row["activated"] += int(fields["nr_activate_anon"]) + int(fields["nr_activate_file"])
            row["priority"] = min(row.get("priority", 12), int(fields["priority"]))
    if not rows:
        raise KernelCheckError("no vmscan events in the trace (mm_vmscan_kswapd_wake, mm_vmscan_lru_shrink_inactive)")
    table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    table.index = (table.index * bin_s).round(6)
    table.index.name = "time_s"
    return table


def fault_params(w: Workload) -> dict:
    """The ``numa-balancing`` parameters that put the workload's hint faults and promotions on
    its clock, as 6.1 does: ``do_numa_page`` (``mm/memory.c``) runs in the faulting task, and
    calls ``migrate_misplaced_page`` (``mm/migrate.c``: ``numamigrate_isolate_page``, then
    ``migrate_pages`` with ``MIGRATE_ASYNC``, which unmaps, copies and remaps the page) before
    it returns, so the task's next access waits for both, and its run time, which times the
    scanner (``task_tick_numa``, ``kernel/sched/fair.c``), runs on.  Their guest time,
    :data:`HINT_FAULT_NS` and :data:`PROMOTE_NS`, is charged (``hint_fault_ns``,
    ``promote_ns``), and the program's slack pays it back: it spins to a fixed schedule, so a
    fault delays the accesses after it only until the slots' spare time, the nominal time of an
    access less its own (:data:`ACCESS_OWN_NS`), has made it up (``access_slack_ns``; the guest's
    ``max_lag_ms``).  All three 0: the moves cost the clock nothing (the earlier rule)."""
    return {"hint_fault_ns": HINT_FAULT_NS, "promote_ns": PROMOTE_NS,
            "access_slack_ns": max(0.0, w.access_ns - ACCESS_OWN_NS)}


def kswapd_params(w: Workload) -> dict:
    """The ``numa-balancing`` parameters of 6.1's allocation and kswapd in this guest, on the
    workload's nominal clock: the fast path's fallback to node 1 at the low watermark, kswapd
    woken by page-table allocations, its pace (:data:`KSWAPD_DEMOTED_PER_ALLOCATION`,
    :data:`KSWAPD_KEPT_PER_ALLOCATION`) times the workload's rate, its passes of falling priority
    (``balance_pgdat``, ``kswapd_priority``), and the CPU time it takes
    from the task on the one vCPU (:data:`KSWAPD_CPU_DEMOTED_PER_S`,
    :data:`KSWAPD_CPU_KEPT_PER_S`), which holds the scanner back."""
    return {"fast_path_fallback": 1.0, "pgtable_wakes_kswapd": 1.0, "kswapd_priority": 1.0,
            "kswapd_pages_per_s": KSWAPD_DEMOTED_PER_ALLOCATION * w.rate,
            "kswapd_scan_pages_per_s": KSWAPD_KEPT_PER_ALLOCATION * w.rate,
            "kswapd_shares_cpu": 1.0, "kswapd_cpu_pages_per_s": KSWAPD_CPU_DEMOTED_PER_S,
            "kswapd_cpu_scan_pages_per_s": KSWAPD_CPU_KEPT_PER_S}


def reclaim_counts(result) -> dict:
    """What a ``numa-balancing`` run with ``pgtable_pages`` and ``direct_reclaim`` did outside
    kswapd (a :func:`memtier.simulate` result): page tables on the fast node, the task's
    ``do_try_to_free_pages`` calls, and the pages they scanned and demoted (the kernel's
    ``allocstall_*``, ``pgscan_direct``, ``pgdemote_direct``)."""
    from ..simulation.policies import numa_balancing as nb

    state = getattr(result, "_storage", {}).get("pstate")
    if result.policy != "numa-balancing" or state is None:
        raise KernelCheckError(f"reclaim_counts reads a numa-balancing run, got a {result.policy!r} one")
    return {"page_tables": int(state[nb.PS_KERNEL_USED]), "direct_reclaim_calls": int(state[nb.PS_DR_CALLS]),
            "direct_scanned": int(state[nb.PS_DR_SCANNED]), "direct_demoted": int(state[nb.PS_DR_DEMOTED])}


def guest_settings(settings: dict, zoneinfo: pd.DataFrame, w: Workload, at_start: bool = False,
                   boot: str = "virtme", vcpus: int = 1, direct_reclaim: bool = False) -> dict:
    """The ``numa-balancing`` parameters and capacities of the guest.

    - scan delay, period min/max, scan size, hot threshold: debugfs (6.1 defaults 1000, 1000,
      60000 ms, 256 MB, 1000 ms if debugfs could not be read);
    - promotion rate limit: ``kernel.numa_balancing_promote_rate_limit_MBps``;
    - fast capacity: node 0's free pages before the workload (buddy and per-CPU lists), less each zone's
      ``lowmem_reserve`` for user memory, less the workload's own pages outside its mapping
      (its page tables, one page per 512 mapped; its pagemap buffer, 8 bytes a page; its hot
      mask, one byte a page; zipf's tables, 12 bytes a page), all allocated on node 0;
      ``at_start``: ``zoneinfo`` was read by the program just before its accesses (its zipf
      tables are already taken);
    - watermarks: node 0's zones' ``min``/``low``/``high`` summed; ``promo`` = ``high`` +
      (``high`` - ``low``) (``__setup_per_zone_wmarks``: each step is the same ``tmp``; 6.1's
      zoneinfo does not print it);
    - slow capacity: node 1's free pages;
    - allocation and kswapd: 6.1's rules and kswapd's pace measured in this guest
      (:func:`kswapd_params`);
    - ``boot`` ``"initramfs"``: the scan period after the first scan is 6.1's ``task_scan_start``
      at the program's first tick (:func:`first_tick_period`), and the fast node is two zones with
      kswapd on the task's one CPU and the first touches timed (:func:`one_cpu_params`, from
      ``zoneinfo``; with ``vcpus`` 1 only: ``--no-icount``'s two vCPUs give kswapd a CPU of its
      own); with both memtier meets the issue's targets there (``docs/kernel-check.md``).  ``"virtme"``:
      the scan delay, as that guest's trace shows (:func:`simulator_params`), and neither rule
      (with them memtier moves away from that guest's fill, ``docs/kernel-check.md``);
    - ``direct_reclaim``: page tables taken when allocated and 6.1's direct reclaim
      (:func:`direct_reclaim_settings`; off by default).
    """
    debugfs, sysctl = settings["debugfs"], settings["sysctl"]

    def number(table, name, default):
        try:
            return float(table[name])
        except (KeyError, ValueError):
            return default

    node0 = zoneinfo[(zoneinfo["node"] == 0) & (zoneinfo["managed"] > 0)]
    node1 = zoneinfo[(zoneinfo["node"] == 1) & (zoneinfo["managed"] > 0)]
    if node0.empty or node1.empty:
        raise KernelCheckError("the guest's /proc/zoneinfo has no memory on node 0 or node 1")
    n = w.total_pages
    own = own_pages(w, at_start)
    fast_free = int((node0["free"] + node0["pcp"] - node0["protection"]).clip(lower=0).sum())
    wmin, low, high = (int(node0[c].sum()) for c in ("min", "low", "high"))
    scan = {"scan_delay_ms": number(debugfs, "scan_delay_ms", 1000.0),
            "scan_period_min_ms": number(debugfs, "scan_period_min_ms", 1000.0),
            "scan_size_mb": number(debugfs, "scan_size_mb", 256.0)}
    result = {
        "fast_capacity": fast_free - own,
        "slow_capacity": int((node1["free"] + node1["pcp"]).sum()),
        "params": {
            "scan_delay_ms": number(debugfs, "scan_delay_ms", 1000.0),
            "scan_period_min_ms": number(debugfs, "scan_period_min_ms", 1000.0),
            "scan_period_max_ms": number(debugfs, "scan_period_max_ms", 60000.0),
            "scan_size_mb": number(debugfs, "scan_size_mb", 256.0),
            "hot_threshold_ms": number(debugfs, "hot_threshold_ms", 1000.0),
            "promote_rate_limit_mbps": number(sysctl, "numa_balancing_promote_rate_limit_MBps", 65536.0),
            "wmark_min_pages": wmin, "wmark_low_pages": low, "wmark_high_pages": high,
            "wmark_promo_pages": high + (high - low),
            **scan_start(scan, n + own),
            **simulator_params(w, scan["scan_delay_ms"],
                               first_tick_period(w, scan) if boot == "initramfs" else None),
            **(one_cpu_params(zoneinfo) if boot == "initramfs" and vcpus == 1 else {}),
        },
        "debugfs_read": bool(debugfs),
    }
    return direct_reclaim_settings(result, w) if direct_reclaim else result


def scan_start(params: dict, resident_pages: int, page_bytes: int = PAGE) -> dict:
    """When 6.1 first scans a program just started by ``exec()``, and its first period.

    ``kernel/sched/fair.c`` (6.1): ``init_numa_balancing`` (at fork) sets ``numa_scan_period``
    to the scan delay and ``node_stamp`` to 0; exec gives the task a new, zeroed mm
    (``numa_next_scan = 0``).  ``task_tick_numa`` queues ``task_numa_work`` once the task has
    run a period of CPU time; on that first tick (``node_stamp == 0``) the period becomes
    ``task_scan_start(p)``, which for a task without a NUMA group is ``task_scan_min(p)``:
    ``max(1000 / (MAX_SCAN_WINDOW / scan_size), scan_period_min / task_nr_scan_windows(p))``
    ms, ``task_nr_scan_windows`` being the resident set rounded up to ``scan_size`` pieces.
    That first ``task_numa_work`` finds ``numa_next_scan == 0``, sets it to now + scan delay
    and returns, so the first scan is at twice the scan delay.  The workload program's
    resident set is its mapping by then (the fill takes under a second of its time).
    """
    scan_pages = max(1, int(params["scan_size_mb"] * (1 << 20)) // page_bytes)
    windows = max(1, -(-int(resident_pages) // scan_pages))
    floor = 1000.0 / max(1, int(2560 // params["scan_size_mb"])) if params["scan_size_mb"] < 2560 else 1000.0
    return {"first_scan_ms": 2 * params["scan_delay_ms"],
            "first_period_ms": float(max(int(floor), int(params["scan_period_min_ms"]) // windows))}  # unsigned ints


def read_kernel_timeline(path, w: Workload) -> pd.DataFrame:
    """The workload program's CSV -> the timeline's kernel rows (and its raw columns)."""
    table = pd.read_csv(path, comment="#")
    if table.empty:
        raise KernelCheckError(f"{path} has no checkpoints: the workload stopped before its first one")
    return table


def kernel_rows(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "time_s": raw["nominal_s"].astype(float), "source": "kernel",
        "fast_hot_pages": raw["fast_hot"].astype(np.int64), "fast_cold_pages": raw["fast_cold"].astype(np.int64),
        "promoted": raw["pgpromote_success"].astype(np.int64),
        "demoted": (raw["pgdemote_kswapd"] + raw["pgdemote_direct"]).astype(np.int64),
    })


# --- the simulation --------------------------------------------------------------------------


def free_moves():
    """A cost model whose page moves take (nearly) no time: the guest pays its moves out of the
    slack of its slots, so on the nominal clock they take none.  Every per-call and per-page
    cost is 0 and every bandwidth at its largest allowed value (a 4 KiB page: 0.04 us)."""
    from ..model.cost import ModelParams

    values = {}
    for field in dataclasses.fields(ModelParams):
        bounds = field.metadata.get("bounds")
        unit = field.metadata.get("unit")
        if bounds is None:
            continue
        if unit in ("us", "ns"):
            values[field.name] = 0.0
        elif unit == "GB/s":
            values[field.name] = bounds[1]
    return ModelParams(**values)


def simulate_timeline(w: Workload, guest: dict, stream=None, progress=None, up_to: int | None = None) -> pd.DataFrame:
    """memtier's rows of the timeline: ``numa-balancing`` with the guest's settings, one run
    of the stream up to the last checkpoint, with a snapshot at each (``simulate``'s
    ``snapshots``: at each, what a run of the stream cut there gives)."""
    from ..simulation.simulator import simulate

    stream = access_stream(w) if stream is None else stream
    params = dict(guest["params"])
    if params.get("scan_cost_charged", 1.0) != 0:  # settings of an earlier run: scans cost nothing
        params["scan_pte_ns"] = 0.0
    per_checkpoint = w.slots_per_checkpoint * w.per_slot
    last = w.checkpoints if up_to is None else min(int(up_to), w.checkpoints)
    if last < 1:
        return pd.DataFrame(columns=["time_s", "source", "fast_hot_pages", "fast_cold_pages", "promoted", "demoted"])
    if progress:
        progress(f"simulating {last} checkpoints in one run")
    result = simulate(stream[:last * per_checkpoint], "numa-balancing", guest["fast_capacity"],
                      slow_capacity=guest["slow_capacity"], n_pages=w.total_pages, period_s=w.checkpoint_ms / 1e3,
                      fit=free_moves(), fast_access_ns=w.access_ns, slow_access_ns=w.access_ns, rmap_ns=0.0,
                      snapshots=[c * per_checkpoint for c in range(1, last + 1)], progress=bool(progress), **params)
    rows = []
    for c, snap in enumerate(result.snapshots, start=1):
        on_fast = snap.final_node == 0
        hot = hot_mask(w, c)
        rows.append({"time_s": c * w.checkpoint_ms / 1e3, "source": "memtier",
                     "fast_hot_pages": int((on_fast & hot).sum()), "fast_cold_pages": int((on_fast & ~hot).sum()),
                     "promoted": int(snap.periods["promoted"].sum()),
                     "demoted": int(snap.periods["demoted"].sum())})
    return pd.DataFrame(rows)


def compare(timeline: pd.DataFrame, hot_pages: int) -> pd.DataFrame:
    """Per checkpoint: the share of hot pages on the fast node, kernel and memtier, their
    difference in percentage points, and cumulative promotions and demotions side by side."""
    kernel = timeline[timeline["source"] == "kernel"].set_index("time_s")
    sim = timeline[timeline["source"] == "memtier"].set_index("time_s")
    both = kernel.index.intersection(sim.index)
    table = pd.DataFrame(index=both)
    table["kernel_hot_share"] = kernel.loc[both, "fast_hot_pages"] / hot_pages
    table["memtier_hot_share"] = sim.loc[both, "fast_hot_pages"] / hot_pages
    table["gap_points"] = 100 * (table["memtier_hot_share"] - table["kernel_hot_share"])
    for column in ("promoted", "demoted", "fast_cold_pages"):
        table[f"kernel_{column}"] = kernel.loc[both, column]
        table[f"memtier_{column}"] = sim.loc[both, column]
    return table


def verdict(table: pd.DataFrame) -> dict:
    """The issue's checks: the largest gap in hot share (points; target 10) and the relative
    gap of cumulative promotions and demotions at the end (target 25 %)."""
    last = table.iloc[-1]

    def relative(name):
        kernel, sim = last[f"kernel_{name}"], last[f"memtier_{name}"]
        return float(abs(sim - kernel) / kernel) if kernel else (0.0 if sim == 0 else math.inf)

    return {"max_gap_points": float(table["gap_points"].abs().max()),
            "promoted_gap": relative("promoted"), "demoted_gap": relative("demoted"),
            "kernel_promoted": int(last["kernel_promoted"]), "memtier_promoted": int(last["memtier_promoted"]),
            "kernel_demoted": int(last["kernel_demoted"]), "memtier_demoted": int(last["memtier_demoted"])}


def kernel_spread(runs: pd.DataFrame, timeline: pd.DataFrame, hot_pages: int) -> pd.DataFrame:
    """The kernel against itself, and memtier against that spread.

    ``runs``: the kernel's rows of several runs of one workload (``kernel_runs.csv``: a ``run``
    column beside the timeline's), which differ only in when the accesses start
    (:func:`kernel_check`'s ``kernel_runs``).  Per checkpoint: the lowest and highest share of
    hot pages on the fast node over the runs, their distance (``spread_points``), memtier's
    share and how far it lies outside that range (``outside_points``, 0 inside), and the same
    range of cumulative promotions and demotions beside memtier's.  A gap to one run smaller
    than the runs' own spread says the check cannot tell memtier from the kernel there; only
    ``outside_points`` is a difference the kernel's timing alone does not explain."""
    sim = timeline[timeline["source"] == "memtier"].set_index("time_s")
    grouped = runs.groupby("time_s")
    times = sim.index.intersection(grouped.size().index)
    share = grouped["fast_hot_pages"]
    table = pd.DataFrame(index=times)
    table["kernel_runs"] = grouped.size().loc[times]
    table["kernel_low_share"] = share.min().loc[times] / hot_pages
    table["kernel_high_share"] = share.max().loc[times] / hot_pages
    table["spread_points"] = 100 * (table["kernel_high_share"] - table["kernel_low_share"])
    table["memtier_hot_share"] = sim.loc[times, "fast_hot_pages"] / hot_pages
    below = table["kernel_low_share"] - table["memtier_hot_share"]
    above = table["memtier_hot_share"] - table["kernel_high_share"]
    table["outside_points"] = 100 * np.maximum(np.maximum(below, above), 0.0)
    for column in ("promoted", "demoted"):
        table[f"kernel_low_{column}"] = grouped[column].min().loc[times]
        table[f"kernel_high_{column}"] = grouped[column].max().loc[times]
        table[f"memtier_{column}"] = sim.loc[times, column]
    return table


def spread_verdict(table: pd.DataFrame) -> dict:
    """:func:`kernel_spread` in a few numbers: the kernel runs' largest spread in hot share
    (points, and when), memtier's largest distance outside their range, and whether memtier's
    cumulative promotions and demotions at the end lie within the runs' range."""
    last = table.iloc[-1]
    widest = table["spread_points"].idxmax()
    verdict_ = {"kernel_runs": int(table["kernel_runs"].min()),
                "kernel_spread_points": float(table["spread_points"].max()), "kernel_spread_at_s": float(widest),
                "memtier_outside_points": float(table["outside_points"].max())}
    for column in ("promoted", "demoted"):
        low, high, sim = (int(last[f"kernel_low_{column}"]), int(last[f"kernel_high_{column}"]),
                          int(last[f"memtier_{column}"]))
        verdict_[f"kernel_{column}_range"] = [low, high]
        verdict_[f"memtier_{column}_inside"] = bool(low <= sim <= high)
    return verdict_


def plot_timeline(timeline: pd.DataFrame, hot_pages: int, axes=None, title=None, runs: pd.DataFrame | None = None):
    """Both timelines: the share of hot pages on the fast node, and cumulative promotions and
    demotions (kernel solid, memtier dashed).  ``runs`` (``kernel_runs.csv``): the range of the
    kernel's runs shaded behind the hot share."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    several = runs is not None and runs["run"].nunique() > 1
    if several:
        by_time = runs.groupby("time_s")
        share = by_time["fast_hot_pages"]
        low, high = 100 * share.min() / hot_pages, 100 * share.max() / hot_pages
        label = f"kernel, {runs['run'].nunique()} runs (started 0-{runs['start_offset_ms'].max():g} ms late)"
        axes[0].fill_between(low.index, low.values, high.values, color="0.6", alpha=0.35, label=label)
        for column, color in (("promoted", "C0"), ("demoted", "C3")):
            axes[1].fill_between(by_time[column].min().index, by_time[column].min().values,
                                 by_time[column].max().values, color=color, alpha=0.15)
    style = {"kernel": "-", "memtier": "--"}
    for source, rows in timeline.groupby("source"):
        axes[0].plot(rows["time_s"], 100 * rows["fast_hot_pages"] / hot_pages, style.get(source, ":"), marker=".",
                     label="kernel, run 0" if several and source == "kernel" else source)
        axes[1].plot(rows["time_s"], rows["promoted"], style.get(source, ":"), color="C0", label=f"promoted, {source}")
        axes[1].plot(rows["time_s"], rows["demoted"], style.get(source, ":"), color="C3", label=f"demoted, {source}")
    axes[0].set(xlabel="guest time (s)", ylabel="hot pages on the fast node (%)", ylim=(-2, 102))
    axes[1].set(xlabel="guest time (s)", ylabel="pages (cumulative)")
    for ax in axes:
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    if title:
        axes[0].figure.suptitle(title)
    return axes


# --- the whole comparison --------------------------------------------------------------------


def build_workload(folder, vmscan_counters: bool = False, start_offset_us: int | None = None,
                   trace: bool = False) -> Path:
    """Compile :data:`SOURCE` statically (the guest runs it from the host's files).
    ``vmscan_counters``: with ``-DVMSCAN_COUNTERS``, so that its rows also carry kswapd's reclaim
    counters and node 0's zones and lists; another binary, so another run under ``-icount``
    (``docs/kernel-check.md``: the kernel's tiering of a large fill moves with it).
    ``start_offset_us``: with ``-DSTART_OFFSET_US``, the accesses start that many microseconds
    after the whole minute (:func:`kernel_check`'s ``kernel_runs``); ``None``: the default
    binary, the same byte for byte as without that code.  ``trace``: with ``-DTRACE_WORKLOAD``, the
    build that replays a trace (kind ``"trace"``, :func:`trace_file_bytes`); another binary, which
    runs that kind only, so the default one stays the committed runs'."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise KernelCheckError("kernel-check needs a C compiler to build its workload (apt-get install gcc libc6-dev)")
    binary = Path(folder) / "kernel_workload"
    flags = ["-DVMSCAN_COUNTERS"] if vmscan_counters else []
    if start_offset_us is not None:
        flags.append(f"-DSTART_OFFSET_US={int(start_offset_us)}")
    if trace:
        flags.append("-DTRACE_WORKLOAD")
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
                   watermark_boost_factor: int | None = None, trace_bytes: bytes | None = None):
    """The workload in a guest booted from an initramfs (:mod:`memtier.kernel.bare`); a trace's
    file goes in it, and the program removes it once read (``KERNEL_WORKLOAD_REMOVE_TRACE``: the
    RAM file system's pages are on node 0's lists, where kswapd would demote them first)."""
    trace_file = "/trace.bin" if trace_bytes is not None else None
    script = tier_setup(watermark_boost_factor) + (
        # the set-up's tools, libraries and modules are RAM file-system pages on node 0's LRU
        # lists (about 9 MB), which kswapd would demote first: removed once they have run
        'rm -rf /usr/bin/ndctl /usr/bin/daxctl /lib /lib64 /usr/lib\n'
        'sync; echo 3 > /proc/sys/vm/drop_caches\n'
        f'{env} /workload ' + " ".join(f'"{a}"' for a in w.arguments("/out/kernel_raw.csv", trace_file))
        + ' 2> /out/workload.err\nstatus=$?\ncat /proc/vmstat > /out/vmstat.txt\nexit $status\n')
    shape = machine(icount)
    shape = dataclasses.replace(shape, append=(*shape.append, "nokaslr"), qemu_opts=f"{shape.qemu_opts} -seed 1 -rtc base=2026-01-01T00:00:00,clock=vm")
    extra = {"/workload": binary.read_bytes()}
    if trace_file is not None:
        extra[trace_file] = trace_bytes
    return bare.run(script, folder, extra=extra, machine=shape, timeout=timeout, kernel=kernel)


def run_guest(w: Workload, folder, *, icount: bool = True, timeout: float = 600, kernel=None,
              node0_free: int | None = None, boot: str = "initramfs", vmscan_counters: bool = False,
              watermark_boost_factor: int | None = None, start_offset_us: int | None = None) -> dict:
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
    its accesses that many microseconds after the whole minute (:func:`build_workload`)."""
    folder = Path(folder)
    setup = tier_setup(watermark_boost_factor)
    binary = build_workload(folder, vmscan_counters, start_offset_us, trace=w.kind == "trace")
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
    if boot == "initramfs":
        env = env.replace(f'"{folder}/ram/zoneinfo.txt"', "/out/zoneinfo_start.txt")
        run = _initramfs_run(w, folder, binary, env, icount, timeout, kernel, watermark_boost_factor, trace_bytes)
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


def trace_digest(w: Workload) -> str:
    """sha256 of a trace workload's pages as int32 (its provenance in the outputs)."""
    return hashlib.sha256(np.ascontiguousarray(w.trace_pages, dtype="<i4").tobytes()).hexdigest()


def _is_the_copy(w: Workload, out: Path) -> bool:
    """The trace given is ``out/trace.npy`` itself (a run again into the same folder): not rewritten."""
    return (out / "trace.npy").exists() and Path(w.trace).resolve() == (out / "trace.npy").resolve()


def _workload_record(w: Workload) -> dict:
    """The workload as ``guest.json`` keeps it: a trace by its copy in the output folder."""
    record = dataclasses.asdict(w)
    if w.kind == "trace":
        record["trace"] = "trace.npy"
        record["trace_sha256"] = trace_digest(w)
    return record


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
                 run_offset_ms: float = 1.0) -> dict:
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

    Returns ``{"timeline", "comparison", "verdict", "guest"}`` (and the spread's two)."""
    kernel_runs, run_offset_ms = check_kernel_runs(kernel_runs, run_offset_ms)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = ("timeline.csv", "timeline.png", "kernel_raw.csv", "guest.json") + (
        ("kernel_runs.csv", "kernel_runs_raw.csv") if kernel_runs > 1 else ()) + (
        ("trace.npy",) if w.kind == "trace" and not _is_the_copy(w, out) else ())
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
                           boot=boot, vmscan_counters=vmscan_counters, watermark_boost_factor=watermark_boost_factor)
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
        sim = simulate_timeline(w, settings, stream, progress=say)
        timeline = pd.concat([kernel_rows(result["raw"]), sim], ignore_index=True)
        runs = pd.concat(runs, ignore_index=True)
        header = _header(w, result, icount, node0_free, boot, vmscan_counters, watermark_boost_factor)
        with atomic_write(out / "kernel_raw.csv", force=force, what="--out") as handle:
            handle.write(header + (Path(scratch) / "kernel_raw.csv").read_text())
        info = {"settings": result["settings"], "simulator": settings, "workload": _workload_record(w),
                "icount": icount, "boot": boot, "node0_free": node0_free, "guest_seconds": result["seconds"],
                "watermark_boost_factor": watermark_boost_factor,
                "zoneinfo": (Path(scratch) / "zoneinfo.txt").read_text(),
                "vmstat_after": (Path(scratch) / "vmstat.txt").read_text() if (Path(scratch) / "vmstat.txt").exists()
                else None}
    table = compare(timeline, w.hot_pages)
    judged = verdict(table)
    extra = {}
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
        json.dump(dict(info, verdict=judged, **({"spread_verdict": extra["spread_verdict"]} if extra else {})),
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
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    name = f"trace {Path(w.trace).name}" if w.kind == "trace" else w.kind
    axes = plot_timeline(timeline, w.hot_pages, title=f"{name}: {w.total_mb} MB, {w.hot_mb} MB hot",
                         runs=runs if kernel_runs > 1 else None)
    save_figure(axes[0].figure, out / "timeline.png", force=force, dpi=110, bbox_inches="tight")
    plt.close(axes[0].figure)
    return {"timeline": timeline, "comparison": table, "verdict": judged, "guest": settings, **extra}


def run_files(run) -> dict:
    """The files of a saved kernel-check run: ``run`` is its ``--out`` folder (``guest.json``,
    ``timeline.csv``...) or a ``*guest.json`` whose siblings share its prefix (the committed
    runs: ``data/kernel_check/NAME_guest.json``, ``NAME_timeline.csv``...).  ``{"guest",
    "timeline", "kernel_runs"}`` (``kernel_runs`` None when the run had one kernel run)."""
    run = Path(run)
    if not run.exists():
        raise KernelCheckError(f"{run} does not exist; give a kernel-check --out folder or its guest.json")
    if run.is_dir():
        prefix = f"{run}{os.sep}"
        guest_json = run / "guest.json"
    elif run.name.endswith("guest.json"):
        guest_json = run
        prefix = str(run)[:-len("guest.json")]
    else:
        raise KernelCheckError(f"{run}: give a kernel-check --out folder or its guest.json (a committed run: "
                               "data/kernel_check/NAME_guest.json)")
    timeline = Path(f"{prefix}timeline.csv")
    for needed in (guest_json, timeline):
        if not needed.is_file():
            raise KernelCheckError(f"{run}: {needed} does not exist; a kernel-check run writes guest.json and "
                                   "timeline.csv in its --out folder")
    kernel_runs = Path(f"{prefix}kernel_runs.csv")
    return {"guest": guest_json, "timeline": timeline, "kernel_runs": kernel_runs if kernel_runs.is_file() else None}


def resimulate(run, out=None, *, params=None, force: bool = False, progress=None, stream=None) -> dict:
    """memtier's side of a saved kernel-check run simulated again, without the guest: with the
    settings the run saved (so that the same code gives the same rows), each of ``params``
    (``numa-balancing``'s parameters, e.g. ``{"scan_tick_gate": 1}``) replacing the saved
    value.  The research loop of ``docs/kernel-check.md``: does a rule close a gap, on runs
    that took minutes of guest time each, in seconds.

    ``run``: the run's ``--out`` folder or its ``guest.json`` (:func:`run_files`).  ``out``: a
    folder (made if missing, as kernel-check's) for ``timeline.csv`` (the run's kernel rows and
    the new memtier rows), ``timeline.png``,
    ``guest.json`` (the settings used, with ``resimulated``: where from and what changed, so
    that :func:`load_run` of it gives the new rows again), and ``kernel_runs.csv`` and
    ``trace.npy`` copied when the run has them; None writes nothing.  The run's own files are
    never written over, even with ``force``.

    Returns ``{"timeline", "comparison", "verdict", "guest", "change"}`` (and ``"spread"``,
    ``"spread_verdict"`` for a run of several kernel runs): ``change`` is what the new settings
    moved in memtier's rows against the run's saved ones (largest change in hot share, points,
    and the cumulative promotions and demotions at the end, saved and new).  ``stream``: the
    run's accesses (:func:`access_stream` of its workload) when the caller has them already, as
    :func:`resimulate_grid` does for every combination; made here otherwise."""
    files = run_files(run)
    changed = _checked_params(params)
    info = load_run(files["guest"])
    w = info["workload"]
    saved = load_timeline(files["timeline"])
    kernel = saved[saved["source"] == "kernel"].reset_index(drop=True)
    before = saved[saved["source"] == "memtier"].reset_index(drop=True)
    runs = load_kernel_runs(files["kernel_runs"]) if files["kernel_runs"] is not None else None
    names = ()
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise KernelCheckError(f"--out {out}: not a folder; give a folder for the run's files")
        out.mkdir(parents=True, exist_ok=True)  # a run folder of its own, as kernel-check's --out
        inputs = [files["guest"], files["timeline"], files["kernel_runs"], w.trace]
        names = ("timeline.csv", "timeline.png", "guest.json") + (("kernel_runs.csv",) if runs is not None else ()) + (
            ("trace.npy",) if w.kind == "trace" else ())
        for name in names:
            check_output(out / name, force=force, inputs=inputs, what="--out")
    settings = dict(info["simulator"], params={**info["simulator"]["params"], **changed})
    say = progress or (lambda message: None)
    sim = simulate_timeline(w, settings, stream, progress=say)
    timeline = pd.concat([kernel, sim], ignore_index=True)
    table = compare(timeline, w.hot_pages)
    judged = verdict(table)
    both = min(len(before), len(sim))
    change = {"max_change_points": float(100 * np.abs(sim["fast_hot_pages"].to_numpy()[:both]
                                                      - before["fast_hot_pages"].to_numpy()[:both]).max()
                                         / w.hot_pages) if both else 0.0,
              "saved_promoted": int(before["promoted"].iloc[-1]) if len(before) else 0,
              "promoted": int(sim["promoted"].iloc[-1]) if len(sim) else 0,
              "saved_demoted": int(before["demoted"].iloc[-1]) if len(before) else 0,
              "demoted": int(sim["demoted"].iloc[-1]) if len(sim) else 0}
    result = {"timeline": timeline, "comparison": table, "verdict": judged, "guest": settings, "change": change}
    if runs is not None:
        result["spread"] = kernel_spread(runs, timeline, w.hot_pages)
        result["spread_verdict"] = spread_verdict(result["spread"])
    if out is None:
        return result
    record = json.loads(files["guest"].read_text())
    record.update(simulator=settings, workload=_workload_record(w), verdict=judged,
                  resimulated={"from": str(files["guest"]), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                               "params": changed})
    if "spread_verdict" in result:
        record["spread_verdict"] = result["spread_verdict"]
    header = "".join(line for line in files["timeline"].read_text().splitlines(keepends=True) if line.startswith("#"))
    header += (f"# memtier's side simulated again from {files['guest']} "
               f"({time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}), the kernel's rows as saved; "
               f"parameters changed: {json.dumps(changed) if changed else 'none'}\n")
    if w.kind == "trace":
        with atomic_write(out / "trace.npy", force=force, what="--out", binary=True) as handle:
            np.save(handle, w.trace_pages)
    if runs is not None:
        with atomic_write(out / "kernel_runs.csv", force=force, what="--out") as handle:
            handle.write(files["kernel_runs"].read_text())
    with atomic_write(out / "guest.json", force=force, what="--out") as handle:
        json.dump(record, handle, indent=1)
    with atomic_write(out / "timeline.csv", force=force, what="--out") as handle:
        handle.write(header)
        timeline.to_csv(handle, index=False)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    name = f"trace {Path(w.trace).name}" if w.kind == "trace" else w.kind
    what = ", ".join(f"{key}={value:g}" for key, value in changed.items()) or "as saved"
    axes = plot_timeline(timeline, w.hot_pages, title=f"{name}: {w.total_mb} MB, {w.hot_mb} MB hot; memtier {what}",
                         runs=runs)
    save_figure(axes[0].figure, out / "timeline.png", force=force, dpi=110, bbox_inches="tight")
    plt.close(axes[0].figure)
    return result


def _checked_params(params) -> dict:
    """``params`` for ``numa-balancing``, names and values checked (one line for a bad one)."""
    from ..simulation import policies

    params = dict(params or {})
    known = policies.parameters("numa-balancing")
    for name in params:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            raise KernelCheckError(f"--param {name}: not a parameter of memtier's numa-balancing"
                                   + (f" (did you mean {close[0]}?)" if close else "")
                                   + "; memtier.simulation.policies.parameters('numa-balancing') lists them")
    try:
        return {name: value for name, value in policies.check_params("numa-balancing", params).items()
                if name in params}
    except (TypeError, ValueError) as error:
        raise KernelCheckError(f"--param {error}") from None


def resimulate_grid(run, grid: dict, *, progress=None) -> pd.DataFrame:
    """:func:`resimulate` of one saved run for every combination of ``grid``'s values
    (``{"hot_threshold_ms": [500, 1000, 2000], ...}``; an empty grid: the saved settings):
    one row per combination, its parameters, the verdict against the run's kernel rows
    (``max_gap_points``, ``promoted_gap``, ``demoted_gap``), memtier's distance outside the kernel
    runs' range when the run has several (``outside_points``), and what it moved against the
    run's saved memtier rows (``max_change_points``, ``promoted``, ``demoted``)."""
    import itertools

    names = list(grid)
    values = [np.atleast_1d(grid[name]).tolist() for name in names]
    run_files(run)
    for name, options in zip(names, values):  # every value checked before the first run
        for value in options:
            _checked_params({name: value})
    stream = access_stream(load_run(run_files(run)["guest"])["workload"])  # the same for every combination
    rows = []
    for combination in itertools.product(*values):
        params = dict(zip(names, (float(value) for value in combination)))
        if progress:
            progress(", ".join(f"{name}={value:g}" for name, value in params.items()) or "the saved settings")
        result = resimulate(run, params=params, stream=stream)
        row = dict(params)
        row.update({key: result["verdict"][key] for key in ("max_gap_points", "promoted_gap", "demoted_gap")})
        if "spread_verdict" in result:
            row["outside_points"] = result["spread_verdict"]["memtier_outside_points"]
        row.update({key: result["change"][key] for key in ("max_change_points", "promoted", "demoted")})
        rows.append(row)
    return pd.DataFrame(rows)


def load_kernel_runs(path) -> pd.DataFrame:
    """A ``kernel_runs.csv`` (``#`` lines are its provenance)."""
    table = pd.read_csv(path, comment="#")
    needed = {"time_s", "run", "fast_hot_pages", "promoted", "demoted"}
    if not needed <= set(table.columns):
        raise KernelCheckError(f"{path} is not a kernel-check kernel_runs.csv: it lacks "
                               f"{sorted(needed - set(table.columns))}")
    return table


def load_timeline(path) -> pd.DataFrame:
    """A ``timeline.csv`` (``#`` lines are its provenance)."""
    table = pd.read_csv(path, comment="#")
    needed = {"time_s", "source", "fast_hot_pages", "fast_cold_pages", "promoted", "demoted"}
    if not needed <= set(table.columns):
        raise KernelCheckError(f"{path} is not a kernel-check timeline: it lacks {sorted(needed - set(table.columns))}")
    return table


def load_run(path) -> dict:
    """A kernel-check run's ``guest.json`` -> ``{"workload": Workload, "simulator": settings, ...}``,
    for :func:`simulate_timeline` to redo memtier's side.  Settings saved before kernel-check
    gave ``kswapd_priority`` (the virtme-ng runs of ``data/kernel_check/`` and the 30 s one)
    were simulated with memtier's rounds of 32, the policy's default then: they get
    ``kswapd_priority`` 0, so that their rows come out as committed.  Likewise settings saved
    before kernel-check gave ``referenced_kept_once`` (before 2026-11-26 09:32 UTC; every
    committed run has it) were simulated with a referenced page activated at once, the
    policy's default until 2026-11-26: they get ``referenced_kept_once`` 0.  And settings saved
    before kernel-check gave ``scan_tick_gate`` (before 2026-11-27; every committed run but
    ``initramfs_trace_sort_runs3`` and ``initramfs_trace_damon_1000mb_runs2``, which have it) were
    simulated with the earlier scan timing: they get ``scan_tick_gate`` 0; and those saved before
    it gave ``threshold_adjusts_at_once`` (before 2026-11-27 09:30 UTC; every committed run) were
    simulated with the threshold's first adjustment 60 s into the run: they get 0."""
    info = json.loads(Path(path).read_text())
    try:
        record = dict(info["workload"])
        digest = record.pop("trace_sha256", None)
        if record.get("trace") is not None:  # the run's copy, beside guest.json
            record["trace"] = str(Path(path).parent / record["trace"])
            if not Path(record["trace"]).is_file():  # a committed run's trace is not in data/kernel_check/
                raise KernelCheckError(
                    f"{path}: the run replayed {Path(record['trace']).name}, kept beside its guest.json, and "
                    f"{record['trace']} does not exist; give a folder holding the run's guest.json, timeline.csv "
                    "and the trace it replayed as trace.npy (its sha256 is checked; the committed runs' traces are "
                    "not in the repository: docs/kernel-check.md, \"A recorded trace\", says how each was made)")
        info["workload"] = Workload(**record)
        if digest is not None and trace_digest(info["workload"]) != digest:
            raise KernelCheckError(f"{record['trace']} is not the trace the run replayed (its sha256 differs "
                                   "from guest.json's trace_sha256)")
        info["simulator"]["params"].setdefault("kswapd_priority", 0.0)
        info["simulator"]["params"].setdefault("referenced_kept_once", 0.0)
        info["simulator"]["params"].setdefault("scan_tick_gate", 0.0)
        info["simulator"]["params"].setdefault("threshold_adjusts_at_once", 0.0)
    except (KeyError, TypeError, AttributeError) as error:
        raise KernelCheckError(f"{path} is not a kernel-check guest.json ({error})") from None
    return info
