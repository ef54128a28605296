"""A sweep on a local Dask cluster of 2 worker processes against the same sweep in-process.

Target (issue 12): a grid of at least 24 cells on a 2-core machine, speedup >= 1.6x.

    python3 benchmarks/bench_sweep.py                       # 140 cells, 50 M accesses a trace
    python3 benchmarks/bench_sweep.py --accesses 5000000    # a quicker run

The grid: two traces over 100,000 pages (a GUPS-like hot set given by path, read
memory-mapped by the workers; a zipf trace given as an array, scattered once to each worker)
x every policy of the simulator x five fast capacities x two mechanisms (``linux``, ``mt8``).
With ``--pages 1000000`` a cell's state no longer fits the caches, and on a 2-core VM two
processes then slow each other down (the control below shows it).  Times are wall-clock
of the whole ``memtier.sweep`` call:

- in-process: ``workers=1``, after a one-cell warm-up that loads the compiled kernels;
- local cluster: ``workers=2``, starting the cluster (two processes that import memtier and
  load the kernels) and stopping it inside the timed call: what a user waits for.  Its CPU
  time (this process, the scheduler's and the client's, plus the cluster's processes) is
  printed against the in-process run's: the work Dask and the second process add, a figure
  that a machine busy with other work inflates less than the wall times;
- the same on a cluster already running (``client=``), which is how a study of many
  sweeps runs;
- a control without Dask: the same simulations by two processes of
  ``concurrent.futures.ProcessPoolExecutor`` (both traces read from files, the pool started
  inside the timing).  On a machine whose two cores are busy with other work, this says how
  much two processes can gain at all there.

Both give the same table (checked, timing columns aside).  The cost model is fitted once,
before timing, and passed to every run.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

import memtier
from memtier import workloads
from memtier.simulation.simulator import POLICIES
from memtier.simulation.sweeps import RUN_COLUMNS


def _simulate(trace_path, policy, share, mechanism, fit):
    trace = workloads.load_trace(trace_path)
    n_pages = int(trace.max()) + 1
    return memtier.simulate(trace, policy, max(1, round(share * n_pages)), mechanism=mechanism, fit=fit).summary()


def _cpu_seconds() -> tuple[float, float]:
    """CPU time of this process and of its finished children (the local cluster's nannies and
    workers, once they have exited): a measure of the work done that other processes on the
    machine do not inflate as much as they inflate wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--accesses", type=int, default=50_000_000, help="accesses per trace")
    parser.add_argument("--dir", default=None, help="where to keep the trace file (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="bench_sweep_"))
    hot = folder / f"hot_{args.pages}_{args.accesses}.npy"
    if not hot.exists():
        workloads.save_trace(workloads.hot_set(args.pages, args.accesses, hot_fraction=0.1, phases=4, seed=1), hot)
    traces = {"hot": hot, "zipf": workloads.zipf(args.pages, args.accesses, alpha=1.0, seed=2)}
    shares = [0.02, 0.05, 0.10, 0.20, 0.40]
    mechanisms = ["linux", "mt8"]
    grid = dict(policies="all", fast_capacity=[f"{100 * s:g}%" for s in shares], mechanisms=mechanisms,
                fit=memtier.default_fit(), progress=False)
    cells = len(traces) * len(POLICIES) * len(shares) * len(mechanisms)
    print(f"{cells} cells: 2 traces of {args.accesses:,} accesses over {args.pages:,} pages, "
          f"{os.cpu_count()} cores; load average before the run {os.getloadavg()[0]:.2f} (other processes' demand "
          "for the cores over the last minute; where it is well above 0, the wall-clock speedups measure them too)")

    memtier.sweep({"hot": hot}, ["lru"], ["5%"], ["mt8"], workers=1, fit=grid["fit"], progress=False)  # warm-up
    cpu = _cpu_seconds()
    start = time.perf_counter()
    here = memtier.sweep(traces, workers=1, **grid)
    t_here = time.perf_counter() - start
    cpu_here = _cpu_seconds()[0] - cpu[0]
    print(f"in-process:                    {t_here:7.1f} s  ({cells / t_here:.2f} cells/s)")

    cpu = _cpu_seconds()
    start = time.perf_counter()
    local = memtier.sweep(traces, workers=2, **grid)
    t_local = time.perf_counter() - start
    cpu_client, cpu_workers = (after - before for after, before in zip(_cpu_seconds(), cpu))
    print(f"local cluster, 2 workers:      {t_local:7.1f} s  speedup {t_here / t_local:.2f}x "
          "(cluster start and stop included; target >= 1.6x)")
    print(f"  CPU time: in-process {cpu_here:.1f} s; local cluster {cpu_client + cpu_workers:.1f} s "
          f"({cpu_workers:.1f} s in its processes, {cpu_client:.1f} s here: the scheduler and the client), "
          f"{(cpu_client + cpu_workers) / cpu_here:.2f}x the in-process work")

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("memtier"))  # the workers import memtier before timing
        start = time.perf_counter()
        warm = memtier.sweep(traces, client=client, **grid)
        t_warm = time.perf_counter() - start
    print(f"running cluster, 2 workers:    {t_warm:7.1f} s  speedup {t_here / t_warm:.2f}x")

    from concurrent.futures import ProcessPoolExecutor

    zipf_path = folder / f"zipf_{args.pages}_{args.accesses}.npy"
    workloads.save_trace(traces["zipf"], zipf_path, force=True)
    jobs = [(path, policy, share, mechanism, grid["fit"].params) for path in (hot, zipf_path)
            for policy in POLICIES for share in shares for mechanism in mechanisms]
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        control = list(pool.map(_simulate, *zip(*jobs)))
    t_pool = time.perf_counter() - start
    print(f"control, 2 plain processes:    {t_pool:7.1f} s  speedup {t_here / t_pool:.2f}x (no Dask)")
    assert [s["fast_hit_ratio"] for s in control] == list(here["fast_hit_ratio"])

    for table in (local, warm):
        pd.testing.assert_frame_equal(here.drop(columns=list(RUN_COLUMNS)), table.drop(columns=list(RUN_COLUMNS)))
    print("tables identical (timing columns aside); cell times in-process: "
          f"median {here['seconds'].median():.2f} s, total {here['seconds'].sum():.1f} s")


if __name__ == "__main__":
    main()
