"""Reading and judging kernel-check's timelines: the kernel's rows and memtier's side by side.

A timeline (``timeline.csv``) has a row per checkpoint and side (``source``: ``"kernel"`` or
``"memtier"``): the hot and cold pages on the fast node, and cumulative promotions and demotions.
:func:`compare` lines the two sides up, :func:`verdict` gives the issue's checks (the largest gap in
hot share, target 10 points; promotions and demotions at the end, target within 25 %),
:func:`kernel_spread` and :func:`spread_verdict` judge memtier against the range of several kernel
runs, and :func:`plot_timeline` draws both.  The readers: :func:`read_kernel_timeline` (the
program's own rows), :func:`kernel_rows` (those rows as the timeline's), :func:`load_timeline` and
:func:`load_kernel_runs` (the saved files).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .workload import KernelCheckError, Workload


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
