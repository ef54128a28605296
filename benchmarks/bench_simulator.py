"""Simulator speed on one core, on every kind of trace: accesses per second of each list
policy and of ``lru``, and libCacheSim's LRU on the same trace file, with the ratios against
the targets.

Targets (issues 4 and 9): every list policy (``static``, ``reclaim-no-demotion``,
``reclaim-demotion``, ``active-shrink``) >= 100 million accesses/s, and ``lru`` >= 10x
libCacheSim's LRU, on zipf
(alpha 0.8 and 1.2), uniform, scan and hot-set traces of 20-100 million accesses over 1
million pages; libCacheSim must also agree with ``lru`` exactly (the same number of misses on
the same file).  ``lru``'s target is the ratio, not the 100 M: both issues name the two
targets apart (issue 4: "``active-shrink`` at least 100 million accesses per second, and
``lru`` at least ten times the rate of libCacheSim's LRU"; issue 9: "every list policy at
least 100 M accesses/s ..., and ``lru`` at least 10x libCacheSim's LRU"), and were the 100 M
``lru``'s too the ratio would never bind (libCacheSim's LRU runs at 3-11 M/s here).  Its
"of target" column is still its own rate over 100 M, printed for comparison with the list
policies and marked "under 100 M/s" where it is, but not counted as a shortfall.  With ``--policies``, the classifier policies of :mod:`memtier.simulation.policies`
are measured too, against their target of 50 million accesses/s (issue 10).

    python3 benchmarks/bench_simulator.py                        # 20 M accesses per trace
    python3 benchmarks/bench_simulator.py --accesses 100000000   # the largest size named
    python3 benchmarks/bench_simulator.py --policies numa-balancing tpp hemem
    python3 benchmarks/bench_simulator.py --periods 100          # periods of a count of accesses

Periods.  By default a period is 1 s of simulated time (``period_s=1``), the shortest of
``mm_manage``'s timer in Zi Yan's RFC (1-5 s, cover letter): how the policies are meant to
run.  A period's end costs work in proportion to the pages the period touched (the metrics'
pass, and for ``active-shrink`` the scan of half of every list), so shorter periods lower
every rate; ``--periods N`` cuts each trace into N periods of equal accesses instead (the
benchmark's earlier setting was 100, periods of 200,000 accesses, 0.03-0.2 s of simulated
time: 5-30 times shorter than the RFC's shortest).

Each trace is saved once as ``.npy`` (int32 page numbers) in ``--dir`` and read
memory-mapped by both simulators: libCacheSim reads the same file as a binary trace,
skipping the ``.npy`` header.  Times are of the whole call (validation pass, chunked reading,
the simulated clock and the per-period metrics included), after a warm-up run that compiles
the kernels and fits the cost model; each is the best of ``--repeat`` runs, in wall-clock
time and in the process's CPU time (on a shared machine the second leaves out the time other
processes held the core, not their effect on the caches); a rate is judged by the better of
the two.  "Bytes per page" counts every array the simulation allocates, divided by the pages.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from memtier import workloads
from memtier.model.fitting import default_fit
from memtier.simulation.simulator import simulate


TRACES = {
    "zipf-0.8": lambda pages, accesses: workloads.zipf(pages, accesses, alpha=0.8, seed=1),
    "zipf-1.2": lambda pages, accesses: workloads.zipf(pages, accesses, alpha=1.2, seed=1),
    "uniform": lambda pages, accesses: workloads.uniform(pages, accesses, seed=1),
    "scan": lambda pages, accesses: workloads.scan(pages, accesses),
    "hot_set": lambda pages, accesses: workloads.hot_set(pages, accesses, hot_fraction=0.1,
                                                          hot_probability=0.9, phases=4, seed=1),
}
LIST_POLICIES = ("static", "reclaim-no-demotion", "reclaim-demotion", "active-shrink")
LIST_TARGET = 100e6    # accesses/s, issue 9
POLICY_TARGET = 50e6   # accesses/s, issue 10 (memtier.simulation.policies)
LRU_TARGET = 10.0      # x libCacheSim's LRU


def make_trace(path: Path, kind: str, n_pages: int, n_accesses: int) -> Path:
    if path.exists() and len(np.load(path, mmap_mode="r")) == n_accesses:
        return path
    return workloads.save_trace(TRACES[kind](n_pages, n_accesses).astype(np.int32), path, force=True)


def _rates(n, wall_start, cpu_start):
    return n / (time.perf_counter() - wall_start), n / (time.process_time() - cpu_start)


def libcachesim_lru(path: Path, capacity: int, repeat: int) -> tuple[float, float, int]:
    """libCacheSim's LRU over the same file (its binary-trace reader, the ``.npy`` header
    skipped); best wall-clock and CPU-time rates of ``repeat`` runs, each with a fresh reader
    and cache, and its misses."""
    import libcachesim

    offset = np.load(path, mmap_mode="r").offset
    best_wall = best_cpu = 0.0
    for _ in range(repeat):
        init = libcachesim.ReaderInitParam(binary_fmt_str="<i", ignore_obj_size=True,
                                           trace_start_offset=offset)
        init.obj_id_field = 1
        reader = libcachesim.TraceReader(str(path), libcachesim.TraceType.BIN_TRACE, init)
        cache = libcachesim.LRU(capacity)
        wall, cpu = time.perf_counter(), time.process_time()
        miss_ratio, _ = cache.process_trace(reader)
        wall_rate, cpu_rate = _rates(reader.n_total_req, wall, cpu)
        best_wall, best_cpu = max(best_wall, wall_rate), max(best_cpu, cpu_rate)
        n = reader.n_total_req
    return best_wall, best_cpu, int(round(miss_ratio * n))


def timed(trace, policy, capacity, periods, fit, repeat):
    """Best wall-clock and CPU-time rates of ``repeat`` runs (the machine may be shared: the
    best is the least disturbed, and CPU time leaves out the time other processes ran)."""
    best_wall = best_cpu = 0.0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = simulate(trace, policy, capacity, fit=fit, **periods)
        wall_rate, cpu_rate = _rates(len(trace), wall, cpu)
        best_wall, best_cpu = max(best_wall, wall_rate), max(best_cpu, cpu_rate)
    return best_wall, best_cpu, result


def per_page_bytes(result, n_pages: int) -> float:
    return sum(array.nbytes for array in result._storage.values()) / n_pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accesses", type=int, default=20_000_000)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--fast-share", type=float, default=0.1, help="fast capacity / pages (default 0.1)")
    parser.add_argument("--period-s", type=float, default=1.0,
                        help="period in seconds of simulated time (default 1, mm_manage's shortest in the RFC)")
    parser.add_argument("--periods", type=int, default=None,
                        help="instead of --period-s: cut each trace into this many periods of equal accesses")
    parser.add_argument("--traces", nargs="+", default=list(TRACES), choices=list(TRACES))
    parser.add_argument("--policies", nargs="*", default=[],
                        help="classifier policies (memtier.simulation.policies) to measure too, e.g. numa-balancing tpp hemem")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best is kept")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "memtier-bench"),
                        help="where the trace files are kept between runs")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    capacity = int(args.fast_share * args.pages)
    if args.periods is not None:
        periods = dict(period=max(1, args.accesses // args.periods))
        period_text = f"period {periods['period']:,} accesses"
    else:
        periods = dict(period_s=args.period_s)
        period_text = f"period {args.period_s:g} s of simulated time"
    fit = default_fit()
    warm = workloads.hot_set(10_000, 100_000, seed=0).astype(np.int32)
    warm.setflags(write=False)  # as the memory-mapped traces are: the same compiled kernels
    for policy in LIST_POLICIES + ("lru",) + tuple(args.policies):  # warm-up: compile (or load) the kernels
        # a classifier policy at the run's own sizes: memtis refuses a fast node under its watermarks' MB floors
        sizes = dict(fast_capacity=capacity, n_pages=args.pages) if policy in args.policies else dict(fast_capacity=1000)
        simulate(warm, policy, fit=fit, **sizes, **({"period": 10_000} if "period" in periods else {"period_s": 0.01}))
    print(f"{args.accesses:,} accesses over {args.pages:,} pages per trace, fast capacity {capacity:,} pages, "
          f"{period_text}; one core ({os.cpu_count()} on this machine, best of {args.repeat}); "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'trace':10} {'policy':18} {'M/s wall':>9} {'M/s CPU':>8} {'of target':>10}  notes")
    shortfalls = []
    for kind in args.traces:
        path = make_trace(Path(args.dir) / f"{kind}_{args.pages}_{args.accesses}.npy", kind, args.pages,
                          args.accesses)
        trace = workloads.load_trace(path)
        for policy in LIST_POLICIES + tuple(args.policies):
            target = LIST_TARGET if policy in LIST_POLICIES else POLICY_TARGET
            wall, cpu, result = timed(trace, policy, capacity, periods, fit, args.repeat)
            share = max(wall, cpu) / target
            if share < 1:
                shortfalls.append(f"{kind} {policy} {share:.2f}")
            print(f"{kind:10} {policy:18} {wall / 1e6:9.1f} {cpu / 1e6:8.1f} {share:9.2f}x  fast hit ratio "
                  f"{result.fast_hit_ratio:.4f}, {len(result.periods)} periods; "
                  f"{per_page_bytes(result, args.pages):.1f} bytes per page"
                  f"{'' if share >= 1 else f'  BELOW {target / 1e6:.0f} M/s'}")
        wall, cpu, lru_result = timed(trace, "lru", capacity, periods, fit, args.repeat)
        reference_wall, reference_cpu, reference_misses = libcachesim_lru(path, capacity, args.repeat)
        ratio_wall, ratio_cpu = wall / reference_wall, cpu / reference_cpu
        lru_misses = len(trace) - int(lru_result.periods["fast_hits"].sum())
        agrees = "agrees" if lru_misses == reference_misses else "DISAGREES"
        ratio = max(ratio_wall, ratio_cpu)
        share = max(wall, cpu) / LIST_TARGET
        if ratio < LRU_TARGET:
            shortfalls.append(f"{kind} lru {ratio:.1f}x libCacheSim")
        if lru_misses != reference_misses:
            shortfalls.append(f"{kind} lru disagrees with libCacheSim")
        print(f"{kind:10} {'lru':18} {wall / 1e6:9.1f} {cpu / 1e6:8.1f} {share:9.2f}x  "
              f"{ratio_wall:.1f}x libCacheSim wall, {ratio_cpu:.1f}x CPU ({ratio / LRU_TARGET:.2f}x of the "
              f"{LRU_TARGET:.0f}x target); {lru_misses:,} misses"
              f"{'' if share >= 1 else f' (under {LIST_TARGET / 1e6:.0f} M/s: not its target)'}"
              f"{'' if ratio >= LRU_TARGET else '  BELOW its target'}")
        print(f"{kind:10} {'libCacheSim LRU':18} {reference_wall / 1e6:9.1f} {reference_cpu / 1e6:8.1f} {'':10}  "
              f"{reference_misses:,} misses: {agrees} with lru")
    print("targets: " + ("all met" if not shortfalls else "not met: " + "; ".join(shortfalls)))


if __name__ == "__main__":
    main()
