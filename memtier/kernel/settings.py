"""What the guest's readings become as the simulator's parameters.

The guest's files read (:func:`parse_settings`, :func:`parse_zoneinfo`, :func:`check_tiers`), the
program's pages besides its mapping (:func:`own_pages`), and what kernel-check gives memtier's
``numa-balancing`` (:func:`guest_settings`): the guest's debugfs and sysctl settings, node 0's
capacity and watermarks, 6.1's scan start (:func:`scan_start`, :func:`first_tick_period`), 6.1's
allocation and kswapd at the pace measured in this guest (:func:`kswapd_params`), the task's hint
faults and promotions on its clock (:func:`fault_params`) and the one-vCPU rules
(:func:`one_cpu_params`).  Each measured constant sits beside the function that measures it from a
committed run or trace (:func:`fill_rates`, :func:`kswapd_time`, :func:`scan_trace`,
:func:`vmscan_trace`, :func:`fault_costs`, :func:`first_touch_cost`).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .workload import PAGE, KernelCheckError, Workload

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
    """The guest's ``settings.txt`` (written by :data:`memtier.kernel.check.TIER_SETUP`) -> a dict."""
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


#: What a scan takes in the initramfs guest (ns of guest time, one instruction a ns), by the kind
#: of present page 6.1's ``change_pte_range`` meets (:func:`scan_costs`): every page walked
#: (:data:`SCAN_PTE_NS`: its PTE read, passed over at once if already ``PROT_NONE``), more for a
#: page on the fast node (:data:`SCAN_FAST_NS`: ``vm_normal_page``, ``page_to_nid``, passed over
#: as on the task's node) and more for a page armed (:data:`SCAN_ARM_NS`: the look-up,
#: ``xchg_page_access_time`` and ``ptep_modify_prot_start``/``_commit``).  From the traces of
#: :data:`SCAN_TRACES` (``kernel-check --scan-trace``, 2026-11-27; 68 scans of 6 runs): a page on
#: node 0 90.6 ns and a page armed 273.5 ns (the 13 scans of the first passes, none
#: ``PROT_NONE`` yet, each within 0.013 ms), a ``PROT_NONE`` page 21.1 ns (the scans that walk
#: the whole mapping and arm nothing, node 0's pages from the program's rows); the policy's
#: figures are those less 21 ns, rounded.  Until 2026-11-27 kernel-check gave 45 and 240 ns
#: (SCAN_FAST_NS 0), from five scans of the virtme-ng guest (``data/kernel_check/scan_trace.txt``),
#: which were 0.7-2.3 ms off the fill's scans: a tick (4 ms) off here and there once counted in
#: ticks (``scan_time_ticks``; ``docs/kernel-check.md``, 'Scan times').
SCAN_PTE_NS = 21.0
SCAN_FAST_NS = 69.0
SCAN_ARM_NS = 252.0
#: The traces :data:`SCAN_PTE_NS`, :data:`SCAN_FAST_NS` and :data:`SCAN_ARM_NS` come from
#: (``data/kernel_check/scan_trace_<name>.txt.gz``, the program's rows in ``..._raw.csv``), each
#: with node 0's pages of the mapping once settled where its later scans walk all of it.
SCAN_TRACES = {"initramfs_hot_set": 100725, "initramfs_phase": None, "initramfs_zipf": None,
               "initramfs_hot_set_1000mb": None, "initramfs_phase_1000mb": None,
               "initramfs_hot_set_800mb_192hot": 100702}


def scan_trace(text: str) -> pd.DataFrame:
    """An ftrace of ``task_numa_work`` (kprobes ``tnw_in``/``tnw_out``) and of
    ``change_prot_numa``'s return (``cpn ... ret=0x...``, PTEs armed) -> one row per call:
    ``start_s``, ``ms`` (its duration), ``armed``, ``chunks`` (calls of change_prot_numa) and
    ``gap_s`` from the previous call's start.  Where the trace has them (kernel-check's
    ``scan_trace``, :data:`memtier.kernel.check.SCAN_TRACE_ON`): ``walked``, the pages of
    address space its chunks covered (``change_prot_numa``'s entry, kprobe ``cpi`` with
    ``addr``/``end``), ``pass``, the scanner's passes over the address space before it (a
    pass ends when a scan starts below where the last one stopped), and ``away_ms``, the time
    within the call the workload was switched out (``sched_switch`` from and back to it), with
    ``task_ms`` = ``ms`` - ``away_ms``, the call's own CPU time; else those four are NaN."""
    rows, current, switches, away_since, passes, last_end = [], None, False, None, 0, None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        found = re.search(r"\s(\d+\.\d+): (tnw_in|tnw_out|cpn|cpi|sched_switch):(.*)$", line)
        if not found:
            continue
        t, kind, rest = float(found.group(1)), found.group(2), found.group(3)
        if kind == "sched_switch":
            switches = True
            if current is not None:
                if re.search(r"prev_comm=workload\s", rest):
                    away_since = t
                elif re.search(r"next_comm=workload\s", rest) and away_since is not None:
                    current["away_ms"] += 1e3 * (t - away_since)
                    away_since = None
        elif kind == "tnw_in":
            current, away_since = {"start_s": t, "armed": 0, "chunks": 0, "walked": 0, "away_ms": 0.0,
                                   "ranges": 0, "first": None}, None
        elif current is None:
            continue
        elif kind == "cpi":
            span = re.search(r"addr=(0x[0-9a-f]+) end=(0x[0-9a-f]+)", rest)
            if span:
                addr, end = int(span.group(1), 16), int(span.group(2), 16)
                if current["first"] is None and last_end is not None and addr < last_end:
                    passes += 1  # back below where the last scan stopped: reset_ptenuma_scan, a new pass
                current["first"] = addr if current["first"] is None else current["first"]
                current["walked"] += (end - addr) >> 12
                current["ranges"] += 1
                last_end = end
        elif kind == "cpn":
            ret = re.search(r"ret=(0x[0-9a-f]+)", rest)
            current["armed"] += int(ret.group(1), 16) if ret else 0
            current["chunks"] += 1
        elif kind == "tnw_out":
            current["ms"] = 1e3 * (t - current["start_s"])
            current["pass"] = passes
            rows.append(current)
            current = None
    if not rows:
        raise KernelCheckError("no task_numa_work calls in the trace (kprobes tnw_in/tnw_out)")
    table = pd.DataFrame(rows)
    table["gap_s"] = table["start_s"].diff()
    if not table.pop("ranges").any():
        table["walked"] = table["pass"] = np.nan
    if not switches:
        table["away_ms"] = np.nan
    table["task_ms"] = table["ms"] - table["away_ms"]
    return table[["start_s", "ms", "armed", "chunks", "gap_s", "walked", "away_ms", "task_ms", "pass"]]


def scan_costs(tables, node0_pages=None) -> dict:
    """What a scan takes in the guest, from traced scans (:func:`scan_trace` tables with
    ``walked``, ``pass`` and ``task_ms``: ``kernel-check --scan-trace``), in the three kinds of
    present page 6.1's ``change_pte_range`` (``mm/mprotect.c``, under ``change_prot_numa`` ->
    ``change_protection`` -> ``change_protection_range``) meets: a PTE already ``PROT_NONE`` is
    passed over at once (``pte_protnone``); a page on the task's node (node 0, the fast one) is
    looked up first (``vm_normal_page``, ``page_count``, ``page_to_nid`` = ``target_node``:
    passed over); a page on node 1 is armed (besides that look-up, ``xchg_page_access_time`` and
    ``ptep_modify_prot_start``/``_commit``).

    In the first pass (``pass`` 0) no PTE is ``PROT_NONE`` yet, so a scan's pages are the ones
    it armed and the rest, on node 0: a least-squares fit, through 0, of each such scan's own
    time (``task_ms``) on those two counts gives ``fast_ns`` (a page on node 0) and
    ``arm_ns`` (a page armed).  ``node0_pages`` (one per table, or None): node 0's pages of the
    mapping while that trace's later scans walk all of it (a run whose tiering has settled,
    the program's ``fast_hot`` + ``fast_cold``); its scans of pass >= 1 that walk at least the
    mapping and arm nothing give ``protnone_ns``, the mean of (``task_ms`` - node 0's pages x
    ``fast_ns``) over their other pages.  A scan two traces share (the same time, pages and
    PTEs: ``hot_set`` and ``phase`` are one guest until the phase changes) counts once.
    ``task_numa_work``'s own loop, the upper levels' walk, the ``flush_tlb_range`` of each chunk
    and the program's other mappings (a few hundred pages) are in the residuals.

    Returns ``{"fast_ns", "arm_ns", "protnone_ns", "first_pass"}``: the last, the first pass's
    scans with their ``model_ms`` and ``residual_ms``; ``protnone_ns`` NaN without
    ``node0_pages``."""
    tables = list(tables)
    node0_pages = [None] * len(tables) if node0_pages is None else list(node0_pages)
    if len(node0_pages) != len(tables):
        raise KernelCheckError(f"scan_costs: {len(node0_pages)} node-0 counts for {len(tables)} traces")
    scans = pd.concat([t[t["chunks"] > 0].assign(trace=i) for i, t in enumerate(tables)], ignore_index=True)
    if scans.empty or scans[["walked", "pass", "task_ms"]].isna().any().any():
        raise KernelCheckError("scan_costs needs traces with change_prot_numa's ranges and the task's switches "
                               "(kernel-check --scan-trace), with at least one scan")
    scans = scans.drop_duplicates(subset=["ms", "armed", "walked", "chunks"]).reset_index(drop=True)
    first = scans[scans["pass"] == 0].copy()
    x = np.column_stack([first["walked"] - first["armed"], first["armed"]]).astype(float)
    (fast, arm), *_ = np.linalg.lstsq(x, first["task_ms"].to_numpy(), rcond=None)
    first["model_ms"] = x @ np.array([fast, arm])
    first["residual_ms"] = first["task_ms"] - first["model_ms"]
    protnone = []
    for i, node0 in enumerate(node0_pages):
        if node0 is None:
            continue
        whole = scans[(scans["trace"] == i) & (scans["pass"] >= 1) & (scans["armed"] == 0)
                      & (scans["walked"] >= node0)]
        protnone += ((whole["task_ms"] - node0 * fast) / (whole["walked"] - node0)).tolist()
    return {"fast_ns": 1e6 * float(fast), "arm_ns": 1e6 * float(arm),
            "protnone_ns": 1e6 * float(np.mean(protnone)) if protnone else float("nan"), "first_pass": first}


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
      (:data:`SCAN_PTE_NS` a page walked, :data:`SCAN_FAST_NS` more a page on the fast node,
      :data:`SCAN_ARM_NS` more a page armed) makes the next one wait 32 times as long
      (``task_numa_work``'s overhead limit, the policy's ``scan_overhead_limit``), that time
      counted in whole 4 ms ticks as 6.1 counts it (``scan_time_ticks``: ``diff`` is the growth
      of ``sum_exec_runtime``, brought up to date at the tick; given since 2026-11-27, when the
      scan's time was measured to well under a tick; saved runs without the key had 0);
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
    return {**kswapd_params(w), **fault_params(w), "scan_pte_ns": SCAN_PTE_NS, "scan_fast_ns": SCAN_FAST_NS,
            "scan_arm_ns": SCAN_ARM_NS, "scan_time_ticks": 1.0, "scan_cost_charged": 0.0, "first_period_ms": period,
            "referenced_kept_once": 1.0, "scan_tick_gate": 1.0, "threshold_adjusts_at_once": 1.0}


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
