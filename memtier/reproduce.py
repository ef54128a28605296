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

from . import datasets
from .fitting import Fit, cross_validate, fit, identifiable
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


def figure_multithreaded_copy(result: Fit, table: pd.DataFrame):
    import matplotlib.pyplot as plt

    from .plots import plot_scaling

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained", sharey=True)
    single = _rfc_groups(table)["single"]
    for ax, scope in zip(axes, ("migrate", "copy")):
        cpu = single[(single["copy"] == "cpu") & (single["scope"] == scope)]
        plot_scaling(result, cpu, ax=ax, title=f"one 2 MiB THP, scope {scope}")
        dma = single[(single["copy"] == "dma") & (single["scope"] == scope)]
        plot_scaling(result, dma, ax=ax, title=f"one 2 MiB THP, scope {scope}")
        ax.lines[-2].set_label(f"DMA channels, {scope}")
        ax.set_xlabel("copy threads or DMA channels")
        ax.legend(fontsize="small")
    fig.suptitle("Multi-threaded and DMA copy (patches 01-08): points measured, lines modelled")
    return fig


def figure_batched(result: Fit, table: pd.DataFrame):
    import matplotlib.pyplot as plt

    from .plots import plot_scaling

    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    rows = _rfc_groups(table)["batch16"]
    plot_scaling(result, rows[rows["scope"] == "migrate"], ax=ax,
                 title="16 THPs migrated, batched or one by one (scope migrate)")
    return fig


def figure_exchange(result: Fit, table: pd.DataFrame):
    import matplotlib.pyplot as plt

    from .plots import plot_scaling

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    groups = _rfc_groups(table)
    thp = groups["exchange"]
    plot_scaling(result, thp[(thp["scope"] == "migrate") & thp["page_size"].eq(2 << 20)], ax=axes[0],
                 title="16 THPs: batched exchange vs batched migration")
    small = groups["small"]
    plot_scaling(result, small[small["exchange"]], ax=axes[1],
                 title="512 4 KiB pages, batched exchange")
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
    line = np.geomspace(0.1, 15, 20)
    ax.plot(line, line, "k", lw=1)
    ax.fill_between(line, line * 0.85, line * 1.15, color="0.85", zorder=0, label="±15%")
    ax.set(xscale="log", yscale="log", xlabel="measured GB/s", ylabel="predicted GB/s (never seen)",
           title="leave one configuration out")
    ax.legend()
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


def reproduce(out="memtier-results", *, quick: bool = False, force: bool = False,
              bootstrap: int | None = None) -> Path:
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
                              f"{' ...' if len(clashes) > 3 else ''}; use another --out or --force")
    if bootstrap is not None and (isinstance(bootstrap, bool) or int(bootstrap) != bootstrap or bootstrap < 0):
        raise ValueError(f"bootstrap={bootstrap!r}; give a whole number of rounds, 0 or more")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / MARKER, "memtier reproduce is writing this folder, or was interrupted; run it again "
               "to complete it\n", force=True)
    rounds = bootstrap if bootstrap is not None else (20 if quick else 200)

    table = datasets.rfc_2019()
    result = fit(table, bootstrap=rounds)
    result.save(out / "rfc_fit.json", force=True)
    write_text(out / "fit_report.txt", result.report() + "\n", force=True)
    _csv(result.residuals().drop(columns="given"), out / "rfc_measured_vs_modelled.csv")

    cv = cross_validate(table, free=result.free)
    _csv(cv.drop(columns="given"), out / "cross_validation.csv")
    genuine = cv[cv["lost"] == ""]
    machines = other_machines(result)
    _csv(machines, out / "other_machines.csv")

    figures = {
        "fig_fit.png": result.plot().figure,
        "fig_multithreaded_copy.png": figure_multithreaded_copy(result, table),
        "fig_batched_migration.png": figure_batched(result, table),
        "fig_exchange.png": figure_exchange(result, table),
        "fig_cross_validation.png": figure_cross_validation(cv),
    }
    for name, figure in figures.items():
        save_figure(figure, out / name, force=True, dpi=120)  # atomic: never half a PNG
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
        f"- other machines ({', '.join(machines['machine'].unique()[1:])}; 2-4 figures each): "
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
    return out


def _worst(table: pd.DataFrame) -> str:
    from .measurements import format_page_size

    row = table.loc[np.abs(table["relative_error"]).idxmax()]
    return (f"{row['n_pages']} x {format_page_size(row['page_size'])}, {row['workers']} "
            f"{row['copy']}, {row['scope']}: {row['gbps']:.3f} measured, "
            f"{row['predicted_gbps']:.3f} predicted")
