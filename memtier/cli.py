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
    }
    config = load_measurements(pd.DataFrame([row]), name="the command line", throughput=False)
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


# --- measuring this machine -------------------------------------------------------------------


def _size_list(text: str) -> list[int]:
    from .measurements import parse_page_size

    return [parse_page_size(part) for part in text.split(",") if part.strip()]


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CliError(f"{what} must be comma-separated whole numbers, e.g. 1,16,512; got {text!r}") from None
    if not values or min(values) < 1:
        raise CliError(f"{what} must be positive; got {text!r}")
    return values


def _bytes(text: str) -> int:
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise CliError(f"--buffer {text!r}: give bytes with a binary unit, e.g. 256M or 2G")
    return int(match.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[match.group(2).upper()]


def _measure(args) -> int:
    from .measure import make_plan, run_measurements, sidecar_path
    from .numa import NumaError

    choices = {}
    if args.page_sizes:
        choices["page_sizes"] = _size_list(args.page_sizes)
    if args.pages:
        choices["pages_per_call"] = _int_list(args.pages, "--pages")
    if args.threads:
        choices["threads"] = _int_list(args.threads, "--threads")
    if args.buffer:
        choices["buffer_bytes"] = _bytes(args.buffer)
    try:
        plan = make_plan(quick=args.quick, source=args.source, target=args.target,
                         same_node=args.same_node, repeats=args.repeats, **choices)
        rows = run_measurements(args.out, plan, force=args.force, progress=not args.no_progress)
    except NumaError as error:
        raise CliError(str(error)) from None
    except KeyboardInterrupt as stop:
        kept = getattr(stop, "rows", None)
        if kept is not None and kept.rows:
            print(f"memtier: interrupted; {kept.path} keeps the {len(kept.rows)} row(s) finished so far",
                  file=sys.stderr)
        else:
            print("memtier: interrupted before the first row was finished; nothing written", file=sys.stderr)
        return 130
    print(f"{len(rows.rows)} rows written to {rows.path} (machine: {sidecar_path(rows.path)})")
    return 0


def _add_measure_commands(sub) -> None:
    p = _command(
        sub,
        "measure",
        "Measure page copy bandwidth and move_pages(2) on this machine, as rows to fit.",
        """
        memtier measure --out measurements.csv
        memtier measure --quick --out quick.csv && memtier fit quick.csv
        memtier measure --from 0 --to 2 --threads 1,2,4,8 --out cxl.csv
        """,
        _measure,
    )
    p.add_argument("--out", default="measurements.csv", help="CSV to write (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite --out and its .json sidecar")
    p.add_argument("--quick", action="store_true", help="a few seconds: small buffers, fewer sizes and repeats")
    p.add_argument("--from", dest="source", type=int, help="NUMA node the pages start on (default: the first)")
    p.add_argument("--to", dest="target", type=int, help="NUMA node they move to (default: the next with memory)")
    p.add_argument("--same-node", action="store_true",
                   help="time move_pages within one node (no data moves; labelled in notes)")
    p.add_argument("--page-sizes", help="comma-separated, e.g. 4K,64K,2M (default: 4K,64K,2M)")
    p.add_argument("--pages", help="pages per copy call, e.g. 1,16,512 (default)")
    p.add_argument("--threads", help="copy thread counts, e.g. 1,2,4 (default: 1, 2, 4 ... cores)")
    p.add_argument("--buffer", help="bytes of each copy buffer, e.g. 1G (default: 2x last-level cache)")
    p.add_argument("--repeats", type=int, help="timed runs per figure (default: 7; 3 with --quick)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memtier",
        description="Model, measure and simulate page migration between memory tiers.",
        formatter_class=_formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_model_commands(sub)
    _add_measure_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:
        # The reader went away (memtier fit ... | head): not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("memtier: interrupted", file=sys.stderr)
        return 130
    except (CliError, MeasurementError, ValueError, FileExistsError, FileNotFoundError,
            PermissionError, IsADirectoryError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"memtier: error: {message}", file=sys.stderr)
        return 2
