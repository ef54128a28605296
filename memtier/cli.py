"""The ``memtier`` command line: every figure of the notebooks, headless.

Each subcommand is a thin layer over the package: it parses arguments, calls the same
functions a notebook calls, and prints or writes the result.  Errors a user can fix are one
line on stderr (``memtier: error: ...``) and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import textwrap
import threading
import warnings

from .limits import INT64_MAX, MAX_WORKERS
from .measurement.schema import MeasurementError
from .outputs import atomic_write, check_output

#: Where to report an error memtier did not expect (the last-resort handler's hint).
REPORT_HINT = "please report it with the command that caused it (rerun with --debug for the traceback)"


class CliError(Exception):
    """An error the user can fix; printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block), naming the flag."""

    def error(self, message):
        import re

        # "argument --seed: --seed -1: must be ..." -> "--seed -1: must be ..." (our own checks name the flag)
        message = re.sub(r"^argument (\S+): (?=\1[ :])", "", message)
        raise CliError(f"{message} (see '{self.prog} --help')")


# --- arguments checked where they are parsed, in the words of the command line -------------------

#: Bounds of every numeric option, by destination (``command.dest`` first, then ``dest``):
#: (minimum, maximum, allow infinity, why the maximum).  An option added with ``type=int`` or
#: ``type=float`` and not listed here gets the defaults at the end (a whole number the kernels'
#: int64 holds; a finite number).
_BOUNDS = {
    "simulate.pages": (1, (1 << 31) - 1, False, "the simulator numbers pages with int32"),
    "accesses": (1, INT64_MAX, False, "the largest int64"),
    "predict.pages": (1, 1 << 40, False, "2^40 4 KiB pages are 2^52 bytes, the most an x86-64 machine "
                                         "addresses"),
    "workers": (1, MAX_WORKERS, False, "Linux's NR_CPUS is at most 8192 on x86-64"),
    "seed": (0, INT64_MAX, False, "the largest int64"),
    "period": (1, INT64_MAX, False, "the largest int64"),
    "batch_pages": (1, 1 << 20, False, "memtier's limit: 4 GiB of 4 KiB pages per call, 65536 times the "
                                       "RFC's default of 16"),
    "max_migrate_pages": (0, INT64_MAX, False, "the largest int64"),
    "bootstrap": (0, 100_000, False, "each round is a refit"),
    "phases": (1, INT64_MAX, False, "the largest int64"),
    "repeats": (1, 10_000, False, "ten thousand timed runs per figure"),
    "source": (0, 1023, False, "Linux's MAX_NUMNODES is at most 1024"),
    "target": (0, 1023, False, "Linux's MAX_NUMNODES is at most 1024"),
    "alpha": (0.0, 1e6, False, ""),
    "hot_fraction": (0.0, 1.0, False, ""),
    "hot_probability": (0.0, 1.0, False, ""),
    "migration_share": (0.0, math.inf, True, ""),
    "write_share": (0.0, 1.0, False, ""),
    "period_s": (0.0, math.inf, False, ""),
    "rmap_ns": (0.0, math.inf, False, ""),
    "connect_timeout": (0.0, 86_400.0, False, "a day"),
    "int": (0, INT64_MAX, False, "the largest int64"),
    "float": (-math.inf, math.inf, False, ""),
}
_OPEN_LOW = {"hot_fraction", "connect_timeout", "period_s"}  # must be above the minimum, not equal to it


def _flag(action) -> str:
    return max(action.option_strings, key=len) if action.option_strings else action.dest


def _checked_number(kind, flag: str, bounds, open_low: bool):
    low, high, allow_inf, why = bounds
    expected = "a whole number" if kind is int else "a number"

    def parse(text):
        text = str(text).strip()
        try:
            value = int(text) if kind is int else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r} is not {expected}") from None
        if kind is float and (math.isnan(value) or (math.isinf(value) and not allow_inf)):
            raise argparse.ArgumentTypeError(f"{flag} {text!r}: give a finite number")
        if value < low or (open_low and value == low):
            raise argparse.ArgumentTypeError(f"{flag} {text}: must be {'above' if open_low else 'at least'} {low}")
        if value > high:
            reason = f" ({why})" if why else ""
            raise argparse.ArgumentTypeError(f"{flag} {text}: must be at most {high}{reason}")
        return value

    parse.__name__ = expected  # what argparse calls the type in its own messages
    return parse


def _checked_page_size(flag: str):
    def parse(text):
        from .measurement.schema import parse_page_size

        try:
            parse_page_size(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{flag} {text!r}: {error}") from None
        return text  # the commands parse it again, as before

    parse.__name__ = "page size"
    return parse


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _check_numbers(parser, command: str = "") -> None:
    """Give every ``type=int``/``type=float`` option of every subcommand a checked type."""
    for action in parser._actions:
        if action.type in (int, float):
            name = action.dest
            bounds = (_BOUNDS.get(f"{command}.{name}") or _BOUNDS.get(name)
                      or _BOUNDS["int" if action.type is int else "float"])
            action.type = _checked_number(action.type, _flag(action), bounds, name in _OPEN_LOW)
        elif action.dest == "page_size" and action.type is None:
            action.type = _checked_page_size(_flag(action))
    for name, sub in _subparsers(parser):
        _check_numbers(sub, name)


def _option_strings(parser, found=None) -> dict:
    """Every option string of every (sub)command, and whether it takes a value."""
    found = {} if found is None else found
    for action in parser._actions:
        for option in action.option_strings:
            found[option] = found.get(option, False) or (action.nargs is None and not isinstance(
                action, (argparse._StoreConstAction, argparse._HelpAction)))
    for _, sub in _subparsers(parser):
        _option_strings(sub, found)
    return found


def _join_dashed_values(parser, argv: list[str]) -> list[str]:
    """``--fast-capacity -10%`` -> ``--fast-capacity=-10%``: argparse would read ``-10%`` as an
    option and say "expected one argument"; joined, the option's own check names the problem."""
    options = _option_strings(parser)
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        following = argv[i + 1] if i + 1 < len(argv) else None
        if (options.get(token) and following is not None and following.startswith("-")
                and following != "--" and following.split("=")[0] not in options):
            out.append(f"{token}={following}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _take_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Remove ``--debug`` wherever it is given before a ``--``."""
    end = argv.index("--") if "--" in argv else len(argv)
    kept = [a for a in argv[:end] if a != "--debug"]
    return kept + argv[end:], len(kept) != end


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


def _compiling_note(command: str, what: str, how_long: str, quiet: bool = False):
    """A block within which numba's first compile is announced with one line on stderr
    (``memtier simulate: compiling ...``), unless ``quiet``: a first run compiles the kernels
    and prints nothing meanwhile, which looks like a hang.  A run that loads them from numba's
    cache says nothing (:func:`memtier._jit.when_compiling`)."""
    from ._jit import when_compiling

    def say():
        if not quiet:
            from tqdm.auto import tqdm

            # through tqdm: a progress bar being drawn is cleared, and redrawn below the line
            tqdm.write(f"memtier {command}: compiling {what} (first run only: {how_long})...", file=sys.stderr)

    return when_compiling(say)


def _warn_wide_spreads(table, name) -> None:
    """One warning line for a measurement file whose rows' spreads are comparable to their
    values (:func:`memtier.measurement.schema.wide_spreads`): how many, which, what to do.
    The rows stay as they are; :func:`main` prints the line after the results."""
    from .measurement.schema import WIDE_SPREAD, format_page_size, wide_spreads

    wide = wide_spreads(table)
    if not wide.any():
        return
    shown = []
    for _, row in table[wide].iterrows():
        workers = int(row["workers"])
        engine = "DMA channel" if row["copy"] == "dma" else "thread"
        shown.append(f"{row['scope']} {format_page_size(int(row['page_size']))} x{int(row['n_pages'])}, "
                     f"{workers} {engine}{'s' * (workers > 1)}: {row['gbps']:.3g} GB/s, sd {row['gbps_sd']:.3g}")
    listed = "; ".join(shown[:4]) + (f"; and {len(shown) - 4} more" if len(shown) > 4 else "")
    count = int(wide.sum())
    warnings.warn(f"{name}: {count} of {len(table)} rows {'has' if count == 1 else 'have'} a standard deviation "
                  f"above {WIDE_SPREAD:g} of the value ({listed}): one standard deviation either side spans a "
                  "factor of three or more, so such a figure is not the machine's to trust; the rows are kept and "
                  "used as they are; measure again without --quick, with more --repeats, or on a quieter machine",
                  stacklevel=1)


# --- the cost model: reproduce, fit, predict ------------------------------------------------


def _reproduce(args) -> int:
    from .reproduce import reproduce

    def step(message):
        print(f"memtier reproduce: {message}", file=sys.stderr, flush=True)

    out = reproduce(args.out, quick=args.quick, force=args.force, bootstrap=args.bootstrap,
                    progress=None if args.quiet else step)
    print(f"figures and tables written to {out}")
    return 0


def _fit(args) -> int:
    from .model.fitting import fit
    from .measurement.schema import load_measurements

    from .model.fitting import same_node_rows

    if args.out:
        check_output(args.out, force=args.force, inputs=[args.csv, args.base], what="--out")
    table = load_measurements(args.csv)
    _warn_wide_spreads(table, args.csv)
    same_node = same_node_rows(table)
    if same_node.all():
        raise ValueError(f"{args.csv}: every row was timed within one node ('same-node' in notes: no data "
                         "moved), so none can be fitted as a migration; measure across two nodes")
    if same_node.any():
        # a warning: main() prints it as one line once the command has succeeded
        warnings.warn(f"{int(same_node.sum())} row(s) of {args.csv} were timed within one node "
                      "('same-node': no data moved) and are not migrations; they are left out of the fit",
                      stacklevel=1)
        table = table[~same_node].reset_index(drop=True)
    free = [name.strip() for name in args.free.split(",")] if args.free else None
    base = None
    if args.base:
        from .model.fitting import load_fit

        base = load_fit(args.base)
    source_effect = {"auto": None, "on": True, "off": False}[args.source_effect]
    # 4.5 s of compiling on this project's 2-core VM at a load of 2.7, before the fit's own 4 s
    with _compiling_note("fit", "the cost model", "seconds, more on a busy machine"):
        result = fit(table, free=free, base=base, bootstrap=args.bootstrap, source_effect=source_effect)
    if args.out:  # written before anything is printed: a closed pipe cannot lose it
        result.save(args.out, force=args.force)
    print(result.report())
    if args.out:
        print(f"\nfit saved to {args.out}")
    return 0


def _predict(args) -> int:
    import pandas as pd

    from .model.fitting import load_fit
    from .measurement.schema import load_measurements

    row = {
        "page_size": args.page_size,
        "n_pages": args.pages,
        "copy": "dma" if args.dma else "cpu",
        "workers": args.workers,
        "batched": args.batched,
        "exchange": args.exchange,
        "scope": args.scope,
    }
    # 3.6 s of compiling the cost model's 17 kernels on this project's 2-core VM at a load of 0.9
    with _compiling_note("predict", "the cost model", "seconds, more on a busy machine"):
        result = load_fit(args.fit)
        config = load_measurements(pd.DataFrame([row]), name="the command line", throughput=False)
        gbps = float(result.predict(config)[0])
        low, high = result.predict_interval(config)
    time_us = config["page_size"].iloc[0] * config["n_pages"].iloc[0] / gbps / 1e3
    print(
        f"{gbps:.4g} GB/s ({time_us:.4g} us per call); "
        f"{result.confidence:.0%} interval {low[0]:.4g} to {high[0]:.4g} GB/s"
    )
    print(f"for: {_describe_configuration(config.iloc[0])}; model fitted in {args.fit}")
    return 0


def _describe_configuration(row) -> str:
    """One migration configuration in words, as ``predict`` computed it."""
    from .measurement.schema import format_page_size

    n_pages = int(row["n_pages"])
    workers = int(row["workers"])
    copier = (f"{workers} DMA channel{'s' * (workers > 1)}" if row["copy"] == "dma"
              else f"{workers} copy thread{'s' * (workers > 1)}")
    return (f"{n_pages} x {format_page_size(int(row['page_size']))} page{'s' * (n_pages > 1)}, {copier}, "
            f"{'batched' if row['batched'] else 'one page at a time'}, "
            f"{'exchanged' if row['exchange'] else 'migrated'}, timer scope {row['scope']}")


def _add_model_commands(sub) -> None:
    p = _command(
        sub,
        "reproduce",
        "Fit the cost model to the RFC's measurements and write its figures and tables.",
        "memtier reproduce --out results",
        _reproduce,
    )
    p.add_argument("--out", default="memtier-results", help="folder to write into (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="20 bootstrap rounds instead of 200 (the test suite's mode)")
    p.add_argument("--bootstrap", type=int, default=None,
                   help="bootstrap rounds for the intervals (default: 200, or 20 with --quick)")
    p.add_argument("--force", action="store_true", help="overwrite files already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress messages")

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
    p.add_argument("--base",
                   help="a saved fit whose parameters the others are taken from (default: the RFC machine's "
                        "values, memtier.model.cost.ModelParams)")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap rounds (default: %(default)s)")
    p.add_argument("--source-effect", choices=("auto", "on", "off"), default="auto",
                   help="a factor per source on its DMA rows' serial work (auto: when two sources measured a "
                        "DMA configuration in common; default: %(default)s)")
    p.add_argument("--out", help="save the fit as JSON here (default: none, the report is printed only)")
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
    p.add_argument("--workers", type=int, default=1, help="copy threads, or DMA channels with --dma (default: 1)")
    p.add_argument("--dma", action="store_true", help="copy with a DMA engine instead of CPU threads")
    p.add_argument("--batched", action="store_true", help="concurrent (batched) migration of the list")
    p.add_argument("--exchange", action="store_true", help="exchange pages instead of migrating them")
    p.add_argument("--scope", default="migrate", choices=("syscall", "migrate", "copy"),
                   help="what the time covers: syscall (move_pages end to end), migrate (the kernel's "
                        "migrate_pages()) or copy (the data copy only) (default: %(default)s)")


# --- the simulator ----------------------------------------------------------------------------


def _capacity(text: str, n_pages: int, name: str, minimum: int = 1) -> int:
    """Pages from ``"4096"`` or a share of the trace's pages, ``"10%"``."""
    text = str(text).strip()
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            if not math.isfinite(percent):
                raise ValueError
        else:
            pages = int(text)
    except ValueError:
        raise CliError(f"{name} {text!r} is not a page count (4096) or a share of the pages (10%)") from None
    if text.endswith("%"):
        if not 0 < percent <= 100:
            raise CliError(f"{name} {text}: a share of the pages must be above 0% and at most 100%")
        pages = int(round(percent / 100 * n_pages))
        if pages < 1:
            raise CliError(f"{name} {text} of the trace's {n_pages} pages is less than one page; "
                           "give a larger share or a page count")
        return pages
    if not minimum <= pages <= INT64_MAX:
        raise CliError(f"{name} {text}: give a page count of at least {minimum} (at most {INT64_MAX})")
    return pages


def _fast_capacity(text: str, n_pages: int, whose: str) -> int:
    """``--fast-capacity`` in pages, at most the ``n_pages`` there are (``whose``: ``--pages
    100``, or ``the trace``: its address space, :func:`memtier.simulation.pagespace.address_space`).

    A fast node that holds every page is a legitimate control (every policy then serves every
    access fast); one larger than that holds nothing more, and usually means --pages or the
    trace is not the one meant.  ``memtier.simulate`` itself
    accepts it (``kernel-check`` sizes the fast node as the guest's node 0, which can be
    larger than the workload).  A share is at most 100% already (:func:`_capacity`)."""
    pages = _capacity(text, n_pages, "--fast-capacity")
    if pages > n_pages:
        where = f"the {n_pages} of {whose}" if whose.startswith("--") else f"the trace's {n_pages}"
        raise CliError(f"--fast-capacity {str(text).strip()}: more pages than {where}, so every page would fit on "
                       f"the fast node and every policy would do the same; give at most {n_pages} pages, or a "
                       "share such as 10%")
    return pages


def _policy_params(pairs, policies) -> dict:
    """``--param NAME=VALUE`` options: each must be a parameter of one of the chosen policies."""
    from .simulation import policies as classifiers

    accepted = {name for policy in policies if policy in classifiers.MODULES
                for name in classifiers.parameters(policy)}
    chosen = {}
    for pair in pairs or []:
        name, _, value = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not value:
            raise CliError(f"--param {pair!r}: give NAME=VALUE, e.g. --param hot_threshold_ms=500")
        if name not in accepted:
            import difflib

            close = difflib.get_close_matches(name, accepted, n=1)
            guess = f" (did you mean {close[0]}?)" if close else ""
            raise CliError(f"--param {name}: no chosen policy takes it{guess}; the chosen policies take "
                           f"{', '.join(sorted(accepted)) or 'no parameters'}")
        try:
            chosen[name] = float(value)
        except ValueError:
            raise CliError(f"--param {name}={value!r}: the value must be a number") from None
    return chosen


def _generated_trace(args):
    """The trace ``--workload`` names; ``mix`` interleaves the ``--mix-of`` workloads, each on
    its own share of the pages and of the accesses (``workloads.mix``)."""
    from .traces import workloads

    def one(kind, n_pages, n_accesses, seed):
        options = {"seed": seed} if kind != "scan" else {}
        if kind == "zipf":
            options["alpha"] = args.alpha
        if kind == "hot_set":
            options.update(hot_fraction=args.hot_fraction, hot_probability=args.hot_probability,
                           phases=args.phases)
        return workloads.GENERATORS[kind](n_pages, n_accesses, **options)

    if args.workload != "mix":
        return one(args.workload, args.pages, args.accesses, args.seed)
    kinds = [kind.strip() for kind in args.mix_of.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in workloads.GENERATORS]
    if not kinds or unknown:
        raise CliError(f"--mix-of {args.mix_of!r}: give workloads from {', '.join(sorted(workloads.GENERATORS))} "
                       "separated by commas, e.g. zipf,scan")
    if args.pages < len(kinds) or args.accesses < len(kinds):
        raise CliError(f"--pages and --accesses must be at least {len(kinds)} to mix {len(kinds)} workloads")
    shares = [(args.pages * (j + 1) // len(kinds) - args.pages * j // len(kinds),
               args.accesses * (j + 1) // len(kinds) - args.accesses * j // len(kinds)) for j in range(len(kinds))]
    parts = [one(kind, n_pages, n_accesses, args.seed + j)
             for j, (kind, (n_pages, n_accesses)) in enumerate(zip(kinds, shares))]
    return workloads.mix(*parts, seed=args.seed)


def _simulate(args) -> int:
    import numpy as np
    import pandas as pd

    from .traces import workloads
    from .simulation import policies as classifiers
    from .simulation.mechanisms import Mechanism
    from .simulation.simulator import POLICIES, simulate

    from .simulation.pagespace import address_space

    if args.out:
        check_output(args.out, force=args.force, inputs=[args.trace, args.fit], what="--out")
    n_pages = args.pages
    if args.trace:
        trace = workloads.load_trace(args.trace)
    else:
        if args.pages is None or args.accesses is None:
            raise CliError("give --pages and --accesses for a generated workload (or --trace FILE.npy)")
        if args.workload != "mix":
            workloads.check_generator_memory(args.workload, args.pages, args.accesses,
                                             words={"n_pages": "--pages", "n_accesses": "--accesses"})
    pages_for_shares = n_pages if n_pages is not None else address_space(trace)
    # checked before a workload is generated: a wrong capacity costs no wait
    fast = _fast_capacity(args.fast_capacity, pages_for_shares,
                          f"--pages {n_pages}" if n_pages is not None else "the trace")
    slow = None if args.slow_capacity is None else _capacity(args.slow_capacity, pages_for_shares,
                                                              "--slow-capacity", minimum=0)
    if not args.trace:
        trace = _generated_trace(args)
    writes = None
    if args.trace:
        writes_file = workloads.writes_path(args.trace)
        if writes_file.exists():
            writes = np.load(writes_file, mmap_mode="r")
    elif args.write_share:
        writes = workloads.write_flags(len(trace), args.write_share, seed=args.seed)
    policies = list(POLICIES) if args.policy == "all" else [p.strip() for p in args.policy.split(",")]
    if args.policy == "all" and args.period_s is not None:
        policies.remove("oracle")  # its periods must be counts of accesses
        print("oracle left out: with --period-s its periods' lengths would depend on its own placement")
    mechanism = Mechanism.named(args.mechanism, page_bytes=args.page_size, batch_pages=args.batch_pages)
    fit = None
    if args.fit:
        from .model.fitting import load_fit

        fit = load_fit(args.fit)
    progress = not args.quiet and len(trace) >= 5_000_000
    chosen = _policy_params(args.param, policies)
    summaries, tables = [], []
    for policy in policies:
        if policy in classifiers.MODULES:  # their own parameters; no mm_manage budget
            options = {name: value for name, value in chosen.items() if name in classifiers.parameters(policy)}
        else:
            options = dict(variants=args.variants if policy == "active-shrink" else None,
                           migration_share=args.migration_share, max_migrate_pages=args.max_migrate_pages)
        # a policy's kernels compiled in 60 s on this project's idle 2-core VM, 106 s at a load of 3
        with _compiling_note("simulate", f"{policy}'s kernels", "a minute or more per policy", quiet=args.quiet):
            result = simulate(trace, policy, fast, slow_capacity=slow, n_pages=n_pages, period=args.period,
                              period_s=args.period_s, mechanism=mechanism, fit=fit, rmap_ns=args.rmap_ns,
                              writes=writes, progress=progress, **options)
        summaries.append(result.summary())
        tables.append(result.periods.assign(policy=policy))
    summary = pd.DataFrame(summaries).set_index("policy")
    columns = ["fast_hit_ratio", "vs_reactive", "placement_accuracy", "promotion_precision",
               "promotion_recall", "promoted", "demoted", "exchanged", "migration_us", "scan_us", "time_us",
               "speedup_vs_static"]
    if args.out:  # written before anything is printed: a closed pipe cannot lose it
        table = pd.concat(tables, ignore_index=True)
        table.insert(0, "policy", table.pop("policy"))
        with atomic_write(args.out, force=args.force, inputs=[args.trace, args.fit], what="--out") as handle:
            table.to_csv(handle, index=False)
    period = (f"period {args.period_s} s" if args.period_s is not None
              else f"period {result.config['period']} accesses")
    print(f"{len(trace)} accesses, fast capacity {fast} pages, {period}, {mechanism.label}")
    print(summary[columns].to_string(float_format=lambda x: f"{x:.4g}", na_rep="-"))
    if summary[columns].isna().any(axis=None):
        print("-: not defined: the policy is not judged as a classifier (static, reclaim-no-demotion, lru, "
              "oracle), or there was nothing to judge (no page moved, or none worth moving)")
    if args.out:
        print(f"per-period results written to {args.out}")
    return 0


def _add_simulator_commands(sub) -> None:
    from .simulation.mechanisms import MECHANISMS
    from .simulation.simulator import ALL_POLICIES, POLICIES, RMAP_WALK_NS, VARIANTS
    from .traces.workloads import GENERATORS

    p = _command(
        sub,
        "simulate",
        "Simulate tiering policies on a generated or saved page-access trace.",
        """
        memtier simulate --workload hot_set --pages 100000 --accesses 10000000 --fast-capacity 10%
        memtier simulate --trace trace.npy --policy all --fast-capacity 4096 --mechanism exchange-mt16 --page-size 2M --out results.csv
        """,
        _simulate,
    )
    p.add_argument("--workload", default="hot_set", choices=sorted(GENERATORS) + ["mix"],
                   help="generated trace (default: %(default)s); mix: the --mix-of workloads interleaved")
    p.add_argument("--mix-of", default="zipf,scan",
                   help="mix: workloads to interleave, each on an equal share of pages and accesses "
                        "(default: %(default)s)")
    p.add_argument("--trace", help="a .npy trace of page numbers (read memory-mapped) instead of --workload")
    p.add_argument("--pages", type=int,
                   help="pages in the address space (required with --workload; with --trace, default: its "
                        "largest page number + 1)")
    p.add_argument("--accesses", type=int, help="accesses to generate (required with --workload)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated trace (default: 0)")
    p.add_argument("--alpha", type=float, default=1.0, help="zipf skew (default: 1.0)")
    p.add_argument("--hot-fraction", type=float, default=0.1, help="hot_set: share of pages hot (default: 0.1)")
    p.add_argument("--hot-probability", type=float, default=0.9,
                   help="hot_set: share of accesses to the hot set (default: 0.9)")
    p.add_argument("--phases", type=int, default=1, help="hot_set: hot-set changes (default: 1)")
    p.add_argument("--fast-capacity", required=True, help="fast-node limit: pages, or a share such as 10%%")
    p.add_argument("--slow-capacity", help="slow-node limit: pages or a share (default: every page)")
    p.add_argument("--write-share", type=float, default=0.0,
                   help="generated workloads: share of accesses that write (default: 0)")
    p.add_argument("--policy", default="active-shrink",
                   help=f"{', '.join(ALL_POLICIES)}; several separated by commas, or 'all' (the list policies "
                        f"and oracles: {', '.join(POLICIES)}) (default: %(default)s)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a parameter of numa-balancing, tpp, hemem, memtis, bit-history, mglru or damon, named as in "
                        "the kernel or the paper, e.g. hot_threshold_ms=500 or sample_period=101 (repeatable; see "
                        "memtier.simulation.policies)")
    p.add_argument("--variants",
                   help=f"active-shrink variants, comma-separated: {', '.join(VARIANTS)} (default: none, the "
                        "posted rules)")
    p.add_argument("--period", type=int, help="accesses between mm_manage calls (default: 1%% of the trace)")
    p.add_argument("--period-s", type=float,
                   help="seconds of simulated access time between mm_manage calls (the RFC: 1-5 s), "
                        "instead of --period (default: --period)")
    p.add_argument("--rmap-ns", type=float, default=RMAP_WALK_NS,
                   help="ns charged per page a list scan looks at (default: %(default)s, an estimate)")
    p.add_argument("--mechanism", default="linux", choices=list(MECHANISMS), metavar="MECHANISM",
                   help=f"how pages move: {', '.join(MECHANISMS)} (default: %(default)s)")
    p.add_argument("--page-size", default="4K", help="bytes of one page: 4K, 2M, ... (default: 4K)")
    p.add_argument("--batch-pages", type=int, default=16, help="pages per migration call (default: 16)")
    p.add_argument("--migration-share", type=float,
                   help="share of a period's access time migration may take (default: no budget, as the RFC)")
    p.add_argument("--max-migrate-pages", type=int,
                   help="mm_manage's nr_pages: slow pages isolated per period (default: no limit)")
    p.add_argument("--fit", help="a saved cost-model fit (default: the RFC machine's)")
    p.add_argument("--out",
                   help="write the per-period results of every policy to this CSV (default: none, the summary "
                        "is printed only)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar, and no line when a policy's kernels compile (a first run)")


# --- parameter sweeps -------------------------------------------------------------------------


def _grid_value(text: str):
    """A value of ``--param``: none, a whole number, a number, or text."""
    text = text.strip()
    if text.lower() == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _param_lists(pairs, example: str) -> dict:
    """``--param NAME=VALUE[,VALUE...]`` options (sweep, kernel-resimulate) -> ``{name: [text, ...]}``:
    a name without ``=``, an empty value or a name given twice is refused in one line."""
    chosen = {}
    for pair in pairs or []:
        name, equals, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not equals or not name or any(not value.strip() for value in text.split(",")):
            raise CliError(f"--param {pair!r}: give NAME=VALUE or NAME=VALUE,VALUE,..., e.g. --param {example}")
        if name in chosen:
            raise CliError(f"--param {name} given twice; give its values once, comma-separated")
        chosen[name] = [value.strip() for value in text.split(",")]
    return chosen


def _sweep(args) -> int:
    from pathlib import Path

    from .simulation.sweeps import RUN_COLUMNS, sweep

    if args.scheduler and args.workers is not None:
        raise CliError("give --scheduler (a running cluster) or --workers (a local one), not both")
    grid = {name: [_grid_value(value) for value in values]
            for name, values in _param_lists(args.param, "period=10000,100000").items()}
    options = {}
    if args.fit:
        from .model.fitting import load_fit

        options["fit"] = load_fit(args.fit)
    traces = {}
    for path in args.trace:
        name = Path(path).stem
        if name in traces:
            raise CliError(f"two --trace files are named {name!r} ({traces[name]}, {path}); rename one")
        traces[name] = path
    try:
        # about 110 s for static and lru on this project's 2-core VM (load 1-6), in this process:
        # the cells' kernels, compiled and cached by sweep's check of the arguments, which a
        # local cluster's workers then load (a cluster given by --scheduler compiles its own)
        with _compiling_note("sweep", "the simulator's kernels", "a minute or more per policy", quiet=args.quiet):
            _sweep_fast_capacity(args.fast_capacity, traces, grid.get("n_pages", [None]))
            table = sweep(traces, args.policy, args.fast_capacity, args.mechanism, grid=grid, out=args.out,
                          client=args.scheduler, workers=args.workers, progress=not args.quiet,
                          connect_timeout=args.connect_timeout, **options)
    except KeyboardInterrupt:
        if args.out and Path(args.out).is_dir():
            saved = sum(1 for p in Path(args.out).iterdir() if p.name.startswith("cell-"))
            print(f"memtier: interrupted; {args.out} keeps {saved} finished cell(s): run the same command "
                  "again to resume", file=sys.stderr)
        else:
            print("memtier: interrupted; nothing saved (give --out to make a sweep resumable)", file=sys.stderr)
        return 130
    shown = [c for c in table.columns if c in ("trace", "policy", "mechanism", "fast_capacity_spec", "status")
             or c in grid or c in ("fast_hit_ratio", "speedup_vs_static", "speedup_vs_all_slow")]
    shown += list(RUN_COLUMNS[:1])
    print(table[shown].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    counts = table.attrs
    print(f"{counts['cells']} cells: {counts['ran']} run, {counts['skipped']} already done, "
          f"{counts['failed']} failed" + (f"; saved in {args.out}" if args.out else ""))
    for error in table.loc[table["status"] != "ok", "error"].drop_duplicates().head(5):
        print(f"  failed: {error}")
    return 1 if counts["failed"] else 0


def _sweep_fast_capacity(text: str, traces: dict, n_pages: list) -> None:
    """Each value of ``--fast-capacity`` checked against each trace's pages as simulate checks
    its one (:func:`_fast_capacity`: a page count above the pages there are, a share above 100%
    or of less than one page, each refused in one line), before the sweep starts its cluster or
    fits anything.  ``n_pages``: the values of ``--param n_pages`` (None: the trace's own pages,
    :func:`memtier.simulation.pagespace.address_space`)."""
    from .simulation.pagespace import address_space
    from .traces.workloads import load_trace

    specs = [spec.strip() for spec in text.split(",") if spec.strip()]
    for path in traces.values():
        trace = load_trace(path)
        for pages in n_pages:
            if pages is not None and not isinstance(pages, int):
                continue  # not a page count: refused by the sweep's own check of its arguments
            space = address_space(trace, pages)
            for spec in specs:
                _fast_capacity(spec, space, f"--trace {path}" if pages is None else f"--param n_pages={pages}")


def _add_sweep_commands(sub) -> None:
    p = _command(
        sub,
        "sweep",
        "Simulate every cell of a grid (traces x policies x capacities x mechanisms) on Dask.",
        """
        memtier sweep --trace sort.npy --trace hot.npy --policy all --fast-capacity 5%,10%,20% --mechanism linux,mt8 --out study.parquet
        memtier sweep --trace sort.npy --fast-capacity 10% --param period=10000,100000 --scheduler tcp://HOST:8786
        """,
        _sweep,
    )
    p.add_argument("--trace", action="append", required=True,
                   help=".npy trace (repeat for several; read memory-mapped where the cell runs)")
    p.add_argument("--policy", default="all", help="policies, comma-separated, or 'all' (default: all)")
    p.add_argument("--fast-capacity", required=True,
                   help="fast-node limits: pages (at most each trace's) or shares, e.g. 5%%,10%%,4096")
    p.add_argument("--mechanism", default="linux", help="mechanisms, comma-separated (default: linux)")
    p.add_argument("--param", action="append", metavar="NAME=V1,V2",
                   help="another memtier.simulate argument to sweep, e.g. period=10000,100000 (repeatable)")
    p.add_argument("--fit", help="a saved cost-model fit (default: the RFC machine's)")
    p.add_argument("--out",
                   help="folder of Parquet files, one per finished cell; run again to resume (default: none, "
                        "nothing saved)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://HOST:8786")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core; 1: no cluster)")
    p.add_argument("--connect-timeout", type=float, default=10.0,
                   help="seconds to wait for --scheduler (default: %(default)s)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar, and no line when the simulator's kernels compile (a first run)")


# --- measuring this machine -------------------------------------------------------------------


def _size_list(text: str) -> list[int]:
    from .measurement.schema import parse_page_size

    return [parse_page_size(part) for part in text.split(",") if part.strip()]


def _int_list(text: str, what: str, maximum: int = 1 << 20, why: str = "") -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CliError(f"{what} must be comma-separated whole numbers, e.g. 1,16,512; got {text!r}") from None
    if not values or min(values) < 1:
        raise CliError(f"{what} must be positive; got {text!r}")
    if max(values) > maximum:
        raise CliError(f"{what} {max(values)} is too large: at most {maximum}{why}")
    return values


def _bytes(text: str) -> int:
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise CliError(f"--buffer {text!r}: give bytes with a binary unit, e.g. 256M or 2G")
    return int(match.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[match.group(2).upper()]


def _measure(args) -> int:
    from .measurement.measure import make_plan, run_measurements, sidecar_path
    from .measurement.numa import NumaError

    choices = {}
    if args.page_sizes:
        choices["page_sizes"] = _size_list(args.page_sizes)
    if args.pages:
        choices["pages_per_call"] = _int_list(args.pages, "--pages")
    if args.threads:
        choices["threads"] = _int_list(args.threads, "--threads", MAX_WORKERS,
                                       " (Linux's NR_CPUS is at most 8192 on x86-64)")
    if args.buffer:
        from .limits import check_memory

        choices["buffer_bytes"] = _bytes(args.buffer)
        check_memory(2 * choices["buffer_bytes"], f"--buffer {args.buffer} (a source and a target buffer)",
                     "give a smaller --buffer")
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
    from .measurement.schema import load_measurements

    _warn_wide_spreads(load_measurements(rows.path), rows.path)
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
    p.add_argument("--page-sizes", help="comma-separated, e.g. 4K,2M (default: 4K,64K,2M; 4K,2M with --quick)")
    p.add_argument("--pages", help="pages per copy call (default: 1,16,512; 1,16 with --quick)")
    p.add_argument("--threads", help="copy thread counts, e.g. 1,2,4 (default: 1, 2, 4 ... cores)")
    p.add_argument("--buffer", help="bytes of each copy buffer, e.g. 1G (default: 2x last-level cache)")
    p.add_argument("--repeats", type=int, help="timed runs per figure (default: 7; 3 with --quick)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (nor its line per row where stderr is not a terminal), and no line "
                        "when the copy kernels compile (a first run)")


# --- the simulator against the kernel: kernel-check (issue 15) --------------------------------


def _kernel_check(args) -> int:
    from .kernel import guest
    from .kernel.check import KernelCheckError, Workload, check_kernel_runs, kernel_check

    try:
        check_kernel_runs(args.kernel_runs, args.run_offset_ms)
    except KernelCheckError as error:
        raise CliError(str(error)) from None
    if args.node0_free < 0:
        raise CliError(f"--node0-free must be a number of pages >= 0 (0: no ballast), got {args.node0_free}")
    workload = Workload(kind=args.workload, total_mb=args.total_mb, hot_mb=args.hot_mb, seconds=args.seconds,
                        rate=args.rate, checkpoint_ms=args.checkpoint_ms, seed=args.seed, alpha=args.alpha,
                        trace=args.trace)  # a KernelCheckError is a ValueError: one line, status 2

    def step(message):
        if not args.quiet:
            print(f"memtier kernel-check: {message}", file=sys.stderr, flush=True)

    try:
        result = kernel_check(workload, args.out, force=args.force, icount=not args.no_icount,
                              timeout=args.timeout, kernel=args.kernel, progress=step,
                              node0_free=args.node0_free or None, boot=args.boot,
                              vmscan_counters=args.vmscan_counters, direct_reclaim=args.direct_reclaim,
                              watermark_boost_factor=args.watermark_boost_factor,
                              kernel_runs=args.kernel_runs, run_offset_ms=args.run_offset_ms,
                              scan_trace=args.scan_trace, node_map=args.node_map)
    except (guest.VmUnavailable, guest.GuestFailed) as error:
        raise CliError(str(error)) from None
    print(f"wrote {args.out}/timeline.csv and timeline.png: {_verdict_words(result['verdict'])}")
    if result.get("counters") is not None:
        print(f"wrote {args.out}/counters.csv: at the end, memtier against the kernel: "
              f"{_counters_words(result['counters'])} (apart: by over 25 % and 100 events)")
    if result.get("nodes") is not None:
        nodes = result["nodes"]
        worst = nodes["agree"].idxmin()
        print(f"wrote {args.out}/node_map.npz: page by page, memtier places {100 * nodes['agree'].iloc[-1]:.1f} % of "
              f"the pages where the kernel does at the end, {100 * nodes['agree'].min():.1f} % at {worst:g} s (the "
              f"fewest); there {nodes.loc[worst, 'kernel_fast_only']} pages are on node 0 in the kernel only, "
              f"{nodes.loc[worst, 'memtier_fast_only']} in memtier only")
    if "spread_verdict" in result:
        s = result["spread_verdict"]
        print(f"wrote {args.out}/kernel_runs.csv: the kernel's {s['kernel_runs']} runs differ by up to "
              f"{s['kernel_spread_points']:.1f} points in hot share ({s['kernel_spread_at_s']:g} s); memtier lies "
              + _outside_words(s)
              + f"; promoted {s['kernel_promoted_range'][0]}-{s['kernel_promoted_range'][1]} "
              f"(memtier {'inside' if s['memtier_promoted_inside'] else 'outside'}), demoted "
              f"{s['kernel_demoted_range'][0]}-{s['kernel_demoted_range'][1]} "
              f"(memtier {'inside' if s['memtier_demoted_inside'] else 'outside'})")
    elif result["verdict"]["max_gap_points"] > 10:
        print("one kernel run: its own timing can move a promotion wave across a checkpoint (up to 100 points "
              "there); --kernel-runs 3 shows how far the kernel's runs spread and memtier against that range "
              "(docs/kernel-check.md, 'The kernel against itself')")
    return 0


def _verdict_words(v: dict) -> str:
    """kernel-check's verdict (:func:`memtier.kernel_check.verdict`) in words, with when the largest
    gap is and each count's relative difference."""
    def relative(name):
        kernel, sim = v[f"kernel_{name}"], v[f"memtier_{name}"]
        return f" ({100 * (sim - kernel) / kernel:+.1f} %)" if kernel else ""

    at = f" at {v['max_gap_at_s']:g} s" if "max_gap_at_s" in v and v["max_gap_points"] > 0 else ""
    return (f"hot pages on the fast node differ from the kernel's by at most {v['max_gap_points']:.1f} points{at} "
            f"(target 10); promoted {v['memtier_promoted']} against the kernel's {v['kernel_promoted']}"
            f"{relative('promoted')}, demoted {v['memtier_demoted']} against {v['kernel_demoted']}"
            f"{relative('demoted')} (target: within 25 %)")


def _counters_words(table) -> str:
    """The kernel's event counters against memtier's (:func:`memtier.kernel_check.compare_counters`)
    in words: each at the end, and the first checkpoint where it parts by more than 25 %."""
    from .kernel.compare import COUNTERS, counters_parting

    if table is None or table.empty:
        return "no counters to compare"
    parting = counters_parting(table)
    words = []
    for name in COUNTERS:
        if f"kernel_{name}" not in table.columns:
            continue
        kernel, sim = int(table[f"kernel_{name}"].iloc[-1]), int(table[f"memtier_{name}"].iloc[-1])
        apart = f", apart from {parting[name]:g} s" if parting[name] is not None else ""
        words.append(f"{name} {sim} against {kernel}{apart}")
    return "; ".join(words)


def _outside_words(s: dict) -> str:
    """How far memtier lies outside the kernel runs' range (:func:`memtier.kernel_check.spread_verdict`)."""
    if s["memtier_outside_points"] <= 0:
        return "within their range at every checkpoint"
    at = f" ({s['memtier_outside_at_s']:g} s)" if "memtier_outside_at_s" in s else ""
    return f"{s['memtier_outside_points']:.1f} points outside their range at most{at}"


def _kernel_resimulate(args) -> int:
    from .kernel.saved import resimulate, resimulate_grid

    grid = {}
    for name, values in _param_lists(args.param, "hot_threshold_ms=500,1000").items():
        try:
            grid[name] = [float(value) for value in values]
        except ValueError:
            raise CliError(f"--param {name}={','.join(values)!r}: the values must be numbers") from None
    several = any(len(values) > 1 for values in grid.values())
    if (several or args.table) and args.out:
        raise CliError("--out writes one run's folder, for one value of each --param; with several values (or "
                       "--table) the comparison of every combination is a table")
    if args.table:
        check_output(args.table, force=args.force, what="--table")

    def step(message):
        if not args.quiet:
            print(f"memtier kernel-resimulate: {message}", file=sys.stderr, flush=True)

    with _compiling_note("kernel-resimulate", "numa-balancing's kernels", "a minute or two, more on a busy machine",
                         quiet=args.quiet):
        if several or args.table:
            table = resimulate_grid(args.run, grid, progress=step)
        else:
            params = {name: values[0] for name, values in grid.items()}
            result = resimulate(args.run, args.out, params=params, force=args.force, progress=step)
    if several or args.table:
        print(table.to_string(index=False, float_format=lambda x: f"{x:.0f}" if float(x).is_integer() else f"{x:.4g}"))
        if args.table:
            with atomic_write(args.table, force=args.force, what="--table") as handle:
                table.to_csv(handle, index=False)
            print(f"wrote {args.table}")
        return 0
    v, c = result["verdict"], result["change"]
    what = ", ".join(f"{name}={value:g}" for name, value in params.items()) or "the saved settings"
    print(f"memtier with {what}: {_verdict_words(v)}")
    print(f"against the run's saved memtier rows: hot share moved by up to {c['max_change_points']:.1f} points; "
          f"promoted {c['saved_promoted']} -> {c['promoted']}, demoted {c['saved_demoted']} -> {c['demoted']}")
    if "spread_verdict" in result:
        s = result["spread_verdict"]
        print(f"against the kernel's {s['kernel_runs']} runs ({s['kernel_spread_points']:.1f} points apart at most): "
              + "memtier " + _outside_words(s))
    if "nodes" in result:
        nodes = result["nodes"]
        print(f"page by page (node_map.npz): memtier places {100 * nodes['agree'].iloc[-1]:.1f} % of the pages where "
              f"the kernel does at the end, {100 * nodes['agree'].min():.1f} % at {nodes['agree'].idxmin():g} s (the fewest)")
    if "counters" in result:
        print(f"the kernel's counters (run 0) at the end, memtier against the kernel: {_counters_words(result['counters'])} "
              "(apart: by over 25 % and 100 events)")
    if args.out:
        print(f"wrote {args.out}/timeline.csv, timeline.png and guest.json"
              + (" and counters.csv" if "counters" in result else "") + (" and node_map.npz" if "nodes" in result else ""))
    return 0


def _add_kernel_check_commands(sub) -> None:
    p = _command(
        sub,
        "kernel-check",
        "Run a workload in a Linux 6.1 guest with a lower memory tier and in memtier's numa-balancing; "
        "compare where the hot pages are.",
        """
        memtier kernel-check --workload hot_set --total-mb 1000 --hot-mb 128 --seconds 60 --out kcheck
        memtier kernel-check --workload phase --total-mb 600 --hot-mb 64 --seconds 24 --out phase
        memtier kernel-check --workload trace --trace prog.npy --total-mb 600 --hot-mb 16 --seconds 24 --out prog
        """,
        _kernel_check,
    )
    p.add_argument("--workload", choices=("hot_set", "phase", "zipf", "trace"), default="hot_set",
                   help="hot_set: one hot range; phase: it moves halfway; zipf: pages by zipf popularity; "
                        "trace: a recorded trace (--trace), replayed round and round")
    p.add_argument("--trace", metavar="FILE.npy", default=None,
                   help="with --workload trace: a .npy trace of page numbers (memtier trace record/convert/damon, "
                        "or memtier.workloads.save_trace), at most 4194304 accesses; its pages are the mapping's "
                        "first ones, filled in order first as every workload's, and its --hot-mb most accessed "
                        "pages are the hot set")
    p.add_argument("--total-mb", type=int, default=1000, help="memory the workload fills (default: %(default)s)")
    p.add_argument("--hot-mb", type=int, default=128, help="of which hot (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=60.0, help="guest seconds of accesses (default: %(default)s)")
    p.add_argument("--rate", type=int, default=200_000, help="accesses a second of guest time (default: %(default)s)")
    p.add_argument("--checkpoint-ms", type=int, default=1000, help="between two rows (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="zipf's shuffle and draws (default: %(default)s)")
    p.add_argument("--alpha", type=float, default=1.0, help="zipf's exponent (default: %(default)s)")
    p.add_argument("--no-icount", action="store_true",
                   help="plain emulation with 2 vCPUs (faster, runs differ by 15-30 %%) instead of one vCPU "
                        "under -icount shift=0,sleep=off (repeatable)")
    p.add_argument("--boot", choices=("initramfs", "virtme"), default="initramfs",
                   help="initramfs: the guest boots from an initramfs built here and reads nothing from the host, "
                        "so two runs give the same rows (default); virtme: virtme-ng's guest, whose root is the "
                        "host's files over 9p (runs differ by up to a few points)")
    p.add_argument("--node0-free", type=int, default=0, metavar="PAGES",
                   help="node 0's free pages when the accesses start: the other processes' pages are moved to "
                        "node 1 and a locked ballast leaves this many, e.g. 94000 (default 0: node 0 as the boot "
                        "left it)")
    p.add_argument("--vmscan-counters", action="store_true",
                   help="build the guest's program with kswapd's reclaim counters and node 0's zones and lists in "
                        "kernel_raw.csv (another binary, so another run of the kernel: README)")
    p.add_argument("--watermark-boost-factor", type=int, default=None, metavar="N",
                   help="write N to the guest's vm.watermark_boost_factor before the workload (0: no watermark "
                        "boosting, which memtier does not model; 6.1's default 15000); default: not written")
    p.add_argument("--direct-reclaim", action="store_true",
                   help="memtier's side with 6.1's direct reclaim: the workload's page tables taken from node 0 "
                        "as its first touches allocate them, and a table that finds node 0 at its min watermark "
                        "reclaimed for by the task (numa-balancing's pgtable_pages and direct_reclaim; off by "
                        "default: docs/kernel-check.md)")
    p.add_argument("--kernel-runs", type=int, default=1, metavar="N",
                   help="run the guest N times, run k starting the same accesses k x --run-offset-ms later: the "
                        "kernel's own spread, and memtier against it, in kernel_runs.csv (default: %(default)s)")
    p.add_argument("--run-offset-ms", type=float, default=1.0, metavar="MS",
                   help="how much later each further kernel run starts, in ms of guest time (default: %(default)s)")
    p.add_argument("--scan-trace", action="store_true",
                   help="the initramfs guest's first run under ftrace kprobes on the NUMA scanner (task_numa_work, "
                        "change_prot_numa) and the workload's context switches, written to scan_trace.txt; the "
                        "probes' instructions are in the guest's time (docs/kernel-check.md, 'Scan times')")
    p.add_argument("--node-map", action="store_true",
                   help="the initramfs guest's first run with the program built to record where every page is at "
                        "every checkpoint (another binary, so another run), written beside memtier's to "
                        "node_map.npz and compared page by page (docs/kernel-check.md, 'Page by page')")
    p.add_argument("--timeout", type=float, default=1800, help="seconds for the guest, boot included (default: %(default)s)")
    p.add_argument("--kernel", help="guest kernel (default: the newest /boot/vmlinuz-*)")
    p.add_argument("--out", required=True, help="folder for timeline.csv, timeline.png, kernel_raw.csv, guest.json, counters.csv")
    p.add_argument("--force", action="store_true", help="overwrite those files")
    p.add_argument("--quiet", action="store_true", help="no progress lines")

    p = _command(
        sub,
        "kernel-resimulate",
        "Simulate memtier's side of a saved kernel-check run again, without the guest: with the run's saved "
        "settings, or some of numa-balancing's parameters changed (--param); compare with the run's kernel rows.",
        """
        memtier kernel-resimulate data/kernel_check/initramfs_phase_1000mb_runs4_guest.json --param scan_tick_gate=1
        memtier kernel-resimulate kcheck --param hot_threshold_ms=500 --out kcheck-500ms
        memtier kernel-resimulate kcheck --param hot_threshold_ms=500,1000,2000 --param scan_tick_gate=0,1
        """,
        _kernel_resimulate,
    )
    p.add_argument("run", help="a kernel-check --out folder, or a run's guest.json (data/kernel_check/NAME_guest.json)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE[,VALUE...]",
                   help="a parameter of memtier's numa-balancing replacing the run's saved value (repeatable; "
                        "default: the saved settings, which give the run's own rows); several values: every "
                        "combination, one row of a table each; memtier simulate --help lists the policies' "
                        "parameters")
    p.add_argument("--table", default=None, metavar="FILE.csv",
                   help="write the comparison of every combination to this CSV (default: printed only)")
    p.add_argument("--out", default=None,
                   help="folder for timeline.csv, timeline.png and guest.json (and counters.csv, kernel_raw.csv, "
                        "kernel_runs.csv, trace.npy when the run has them); default: print the comparison only")
    p.add_argument("--force", action="store_true", help="overwrite those files (never the run's own)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


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
    from .traces.lackey import record_trace

    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        raise CliError("no program given; e.g. memtier trace record --out ls.npy -- ls /usr")
    with _compiling_note("trace record", "the lackey parser", "seconds, more on a busy machine", quiet=args.quiet):
        info = record_trace(program, args.out, page_size=args.page_size, instructions=args.instructions,
                            force=args.force, progress=not args.quiet)
    # stderr: stdout is the recorded program's, and its output stays apart from ours
    print(_trace_summary(args.out, info), file=sys.stderr)
    if info["source"]["exit_status"] != 0:
        print(f"note: {program[0]} exited with status {info['source']['exit_status']}: the trace is of that run "
              "as it went (its own messages are above); check its arguments if it was not meant to fail",
              file=sys.stderr)
    return 0


def _trace_convert(args) -> int:
    import gc

    # Start-up (numba, llvmlite, the kernels' code) makes tens of thousands of objects that live
    # as long as the process; Python's collector went through them again and again as they
    # were made: 0.05 s of CPU of numba's import alone.  The conversion itself makes few objects
    # (a list of arrays per slice), so the collector stays off for the whole command.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        from .traces.lackey import convert_lackey

        # 4.0 s of compiling the parser on this project's 2-core VM at a load of 0.9
        with _no_blas_probe(), _compiling_note("trace convert", "the lackey parser", "seconds, more on a busy machine",
                                               quiet=args.quiet):
            info = convert_lackey(args.log, args.out, page_size=args.page_size,
                                  instructions=args.instructions, force=args.force,
                                  progress=not args.quiet)
    finally:
        if was_enabled:
            gc.enable()
    print(_trace_summary(args.out, info))
    return 0


class _no_blas_probe:
    """Hide scipy while numba loads its first kernel in this process.

    On its first dispatch numba imports ``numba.np.arraymath``, which imports scipy.linalg to
    look for BLAS (``numba.np.linalg.ensure_blas``): 0.3-0.7 s here, a third of what
    ``memtier trace convert`` of a 300 MB log takes in all.  The lackey parser uses no BLAS,
    so the command hides scipy.linalg during that probe (numba then finds no BLAS for this process,
    which the command never needs) and restores it afterwards.  Only the command line does
    this; ``import memtier`` in a notebook leaves numba alone.
    """

    def __enter__(self):
        self.hidden = "scipy.linalg" not in sys.modules and "numba.np.arraymath" not in sys.modules
        if self.hidden:
            sys.modules["scipy.linalg"] = None  # "import scipy.linalg..." raises ImportError at once

    def __exit__(self, *exc):
        if self.hidden and sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
        return False


def _trace_damon(args) -> int:
    from pathlib import Path

    from .traces.damon import damon_trace, read_damon_record
    from .traces.lackey import check_trace_outputs, sidecar_path, write_trace
    from .traces.workloads import writes_path

    out = Path(args.out)
    check_output(out, force=args.force, inputs=[args.record], what="--out")
    if args.trace:
        trace_files = (Path(args.trace), sidecar_path(args.trace), writes_path(args.trace))
        if any(os.path.abspath(out) == os.path.abspath(path) for path in trace_files):
            raise CliError(f"--out {out} is also where --trace {args.trace} is written (the trace, its .json "
                           "sidecar or its write flags); give the table another name")
        check_trace_outputs(args.trace, args.force, inputs=[args.record, out])
    table = read_damon_record(args.record)
    trace = damon_trace(table, n_accesses=args.accesses, page_size=args.page_size, seed=args.seed) if args.trace else None
    with atomic_write(out, force=args.force, inputs=[args.record], what="--out") as handle:
        table.to_csv(handle, index=False)
    if trace is not None:
        write_trace(trace, args.trace, force=args.force, inputs=[args.record, out])
    print(f"wrote {out}: {len(table):,} regions in {table['snapshot'].nunique():,} snapshots "
          f"of {table['target_id'].nunique()} target(s), {table['time_s'].max():.3f} s")
    if trace is not None:
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
        p.add_argument("--quiet", action="store_true",
                       help="no progress bar, and no line when the parser compiles (a first run)")

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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``memtier`` parser; ``command="trace"`` builds only the trace commands (the others
    import the simulator, whose numba kernels and pandas a trace conversion never needs)."""
    parser = _Parser(
        prog="memtier",
        description="Model, measure and simulate page migration between memory tiers.",
        formatter_class=_formatter,
    )
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the Python traceback too (accepted anywhere on the line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if command == "trace":
        _add_trace_commands(sub)
    else:
        _add_model_commands(sub)
        _add_simulator_commands(sub)
        _add_sweep_commands(sub)
        _add_measure_commands(sub)
        _add_kernel_check_commands(sub)
        _add_trace_commands(sub)
    _check_numbers(parser)
    return parser


#: Errors a user can fix: one line, exit status 2.  Anything else is memtier's fault: one
#: line with a request to report it, exit status 3 (``--debug`` shows the traceback).
_USER_ERRORS = (CliError, MeasurementError, ValueError, OSError, MemoryError, RecursionError)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) if str(error).strip() else type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in text:
        text = f"{error.filename}: {text}"
    if isinstance(error, MemoryError) and not str(error).strip():
        text = "ran out of memory; try a smaller input or fewer accesses"
    if isinstance(error, RecursionError):
        text = "an input is nested too deeply to read (a malformed JSON file?)"
    return text[:2000]


def _quiet_stdout() -> None:
    """Point a closed (or broken) standard output at /dev/null, so that nothing memtier opens
    later takes its descriptor, and nothing more is written to it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


#: Commands that, when :func:`main` returns, have written and renamed every file they make and
#: leave no thread or process running: :func:`run` ends the process at once after them.
_EXIT_AT_ONCE = (["trace", "convert"],)


def run() -> None:
    """The ``memtier`` program (its console script and ``python -m memtier``): :func:`main`,
    then exit with its status.

    After ``trace convert`` the process ends at once (``os._exit``, once standard output and
    error are flushed), without Python's teardown: freeing numba's 500 modules and llvmlite's
    compiled code one object at a time took 0.1-0.2 s after the trace was written (timed
    from the end of :func:`main` to the end of the process), a tenth of the whole command on
    a 300 MB log.  That command has nothing left to do by then: its files are complete and
    renamed, its worker threads joined.  Other commands exit as usual (their atexit
    handlers, such as multiprocessing's, may still have work to do).
    """
    argv = sys.argv[1:]
    status = main(argv)
    if [arg for arg in argv if arg != "--debug"][:2] in _EXIT_AT_ONCE:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # closed or broken: nothing more can reach it
                pass
        os._exit(status)
    raise SystemExit(status)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's time limit, ``kill``), raised where the command is: handled
    as an interrupt, so that a file being written is removed and what is finished is kept (a
    sweep's saved cells, ``measure``'s rows); the exit status is then 143, 128 + SIGTERM, as
    for a program the signal ended."""


_SIGTERM_SEEN = threading.Event()  # a command that caught the interrupt itself returns 130: made 143


def _raise_terminated(signum, frame):
    _SIGTERM_SEEN.set()
    raise Terminated()


@contextlib.contextmanager
def _terminate_as_interrupt():
    """While the command runs, SIGTERM raises :class:`Terminated` (only from the main thread,
    and only where nobody else has claimed the signal)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return
    _SIGTERM_SEEN.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _redeliver_swallowed_interrupt(previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, previous)


def _redeliver_swallowed_interrupt(previous_hook):
    """``sys.unraisablehook`` for a command's run: an interrupt (SIGTERM's :class:`Terminated`, or
    Ctrl-C) raised while C code had called back into Python cannot leave the callback: Python
    prints it as "Exception ignored" and the command runs on (numba's compiler calls back while it
    compiles, the first seconds of a command on a fresh install: a SIGTERM then went unheeded).
    The signal is sent again a moment later, to be raised where the command is, outside the
    callback; nothing is printed."""
    def hook(unraisable):
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)
            return
        signum = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()
    return hook


def main(argv=None) -> int:
    """Run the command line; returns the exit status.

    0 success; 2 an error the user can fix (one line on stderr); 3 an unexpected error (one
    line asking for a report; ``--debug`` shows the traceback); 130 interrupted (143 by
    SIGTERM: :class:`Terminated`); 141 standard
    output closed before everything was printed (results are written before anything is
    printed, so files are complete; the exit status still says the printout was cut).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, debug = _take_debug(argv)
    if sys.stdout is None:  # started with standard output closed: print nowhere
        _quiet_stdout()
        sys.stdout = open(os.devnull, "w")
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            parser = build_parser("trace" if argv[:1] == ["trace"] else None)
            args = parser.parse_args(_join_dashed_values(parser, argv))
            with _terminate_as_interrupt():
                status = args.handler(args)
            if status == 130 and _SIGTERM_SEEN.is_set():  # a command that handled the interrupt itself
                status = 143
        for warning in caught:  # one line each, after the results
            print(f"memtier: warning: {_one_line(warning.message)}", file=sys.stderr)
        sys.stdout.flush()
        return status
    except SystemExit:
        raise  # --help
    except BrokenPipeError:
        # The reader went away (memtier fit ... | head): what was to be printed is lost, so the
        # exit status says so, as a shell's for a program ended by SIGPIPE.
        _quiet_stdout()
        return 141
    except Terminated:
        print("memtier: terminated (SIGTERM); files being written were removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("memtier: interrupted", file=sys.stderr)
        return 130
    except BaseException as error:  # noqa: BLE001 - the last-resort handler
        if debug:
            import traceback

            for warning in caught:
                print(f"memtier: warning: {_one_line(warning.message)}", file=sys.stderr)
            traceback.print_exc()
        expected = isinstance(error, _USER_ERRORS)
        message = _one_line(error)
        if not expected:
            message = f"unexpected {type(error).__name__}: {message}; {REPORT_HINT}"
        try:
            print(f"memtier: error: {message}", file=sys.stderr)
        except (OSError, ValueError):
            pass
        return 2 if expected else 3
