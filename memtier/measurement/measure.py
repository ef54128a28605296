"""Measure page copy and page migration on this machine, in memtier's measurement schema.

What is measured, and how (the RFC's own method, moved to user space where it has to be):

``scope=copy``
    A call copies ``n_pages`` page-sized blocks from a source buffer to a destination
    buffer with ``workers`` threads, each thread taking a share of the pages (see
    :mod:`memtier.measurement._copy`).  One timed pass makes calls one after another across buffers
    larger than the last-level cache, so every byte comes from and goes to memory, as in a
    migration.  On a NUMA machine the source buffer is bound to ``source`` and the
    destination to ``target`` with ``mbind(2)``, and where every base page of both lies is
    checked; on a one-node machine both are on node 0, and the rows say so.
    With several nodes every thread of the run is pinned to the source node's CPUs (to the
    target's where the source has none), so a CPU-less target node (persistent memory, CXL
    memory) is measured as it is used: from CPUs elsewhere.  The RFC's
    ``copy_page_multithread()`` (mm/copy_page.c of the patches) takes its threads from
    ``cpumask_of_node(to_node)``, the target node's CPUs: "pulling" the data, which its
    author measured faster than pushing on Xeon and Power8 while saying it "might not be the
    case for other machines" (Zi Yan in "Re: [PATCH 3/5] migrate: Add copy_page_mt to use
    multi-threaded page migration", linux-mm, 2016-11-28; the reviewer asked why not the
    source node's CPUs).  For a CPU-less target that mask is empty and the function's thread
    count is 0.  ``make_plan(cpus_of="target")`` gives the RFC's choice where the target has
    CPUs.
    A call of several pages is one dispatch of the whole list (``batched=True``), as the
    RFC's ``copy_page_lists_mt``.
``scope=syscall``
    ``n_pages`` pages (4 KiB, or 2 MiB transparent huge pages asked for with
    ``madvise(MADV_HUGEPAGE)``) are placed on ``source``, touched, and moved to ``target``
    with one ``move_pages(2)`` call, which is timed; the per-page status array is checked
    (``-EBUSY`` entries asked again, :func:`memtier.measurement.numa.settle_busy`), then where every base
    page of the region is (each 4 KiB of a THP included), and pages that did not move are
    reported.  4 KiB rows ask for base pages (``MADV_NOHUGEPAGE``): with THP ``always`` the
    kernel would otherwise back them with THPs.  Between repeats the pages are moved back,
    untimed.  A one-node machine cannot migrate: the same-node path (the call's overhead,
    no data moved) is measured only when asked, labelled in ``notes``, and given as
    ``time_us`` (a throughput of bytes that did not move would mean nothing).  A stock kernel
    copies with the calling thread, so these rows have ``workers=1``, ``batched=False``.

Every figure is the median of ``repeats`` timed runs after ``warmup`` untimed ones, with
the sample standard deviation kept as ``gbps_sd``.  GB/s is 10^9 bytes per second.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import numa
from .._jit import when_compiling
from ._copy import copy_pages, load_copy_kernels, max_threads
from .schema import format_page_size, save_measurements

KIB, MIB = 1 << 10, 1 << 20

#: Parameters of :class:`memtier.model.cost.ModelParams` that ``scope=copy`` rows with CPU threads
#: can constrain: the copy's bandwidth per thread and its ceiling, the per-call, per-page and
#: dispatch costs.  Kernel work, system call, DMA and exchange parameters never enter a copy
#: row's time.  Which of these a given file pins down depends on its thread counts (a 2-core
#: machine never reaches the ceiling); :func:`memtier.model.fitting.identifiable` with
#: ``candidates=COPY_PARAMETERS`` says which.
COPY_PARAMETERS = ("copy_gbps_per_thread", "link_gbps", "ceiling_sharpness", "dispatch_us",
                   "dispatch_thread_us", "copy_page_us", "mt_page_us", "copy_call_us")
MAX_CALL_BYTES = 32 * MIB  # larger calls than this are not what a migration looks like


@dataclass(frozen=True)
class Plan:
    """What one ``memtier measure`` run measures (build it with :func:`make_plan`)."""

    source: int
    target: int
    single_node: bool
    same_node: bool
    page_sizes: tuple[int, ...]
    pages_per_call: tuple[int, ...]
    threads: tuple[int, ...]
    buffer_bytes: int
    syscall: tuple[tuple[int, int], ...]  # (page_bytes, n_pages) per move_pages row
    repeats: int
    warmup: int
    messages: tuple[str, ...] = field(default=())
    copy_cpus: tuple[int, ...] = field(default=())  # every thread pinned here; () = not pinned
    cpus_node: int | None = None  # the node copy_cpus belong to

    def copy_configs(self) -> list[tuple[int, int, int]]:
        """(page_bytes, pages_per_call, threads) of every copy row, in measuring order."""
        return [
            (page, count, threads)
            for page in self.page_sizes
            for count in self.pages_per_call
            if page * count <= self.buffer_bytes and (count == 1 or page * count <= MAX_CALL_BYTES)
            for threads in self.threads
        ]


def _default_buffer_bytes() -> int:
    """Twice the last-level cache, at least 256 MiB, at most an eighth of the free memory."""
    llc = numa.last_level_cache_bytes()
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    wanted = max(256 * MIB, 2 * llc)
    return max(16 * MIB, min(wanted, free // 8) // (2 * MIB) * (2 * MIB))


def _thread_counts(limit: int) -> tuple[int, ...]:
    counts = [1]
    while counts[-1] * 2 <= limit:
        counts.append(counts[-1] * 2)
    if counts[-1] != limit:
        counts.append(limit)
    return tuple(counts)


def _pinned_cpus(by_node: dict, source: int, target: int, cpus_of: str) -> tuple[tuple[int, ...], int, str]:
    """(CPUs, their node, a message or "") the run is pinned to on a machine of several nodes."""
    if cpus_of not in ("source", "target"):
        raise ValueError(f"cpus_of={cpus_of!r}: pick 'source' or 'target'")
    order = [source, target] if cpus_of == "source" else [target]
    for node in order:
        cpus = numa.usable_cpus(by_node[node])
        if cpus:
            break
    else:
        where = " or ".join(f"node {node}" for node in dict.fromkeys(order))
        fix = "move from a node with CPUs" if cpus_of == "source" else "use cpus_of='source'"
        raise numa.NumaError(f"no CPU of {where} is usable by this process (none there, or outside its cpuset); {fix}")
    without = [n for n in (source, target) if not by_node[n].cpus]
    message = ""
    if without:
        message = (f"node {without[0]} has no CPUs (memory only, as persistent or CXL memory appears): "
                   f"copy threads and move_pages run on node {node}'s CPUs {list(cpus)}")
    return cpus, node, message


def make_plan(*, quick: bool = False, source: int | None = None, target: int | None = None,
              same_node: bool = False, page_sizes=None, pages_per_call=None, threads=None,
              buffer_bytes: int | None = None, repeats: int | None = None, cpus_of: str = "source") -> Plan:
    """Check the user's choices against this machine and fill in the defaults.

    Defaults: page sizes 4 KiB, 64 KiB and 2 MiB; calls of 1, 16 and 512 pages (calls above
    32 MiB are left out); 1, 2, 4 ... up to the available cores copy threads; buffers twice
    the last-level cache; 7 repeats after 2 warm-ups.  ``quick`` uses 4 KiB and 2 MiB pages,
    calls of 1 and 16, 16 MiB buffers and 3 repeats, for tests and demonstrations.

    With several NUMA nodes the run's threads are pinned to the CPUs of one node, named by
    ``cpus_of``: ``"source"`` (default; the target's CPUs when the source has none) or
    ``"target"`` (the RFC's ``copy_page_multithread()`` choice; refused for a CPU-less
    target).  Thread counts are then at most that node's usable CPUs.

    Raises
    ------
    memtier.measurement.numa.NumaError
        A node that does not exist or has no memory, or source equal to target without
        ``same_node``.
    ValueError
        Any other choice out of range.
    """
    found = numa.nodes()
    if same_node:
        if source is None:
            source = target
        if target is not None and int(target) != int(source):
            raise numa.NumaError(f"--same-node stays on one node; drop --to {target} or --same-node")
    with_memory = [n.node for n in found if n.memory_bytes > 0]
    source = with_memory[0] if source is None else numa.check_node(int(source), found).node
    if target is None:
        others = [n for n in with_memory if n != source]
        target = source if (same_node or not others) else others[0]
    else:
        target = numa.check_node(int(target), found).node
    single_node = len(with_memory) == 1
    messages = []
    if single_node:
        messages.append(
            f"this machine has one NUMA node ({source}): copies are measured within it, and "
            + ("move_pages is timed within the node (same-node path, no data moved)" if same_node
               else "cross-node migration cannot be measured (pass --same-node to time move_pages within the node)")
        )
    elif target == source and not same_node:
        raise numa.NumaError(f"source and target are both node {source}; pick two nodes or pass --same-node")
    elif same_node:
        target = source

    copy_cpus, cpus_node = (), None
    if not single_node:
        copy_cpus, cpus_node, message = _pinned_cpus({n.node: n for n in found}, source, target, cpus_of)
        if message:
            messages.append(message)

    if page_sizes is None:
        page_sizes = (4 * KIB, 2 * MIB) if quick else (4 * KIB, 64 * KIB, 2 * MIB)
    if pages_per_call is None:
        pages_per_call = (1, 16) if quick else (1, 16, 512)
    if threads is None:
        threads = _thread_counts(min(max_threads(), 2 if quick else max_threads(), len(copy_cpus) or max_threads()))
    if buffer_bytes is None:
        buffer_bytes = 16 * MIB if quick else _default_buffer_bytes()
    if repeats is None:
        repeats = 3 if quick else 7
    page_sizes = tuple(sorted({int(p) for p in page_sizes}))
    pages_per_call = tuple(sorted({int(p) for p in pages_per_call}))
    threads = tuple(sorted({int(t) for t in threads}))
    if any(p < 4 * KIB or p & (p - 1) or p > 1 << 30 for p in page_sizes):
        raise ValueError(f"page sizes must be powers of two from 4K to 1G; got {list(page_sizes)}")
    if not pages_per_call or pages_per_call[0] < 1:
        raise ValueError("pages per call must be positive integers")
    if not threads or threads[0] < 1 or threads[-1] > max_threads():
        raise ValueError(f"copy threads must be from 1 to {max_threads()} (this machine's usable cores)")
    if copy_cpus and threads[-1] > len(copy_cpus):
        raise ValueError(f"copy threads must be from 1 to {len(copy_cpus)}: they run on node {cpus_node}'s "
                         f"usable CPUs {list(copy_cpus)}")
    if buffer_bytes < page_sizes[-1] or buffer_bytes % (2 * MIB):
        raise ValueError(f"the buffer ({buffer_bytes} bytes) must be a multiple of 2 MiB and hold one page of each size")
    if repeats < 2:
        raise ValueError("repeats must be at least 2, so that the spread (gbps_sd) can be estimated")
    if not same_node and single_node:
        syscall = ()
    else:
        # Pages the kernel really has: its base page (4 KiB on x86, 4 or 64 KiB on arm64 and
        # Power) and its PMD-sized transparent huge page (2 MiB on x86).
        base, huge = numa.base_page_bytes(), numa.thp_bytes()
        wanted = ((base, 1), (base, 64), (huge, 1)) if quick else ((base, 1), (base, 512), (huge, 1), (huge, 16))
        # A THP of 512 MiB (arm64 with 64 KiB pages) is no page a migration moves often.
        syscall = tuple(w for w in wanted if w[0] != huge or (numa.thp_available() and huge <= MAX_CALL_BYTES))
        if len(syscall) < len(wanted):
            messages.append(f"transparent huge pages are {numa.thp_setting()} here (THP size "
                            f"{format_page_size(huge)}): huge-page move_pages rows are skipped")
    return Plan(source, target, single_node, same_node, page_sizes, pages_per_call, threads,
                int(buffer_bytes), syscall, int(repeats), 1 if quick else 2, tuple(messages),
                copy_cpus=tuple(copy_cpus), cpus_node=cpus_node)


def fit_copy(measurements, *, base=None, bootstrap: int = 200):
    """Fit the copy parameters of the cost model to the ``scope=copy`` rows of a measured file.

    The fit starts from ``base`` (default: the model's defaults, the RFC's machine), with
    ceilings below what the data reach raised as :func:`memtier.fit` does.  Parameters are those of
    :data:`COPY_PARAMETERS` the rows constrain (:func:`memtier.model.fitting.identifiable`); the
    ceiling is among them only when the measured thread counts reach it.

    Returns
    -------
    memtier.model.fitting.Fit
    """
    from ..model.fitting import as_params, room_for_the_data, fit, identifiable
    from .schema import load_measurements

    table = load_measurements(measurements)
    copy = table[table["scope"] == "copy"].reset_index(drop=True)
    if copy.empty:
        raise ValueError("no scope=copy rows to fit; measure with 'memtier measure' first")
    start = room_for_the_data(copy, as_params(base))
    free = identifiable(copy, start, candidates=COPY_PARAMETERS)
    return fit(copy, free=free, base=start, bootstrap=bootstrap)


def _summary(samples: list[float]) -> tuple[float, float]:
    values = np.asarray(samples, dtype=float)
    sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
    return float(np.median(values)), sd


@dataclass
class CopyBuffers:
    """Source and destination buffers of the copy rows, placed on their nodes and touched."""

    source: numa.Region
    target: numa.Region
    huge_fraction: float
    placement: str = ""  # "" when every base page of both buffers is on its node

    @classmethod
    def allocate(cls, plan: Plan) -> "CopyBuffers":
        regions = []
        try:
            for node, fill in ((plan.source, 1), (plan.target, 0)):
                regions.append(numa.Region(plan.buffer_bytes, node=node, huge=True))
                regions[-1].touch(fill)  # allocated now, on its node, not inside a timed copy
        except BaseException:
            for region in regions:
                region.close()
            raise
        huge = sum(region.huge_bytes() for region in regions) / (2 * plan.buffer_bytes)
        placement = "; ".join(filter(None, (
            misplaced(region.address, region.nbytes, node, f"{name} buffer")
            for region, node, name in zip(regions, (plan.source, plan.target), ("source", "target"))
        ))) if plan.source != plan.target else ""
        return cls(regions[0], regions[1], huge, placement)

    def close(self) -> None:
        self.source.close()
        self.target.close()


def measure_copy(buffers: CopyBuffers, page_bytes: int, pages_per_call: int, threads: int,
                 repeats: int, warmup: int) -> tuple[float, float]:
    """Median and standard deviation (GB/s) of passes copying the whole source buffer."""
    samples = []
    for run in range(warmup + repeats):
        start = time.perf_counter()
        copied = copy_pages(buffers.source.array, buffers.target.array, page_bytes, pages_per_call, threads)
        elapsed = time.perf_counter() - start
        if run >= warmup:
            samples.append(copied / elapsed / 1e9)
    return _summary(samples)


def base_page_addresses(address: int, nbytes: int) -> np.ndarray:
    """One address per base page of ``[address, address + nbytes)``: where placement is checked."""
    base = numa.base_page_bytes()
    return address + np.arange(nbytes // base, dtype=np.uint64) * np.uint64(base)


def misplaced(address: int, nbytes: int, node: int, what: str) -> str:
    """``""`` when every base page of the range is on ``node``, else what is where."""
    found = numa.describe_status(numa.move_pages(base_page_addresses(address, nbytes), None), node)
    return f"{what}: " + found.replace("did not move", f"not on node {node}") if found else ""


def measure_move_pages(page_bytes: int, n_pages: int, source: int, target: int,
                       repeats: int, warmup: int) -> tuple[float, float, float, str, str]:
    """Median and standard deviation (GB/s) of one ``move_pages`` call, and what went wrong.

    Returns
    -------
    gbps, gbps_sd : float
        Bytes of the pages asked to move over the call's time.
    time_us : float
        Median microseconds of the call.
    problems : str
        ``""``, or which pages did not move (status array, then every base page asked where
        it is after the last timed move) and whether THPs were split.
    remarks : str
        ``""``, or how many ``-EBUSY`` pages were found moved when asked again.

    Raises
    ------
    memtier.measurement.numa.ThpNotObtained
        When 2 MiB pages were asked for and the kernel did not back them with THPs.
    """
    huge = page_bytes > numa.base_page_bytes()
    nbytes = page_bytes * n_pages
    with numa.Region(nbytes, node=source, huge=huge, align=max(page_bytes, numa.thp_bytes())) as region:
        region.touch()
        numa.bind(region.address, nbytes, None)  # placed; later moves are not fought by the policy
        if huge and region.huge_bytes() < nbytes:
            raise numa.ThpNotObtained(
                f"transparent huge pages were not obtained ({region.huge_bytes() // KIB} of {nbytes // KIB} KiB; "
                f"THP is '{numa.thp_setting()}'): enable THP or leave 2 MiB pages out"
            )
        found = [] if huge else [f"{region.huge_bytes() // KIB} KiB backed by THPs despite MADV_NOHUGEPAGE"
                                  ] if region.huge_bytes() else []
        found.append(misplaced(region.address, nbytes, source, "before the move"))
        addresses = region.address + np.arange(n_pages, dtype=np.uint64) * np.uint64(page_bytes)
        forward, back = numa.PageMover(addresses, target), numa.PageMover(addresses, source)
        samples, busy_moved = [], 0
        for run in range(warmup + repeats):
            start = time.perf_counter()
            status = forward.move()
            elapsed = time.perf_counter() - start
            status, settled = numa.settle_busy(addresses, status, target)  # untimed
            busy_moved += settled
            if run >= warmup:
                samples.append(elapsed)
                found.append(numa.describe_status(status, target))
            if run == warmup + repeats - 1:
                # Placement checked per base page: every 4 KiB of a THP must be on the target.
                found.append(misplaced(region.address, nbytes, target, "after the last move"))
            if target != source:
                status, _ = numa.settle_busy(addresses, back.move(), source)
                back_problem = numa.describe_status(status, source)
                found.append(f"moving back: {back_problem}" if back_problem else "")
        if huge and region.huge_bytes() < nbytes:
            found.append("THPs were split during the moves")
    problems = "; ".join(dict.fromkeys(filter(None, found)))  # each distinct problem once
    remarks = (f"{busy_moved} status entr{'y' if busy_moved == 1 else 'ies'} EBUSY over {warmup + repeats} "
               "moves of pages found moved when asked again (memtier.measurement.numa.settle_busy)" if busy_moved else "")
    gbps, sd = _summary([nbytes / elapsed / 1e9 for elapsed in samples])
    return gbps, sd, float(np.median(samples)) * 1e6, problems, remarks


def _cpu_list(cpus) -> str:
    return ",".join(map(str, cpus))


def copy_notes(plan: Plan) -> str:
    if plan.source == plan.target:
        notes = f"within node {plan.source}" + (" (single NUMA node)" if plan.single_node else "")
    else:
        notes = f"node {plan.source} to node {plan.target}"
    if plan.copy_cpus:
        notes += f", threads on node {plan.cpus_node} CPUs {_cpu_list(plan.copy_cpus)}"
    return notes


def syscall_notes(plan: Plan) -> str:
    if plan.source == plan.target:
        return (f"same-node: pages already on node {plan.source}, no data moved; "
                "times the call's overhead, not a migration")
    notes = f"move_pages node {plan.source} to node {plan.target}"
    if plan.copy_cpus:
        notes += f", called on node {plan.cpus_node} CPUs {_cpu_list(plan.copy_cpus)}"
    return notes


def format_row(row: dict) -> str:
    """One line for the progress log: ``copy 2M x1, 2 thread(s): 9.810 GB/s (sd 0.120)``."""
    size = format_page_size(row["page_size"])
    figure = (f"{row['time_us']:.1f} us" if np.isnan(row["gbps"])
              else f"{row['gbps']:.3f} GB/s (sd {row['gbps_sd']:.3f})")
    return f"{row['scope']} {size} x{row['n_pages']}, {row['workers']} thread(s): {figure}"


# --- the run: rows written one by one ----------------------------------------------------------


def sidecar_path(path) -> Path:
    """Where the machine description of ``path`` goes: ``measurements.csv.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_measurements`; ``rows`` is the :class:`RowFile` as left."""

    def __init__(self, rows: "RowFile"):
        super().__init__(f"interrupted after {len(rows.rows)} row(s)")
        self.rows = rows


class RowFile:
    """A measurement CSV rewritten, whole and atomically, after every finished row.

    Whatever stops the run (Ctrl-C, an error) leaves the file holding exactly the rows
    finished so far, each one complete; ``save_measurements`` writes beside the final name
    and renames into place, so no reader ever sees half a file.
    """

    def __init__(self, path, *, header: str, sidecar: dict, force: bool = False):
        self.path, self.header, self.sidecar = Path(path), header, dict(sidecar)
        for target in (self.path, sidecar_path(self.path)):
            if target.exists() and not force:
                raise FileExistsError(f"{target} exists; choose another --out or pass --force (force=True)")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"folder {self.path.parent} does not exist")
        self.rows: list[dict] = []

    def add(self, row: dict) -> None:
        self.rows.append(row)
        save_measurements(pd.DataFrame(self.rows), self.path, header=self.header, force=True)
        self.write_sidecar(complete=False)

    def write_sidecar(self, *, complete: bool, **extra) -> None:
        self.sidecar.update(extra, complete=complete, rows=len(self.rows))
        from ..outputs import write_text

        write_text(sidecar_path(self.path), json.dumps(self.sidecar, indent=2) + "\n", force=True)

    def discard_partials(self) -> None:
        """Nothing to do: every write is atomic under a unique temporary name
        (:mod:`memtier.outputs`), removed on any interruption."""


def _version() -> str:
    from .. import __version__

    return __version__


def _row(plan: Plan, machine: str, scope: str, page_bytes: int, n_pages: int, workers: int,
         gbps: float, sd: float, notes: str, time_us: float = np.nan) -> dict:
    # A copy call hands its whole list to the threads at once, as the batched copy of patches
    # 09-11 does (copy_page_lists_mt: one dispatch per list, not one per page), so copy rows of
    # more than one page are batched.  move_pages(2) of a stock kernel migrates page by page.
    return {
        "page_size": page_bytes, "n_pages": n_pages, "copy": "cpu", "workers": workers,
        "batched": scope == "copy" and n_pages > 1, "exchange": False, "scope": scope,
        "gbps": gbps, "time_us": time_us, "gbps_sd": sd if np.isfinite(sd) and sd > 0 else np.nan,
        "source": f"memtier measure {_version()}", "machine": machine, "notes": notes,
    }


#: Said on stderr before the copy kernels compile (a first run only: numba keeps them in its
#: cache).  3-5 s on this project's idle 2-core VM; the newcomer's audit of the eleventh stop
#: waited 95 s on the loaded VM, with nothing printed.
COMPILING = ("memtier measure: compiling the copy kernels (first run only: seconds, up to a few minutes "
             "on a busy machine)...")


def measure_machine(out, *, quick: bool = False, force: bool = False, progress: bool = True, echo=print,
            **choices) -> RowFile:
    """Plan (:func:`make_plan` with ``choices``) and run (:func:`run_measurements`) in one call."""
    return run_measurements(out, make_plan(quick=quick, **choices), force=force, progress=progress, echo=echo)


def run_measurements(out, plan: Plan, *, force: bool = False, progress: bool = True, echo=print) -> RowFile:
    """Measure every row of ``plan`` and write them to ``out`` (plus ``out.json``) as they finish.

    Parameters
    ----------
    out : str or os.PathLike
        The CSV to write; refused if it or its sidecar exists, unless ``force``.
    plan : Plan
        From :func:`make_plan`.
    progress : bool
        Show a tqdm progress bar on stderr where stderr is a terminal; elsewhere (a file, a
        pipe) one line per finished row instead.  Either way, a line on stderr before the
        copy kernels compile, on a first run.
    echo : callable
        Receives one line per message (single node, skipped rows, pages that did not move).

    Returns
    -------
    RowFile
        The written file's path and rows.  On Ctrl-C, :class:`Interrupted` (a
        ``KeyboardInterrupt``) is raised after the file was left holding the rows finished
        so far; its ``rows`` attribute says how many.
    """
    from tqdm.auto import tqdm

    from ..outputs import progress_bar

    __version__ = _version()
    description = numa.describe_machine()
    machine = numa.machine_summary(description)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"Measured with memtier measure {__version__} on {when}.\n"
        f"Machine: {machine} (full description in {sidecar_path(out).name}).\n"
        f"gbps: 10^9 bytes per second, median of {plan.repeats} runs after {plan.warmup} warm-up(s); "
        "gbps_sd: their standard deviation.\n"
        "scope=copy: user-space streaming copy of page-sized blocks, threads sharing each call's pages.\n"
        "scope=syscall: one move_pages(2) call moving n_pages pages."
        + (f"\nEvery thread ran on node {plan.cpus_node}'s CPUs {_cpu_list(plan.copy_cpus)} (pinned)."
           if plan.copy_cpus else "")
    )
    sidecar = {"memtier": __version__, "measured": when, "machine": description, "plan": asdict(plan)}
    rows = RowFile(out, header=header, sidecar=sidecar, force=force)
    say = tqdm.write if progress else echo
    for message in plan.messages:
        say(message)
    configs = plan.copy_configs()
    if configs:
        def compiling():
            if progress:
                print(COMPILING, file=sys.stderr, flush=True)

        with when_compiling(compiling):
            load_copy_kernels(threaded=any(threads > 1 for _, _, threads in configs))
    # where stderr is not a terminal no bar is drawn: a line per finished row there instead
    bar = progress_bar(progress, total=len(configs) + len(plan.syscall), desc="memtier measure", unit="row")

    def finished(row):
        rows.add(row)
        if progress and bar.disable:
            print(f"memtier measure: {format_row(row)}", file=sys.stderr, flush=True)
        else:
            bar.set_postfix_str(format_row(row), refresh=False)
        bar.update()

    buffers = None
    pinned = numa.pin_threads(plan.copy_cpus) if plan.copy_cpus else contextlib.nullcontext()
    try:
        pinned.__enter__()
        if configs:
            buffers = CopyBuffers.allocate(plan)
            rows.sidecar["copy_buffer_huge_fraction"] = buffers.huge_fraction
            if buffers.placement:
                say(f"copy buffers: {buffers.placement}")
            notes = "; ".join(filter(None, [copy_notes(plan), buffers.placement]))
            for page_bytes, count, threads in configs:
                gbps, sd = measure_copy(buffers, page_bytes, count, threads, plan.repeats, plan.warmup)
                finished(_row(plan, machine, "copy", page_bytes, count, threads, gbps, sd, notes))
            buffers.close()
            buffers = None
        for page_bytes, count in plan.syscall:
            try:
                gbps, sd, time_us, problems, remarks = measure_move_pages(
                    page_bytes, count, plan.source, plan.target, plan.repeats, plan.warmup)
            except numa.ThpNotObtained as error:
                # The other rows still stand; the sidecar records that THPs were not obtained.
                say(f"move_pages {format_page_size(page_bytes)} x{count} skipped: {error}")
                rows.sidecar["thp_obtained"] = False
                bar.update()
                continue
            if page_bytes > numa.base_page_bytes():
                rows.sidecar["thp_obtained"] = rows.sidecar.get("thp_obtained", True)
            if problems:
                say(f"move_pages {format_page_size(page_bytes)} x{count}: {problems}")
            notes = "; ".join(filter(None, [syscall_notes(plan), problems, remarks]))
            if plan.source == plan.target:
                # No data moved: a throughput would be a made-up figure; the call's time is not.
                finished(_row(plan, machine, "syscall", page_bytes, count, 1, np.nan, np.nan, notes, time_us))
            else:
                finished(_row(plan, machine, "syscall", page_bytes, count, 1, gbps, sd, notes))
        rows.write_sidecar(complete=True)
    except KeyboardInterrupt:
        rows.discard_partials()
        raise Interrupted(rows) from None
    except BaseException:
        rows.discard_partials()
        raise
    finally:
        pinned.__exit__(None, None, None)
        bar.close()
        if buffers is not None:
            buffers.close()
    return rows
