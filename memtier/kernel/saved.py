"""Saved kernel-check runs: their files, their settings, and memtier's side simulated again.

A run's ``--out`` folder (or a committed run's ``data/kernel_check/NAME_guest.json`` and its
siblings) holds the kernel's rows and everything memtier's side needs: :func:`run_files` finds the
files, :func:`load_run` reads ``guest.json`` back as the workload and the simulator's settings
(a rule added since the run was made is set off there, as memtier simulated the run then), and
:func:`resimulate` (``memtier kernel-resimulate``) simulates memtier's side again, with some of
``numa-balancing``'s parameters changed, without the guest; :func:`resimulate_grid` does so for
every combination of a grid.  The timelines themselves are read by
:func:`memtier.kernel.compare.load_timeline` and :func:`memtier.kernel.compare.load_kernel_runs`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..outputs import atomic_write, check_output, save_figure
from .compare import (compare, compare_counters, kernel_spread, load_kernel_runs, load_node_maps, load_timeline,
                      node_maps_compared, plot_timeline, read_kernel_timeline, spread_verdict, verdict, write_counters)
from .simulate import simulate_timeline
from .workload import KernelCheckError, Workload, access_stream, trace_digest, workload_record


def run_files(run) -> dict:
    """The files of a saved kernel-check run: ``run`` is its ``--out`` folder (``guest.json``,
    ``timeline.csv``...) or a ``*guest.json`` whose siblings share its prefix (the committed
    runs: ``data/kernel_check/NAME_guest.json``, ``NAME_timeline.csv``...).  ``{"guest",
    "timeline", "kernel_runs", "kernel_raw"}`` (``kernel_runs`` None when the run had one kernel
    run; ``kernel_raw``, the program's rows of kernel run 0, and ``node_map``, a ``--node-map``
    run's ``node_map.npz``, None when the folder lacks them)."""
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
    kernel_raw = Path(f"{prefix}kernel_raw.csv")
    node_map = Path(f"{prefix}node_map.npz")
    return {"guest": guest_json, "timeline": timeline, "kernel_runs": kernel_runs if kernel_runs.is_file() else None,
            "kernel_raw": kernel_raw if kernel_raw.is_file() else None,
            "node_map": node_map if node_map.is_file() else None}


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
    that :func:`load_run` of it gives the new rows again), ``counters.csv`` (below), and
    ``kernel_runs.csv``, ``kernel_raw.csv`` and ``trace.npy`` copied when the run has them; None
    writes nothing.  The run's own files are
    never written over, even with ``force``.

    Returns ``{"timeline", "comparison", "verdict", "guest", "change"}`` (and ``"spread"``,
    ``"spread_verdict"`` for a run of several kernel runs, and ``"counters"``, also
    ``counters.csv`` with ``out``, when the run has its ``kernel_raw.csv``: the kernel's event
    counters beside memtier's, :func:`memtier.kernel.compare.compare_counters`; and ``"nodes"``,
    also ``node_map.npz`` with the new memtier side, for a ``--node-map`` run: page by page,
    :func:`memtier.kernel.compare.compare_nodes`): ``change`` is what the new settings
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
        inputs = [files["guest"], files["timeline"], files["kernel_runs"], files["kernel_raw"], files["node_map"],
                  w.trace]
        names = ("timeline.csv", "timeline.png", "guest.json") + (("kernel_runs.csv",) if runs is not None else ()) + (
            ("counters.csv", "kernel_raw.csv") if files["kernel_raw"] is not None else ()) + (
            ("node_map.npz",) if files["node_map"] is not None else ()) + (
            ("trace.npy",) if w.kind == "trace" else ())
        for name in names:
            check_output(out / name, force=force, inputs=inputs, what="--out")
    settings = dict(info["simulator"], params={**info["simulator"]["params"], **changed})
    say = progress or (lambda message: None)
    sim = simulate_timeline(w, settings, stream, progress=say, nodes=files["node_map"] is not None)
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
    if files["kernel_raw"] is not None:
        result["counters"] = compare_counters(read_kernel_timeline(files["kernel_raw"], w), sim.attrs["counters"])
    if files["node_map"] is not None:
        saved_maps = load_node_maps(files["node_map"])
        maps, result["nodes"] = node_maps_compared(saved_maps["kernel"], sim, w, saved_maps["time_s"])
    if runs is not None:
        result["spread"] = kernel_spread(runs, timeline, w.hot_pages)
        result["spread_verdict"] = spread_verdict(result["spread"])
    if out is None:
        return result
    record = json.loads(files["guest"].read_text())
    record.update(simulator=settings, workload=workload_record(w), verdict=judged,
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
    if "nodes" in result:
        with atomic_write(out / "node_map.npz", force=force, what="--out", binary=True) as handle:
            np.savez_compressed(handle, **maps)
    if "counters" in result:
        with atomic_write(out / "kernel_raw.csv", force=force, what="--out") as handle:
            handle.write(files["kernel_raw"].read_text())
        write_counters(out / "counters.csv", result["counters"], header, force=force)
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
    simulated with the threshold's first adjustment 60 s into the run: they get 0; and those saved
    before it gave ``scan_time_ticks`` and ``scan_fast_ns`` (before 2026-11-27 12:30 UTC; every
    committed run) were simulated with 32 x the scan's own time and no cost of its own for a
    fast page walked: they get 0 for both (their ``scan_pte_ns`` and ``scan_arm_ns`` are saved)."""
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
        info["simulator"]["params"].setdefault("scan_time_ticks", 0.0)
        info["simulator"]["params"].setdefault("scan_fast_ns", 0.0)
    except (KeyError, TypeError, AttributeError) as error:
        raise KernelCheckError(f"{path} is not a kernel-check guest.json ({error})") from None
    return info
