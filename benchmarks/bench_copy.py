"""Copy bandwidth of memtier's page-copy kernel against numpy's own array copy.

The requirement: one thread copying 2 MiB pages reaches at least 90% of the bandwidth of
``numpy.copyto`` over the same buffers, in the same run.  Buffers are twice the last-level
cache (at least 256 MiB), so both copies go to memory.  Runs alternate between the two
copies, so that a drift of the machine (other tenants, frequency) affects both alike; each
figure is the median of the repeats after a warm-up, and the best run is shown beside it (on a
shared machine the best run is the one least disturbed by the neighbours).

    PYTHONPATH=. python3 benchmarks/bench_copy.py [--buffer 1024] [--repeats 9]
"""
import argparse
import time

import numpy as np

from memtier.measurement import numa
from memtier.measurement._copy import copy_pages, max_threads
from memtier.measurement.measure import _default_buffer_bytes

MIB = 1 << 20


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buffer", type=int, default=0, help="MiB per buffer (default: 2x LLC, >= 256)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    nbytes = args.buffer * MIB if args.buffer else _default_buffer_bytes()
    print(f"buffers: 2 x {nbytes / MIB:.0f} MiB (last-level cache {numa.last_level_cache_bytes() / MIB:.0f} MiB); "
          f"{numa.machine_summary(numa.describe_machine())}")
    with numa.Region(nbytes, huge=True) as src, numa.Region(nbytes, huge=True) as dst:
        src.touch(1)
        dst.touch(0)
        cases = {"numpy.copyto (whole buffer)": lambda: np.copyto(dst.array, src.array)}
        for page, label in ((2 * MIB, "2M"), (64 << 10, "64K"), (4096, "4K")):
            for threads in sorted({1, max_threads()}):
                count = 16 * MIB // page  # 16 MiB per call: 8 THPs, 4096 base pages
                cases[f"memtier {label} pages x{count}, {threads} thread(s)"] = (
                    lambda page=page, count=count, threads=threads: copy_pages(
                        src.array, dst.array, page, count, threads))
        cases["memtier 2M pages x1, 1 thread"] = lambda: copy_pages(src.array, dst.array, 2 * MIB, 1, 1)
        for function in cases.values():  # warm-up, and the one-time compilation
            function()
        samples = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, function in cases.items():
                samples[name].append(nbytes / timed(function) / 1e9)
    gbps = {name: float(np.median(values)) for name, values in samples.items()}
    best = {name: float(np.max(values)) for name, values in samples.items()}
    print(f"{'':42s} {'median':>7s}       {'sd':>5s}  {'best':>7s}")
    for name, value in gbps.items():
        print(f"{name:42s} {value:7.2f} GB/s  {np.std(samples[name], ddof=1):5.2f}  {best[name]:7.2f} GB/s")
    mine, numpy_copy = "memtier 2M pages x1, 1 thread", "numpy.copyto (whole buffer)"
    print(f"single-thread 2 MiB copy / numpy copy: {gbps[mine] / gbps[numpy_copy]:.3f} (medians; "
          f"required >= 0.90), {best[mine] / best[numpy_copy]:.3f} (best runs)")


if __name__ == "__main__":
    main()
