"""Speed of the classifier policies (memtier.simulation.policies) on one core: accesses per second of
each, on zipf and hot-set traces over 1 million pages.

Target (issue 10): every policy at least 50 million accesses/s on traces of 20-100 million
accesses over 1 million pages.

    python3 benchmarks/bench_policies.py                        # 20 M accesses
    python3 benchmarks/bench_policies.py --accesses 100000000

Times are wall-clock of the whole ``memtier.simulate`` call (validation, chunked reading,
per-period metrics) after a warm-up run that compiles the kernels; each is the best of
``--repeat`` runs.

At their defaults (the kernel's or the paper's, made for runs of minutes) several policies
barely act on a trace of 20 M accesses: ``hemem`` and ``memtis`` take a few thousand samples
and move nothing.  ``--stands-for SECONDS`` runs each classifier as notebook 10 does, with
``policies.time_scaled`` taking the trace to stand for a run of that many seconds, so that
their timers fire and samplers sample at the rate they would in the long run and pages do
move; the rate then includes that work.  Periods are 1 s of simulated time; the fast node holds 10 % of the
pages; every policy runs with its defaults (the kernel's or the paper's).  ``static`` (the
simplest kernel: serve and count, nothing moves) and ``active-shrink`` are measured in the
same run as references, and each policy's rate is printed also as a share of ``static``'s
on the same trace: on a shared machine the absolute rates move with the load, the ratio
much less.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from memtier import workloads
from memtier.simulation import policies
from memtier.model.fitting import default_fit
from memtier.simulation.simulator import simulate


def timed(trace, policy, capacity, fit, repeat, writes, params):
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        result = simulate(trace, policy, capacity, period_s=1.0, fit=fit, writes=writes, **params)
        best = max(best, len(trace) / (time.perf_counter() - start))
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accesses", type=int, default=20_000_000)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--policies", default=",".join(["static", "active-shrink", *policies.MODULES]))
    parser.add_argument("--stands-for", type=float, default=None, metavar="SECONDS",
                        help="scale each classifier's time constants so that the trace stands for a run of "
                             "this many seconds (policies.time_scaled, as notebook 10 does; default: their defaults)")
    args = parser.parse_args()
    if args.stands_for is not None and not args.stands_for > 0:
        parser.error(f"--stands-for must be a positive number of seconds, got {args.stands_for}")
    fit = default_fit().params
    capacity = args.pages // 10
    traces = {
        "zipf (alpha 1.0)": workloads.zipf(args.pages, args.accesses, alpha=1.0, seed=1),
        "hot set (4 phases)": workloads.hot_set(args.pages, args.accesses, hot_fraction=0.1, hot_probability=0.9,
                                                phases=4, seed=1),
    }
    writes = np.random.default_rng(1).random(args.accesses) < 0.3  # a 30 % write share (hemem counts them)
    names = [p.strip() for p in args.policies.split(",")]
    warm = traces["zipf (alpha 1.0)"][:200_000]
    for policy in names:  # compile
        simulate(warm, policy, capacity, n_pages=args.pages, period_s=1.0, fit=fit, writes=writes[:len(warm)])
    print(f"{args.accesses:,} accesses over {args.pages:,} pages, fast node {capacity:,} pages; "
          f"best of {args.repeat} (M accesses/s, one core)")
    for kind, trace in traces.items():
        reference = None
        if args.stands_for is not None:
            seconds = simulate(trace, "static", capacity, fit=fit, period=len(trace)).total_time_us / 1e6
            print(f"{kind}: {seconds:.1f} s of simulated time stands for {args.stands_for:g} s "
                  f"(time constants / {args.stands_for / seconds:.1f})")
        for policy in names:
            params = {}
            if args.stands_for is not None and policy in policies.MODULES:
                params = policies.time_scaled(policy, args.stands_for / seconds)
            rate, result = timed(trace, policy, capacity, fit, args.repeat, writes, params)
            reference = rate if policy == "static" else reference
            s = result.summary()
            verdict = "" if policy not in policies.MODULES else ("  ok" if rate >= 50e6 else "  below 50 M/s")
            share = f"  {rate / reference:4.2f} of static" if reference else ""
            print(f"{kind:20s} {policy:16s} {rate / 1e6:7.1f}{share}{verdict}   fast hit ratio "
                  f"{s['fast_hit_ratio']:.3f}, promoted {s['promoted']:,}, simulated {s['time_us'] / 1e6:.1f} s")


if __name__ == "__main__":
    main()
