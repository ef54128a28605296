"""Speed of the classifier policies (memtier.simulation.policies) on one core: accesses per second of
each, on zipf and hot-set traces over 1 million pages, with the pages each run promoted and demoted.

Target (issue 10): every policy at least 50 million accesses/s on traces of 20-100 million
accesses over 1 million pages.

    python3 benchmarks/bench_policies.py                        # 20 M accesses, the three modes
    python3 benchmarks/bench_policies.py --accesses 100000000 --modes moving

Times are wall-clock of the whole ``memtier.simulate`` call (validation, chunked reading,
per-period metrics) after a warm-up run that compiles the kernels; each is the best of
``--repeat`` runs.  Periods are 1 s of simulated time; the fast node holds 10 % of the pages;
writes are 30 % of the accesses.  Each line prints the pages the run promoted and demoted next
to its rate (``idle``: it moved none), so that a rate is never that of a policy doing nothing.

Three modes (``--modes``), each printed with its setting:

- ``defaults``: every policy with its defaults (the kernel's or the paper's, made for runs of
  minutes).  On a trace of 20 M accesses several barely act: ``hemem``, ``memtis`` and
  ``damon`` move nothing and ``tpp`` promotes nothing, their timers and samplers fire too seldom.
- ``stands-for``: each classifier as notebook 10 runs it, with ``policies.time_scaled`` taking
  the trace to stand for ``--stands-for`` seconds (60), so that its timers fire and samplers
  sample at the rate they would in the long run.  ``hemem`` still moves nothing, ``damon``
  demotes a few pages (6 and 19 on the two traces) and promotes none.
- ``moving``: ``hemem`` and ``damon`` (with ``static`` as the reference) in a setting under
  which they move pages (the others move in the ``stands-for`` mode); each part of it is a
  configuration a researcher could choose, not a change of any default:

  * the traces: the zipf trace, and a hot-set trace whose hot set is ``--moving-hot-pages``
    (1,000) pages rather than a tenth of the pages.  HeMem counts a page hot after 8 sampled
    reads or 4 sampled writes, at one sample in 5003 accesses (``SAMPLE_PERIOD``); on the
    100,000-page hot set a hot page has about 45 accesses a phase, which no time scale short
    of a sample every few accesses brings to 8 samples (measured at bd04beb: at 3,600 s, a sample in 21
    accesses, it moves 3,078 pages; at 36,000 s, a sample in 2, it moves 196,059 at 7 M/s).
    On a 1,000-page hot set a hot page has about 4,500 accesses a phase, about 37 samples at
    the period scaled to 600 s (120), and HeMem promotes it.  (On the zipf trace the hottest pages
    are on the fast node from their first touch: HeMem has nothing to promote there, and the
    line says so.)
  * the trace stands for ``--moving-stands-for`` seconds (600: ten minutes), as in
    ``stands-for``;
  * ``damon`` without its promotion quota goal (``promote_used_bp=0``: the DAMOS quota is
    ``quota_sz_mb`` a window, as for a scheme given no goal, an option of DAMON's sysfs
    interface).  With mtier's goal (the fast node 99.7 % used) the feedback loop
    (``damon_feed_loop_next_input``) starts migrate_hot's effective quota at its floor (one
    byte) and raises it each window only by the fast node's shortfall from the goal: the fast
    node, filled by first touches to its low watermark and freed by demotion to 0.5 %, is
    short of it by at most a few tenths of a percent, so the quota takes thousands of
    windows to reach one page.  Measured (bd04beb) on the 20 M-access traces: no promotion at 60, 600,
    3,600 and (hot set) 10,000 s.

``static`` (the simplest kernel: serve and count, nothing moves) and ``active-shrink`` are
measured in the same run as references, and each policy's rate is printed also as a share of
``static``'s on the same trace: on a shared machine the absolute rates move with the load, the
ratio much less.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from memtier import workloads
from memtier.simulation import policies
from memtier.model.fitting import default_fit
from memtier.simulation.simulator import simulate

MODES = ("defaults", "stands-for", "moving")
#: The policies the ``moving`` mode runs, and the parameters it gives them beyond the time scale (see the module).
MOVING_PARAMS = {"hemem": {}, "damon": {"promote_used_bp": 0.0}}


def timed(trace, policy, capacity, fit, repeat, writes, params):
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        result = simulate(trace, policy, capacity, period_s=1.0, fit=fit, writes=writes, **params)
        best = max(best, len(trace) / (time.perf_counter() - start))
    return best, result


def hot_set(pages, accesses, hot_pages):
    return workloads.hot_set(pages, accesses, hot_fraction=hot_pages / pages, hot_probability=0.9, phases=4, seed=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accesses", type=int, default=20_000_000)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--policies", default=",".join(["static", "active-shrink", *policies.MODULES]))
    parser.add_argument("--modes", default=",".join(MODES), help=f"which of {', '.join(MODES)} to run (see above)")
    parser.add_argument("--stands-for", type=float, default=60.0, metavar="SECONDS",
                        help="the stands-for mode: scale each classifier's time constants so that the trace stands "
                             "for a run of this many seconds (policies.time_scaled, as notebook 10 does; default 60)")
    parser.add_argument("--moving-stands-for", type=float, default=600.0, metavar="SECONDS",
                        help="the moving mode's time scale (default 600)")
    parser.add_argument("--moving-hot-pages", type=int, default=1000, metavar="PAGES",
                        help="the moving mode's hot set, in pages (default 1000; see above)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",")]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"--modes takes {', '.join(MODES)} (comma-separated), got {mode!r}")
    for name in ("stands_for", "moving_stands_for"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive number of seconds, got {getattr(args, name)}")
    if not 1 <= args.moving_hot_pages <= args.pages:
        parser.error(f"--moving-hot-pages must be from 1 to --pages ({args.pages}), got {args.moving_hot_pages}")
    fit = default_fit().params
    capacity = args.pages // 10
    zipf = workloads.zipf(args.pages, args.accesses, alpha=1.0, seed=1)
    tenth = hot_set(args.pages, args.accesses, args.pages // 10)
    traces = {
        "defaults": {"zipf (alpha 1.0)": zipf, "hot set (4 phases)": tenth},
        "stands-for": {"zipf (alpha 1.0)": zipf, "hot set (4 phases)": tenth},
        "moving": {"zipf (alpha 1.0)": zipf,
                   f"hot set of {args.moving_hot_pages:,}": (hot_set(args.pages, args.accesses, args.moving_hot_pages)
                                                             if "moving" in modes else None)},
    }
    stands_for = {"defaults": None, "stands-for": args.stands_for, "moving": args.moving_stands_for}
    writes = np.random.default_rng(1).random(args.accesses) < 0.3  # a 30 % write share (hemem counts them)
    names = [p.strip() for p in args.policies.split(",")]
    warm = zipf[:200_000]
    for policy in names:  # compile
        simulate(warm, policy, capacity, n_pages=args.pages, period_s=1.0, fit=fit, writes=writes[:len(warm)])
    print(f"{args.accesses:,} accesses over {args.pages:,} pages, fast node {capacity:,} pages; "
          f"best of {args.repeat} (M accesses/s, one core)")
    below = []
    for mode in modes:
        seconds_for = stands_for[mode]
        extra = MOVING_PARAMS if mode == "moving" else {}
        setting = ("every policy at its defaults" if seconds_for is None else
                   f"each trace stands for {seconds_for:g} s (policies.time_scaled)")
        if extra:
            setting += "; " + "; ".join(f"{p} with " + ", ".join(f"{k}={v:g}" for k, v in params.items())
                                        for p, params in extra.items() if params)
        print(f"\n== mode {mode}: {setting}")
        for kind, trace in traces[mode].items():
            reference = None
            scale = None
            if seconds_for is not None:
                seconds = simulate(trace, "static", capacity, fit=fit, period=len(trace)).total_time_us / 1e6
                scale = seconds_for / seconds
                print(f"{kind}: {seconds:.1f} s of simulated time stands for {seconds_for:g} s "
                      f"(time constants / {scale:.1f})")
            for policy in names:
                if mode == "moving" and policy != "static" and policy not in MOVING_PARAMS:
                    continue
                params = dict(extra.get(policy, {}))
                if scale is not None and policy in policies.MODULES:
                    params = policies.time_scaled(policy, scale, **params)
                rate, result = timed(trace, policy, capacity, fit, args.repeat, writes, params)
                reference = rate if policy == "static" else reference
                s = result.summary()
                moved = "  idle" if s["promoted"] + s["demoted"] == 0 and policy in policies.MODULES else ""
                verdict = ""
                if policy in policies.MODULES:
                    verdict = "  ok" if rate >= 50e6 else "  below 50 M/s"
                    if rate < 50e6:
                        below.append(f"{mode} / {kind} / {policy}")
                share = f"  {rate / reference:4.2f} of static" if reference else ""
                print(f"{kind:20s} {policy:16s} {rate / 1e6:7.1f}{share}{verdict}   promoted {s['promoted']:,}, "
                      f"demoted {s['demoted']:,}{moved}; fast hit ratio {s['fast_hit_ratio']:.3f}, "
                      f"simulated {s['time_us'] / 1e6:.1f} s")
    print("\nall classifier policies at 50 M accesses/s or more" if not below else
          f"\nbelow 50 M accesses/s: {'; '.join(below)}")


if __name__ == "__main__":
    main()
