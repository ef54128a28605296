"""How fast memtier parses lackey text, against ``pandas.read_csv`` on the same file.

    python3 benchmarks/bench_lackey.py              # 300 MB synthetic log
    python3 benchmarks/bench_lackey.py --mb 1024    # a bigger one
    python3 benchmarks/bench_lackey.py --log my.lackey

Three rates are printed: **whole-process**, the command a user runs (``python -m memtier trace
convert``, a fresh Python each time: start-up, imports, loading the cached kernels, parsing on
every core, writing the trace, exit), against the issue's target of 300 MB/s; **in-process** on
every core and on one core (``convert_lackey`` called again in this process, so without
start-up).  The whole-process runs come after one untimed first use, as a user's would: numba's
cache of the kernels and Python's cache of memtier's bytecode are warm, the processes are not.

The synthetic log mimics what lackey prints for an ordinary program (measured on ``sort``):
about 74% instruction lines, 18% loads, 8% stores, 1% modifies, addresses drawn from a few
hot pages (stack, code, heap) and a large cold heap, and a few ``==PID==`` lines.  memtier's
parser is timed converting the log into a ``.npy`` trace (the real work: parse, page,
renumber, write); ``pandas.read_csv`` is timed only splitting each line at the comma into two
columns, which is less work than memtier does, so the ratio is a lower bound.  Both read the
file from the page cache (it is read once before timing).  The memory memtier allocates while
converting (traced by ``tracemalloc``) is its buffers and page table: it does not grow with
the log.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memtier.traces._lackey_parser import default_workers  # noqa: E402
from memtier.traces.lackey import convert_lackey, parse_lackey  # noqa: E402

TARGET_MB_S = 300  # issue 14: whole-process, a 300 MB log, this project's 2-core VM

LINES_PER_BLOCK = 500_000


def synthetic_block(rng, n_lines: int) -> bytes:
    """``n_lines`` lackey lines with a realistic mix of kinds and addresses."""
    kinds = rng.choice(np.array(["I  ", " L ", " S ", " M "]), size=n_lines, p=[0.74, 0.18, 0.07, 0.01])
    hot = rng.random(n_lines) < 0.9
    addresses = np.where(
        hot,
        0x1FFF000000 + rng.integers(0, 64 << 12, n_lines),  # stack and hot heap: 64 pages
        0x04000000 + rng.integers(0, 1 << 30, n_lines),  # a cold gigabyte
    )
    sizes = rng.choice(np.array([1, 2, 4, 8, 16]), size=n_lines, p=[0.1, 0.05, 0.3, 0.5, 0.05])
    lines = [f"{k}{a:08x},{s}\n" for k, a, s in zip(kinds.tolist(), addresses.tolist(), sizes.tolist())]
    return "".join(lines).encode()


def write_log(path: Path, megabytes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    target = megabytes * 1_000_000
    written = 0
    with open(path, "wb") as out:
        out.write(b"==4492== Lackey, an example Valgrind tool\n==4492== Command: synthetic\n")
        while written < target:
            block = synthetic_block(rng, LINES_PER_BLOCK)
            out.write(block)
            written += len(block)
        out.write(b"==4492== \n==4492== Exit code:       0\n")


def best_of(repeats, function):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300, help="size of the synthetic log, MB (default 300)")
    parser.add_argument("--log", type=Path, help="benchmark this lackey log instead")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        log = args.log
        if log is None:
            log = folder / "synthetic.lackey"
            print(f"writing a {args.mb} MB synthetic lackey log ...", flush=True)
            write_log(log, args.mb)
        size_mb = log.stat().st_size / 1e6
        with open(log, "rb") as warm:  # into the page cache, a chunk at a time
            while warm.read(1 << 24):
                pass
        parse_lackey(b" L 1000,8\n")  # compile (or load the cached machine code) before timing

        out = folder / "trace.npy"
        command = [sys.executable, "-m", "memtier", "trace", "convert", str(log), "--out", str(out),
                   "--force", "--quiet"]
        environment = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        # a first use, untimed: numba's cache of the kernels and Python's of memtier's bytecode
        # warm, as a user's are after it (pip compiles the bytecode when it installs, and Python
        # writes it on a first import, unless PYTHONDONTWRITEBYTECODE is set, as it may be here)
        first_use = {name: value for name, value in environment.items() if name != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(command, check=True, capture_output=True, env=first_use)

        cpu_seconds = []

        def whole_process(argv=command):
            import resource

            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(argv, check=True, capture_output=True, env=environment)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_seconds.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

        tiny = folder / "tiny.lackey"  # start-up alone: interpreter, imports, loading the kernels
        tiny.write_bytes(b" L 1000,8\n")
        tiny_command = command[:5] + [str(tiny)] + command[6:]
        startup_s = best_of(args.repeats, lambda: whole_process(tiny_command))
        startup_cpu = min(cpu_seconds)
        cpu_seconds.clear()

        def memtier_convert():
            convert_lackey(log, out, force=True)

        def one_core():
            convert_lackey(log, out, force=True, workers=1)

        process_s = best_of(args.repeats, whole_process)
        process_cpu = min(cpu_seconds)
        memtier_s = best_of(args.repeats, memtier_convert)
        one_core_s = best_of(args.repeats, one_core)
        tracemalloc.start()  # one more, untimed run: what memtier allocates while converting
        info = convert_lackey(log, out, force=True)
        peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

        import pandas as pd

        def pandas_read():
            pd.read_csv(log, sep=",", header=None, names=["access", "size"], comment="=",
                        dtype={"access": str, "size": np.int64})

        pandas_s = best_of(max(1, args.repeats - 2), pandas_read)

    memtier_rate = size_mb / memtier_s
    pandas_rate = size_mb / pandas_s
    process_rate = size_mb / process_s
    print(f"log: {size_mb:.0f} MB, {info['accesses']:,} data accesses, "
          f"{info['distinct_pages']:,} distinct 4 KiB pages; {default_workers()} cores; best of {args.repeats}")
    print(f"load average over the last minute: {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          f"(above 1, other processes took a core from these runs at times)")
    print(f"whole process, memtier trace convert: {process_rate:8.0f} MB/s  ({process_s:.2f} s)"
          f"  target {TARGET_MB_S} MB/s: ratio {process_rate / TARGET_MB_S:.2f}")
    print(f"  start-up alone (a one-line log): {startup_s:.2f} s; least CPU time of the whole command "
          f"{process_cpu:.2f} s, of its start-up {startup_cpu:.2f} s")
    print(f"in-process convert_lackey, all cores: {memtier_rate:8.0f} MB/s  ({memtier_s:.2f} s)")
    print(f"in-process convert_lackey, one core:  {size_mb / one_core_s:8.0f} MB/s  ({one_core_s:.2f} s)")
    print(f"pandas.read_csv:                      {pandas_rate:8.0f} MB/s  ({pandas_s:.2f} s)")
    print(f"ratio memtier (all cores) / pandas:   {memtier_rate / pandas_rate:8.1f}x")
    print(f"memory memtier allocates while converting: {peak_mib:.1f} MiB at most "
          f"(the trace it writes: {info['accesses'] * 4 / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
