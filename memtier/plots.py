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
        name = ", ".join([format_page_size(config["page_size"]), f"{config['n_pages']} pages",
                          config["scope"]] + [c for c in label_by if config.get(c)])
        grid_values = np.unique(np.r_[np.geomspace(rows[x].min(), rows[x].max() * 2, 24).round(),
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
