"""Reading and judging kernel-check's timelines: the kernel's rows and memtier's side by side.

A timeline (``timeline.csv``) has a row per checkpoint and side (``source``: ``"kernel"`` or
``"memtier"``): the hot and cold pages on the fast node, and cumulative promotions and demotions.
:func:`compare` lines the two sides up, :func:`verdict` gives the issue's checks (the largest gap in
hot share, target 10 points; promotions and demotions at the end, target within 25 %),
:func:`kernel_spread` and :func:`spread_verdict` judge memtier against the range of several kernel
runs, and :func:`plot_timeline` draws both.  The readers: :func:`read_kernel_timeline` (the
program's own rows), :func:`kernel_rows` (those rows as the timeline's), :func:`load_timeline` and
:func:`load_kernel_runs` (the saved files).  Beside the timeline, :func:`compare_counters` sets the
kernel's own event counters (``/proc/vmstat``: PTEs armed, hint faults, promotion candidates,
kswapd's pages scanned) against memtier's, :func:`counters_parting` says when each parts, and
:func:`plot_counters` draws them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .workload import KernelCheckError, Workload, hot_mask


def read_kernel_timeline(path, w: Workload) -> pd.DataFrame:
    """The workload program's CSV -> the timeline's kernel rows (and its raw columns)."""
    table = pd.read_csv(path, comment="#")
    if table.empty:
        raise KernelCheckError(f"{path} has no checkpoints: the workload stopped before its first one")
    return table


def kernel_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """The program's rows (:func:`read_kernel_timeline`) as the timeline's kernel rows: hot and cold
    pages on node 0, cumulative promotions, and demotions by kswapd and direct reclaim."""
    return pd.DataFrame({
        "time_s": raw["nominal_s"].astype(float), "source": "kernel",
        "fast_hot_pages": raw["fast_hot"].astype(np.int64), "fast_cold_pages": raw["fast_cold"].astype(np.int64),
        "promoted": raw["pgpromote_success"].astype(np.int64),
        "demoted": (raw["pgdemote_kswapd"] + raw["pgdemote_direct"]).astype(np.int64),
    })


#: The kernel's event counters (``/proc/vmstat``) the workload program reads at each checkpoint that
#: memtier's ``numa-balancing`` keeps too (``SimulationResult.counters``; where 6.1 counts each:
#: ``memtier.simulation.policies.numa_balancing.COUNTERS``): the scanner's PTEs armed, the hint
#: faults, the faults that passed the hot threshold, and kswapd's inactive pages scanned.
COUNTERS = ("numa_pte_updates", "numa_hint_faults", "pgpromote_candidate", "pgscan_kswapd")


def compare_counters(raw: pd.DataFrame, counters: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint, the kernel's event counters (the program's rows, :func:`read_kernel_timeline`)
    and memtier's (``simulate_timeline``'s ``attrs["counters"]``) side by side: ``kernel_X`` and
    ``memtier_X`` for each X of :data:`COUNTERS`, cumulative from the workload's start.  Where the
    hot shares part, these say which part of the mechanism parted first: the scanner (PTEs
    armed), the accesses to armed pages (hint faults), the hot threshold (candidates) or kswapd
    (pages scanned).  Only the checkpoints and counters both sides have."""
    kernel = raw.assign(time_s=raw["nominal_s"].astype(float)).set_index("time_s")
    sim = counters.set_index("time_s") if len(counters) else pd.DataFrame(index=pd.Index([], name="time_s"))
    both = kernel.index.intersection(sim.index)
    table = pd.DataFrame(index=both)
    for name in COUNTERS:
        if name in kernel.columns and name in sim.columns:
            table[f"kernel_{name}"] = kernel.loc[both, name].astype(np.int64)
            table[f"memtier_{name}"] = sim.loc[both, name].astype(np.int64)
    return table


def counters_parting(table: pd.DataFrame, share: float = 0.25, floor: int = 100) -> dict:
    """For each counter of :func:`compare_counters`' table, the first checkpoint where memtier's
    count and the kernel's differ by more than ``share`` of the larger and by more than ``floor``
    events (so that a few faults in the first second do not count), or None: ``{name: time_s}``."""
    parting = {}
    for name in COUNTERS:
        if f"kernel_{name}" not in table.columns:
            continue
        kernel, sim = table[f"kernel_{name}"], table[f"memtier_{name}"]
        gap = (sim - kernel).abs()
        apart = (gap > share * np.maximum(kernel, sim)) & (gap > floor)
        parting[name] = float(apart.idxmax()) if apart.any() else None
    return parting


def plot_counters(table: pd.DataFrame, axes=None, title=None):
    """:func:`compare_counters`' table drawn: a panel per counter, the kernel's (solid) and
    memtier's (dashed) against time.  Returns the axes."""
    import matplotlib.pyplot as plt

    names = [name for name in COUNTERS if f"kernel_{name}" in table.columns]
    if axes is None:
        _, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 2.8), constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        ax.plot(table.index, table[f"kernel_{name}"], color="black", label="kernel")
        ax.plot(table.index, table[f"memtier_{name}"], color="tab:orange", linestyle="--", label="memtier")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("guest time (s)")
    axes[0].set_ylabel("events since the start")
    axes[0].legend(frameon=False)
    if title:
        axes[0].figure.suptitle(title, fontsize=11)
    return axes


def write_counters(path, table: pd.DataFrame, header: str, force: bool = False) -> None:
    """:func:`compare_counters`' table as ``counters.csv`` (atomically; ``header``: the run's
    ``#`` lines), a row per checkpoint."""
    from ..outputs import atomic_write

    with atomic_write(path, force=force, what="--out") as handle:
        handle.write(header + "# the kernel's event counters (/proc/vmstat, cumulative from the workload's start) and "
                              "memtier's (SimulationResult.counters) at each checkpoint\n")
        table.to_csv(handle)


#: Pages in one 2 MB range: a page table's (one PMD's) pages, the unit ``task_numa_work``'s scan
#: windows end on and count (6.1, ``kernel/sched/fair.c``: ``ALIGN(start + pages, HPAGE_SIZE)``).
RANGE_PAGES = 512


def _per_range(mask: np.ndarray) -> np.ndarray:
    """A (checkpoints, pages) mask counted per 2 MB range (:data:`RANGE_PAGES`; the last range
    padded with False): (checkpoints, ranges)."""
    pages = mask.shape[1]
    ranges = -(-pages // RANGE_PAGES)
    padded = np.zeros((mask.shape[0], ranges * RANGE_PAGES), dtype=bool)
    padded[:, :pages] = mask
    return padded.reshape(mask.shape[0], ranges, RANGE_PAGES).sum(axis=2)


def read_node_map(path, w: Workload) -> np.ndarray:
    """The node of each page of the workload at each checkpoint, as the program built with
    ``-DNODE_MAP`` wrote it (two bits a page, a checkpoint's map after the other's): an int8 array
    (checkpoints, pages) in ``SimulationResult.final_node``'s terms, 0 node 0 (fast), 1 node 1,
    -1 absent."""
    raw = np.fromfile(path, dtype=np.uint8)
    per = (w.total_pages + 3) // 4
    if per == 0 or len(raw) % per:
        raise KernelCheckError(f"{path}: {len(raw)} bytes, not a whole number of {per}-byte maps of "
                               f"{w.total_pages} pages; was it written by this workload?")
    codes = np.stack([(raw >> (2 * i)) & 3 for i in range(4)], axis=1).reshape(len(raw) // per, -1)
    codes = codes[:, :w.total_pages].astype(np.int8)
    codes[codes == 2] = -1
    return codes


def hot_masks(w: Workload, checkpoints: int) -> np.ndarray:
    """The workload's hot set at each checkpoint (1 .. ``checkpoints``): bool (checkpoints, pages)."""
    return np.stack([hot_mask(w, c) for c in range(1, checkpoints + 1)]) if checkpoints else (
        np.zeros((0, w.total_pages), dtype=bool))


def compare_nodes(kernel: np.ndarray, memtier: np.ndarray, hot: np.ndarray, time_s=None) -> pd.DataFrame:
    """Page by page, the kernel's placement (:func:`read_node_map`) against memtier's (its
    snapshots' ``final_node``), a row per checkpoint: ``agree`` (the share of the pages present on
    both sides that are on the same node), ``kernel_fast_only`` and ``memtier_fast_only`` (pages on
    node 0 on one side and on node 1 on the other), the same for the hot pages
    (``hot_kernel_fast_only``, ``hot_memtier_fast_only``), and ``kernel_slow_ranges`` and
    ``memtier_slow_ranges``: the 2 MB ranges (:data:`RANGE_PAGES`) holding a page on node 1, which
    set how far a scan goes (a scan stops after ``scan_size`` of ranges in which it armed a page)."""
    if kernel.shape != memtier.shape or kernel.shape != hot.shape:
        raise KernelCheckError(f"node maps of different shapes: kernel {kernel.shape}, memtier {memtier.shape}, "
                               f"hot {hot.shape}")
    both = (kernel >= 0) & (memtier >= 0)
    k_only = both & (kernel == 0) & (memtier == 1)
    m_only = both & (kernel == 1) & (memtier == 0)

    def slow_ranges(nodes):
        return (_per_range(nodes == 1) > 0).sum(axis=1)

    table = pd.DataFrame({
        "agree": (both & (kernel == memtier)).sum(axis=1) / np.maximum(both.sum(axis=1), 1),
        "kernel_fast_only": k_only.sum(axis=1), "memtier_fast_only": m_only.sum(axis=1),
        "hot_kernel_fast_only": (k_only & hot).sum(axis=1), "hot_memtier_fast_only": (m_only & hot).sum(axis=1),
        "kernel_slow_ranges": slow_ranges(kernel), "memtier_slow_ranges": slow_ranges(memtier)})
    table.index = pd.Index(np.arange(1, len(table) + 1) if time_s is None else time_s, name="time_s")
    return table


def node_maps_compared(kernel: np.ndarray, sim: pd.DataFrame, w: Workload, time_s) -> tuple[dict, pd.DataFrame]:
    """A ``--node-map`` run's kernel map beside memtier's (``simulate_timeline(..., nodes=True)``'s
    ``attrs["nodes"]``, cut to the kernel's checkpoints): ``({"kernel", "memtier", "time_s"}``, as
    ``node_map.npz`` holds them, and :func:`compare_nodes`' table)."""
    maps = {"kernel": kernel, "memtier": sim.attrs["nodes"][:len(kernel)], "time_s": np.asarray(time_s)}
    return maps, compare_nodes(kernel, maps["memtier"], hot_masks(w, len(kernel)), maps["time_s"])


def load_node_maps(path) -> dict:
    """A run's ``node_map.npz`` (kernel-check ``--node-map``): ``{"kernel", "memtier", "time_s"}``."""
    with np.load(path) as saved:
        return {name: saved[name] for name in ("kernel", "memtier", "time_s")}


def plot_node_maps(kernel: np.ndarray, memtier: np.ndarray, time_s, axes=None, title=None):
    """Where the pages are, range by range: the share of each 2 MB range's pages on node 0 at each
    checkpoint, the kernel's, memtier's, and memtier's less the kernel's.  Returns the axes."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True, sharey=True)
    pages = kernel.shape[1]
    k, m = _per_range(kernel == 0) / RANGE_PAGES, _per_range(memtier == 0) / RANGE_PAGES
    extent = (0, pages * 4096 / (1 << 20), float(time_s[-1]) + 0.5, float(time_s[0]) - 0.5)
    for ax, image, name, cmap, limits in ((axes[0], k, "the kernel", "viridis", (0, 1)),
                                          (axes[1], m, "memtier", "viridis", (0, 1)),
                                          (axes[2], m - k, "memtier less the kernel", "RdBu", (-1, 1))):
        shown = ax.imshow(image, aspect="auto", interpolation="nearest", cmap=cmap, vmin=limits[0], vmax=limits[1],
                          extent=extent)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("address in the mapping (MB)")
        ax.figure.colorbar(shown, ax=ax, fraction=0.05)
    axes[0].set_ylabel("guest time (s)")
    if title:
        axes[0].figure.suptitle(f"{title}: share of each 2 MB range on node 0", fontsize=11)
    return axes


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
    """The issue's checks: the largest gap in hot share (points; target 10), the first checkpoint
    where it is (``max_gap_at_s``), and the relative gap of cumulative promotions and demotions at
    the end (target 25 %)."""
    last = table.iloc[-1]

    def relative(name):
        kernel, sim = last[f"kernel_{name}"], last[f"memtier_{name}"]
        return float(abs(sim - kernel) / kernel) if kernel else (0.0 if sim == 0 else math.inf)

    gaps = table["gap_points"].abs()
    return {"max_gap_points": float(gaps.max()), "max_gap_at_s": float(gaps.idxmax()),
            "promoted_gap": relative("promoted"), "demoted_gap": relative("demoted"),
            "kernel_promoted": int(last["kernel_promoted"]), "memtier_promoted": int(last["memtier_promoted"]),
            "kernel_demoted": int(last["kernel_demoted"]), "memtier_demoted": int(last["memtier_demoted"])}


def kernel_spread(runs: pd.DataFrame, timeline: pd.DataFrame, hot_pages: int) -> pd.DataFrame:
    """The kernel against itself, and memtier against that spread.

    ``runs``: the kernel's rows of several runs of one workload (``kernel_runs.csv``: a ``run``
    column beside the timeline's), which differ only in when the accesses start
    (:func:`memtier.kernel.check.kernel_check`'s ``kernel_runs``).  Per checkpoint: the lowest and highest share of
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
    (points, and when), memtier's largest distance outside their range (and the first checkpoint
    where it is), and whether memtier's
    cumulative promotions and demotions at the end lie within the runs' range."""
    last = table.iloc[-1]
    widest = table["spread_points"].idxmax()
    verdict_ = {"kernel_runs": int(table["kernel_runs"].min()),
                "kernel_spread_points": float(table["spread_points"].max()), "kernel_spread_at_s": float(widest),
                "memtier_outside_points": float(table["outside_points"].max()),
                "memtier_outside_at_s": float(table["outside_points"].idxmax())}
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
