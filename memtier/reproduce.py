"""``memtier reproduce``: the RFC's figures and tables, measured beside modelled, headless.

Everything written comes from the package's functions, the same ones the notebooks call:
the fit of the cost model to the RFC's table, its cross-validation, the figure of each patch
group, and fits to the other published machines with predictions of rows left out.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

import numpy as np
import pandas as pd

from .measurement import datasets
from .model.fitting import Fit, cross_validate, fit, identifiable
from .outputs import atomic_write, save_figure, write_text

#: (file name, what it shows) of everything ``reproduce`` writes, in order.
OUTPUTS = {
    "summary.md": "the accuracy figures and where to look",
    "fit_report.txt": "parameters with 95% intervals, every row measured and modelled",
    "rfc_fit.json": "the fit, for memtier predict and load_fit",
    "rfc_measured_vs_modelled.csv": "the RFC's 52 figures beside the model",
    "cross_validation.csv": "each configuration predicted by a fit that never saw it",
    "other_machines.csv": "other published machines: fitted, and each row left out in turn",
    "fig_fit.png": "measured against modelled, all rows",
    "fig_multithreaded_copy.png": "patches 01-06: one THP, threads 1-16, and the DMA engine",
    "fig_batched_migration.png": "patches 09-11: 16 THPs, batched or not",
    "fig_exchange.png": "patches 12-17: exchange against migration",
    "fig_cross_validation.png": "held-out predictions against measurements",
}


#: Present in an output folder while ``reproduce`` is writing it: a run that was interrupted
#: leaves it, and a rerun then completes the folder (rewriting the files of the earlier run)
#: without needing ``--force``.
MARKER = ".memtier-reproduce-incomplete"


def _csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_write(path, force=True) as handle:
        table.to_csv(handle, index=False)


def _rfc_groups(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    thp = table["page_size"] == 2 << 20
    return {
        "single": table[thp & (table["n_pages"] == 1)],
        "batch16": table[thp & (table["n_pages"] == 16) & ~table["exchange"]],
        "exchange": table[table["exchange"] | (thp & (table["n_pages"] == 16) & table["batched"])],
        "small": table[table["page_size"] == 4096],
    }


#: Each scaling figure's subtitle: what its marks are.
KEY = ("points measured, lines modelled (dotted where nothing was measured), "
       "shaded: 95% bootstrap interval of the fitted parameters")


def dma_fixed_envelope(result: Fit, rows: pd.DataFrame, workers, scope: str | None = None,
                       factor: float = 2.0):
    """What the DMA parameters the fit kept at stated values leave open: GB/s over ``workers``
    channels (for the configuration of ``rows`` in timer ``scope``, by default its first row's)
    with each such DMA parameter in turn divided or multiplied by ``factor`` (within its
    bounds), the fitted DMA parameters refitted each time to all the measured DMA ``rows``
    (the DMA structure kept as fitted).

    The RFC has one DMA figure (16 channels), so one DMA parameter is fitted and the others are
    held at stated estimates; the bootstrap band covers only the fitted one.  This envelope
    shows how much the curve at other channel counts rests on those estimates.  Returns the
    lower and upper GB/s, and the names of the parameters varied (those that change the curve).
    """
    from .model.cost import throughput_gbps

    bounds = result.params.bounds()
    names = [n for n in bounds if n.startswith("dma_")]
    free = [n for n in names if n in result.free]
    row = (rows[rows["scope"] == scope] if scope else rows).iloc[0]

    def curve(params):
        return throughput_gbps(params, int(row["page_size"]), int(row["n_pages"]), workers=workers, dma=True,
                               batched=bool(row["batched"]), exchange=bool(row["exchange"]),
                               scope=row["scope"])

    reference = curve(result.params)
    curves, varied = [reference], []
    for name in (n for n in names if n not in result.free):
        low, high = bounds[name]
        value = getattr(result.params, name)
        for f in (1 / factor, factor):
            base = result.params.replace(**{name: min(max(value * f, low), high)})
            params = fit(rows, free=free, base=base, bootstrap=0, structure=base.dma_structure,
                         channels_per_engine=base.dma_channels_per_engine,
                         batch_pages=base.migrate_batch_pages).params if free else base
            curves.append(curve(params))
            if not np.allclose(curves[-1], reference, rtol=1e-3) and name not in varied:
                varied.append(name)
    curves = np.array(curves)
    return curves.min(axis=0), curves.max(axis=0), varied


def figure_multithreaded_copy(result: Fit, table: pd.DataFrame):
    import matplotlib.pyplot as plt

    from .plots import figure_legend, plot_scaling

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.6), layout="constrained", sharey=True)
    single = _rfc_groups(table)["single"]
    for ax, scope in zip(axes, ("migrate", "copy")):
        cpu = single[(single["copy"] == "cpu") & (single["scope"] == scope)]
        plot_scaling(result, cpu, ax=ax, label="CPU copy threads", legend=False)
        dma = single[(single["copy"] == "dma") & (single["scope"] == scope)]
        plot_scaling(result, dma, ax=ax, label="DMA channels", x_max=2 * cpu["workers"].max(),
                     title=f"one 2 MiB THP, scope {scope}", legend=False)
        workers = np.unique(np.geomspace(1, 2 * cpu["workers"].max(), 24).round()).astype(int)
        low, high, fixed = dma_fixed_envelope(result, single[single["copy"] == "dma"], workers, scope)
        ax.fill_between(workers, low, high, facecolor="none", edgecolor="C1", hatch="///", lw=0,
                        alpha=0.6, label="DMA, its stated (not fitted) parameters halved or doubled")
        ax.set_xlabel("copy threads or DMA channels")
    figure_legend(fig, ncol=2)
    fig.suptitle("Multi-threaded and DMA copy (patches 01-08)\n" + KEY
                 + "\nThe RFC measured DMA at 16 channels only; hatched: the curve when "
                 + ", ".join(fixed) + ",\nkept at stated values by the fit, is halved or doubled in turn "
                 "(the fitted DMA parameters refitted)",
                 fontsize="medium")
    return fig


def figure_batched(result: Fit, table: pd.DataFrame):
    import matplotlib.pyplot as plt

    from .plots import figure_legend, plot_scaling

    fig, ax = plt.subplots(figsize=(6.5, 6), layout="constrained")
    rows = _rfc_groups(table)["batch16"]
    plot_scaling(result, rows[rows["scope"] == "migrate"], ax=ax,
                 title="16 THPs migrated, batched or one by one (scope migrate)", legend=False)
    figure_legend(fig, ncol=1)
    fig.suptitle("Batched migration (patches 09-11)\n" + KEY.replace(", shaded", ",\nshaded"),
                 fontsize="medium")
    return fig


def figure_exchange(result: Fit, table: pd.DataFrame):
    import matplotlib.pyplot as plt

    from .plots import figure_legend, legend_below, plot_scaling

    fig, axes = plt.subplots(1, 2, figsize=(11, 6.2), layout="constrained")
    groups = _rfc_groups(table)
    thp = groups["exchange"]
    plot_scaling(result, thp[(thp["scope"] == "migrate") & thp["page_size"].eq(2 << 20)], ax=axes[0],
                 title="16 THPs: batched exchange vs batched migration", legend=False)
    small = groups["small"]
    plot_scaling(result, small[small["exchange"]], ax=axes[1],
                 title="512 4 KiB pages, batched exchange", legend=False)
    for ax in axes:  # each panel its own series: the colours repeat from one panel to the other
        legend_below(ax, key=False)
    figure_legend(fig, ncol=3, series=False)
    fig.suptitle("Exchanging pages (patches 12-17)\n" + KEY + "\nThe RFC measured exchange one "
                 "page at a time (not batched) with one thread only: that line is a prediction beyond it",
                 fontsize="medium")
    return fig


def figure_cross_validation(cv: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    genuine = cv[cv["lost"] == ""]
    ax.scatter(genuine["gbps"], genuine["predicted_gbps"], label="held out")
    lost = cv[cv["lost"] != ""]
    if len(lost):
        ax.scatter(lost["gbps"], lost["predicted_gbps"], marker="x", color="C3",
                   label="held out, a parameter lost")
    values = np.r_[cv["gbps"], cv["predicted_gbps"]]
    line = np.geomspace(0.8 * values.min(), 1.25 * values.max(), 20)
    ax.plot(line, line, "k", lw=1, label="predicted = measured")
    ax.fill_between(line, line * 0.85, line * 1.15, color="0.85", zorder=0, label="±15%")
    ax.set(xscale="log", yscale="log", xlabel="measured GB/s", ylabel="predicted GB/s (never seen)",
           title="leave one configuration out")
    ax.legend(fontsize="small")
    fig.suptitle("each point: a measured figure (x) against the model fitted without its\n"
                 "configuration (y); x: a parameter only that configuration constrains", fontsize="medium")
    return fig


def other_machines(base: Fit) -> pd.DataFrame:
    """For each other published machine: fit the parameters its rows constrain (starting from
    the RFC's machine), then predict each row from a fit without it (leave one out)."""
    other = datasets.other_published()
    frames = []
    for machine, rows in other.groupby("machine", sort=False):
        rows = rows.reset_index(drop=True)
        free = identifiable(rows, base.params)[: max(1, len(rows) - 1)]
        fitted = fit(rows, free=free, base=base, bootstrap=0)
        cv = cross_validate(rows, by=["page_size", "n_pages", "workers"], free=free, base=base)
        out = rows[["machine", "page_size", "n_pages", "workers", "scope", "gbps"]].copy()
        out["fitted_gbps"] = fitted.predict(rows)
        out["held_out_gbps"] = cv["predicted_gbps"].to_numpy()
        out["held_out_lost"] = cv["lost"].to_numpy()
        out["rfc_machine_gbps"] = base.predict(rows)
        out["free"] = ",".join(free)
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def _machine_names(machines: pd.DataFrame, rfc: pd.DataFrame) -> list:
    """The machines of ``other_machines.csv`` in order, the RFC's own (its syscall figures from
    another mail) named as such: the summary's counts include its rows."""
    own = set(rfc["machine"])
    return ["the RFC's own machine (another mail)" if name in own else name
            for name in machines["machine"].unique()]


def reproduce(out="memtier-results", *, quick: bool = False, force: bool = False,
              bootstrap: int | None = None, progress=None) -> Path:
    """Fit the model to the RFC's table and write every figure and table into ``out``.

    Parameters
    ----------
    out : path
        Folder to write into; created if missing.  Files already there that ``reproduce``
        would write are kept, and it stops, unless ``force`` is true.
    quick : bool
        Fewer bootstrap rounds (the test suite's mode).
    bootstrap : int, optional
        Bootstrap rounds (default 200, or 20 with ``quick``).
    progress : callable, optional
        Called with a line of text as each step starts, and with the time it took
        (``memtier reproduce`` prints them on stderr).

    Returns
    -------
    pathlib.Path
        The folder written.
    """
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --out")
    if not out.exists() and out.parent != out and not out.parent.is_dir():
        raise FileNotFoundError(f"folder {out.parent} does not exist; create it first or choose another --out")
    resuming = (out / MARKER).exists()  # an interrupted run: its files may be rewritten
    clashes = [name for name in OUTPUTS if (out / name).exists()]
    if clashes and not force and not resuming:
        raise FileExistsError(f"{out} already holds {', '.join(clashes[:3])}"
                              f"{' ...' if len(clashes) > 3 else ''}; use another --out or --force (out=, force=True)")
    if bootstrap is not None and (isinstance(bootstrap, bool) or int(bootstrap) != bootstrap or bootstrap < 0):
        raise ValueError(f"bootstrap={bootstrap!r}; give a whole number of rounds, 0 or more")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / MARKER, "memtier reproduce is writing this folder, or was interrupted; run it again "
               "to complete it\n", force=True)
    rounds = bootstrap if bootstrap is not None else (20 if quick else 200)

    import time

    started = [time.perf_counter()]

    def step(message):
        if progress is not None:
            now = time.perf_counter()
            progress(f"{message} ({now - started[0]:.0f} s so far)")

    table = datasets.rfc_2019()
    step(f"fitting the cost model to the RFC's {len(table)} figures, {rounds} bootstrap rounds")
    result = fit(table, bootstrap=rounds)
    result.save(out / "rfc_fit.json", force=True)
    write_text(out / "fit_report.txt", result.report() + "\n", force=True)
    _csv(result.residuals().drop(columns="given"), out / "rfc_measured_vs_modelled.csv")

    step("predicting each configuration from a fit that never saw it (one fit per configuration)")
    cv = cross_validate(table, free=result.free)
    _csv(cv.drop(columns="given"), out / "cross_validation.csv")
    genuine = cv[cv["lost"] == ""]
    step("fitting the other published machines")
    machines = other_machines(result)
    _csv(machines, out / "other_machines.csv")

    step("drawing the figures")
    figures = {
        "fig_fit.png": _titled(result.plot().figure, "each point: a measured figure (x) against the "
                               "fitted model (y);\nthe line is equality, grey within ±15%"),
        "fig_multithreaded_copy.png": figure_multithreaded_copy(result, table),
        "fig_batched_migration.png": figure_batched(result, table),
        "fig_exchange.png": figure_exchange(result, table),
        "fig_cross_validation.png": figure_cross_validation(cv),
    }
    for name, figure in figures.items():
        save_figure(figure, out / name, force=True, dpi=120, bbox_inches="tight")  # atomic: never half a PNG
        plt.close(figure)

    held = np.abs(genuine["relative_error"])
    genuine_machines = machines[machines["held_out_lost"] == ""]
    machine_errors = np.abs(genuine_machines["held_out_gbps"] / genuine_machines["gbps"] - 1)
    lines = [
        "# memtier reproduce",
        "",
        "The page-migration cost model fitted to the RFC's table (Zi Yan, linux-mm, 2019-04-03).",
        "",
        f"- fit: {len(table)} figures, {len(result.free)} parameters fitted, "
        f"median |error| {result.median_error:.1%}, largest {result.max_error:.1%}",
        f"- leave one configuration out: {len(genuine)} figures predicted by fits that never saw "
        f"them, median |error| {np.median(held):.1%}, largest {held.max():.1%} "
        f"(worst: {_worst(genuine)})",
        f"- {len(cv) - len(genuine)} held-out figures could not be genuinely predicted: they alone "
        f"constrain {', '.join(sorted(set(cv.loc[cv['lost'] != '', 'lost'])))}",
        f"- other published figures ({', '.join(_machine_names(machines, table))}; 2-4 figures each): "
        f"fitted to all of a machine's rows, median |error| "
        f"{np.median(np.abs(machines['fitted_gbps'] / machines['gbps'] - 1)):.1%}; each row predicted "
        f"from the machine's other rows: {len(genuine_machines)} of {len(machines)} rows could be, "
        f"median |error| {np.median(machine_errors):.1%}, largest {machine_errors.max():.1%} "
        f"(other_machines.csv: so few rows leave the model barely determined)",
        f"- bootstrap rounds for the intervals: {rounds}",
        "",
        "## Files",
        "",
    ] + [f"- `{name}`: {what}" for name, what in OUTPUTS.items()]
    write_text(out / "summary.md", "\n".join(lines) + "\n", force=True)
    (out / MARKER).unlink(missing_ok=True)
    step(f"done: {len(OUTPUTS)} files in {out}")
    return out


def _titled(figure, text):
    figure.suptitle(text, fontsize="medium")
    return figure


def _worst(table: pd.DataFrame) -> str:
    from .measurement.schema import format_page_size

    row = table.loc[np.abs(table["relative_error"]).idxmax()]
    return (f"{row['n_pages']} x {format_page_size(row['page_size'])}, {row['workers']} "
            f"{row['copy']}, {row['scope']}: {row['gbps']:.3f} measured, "
            f"{row['predicted_gbps']:.3f} predicted")
