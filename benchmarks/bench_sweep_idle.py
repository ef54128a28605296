"""What an idle local Dask cluster of 2 costs in CPU time, with Dask's timers and with memtier's.

The local cluster ``memtier.sweep`` starts runs with ``LOCAL_CONFIG``
(``memtier/simulation/sweeps.py``) and its workers are set up by
``memtier/simulation/_sweep_worker.py``; before, it ran with Dask's settings but for the
workers' statistical profiler, switched off.  This measures, for each in turn: the CPU time an idle
cluster of 2 spends per second (the scheduler and the nannies in this process, the two worker
processes), and how long ``close()`` takes after a few cells ran.  CPU time spent idle is what
the cells lose on the cores they run on; a machine busy with other work inflates it less than it
inflates wall time, but the figures still move with the load.

    python3 benchmarks/bench_sweep_idle.py [--seconds 15] [--repeats 2]
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import dask
import psutil

from memtier import workloads
from memtier.simulation import sweeps


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def measure(memtiers: bool, seconds: float, trace: str) -> tuple[float, float, float]:
    """(ms of CPU a second in this process, in the workers; seconds to close)."""
    from distributed import Client, LocalCluster

    if memtiers:
        client, cluster = sweeps._local_cluster(2)
    else:
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.CRITICAL)
        client = Client(cluster, set_as_default=False)
    try:
        cells = [client.submit(sweeps._run_cell, trace, {"policy": policy, "fast_capacity": 1_000, "mechanism": "mt8"},
                               {}, pure=False) for policy in ("lru", "active-shrink", "static", "oracle")]
        client.gather(cells)
        del cells
        time.sleep(1.0)
        me = psutil.Process()
        workers = [p for p in me.children(recursive=True) if "resource_tracker" not in " ".join(p.cmdline())]
        here, there = _cpu(me), sum(_cpu(p) for p in workers)
        time.sleep(seconds)
        here, there = _cpu(me) - here, sum(_cpu(p) for p in workers) - there
    finally:
        start = time.perf_counter()
        client.close()
        cluster.close()
        closing = time.perf_counter() - start
    return 1000 * here / seconds, 1000 * there / seconds, closing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="idle time measured per cluster")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_sweep_idle_") as folder:
        trace = str(workloads.save_trace(workloads.zipf(100_000, 2_000_000, seed=2), Path(folder) / "zipf.npy"))
        sweeps._run_cell(trace, {"policy": "lru", "fast_capacity": 1_000, "mechanism": "mt8"}, {})  # kernels
        print(f"idle local cluster of 2 for {args.seconds:g} s; load average before {os.getloadavg()[0]:.2f}; "
              f"dask {dask.__version__}")
        for _ in range(args.repeats):
            for memtiers, label in ((False, "Dask's timers     "), (True, "memtier's settings")):
                here, there, closing = measure(memtiers, args.seconds, trace)
                print(f"{label}: {here:5.1f} ms of CPU a second here (scheduler, nannies, client), "
                      f"{there:5.1f} ms in the workers, {here + there:5.1f} ms in all; close() {closing:.2f} s",
                      flush=True)


if __name__ == "__main__":
    main()
