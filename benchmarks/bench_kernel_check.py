"""memtier's side of ``memtier kernel-check``: one simulation with a snapshot at every
checkpoint against one simulation per checkpoint, on the committed runs of each workload.

``kernel_check.simulate_timeline`` needs where each page is, and how many pages moved, at every
checkpoint of guest time.  Until 2026-11-27 it ran the simulator once per checkpoint on the
stream cut there (the run is causal, so that is the state of one run at that point): C
checkpoints cost about C^2 / 2 checkpoints' worth of simulation.  It now runs once, with
``simulate(..., snapshots=...)`` copying the kernels' state at each cut and closing the open
period on the copy, as the cut run closes it.  This prints, for each committed run named, both
times, their ratio and whether the rows are the same (they must be, to the page).

    python3 benchmarks/bench_kernel_check.py                  # the first 12 s of each run
    python3 benchmarks/bench_kernel_check.py --up-to 0        # every checkpoint (minutes)
    python3 benchmarks/bench_kernel_check.py --runs initramfs_zipf

The runs are read from ``data/kernel_check/<run>_guest.json`` (``kernel_check.load_run``);
the first warms the compiled kernels up before either timing.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import memtier
from memtier.simulation.simulator import simulate

DATA = Path(__file__).resolve().parent.parent / "data" / "kernel_check"
RUNS = ["initramfs_hot_set", "initramfs_phase", "initramfs_zipf", "initramfs_hot_set_1000mb"]
COLUMNS = ["time_s", "fast_hot_pages", "fast_cold_pages", "promoted", "demoted"]


def one_run_per_checkpoint(w, guest: dict, up_to: int) -> pd.DataFrame:
    """The earlier ``simulate_timeline``: the simulator on the stream cut at each checkpoint."""
    kc = memtier.kernel_check
    stream = kc.access_stream(w)
    params = dict(guest["params"])
    if params.get("scan_cost_charged", 1.0) != 0:
        params["scan_pte_ns"] = 0.0
    per_checkpoint = w.slots_per_checkpoint * w.per_slot
    rows = []
    for c in range(1, up_to + 1):
        result = simulate(stream[:c * per_checkpoint], "numa-balancing", guest["fast_capacity"],
                          slow_capacity=guest["slow_capacity"], n_pages=w.total_pages,
                          period_s=w.checkpoint_ms / 1e3, fit=kc.free_moves(), fast_access_ns=w.access_ns,
                          slow_access_ns=w.access_ns, rmap_ns=0.0, **params)
        on_fast, hot = result.final_node == 0, kc.hot_mask(w, c)
        rows.append({"time_s": c * w.checkpoint_ms / 1e3, "fast_hot_pages": int((on_fast & hot).sum()),
                     "fast_cold_pages": int((on_fast & ~hot).sum()),
                     "promoted": int(result.periods["promoted"].sum()),
                     "demoted": int(result.periods["demoted"].sum())})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=RUNS, help="committed runs (data/kernel_check/<run>_guest.json)")
    parser.add_argument("--up-to", type=int, default=12, help="checkpoints to simulate (0: all)")
    args = parser.parse_args()
    kc = memtier.kernel_check
    warm = kc.load_run(DATA / f"{args.runs[0]}_guest.json")
    kc.simulate_timeline(warm["workload"], warm["simulator"], up_to=1)
    print(f"{'run':<28} {'checkpoints':>11} {'per checkpoint (s)':>19} {'snapshots (s)':>14} {'ratio':>7}  rows")
    for name in args.runs:
        run = kc.load_run(DATA / f"{name}_guest.json")
        w, guest = run["workload"], run["simulator"]
        up_to = w.checkpoints if args.up_to <= 0 else min(args.up_to, w.checkpoints)
        start = time.perf_counter()
        one_pass = kc.simulate_timeline(w, guest, up_to=up_to)
        fast = time.perf_counter() - start
        start = time.perf_counter()
        baseline = one_run_per_checkpoint(w, guest, up_to)
        slow = time.perf_counter() - start
        same = (one_pass[COLUMNS].to_numpy() == baseline[COLUMNS].to_numpy()).all()
        print(f"{name:<28} {up_to:>11} {slow:>19.1f} {fast:>14.1f} {slow / fast:>6.1f}x  "
              f"{'the same' if same else 'DIFFERENT'}", flush=True)


if __name__ == "__main__":
    main()
