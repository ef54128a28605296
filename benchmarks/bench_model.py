"""Evaluate the cost model over a million configurations: time and configurations per second.

The issue's target: a grid of a million configurations in under a second.  For scale, the
pure-Python twin of the kernel (tests/naive_model.py) is timed on a sample in the same run.

    python3 benchmarks/bench_model.py [--configs 1000000]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from memtier.model.cost import ModelParams, call_time_us, default_ptes_per_page

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from naive_model import call_time_us as naive_time_us  # noqa: E402


def grid(size, seed=0):
    rng = np.random.default_rng(seed)
    dma = rng.random(size) < 0.25
    return dict(
        page_bytes=rng.choice([4096, 65536, 2 << 20, 1 << 30], size),
        n_pages=rng.integers(1, 1024, size),
        dma=dma,
        workers=rng.integers(1, 33, size),
        batched=rng.random(size) < 0.5,
        exchange=(rng.random(size) < 0.3) & ~dma,
        scope=rng.integers(0, 3, size),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    params = ModelParams()
    g = grid(args.configs)
    config = {k: v for k, v in g.items() if k not in ("page_bytes", "n_pages")}
    call_time_us(params, g["page_bytes"][:10], g["n_pages"][:10],
                 **{k: v[:10] for k, v in config.items()})  # compile (or load the cache)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        call_time_us(params, g["page_bytes"], g["n_pages"], **config)
        times.append(time.perf_counter() - start)
    best = min(times)
    sample = 20_000
    scopes = np.array(["copy", "migrate", "syscall"])
    start = time.perf_counter()
    for i in range(sample):
        naive_time_us(params, int(g["page_bytes"][i]), int(g["n_pages"][i]), dma=bool(g["dma"][i]),
                      workers=int(g["workers"][i]), batched=bool(g["batched"][i]),
                      exchange=bool(g["exchange"][i]), scope=scopes[g["scope"][i]],
                      ptes=float(default_ptes_per_page(int(g["page_bytes"][i]))))
    naive_rate = sample / (time.perf_counter() - start)
    rate = args.configs / best
    print(f"memtier.model.cost.call_time_us: {args.configs:,} configurations in {best * 1e3:.1f} ms "
          f"(best of {args.repeats}): {rate / 1e6:.1f} M configurations/s")
    print(f"pure-Python twin:           {naive_rate / 1e3:.1f} k configurations/s")
    print(f"ratio: {rate / naive_rate:.0f}x; target: 1,000,000 configurations in < 1 s: "
          f"{'met' if best * 1e6 / args.configs < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
