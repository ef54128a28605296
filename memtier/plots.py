"""Figures shared by the notebooks and ``memtier reproduce``: measured beside modelled."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .measurements import format_page_size

SCOPE_MARKERS = {"copy": "o", "migrate": "s", "syscall": "^"}


def _axes(ax, figsize=(5.5, 4.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_fit(fit, ax=None):
    """Measured against modelled GB/s: one point per measurement, the 1:1 line and a +-15% band."""
    ax = _axes(ax)
    table = fit.residuals()
    for scope, rows in table.groupby("scope"):
        ax.scatter(rows["gbps"], rows["modelled_gbps"], marker=SCOPE_MARKERS[scope], label=scope,
                   alpha=0.8)
    high = 1.1 * max(table["gbps"].max(), table["modelled_gbps"].max())
    low = 0.9 * min(table["gbps"].min(), table["modelled_gbps"].min())
    line = np.geomspace(low, high, 50)
    ax.plot(line, line, color="k", lw=1)
    ax.fill_between(line, line * 0.85, line * 1.15, color="0.85", label="±15%", zorder=0)
    ax.set(xscale="log", yscale="log", xlabel="measured GB/s", ylabel="modelled GB/s",
           title=f"fit: median error {fit.median_error:.1%}, largest {fit.max_error:.1%}")
    ax.legend(title="timer scope")
    return ax


def plot_scaling(fit, table, x="workers", ax=None, label_by=("batched", "exchange"), title=None,
                 interval=True):
    """Throughput against ``x`` for each configuration series: measured points, modelled lines
    (with the bootstrap band) evaluated on a fine grid between and beyond the measured points."""
    import pandas as pd

    ax = _axes(ax)
    group_columns = [c for c in ("page_size", "n_pages", "copy", "batched", "exchange", "scope")
                     if c != x]
    for key, rows in table.groupby(group_columns, sort=False):
        config = dict(zip(group_columns, key))
        name = ", ".join([format_page_size(config["page_size"]), f"{config['n_pages']} page{'s' if config['n_pages'] > 1 else ''}",
                          config["scope"]] + [c for c in label_by if config.get(c)])
        grid_values = np.unique(np.r_[np.geomspace(1, rows[x].max() * 2, 24).round(),
                                      rows[x]]).astype(int) if x == "workers" else np.sort(rows[x].unique())
        grid = pd.DataFrame([{**config, x: v} for v in grid_values])
        modelled = fit.predict(grid)
        (line,) = ax.plot(grid_values, modelled, label=name)
        if interval and len(fit.samples):
            low, high = fit.predict_interval(grid)
            ax.fill_between(grid_values, low, high, color=line.get_color(), alpha=0.15, lw=0)
        if "gbps" in rows:
            ax.plot(rows[x], rows["gbps"], "o", color=line.get_color())
    if x == "workers":
        ax.set_xscale("log", base=2)
    ax.set(xlabel=x, ylabel="GB/s", title=title or "")
    ax.legend(fontsize="small")
    return ax


def plot_breakdown(params, configurations: dict, ax=None, title="Where the time of one call goes"):
    """Stacked bars of :func:`memtier.model.time_breakdown`, one bar per named configuration,
    as a share of the call so that a 4 KiB page and a batch of THPs compare at a glance.

    ``configurations`` maps a label to the keyword arguments of ``call_time_us``
    (``page_bytes``, ``n_pages``, ``workers``, ...)."""
    import pandas as pd

    from .model import time_breakdown

    ax = _axes(ax, figsize=(7, 3.6))
    rows = [time_breakdown(params, **config).iloc[0] for config in configurations.values()]
    table = pd.DataFrame(rows, index=list(configurations))
    share = table.div(table.sum(axis=1), axis=0) * 100
    share.plot.barh(stacked=True, ax=ax, width=0.7, color=["C0", "C1", "C2", "C7"])
    totals = table.sum(axis=1)
    for i, (label, total) in enumerate(totals.items()):
        gb = configurations[label]["page_bytes"] * configurations[label]["n_pages"] / total / 1e3
        ax.text(101, i, f"{total:,.0f} us, {gb:.2f} GB/s", va="center", fontsize="small")
    ax.set(xlim=(0, 140), xlabel="share of the system call's time (%)", title=title)
    ax.invert_yaxis()
    ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.18), ncol=4, fontsize="small")
    return ax


def plot_what_if(params, *, page_bytes=2 << 20, n_pages=16, batched=True, exchange=False,
                 scope="migrate", dma=False, max_workers=32, compare=None, ax=None):
    """Modelled GB/s against threads (or DMA channels) for ``params`` and, dashed, for
    ``compare`` (the fitted machine) so a what-if reads against the reference."""
    from .model import throughput_gbps

    ax = _axes(ax, figsize=(6, 4))
    workers = np.unique(np.geomspace(1, max_workers, 40).round().astype(int))
    config = dict(batched=batched, exchange=exchange, scope=scope, dma=dma)
    ax.plot(workers, throughput_gbps(params, page_bytes, n_pages, workers=workers, **config),
            lw=2, label="what if")
    if compare is not None:
        ax.plot(workers, throughput_gbps(compare, page_bytes, n_pages, workers=workers, **config),
                "--", color="0.4", label="fitted to the RFC")
    ax.axhline(params.link_gbps, color="C3", lw=1, ls=":", label="copy ceiling (link_gbps)")
    ax.set(xscale="log", xlabel="DMA channels" if dma else "copy threads", ylabel="GB/s",
           title=f"{n_pages} x {format_page_size(page_bytes)}, {scope}"
                 f"{', batched' if batched else ''}{', exchange' if exchange else ''}")
    ax.set_xscale("log", base=2)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    return ax
