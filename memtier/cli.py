"""The ``memtier`` command line: every figure of the notebooks, headless.

Each subcommand is a thin layer over the package: it parses arguments, calls the same
functions a notebook calls, and prints or writes the result.  Errors a user can fix are one
line on stderr (``memtier: error: ...``) and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
import textwrap

from .measurements import MeasurementError


class CliError(Exception):
    """An error the user can fix; printed as one line."""


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _command(sub, name: str, summary: str, example: str, handler):
    """Add a subcommand whose ``--help`` says what it does and shows an example."""
    parser = sub.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="example:\n" + textwrap.indent(textwrap.dedent(example).strip(), "  "),
        formatter_class=_formatter,
    )
    parser.set_defaults(handler=handler)
    return parser


# --- the cost model: reproduce, fit, predict ------------------------------------------------


def _reproduce(args) -> int:
    from .reproduce import reproduce

    out = reproduce(args.out, quick=args.quick, force=args.force, bootstrap=args.bootstrap)
    print(f"figures and tables written to {out}")
    return 0


def _fit(args) -> int:
    from .fitting import fit
    from .measurements import load_measurements

    table = load_measurements(args.csv)
    free = [name.strip() for name in args.free.split(",")] if args.free else None
    base = None
    if args.base:
        from .fitting import load_fit

        base = load_fit(args.base)
    result = fit(table, free=free, base=base, bootstrap=args.bootstrap)
    print(result.report())
    if args.out:
        result.save(args.out, force=args.force)
        print(f"\nfit saved to {args.out}")
    return 0


def _predict(args) -> int:
    import pandas as pd

    from .fitting import load_fit
    from .measurements import load_measurements

    result = load_fit(args.fit)
    row = {
        "page_size": args.page_size,
        "n_pages": args.pages,
        "copy": "dma" if args.dma else "cpu",
        "workers": args.workers,
        "batched": args.batched,
        "exchange": args.exchange,
        "scope": args.scope,
        "gbps": 1.0,  # placeholder throughput so the row passes the schema; it is not used
    }
    config = load_measurements(pd.DataFrame([row]), name="the command line")
    gbps = float(result.predict(config)[0])
    time_us = config["page_size"].iloc[0] * config["n_pages"].iloc[0] / gbps / 1e3
    low, high = result.predict_interval(config)
    print(
        f"{gbps:.3f} GB/s ({time_us:.1f} us per call); "
        f"{result.confidence:.0%} interval {low[0]:.3f}-{high[0]:.3f} GB/s"
    )
    return 0


def _add_model_commands(sub) -> None:
    p = _command(
        sub,
        "reproduce",
        "Fit the cost model to the RFC's measurements and write its figures and tables.",
        "memtier reproduce --out results",
        _reproduce,
    )
    p.add_argument("--out", default="memtier-results", help="folder to write into (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="fewer bootstrap rounds, smaller simulations")
    p.add_argument("--bootstrap", type=int, default=None, help="bootstrap rounds for the intervals")
    p.add_argument("--force", action="store_true", help="overwrite files already in --out")

    p = _command(
        sub,
        "fit",
        "Fit the migration cost model to a measurement CSV and print the report.",
        """
        memtier fit data/zi_yan_2019_rfc.csv --out rfc.json
        memtier fit mine.csv --free copy_gbps_per_thread,link_gbps --base rfc.json --out mine.json
        """,
        _fit,
    )
    p.add_argument("csv", help="measurements in memtier's schema")
    p.add_argument("--free", help="comma-separated parameters to fit (default: all the data constrain)")
    p.add_argument("--base", help="a saved fit whose parameters the others are taken from")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap rounds (default: %(default)s)")
    p.add_argument("--out", help="save the fit as JSON here")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")

    p = _command(
        sub,
        "predict",
        "Predict the throughput of one migration configuration from a saved fit.",
        "memtier predict rfc.json --page-size 2M --pages 16 --workers 8 --batched",
        _predict,
    )
    p.add_argument("fit", help="a fit saved by 'memtier fit --out' or 'memtier reproduce'")
    p.add_argument("--page-size", default="2M", help="page size: 4K, 64K, 2M, 1G or bytes (default: 2M)")
    p.add_argument("--pages", type=int, default=1, help="pages moved by one call (default: 1)")
    p.add_argument("--workers", type=int, default=1, help="copy threads, or DMA channels with --dma")
    p.add_argument("--dma", action="store_true", help="copy with a DMA engine instead of CPU threads")
    p.add_argument("--batched", action="store_true", help="concurrent (batched) migration of the list")
    p.add_argument("--exchange", action="store_true", help="exchange pages instead of migrating them")
    p.add_argument("--scope", default="migrate", choices=("syscall", "migrate", "copy"))


# --- real traces: valgrind lackey and DAMON records ------------------------------------------


def _trace_summary(out, info) -> str:
    skipped = ", ".join(f"{info[name]:,} {name.replace('_', ' ')}" for name in
                        ("instruction_lines", "valgrind_lines", "unrecognised_lines", "truncated_lines")
                        if info.get(name) and not (name == "instruction_lines" and info.get("instructions_included")))
    text = (f"wrote {out}: {info['accesses']:,} accesses to {info['distinct_pages']:,} distinct "
            f"{info['page_size_text']} pages ({info['loads']:,} loads, {info['stores']:,} stores, "
            f"{info['modifies']:,} modifies)")
    return text + (f"; skipped {skipped}" if skipped else "")


def _trace_record(args) -> int:
    from .traces import record_trace

    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        raise CliError("no program given; e.g. memtier trace record --out ls.npy -- ls /usr")
    info = record_trace(program, args.out, page_size=args.page_size, instructions=args.instructions,
                  force=args.force, progress=not args.quiet)
    print(_trace_summary(args.out, info))
    if info["source"]["exit_status"] != 0:
        print(f"note: {program[0]} exited with status {info['source']['exit_status']}")
    return 0


def _trace_convert(args) -> int:
    from .traces import convert_lackey

    info = convert_lackey(args.log, args.out, page_size=args.page_size, instructions=args.instructions,
                          force=args.force, progress=not args.quiet)
    print(_trace_summary(args.out, info))
    return 0


def _trace_damon(args) -> int:
    from pathlib import Path

    from .damon import damon_trace, read_damon_record
    from .traces import _check_outputs, write_trace

    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    if args.trace:
        _check_outputs(args.trace, args.force)
    table = read_damon_record(args.record)
    trace = damon_trace(table, n_accesses=args.accesses, page_size=args.page_size, seed=args.seed) if args.trace else None
    temporary = out.with_name(f".{out.name}.partial")
    table.to_csv(temporary, index=False)
    temporary.replace(out)
    print(f"wrote {out}: {len(table):,} regions in {table['snapshot'].nunique():,} snapshots "
          f"of {table['target_id'].nunique()} target(s), {table['time_s'].max():.3f} s")
    if trace is not None:
        write_trace(trace, args.trace, force=args.force)
        print(f"wrote {args.trace}: {trace.info['accesses']:,} accesses to "
              f"{trace.info['distinct_pages']:,} distinct pages (seed {args.seed})")
    return 0


def _add_trace_commands(sub) -> None:
    trace = sub.add_parser("trace", help="Record or convert real page-access traces (valgrind, DAMON).",
                           description="Record or convert real page-access traces for the simulator.",
                           epilog="examples:\n"
                                  "  memtier trace record --out sort.npy -- sort words.txt\n"
                                  "  memtier trace convert prog.lackey --out prog.npy --page-size 2M\n"
                                  "  memtier trace damon damon.data --out heat.csv --trace heat.npy",
                           formatter_class=_formatter)
    actions = trace.add_subparsers(dest="trace_command", metavar="ACTION", required=True)

    def common(p):
        p.add_argument("--out", required=True, help="trace file to write (.npy; a .json sidecar goes beside it)")
        p.add_argument("--page-size", default="4K", help="page size: 4K, 64K, 2M, 1G or bytes (default: 4K)")
        p.add_argument("--instructions", action="store_true",
                       help="count instruction fetches as accesses too (default: data only)")
        p.add_argument("--force", action="store_true", help="overwrite --out and its sidecar if they exist")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = _command(actions, "record",
                 "Run a program under valgrind's lackey and save its page-access trace.",
                 "memtier trace record --out sort.npy -- sort /etc/services", _trace_record)
    common(p)
    p.add_argument("program", nargs=argparse.REMAINDER, help="-- then the program and its arguments")

    p = _command(actions, "convert",
                 "Convert a saved lackey log (valgrind --tool=lackey --trace-mem=yes) into a trace.",
                 "memtier trace convert prog.lackey --out prog.npy --page-size 2M", _trace_convert)
    p.add_argument("log", help="lackey output saved with --log-file")
    common(p)

    p = _command(actions, "damon",
                 "Read a DAMON record written by damo into a CSV table (and optionally a trace).",
                 "memtier trace damon damon.data --out heat.csv --trace heat.npy --accesses 1000000",
                 _trace_damon)
    p.add_argument("record", help="damo record file (json_compressed or json)")
    p.add_argument("--out", required=True, help="CSV table to write: one row per region per snapshot")
    p.add_argument("--trace", help="also draw a page trace (.npy) from the regions' access counts")
    p.add_argument("--accesses", type=int, default=1_000_000, help="length of that trace (default: %(default)s)")
    p.add_argument("--page-size", default="4K", help="page size of that trace (default: 4K)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default: 0)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memtier",
        description="Model, measure and simulate page migration between memory tiers.",
        formatter_class=_formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_model_commands(sub)
    _add_trace_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("memtier: interrupted", file=sys.stderr)
        return 130
    except (CliError, MeasurementError, ValueError, FileExistsError, FileNotFoundError,
            PermissionError, IsADirectoryError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"memtier: error: {message}", file=sys.stderr)
        return 2
