"""Figures shared by the notebooks and ``memtier reproduce``: measured beside modelled."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .measurement.schema import format_page_size

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


#: What every scaling figure's marks mean, said in its legend.
MEASURED_LABEL = "points: measured"
MODELLED_LABEL = "lines: modelled (dotted beyond the measured range)"
BAND_LABEL = "shaded: 95% interval from the bootstrap of the fit (fitted parameters only)"


def _key_handles():
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [Line2D([], [], marker="o", ls="", color="0.35", label=MEASURED_LABEL),
            Line2D([], [], color="0.35", label=MODELLED_LABEL),
            Patch(color="0.35", alpha=0.15, lw=0, label=BAND_LABEL)]


def _series(axes, series=True, key=True):
    keys = {MEASURED_LABEL, MODELLED_LABEL, BAND_LABEL}
    pairs = {}
    for ax in axes if series else ():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in keys and not label.startswith("_"):
                pairs.setdefault(label, handle)
    for handle in _key_handles() if key else ():
        pairs.setdefault(handle.get_label(), handle)
    return list(pairs.values()), list(pairs)


def legend_below(ax, ncol=1, key=True):
    """The axes' series (and the key to the marks), in a legend under the axes, where it hides
    no line however dense the lines are."""
    handles, labels = _series([ax], key=key)
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol,
                     fontsize="small", frameon=False)


def figure_legend(fig, ncol=2, series=True):
    """One legend under all the figure's axes: every series once (unless ``series=False``, when
    each axes has its own), and the key to the marks."""
    handles, labels = _series(fig.axes, series=series)
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize="small",
                      frameon=False)


def plot_scaling(fit, table, x="workers", ax=None, label_by=("batched", "exchange"), title=None,
                 interval=True, label=None, x_max=None, legend=True):
    """Throughput against ``x`` for each configuration series: measured points, modelled lines
    (with the bootstrap band) evaluated on a fine grid between and beyond the measured points.

    Every series is modelled over the same range (up to ``x_max``, by default twice the
    largest ``x`` measured in ``table``): solid where the series was measured, dotted beyond,
    so a series measured at one point only shows as dotted.  The shaded band is the 95%
    interval over the bootstrap replicates of the fit: it covers the uncertainty of the fitted
    parameters, not of those the fit kept *fixed* (``fit.report()`` lists them).  ``label``
    names a lone series.  The legend goes under the axes, with the key to the marks (or, with
    ``legend=False``, is left to :func:`figure_legend`).
    """
    import pandas as pd

    ax = _axes(ax)
    group_columns = [c for c in ("page_size", "n_pages", "copy", "batched", "exchange", "scope")
                     if c != x]
    top = x_max if x_max is not None else 2 * table[x].max()
    for key, rows in table.groupby(group_columns, sort=False):
        config = dict(zip(group_columns, key))
        name = label or ", ".join(
            [format_page_size(config["page_size"]),
             f"{config['n_pages']} page{'s' if config['n_pages'] > 1 else ''}", config["scope"]]
            + (["DMA"] if config.get("copy") == "dma" else [])
            + [c for c in label_by if config.get(c)])
        if x == "workers":
            grid_values = np.unique(np.r_[np.geomspace(1, top, 24).round(), rows[x]]).astype(int)
        else:
            grid_values = np.sort(rows[x].unique())
        grid = pd.DataFrame([{**config, x: v} for v in grid_values])
        modelled = fit.predict(grid)
        measured = (grid_values >= rows[x].min()) & (grid_values <= rows[x].max())
        (line,) = ax.plot(grid_values[measured], modelled[measured], label=name)
        ax.plot(grid_values, modelled, ":", color=line.get_color())
        if interval and len(fit.samples):
            low, high = fit.predict_interval(grid)
            ax.fill_between(grid_values, low, high, color=line.get_color(), alpha=0.15, lw=0)
        if "gbps" in rows:
            ax.plot(rows[x], rows["gbps"], "o", color=line.get_color())
    if x == "workers":
        ax.set_xscale("log", base=2)
    ax.set(xlabel=x, ylabel="GB/s", title=title or "")
    if legend:
        legend_below(ax)
    return ax


def plot_breakdown(params, configurations: dict, ax=None, title="Where the time of one call goes"):
    """Stacked bars of :func:`memtier.model.cost.time_breakdown`, one bar per named configuration,
    as a share of the call so that a 4 KiB page and a batch of THPs compare at a glance.

    ``configurations`` maps a label to the keyword arguments of ``call_time_us``
    (``page_bytes``, ``n_pages``, ``workers``, ...)."""
    import pandas as pd

    from .model.cost import time_breakdown

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
    ``compare`` (the fitted machine) so a what-if reads against the reference.

    The GB/s axis is logarithmic: a 4 KiB page moves at a few hundred MB/s and the copy
    ceiling is tens of GB/s, and both stay readable.  The legend sits under the axes."""
    from .model.cost import throughput_gbps

    ax = _axes(ax, figsize=(6, 4.6))
    workers = np.unique(np.geomspace(1, max_workers, 40).round().astype(int))
    config = dict(batched=batched, exchange=exchange, scope=scope, dma=dma)
    curves = [throughput_gbps(params, page_bytes, n_pages, workers=workers, **config)]
    ax.plot(workers, curves[0], lw=2, label="what if")
    if compare is not None:
        curves.append(throughput_gbps(compare, page_bytes, n_pages, workers=workers, **config))
        ax.plot(workers, curves[1], "--", color="0.4", label="fitted to the RFC")
    ceiling = params.dma_ceiling_gbps if dma else params.link_gbps
    ax.axhline(ceiling, color="C3", lw=1, ls=":",
               label="DMA engine ceiling (dma_ceiling_gbps)" if dma else "copy ceiling (link_gbps)")
    low = min(float(np.min(c)) for c in curves)
    ax.set(xlabel="DMA channels" if dma else "copy threads", ylabel="GB/s (log scale)",
           title=f"{n_pages} x {format_page_size(page_bytes)}, {scope}"
                 f"{', batched' if batched else ''}{', exchange' if exchange else ''}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_ylim(low / 2, max(ceiling, max(float(np.max(c)) for c in curves)) * 2)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small", frameon=False)
    return ax
