"""Fit the cost model to AMD's Zen3 series (68 rows) with its bootstrap: time against the limit.

Issue 8 names the speed: fitting the 68 AMD rows with the bootstrap takes at most 30 s on the
project's machine.  The run prints the time of the fit alone (several starts, both DMA
structures), of the whole fit with ``--bootstrap`` replicates, and its ratio to the 30 s
limit.  For scale, the RFC's 52 rows are fitted in the same run.

    python3 benchmarks/bench_fit.py [--bootstrap 200]
"""
import argparse
import time

from memtier.measurement.datasets import amd_zen3_2026, rfc_2019
from memtier.model.fitting import fit

LIMIT_S = 30.0


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    amd, rfc = amd_zen3_2026(), rfc_2019()
    fit(rfc, bootstrap=0)  # compiles (or loads) the kernel: not part of what is timed
    _, rfc_s = timed(lambda: fit(rfc, bootstrap=0))
    bare, bare_s = timed(lambda: fit(amd, bootstrap=0))
    full, full_s = timed(lambda: fit(amd, bootstrap=args.bootstrap))
    print(f"RFC, 52 rows, no bootstrap:            {rfc_s:6.2f} s")
    print(f"AMD, {len(amd)} rows, no bootstrap:            {bare_s:6.2f} s")
    print(f"AMD, {len(amd)} rows, {args.bootstrap} bootstrap replicates: {full_s:6.2f} s "
          f"({full_s / LIMIT_S:.2f} of the {LIMIT_S:.0f} s limit)")
    print(f"AMD fit: median |error| {full.median_error:.1%}, largest {full.max_error:.1%}; "
          f"{full.structure_line()}")


if __name__ == "__main__":
    main()
