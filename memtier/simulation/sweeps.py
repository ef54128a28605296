"""Parameter sweeps: a grid of simulations, run in-process or on a Dask cluster.

A study is a grid, traces x policies x fast capacities x mechanisms x any other
:func:`memtier.simulate` argument (``grid=``), and :func:`sweep` runs every cell of it and
returns a tidy table, one row per cell: the cell's parameters, the simulation's
``summary()`` and how long the cell took.  Cells are independent, so they are spread over
Dask workers (https://distributed.dask.org): a local cluster of processes by default, or any
cluster a ``dask.distributed.Client`` reaches (``dask-jobqueue`` on Slurm/PBS,
``dask-kubernetes``).  memtier keeps no scheduler of its own: Dask places the cells,
reschedules those of a lost worker, and shows them on its dashboard.

How data reach the workers:

- a trace given by path is opened memory-mapped on the worker that runs the cell
  (:func:`memtier.workloads.load_trace`), so the path must name the same file there (a
  shared filesystem); it is made absolute first;
- a trace given as an array is scattered once to every worker of a cluster given by
  ``client=`` (``Client.scatter`` with ``broadcast=True``), and the cells refer to that copy:
  it crosses the network once per worker, not once per cell (Dask's memory manager drops the
  copies no queued cell waits for; when a lost worker took the last one, the array is sent
  again and its cells rerun).  It arrives aligned: Dask hands a received array over at
  whatever offset it had in the message, and the simulator's compiled kernels are for
  aligned arrays, so an unaligned one would be copied (or compiled for) in every cell;
- on the local cluster a sweep starts itself, the workers share this machine's files, so an
  array is written once to a temporary ``.npy`` file instead (removed when the sweep ends)
  and memory-mapped by the workers like a trace given by path: nothing is sent, and the
  workers share one copy in the page cache;
- the cost model's parameters are computed once, here (``default_fit()`` takes seconds
  and would otherwise be fitted again in every worker process), and travel with each cell
  (a few hundred bytes).

With ``out=`` the sweep is resumable: ``out`` is a folder of Parquet files, one per
finished cell (``cell-<key>.parquet``, written under a temporary name and renamed, so a file
is there whole or not at all).  A cell's key is a hash of everything that decides its result:
the trace's contents (not its name or path), the policy, the mechanism, the fast capacity,
the other arguments and memtier's version.  Running the same sweep again reads the folder and
runs only the cells that are missing or failed.  It trusts the cells already saved: after
changing the simulator's code, give a new ``out=``.  :func:`read_sweep` reads a folder back.

A cell that raises is recorded with ``status="failed"`` and its ``error`` and does not stop
the others; a cell whose worker died (Dask retries it on another worker, up to its
``allowed-failures``) ends the same way.  Bad input (an unknown policy or mechanism, a
missing trace file, a fast capacity of 0, an argument :func:`memtier.simulate` refuses, a
scheduler that does not answer) is refused before any cell runs: every distinct combination
of arguments is first checked by the simulator itself on a one-access trace.
"""
from __future__ import annotations

import difflib
import hashlib
import inspect
import itertools
import json
import logging
import math
import os
import pickle
import re
import sys
import tempfile
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import simulator
from ..outputs import progress_bar
from ..traces import workloads
from .mechanisms import Mechanism

#: Columns that say where and how long a cell ran; they differ between runs of the same
#: sweep, every other column does not.
RUN_COLUMNS = ("seconds", "worker")

#: The columns that describe a cell, before the simulator's summary.
CELL_COLUMNS = ("cell", "trace", "trace_pages", "policy", "mechanism", "fast_capacity_spec",
                "fast_capacity", "fast_capacity_share")

_SWEPT = ("trace", "policy", "fast_capacity", "mechanism")
_PART = re.compile(r"cell-([0-9a-f]{32})\.parquet")
_TEMPORARY = re.compile(r"\.cell-[0-9a-f]{32}\..*\.tmp")
_SCAN_ACCESSES = 1 << 22


# --- the grid ---------------------------------------------------------------------------------


@dataclass
class _Trace:
    name: str
    source: object          # an absolute path (str) or an array
    n_pages: int            # largest page number + 1
    digest: str             # hash of the page numbers and their dtype
    accesses: int = 0       # its length
    dtype: str = "<i4"      # its page numbers' dtype


@dataclass
class _Cell:
    key: str
    columns: dict           # what the table shows
    kwargs: dict            # what simulate() is given, besides the trace
    trace: str
    accesses: int = 0       # the trace's length: what a cell's time grows with


def _policies(policies) -> list[str]:
    # The simulator's own lists, read when the sweep starts: "all" is its list policies and
    # oracles (as `memtier simulate --policy all`); any policy it accepts may be named.
    known = list(simulator.POLICIES)
    if isinstance(policies, str):
        policies = known if policies == "all" else [p.strip() for p in policies.split(",") if p.strip()]
    known = list(getattr(simulator, "ALL_POLICIES", known))
    policies = list(policies)
    if not policies:
        raise ValueError("policies is empty; give at least one of " + ", ".join(known) + " (or 'all')")
    accepted = known + list(getattr(simulator, "POLICY_ALIASES", {}))  # former names, where kept
    for policy in policies:
        if policy not in accepted:
            close = difflib.get_close_matches(str(policy), accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown policy {policy!r}{hint}; choose from {', '.join(known)} or 'all'")
    return list(dict.fromkeys(policies))


def _mechanisms(mechanisms) -> list:
    if isinstance(mechanisms, (str, Mechanism)):
        mechanisms = [m.strip() for m in mechanisms.split(",")] if isinstance(mechanisms, str) else [mechanisms]
    mechanisms = list(mechanisms)
    if not mechanisms:
        raise ValueError("mechanisms is empty; give at least one, e.g. ['linux']")
    for mechanism in mechanisms:
        if not isinstance(mechanism, Mechanism):
            Mechanism.named(mechanism)  # raises with the list of names
    return mechanisms


def _capacity_specs(fast_capacity) -> list:
    if isinstance(fast_capacity, (str, int, np.integer)):
        fast_capacity = [c.strip() for c in fast_capacity.split(",")] if isinstance(fast_capacity, str) \
            else [fast_capacity]
    specs = list(fast_capacity)
    if not specs:
        raise ValueError("fast_capacity is empty; give page counts (4096) or shares of the trace's pages ('10%')")
    for spec in specs:
        _capacity_pages(spec, 1)  # checks the form; shares are resolved per trace
    return specs


def _capacity_pages(spec, n_pages: int) -> int:
    """Pages of a fast capacity given as pages (4096, "4096") or a share ("10%")."""
    fix = "give a page count >= 1 (4096) or a share of the trace's pages in (0%, 100%] ('10%')"
    if isinstance(spec, str) and spec.strip().endswith("%"):
        try:
            share = float(spec.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"fast capacity {spec!r} is not a share; {fix}") from None
        if not 0 < share <= 1:
            raise ValueError(f"fast capacity {spec!r} is out of range; {fix}")
        return max(1, int(round(share * n_pages)))
    if isinstance(spec, str) and spec.strip().isdigit():
        spec = int(spec.strip())
    if isinstance(spec, (bool, np.bool_)) or not isinstance(spec, (int, np.integer)):
        raise ValueError(f"fast capacity {spec!r} is neither pages nor a share; {fix}")
    if spec < 1:
        raise ValueError(f"fast capacity {spec} pages: a fast node needs at least 1 page; {fix}")
    return int(spec)


def _spec_text(spec) -> str:
    return spec.strip() if isinstance(spec, str) else str(int(spec))


def _check_paths(traces) -> None:
    """Refuse a missing trace file at once (reading the traces comes later)."""
    values = traces.values() if isinstance(traces, dict) else \
        [traces] if isinstance(traces, (str, os.PathLike)) else traces
    for value in values:
        if isinstance(value, (str, os.PathLike)) and not Path(value).expanduser().is_file():
            raise FileNotFoundError(f"trace file {Path(value).expanduser().absolute()} does not exist")


def _traces(traces) -> list[_Trace]:
    """Name, source and identity of every trace; a path is checked and read once here."""
    from ..traces.lackey import Trace

    if isinstance(traces, (str, os.PathLike, np.ndarray, Trace)):
        traces = [traces]
    if not isinstance(traces, dict):
        items = []
        for i, trace in enumerate(traces):
            name = Path(trace).stem if isinstance(trace, (str, os.PathLike)) else f"trace{i}"
            if name in (n for n, _ in items):
                raise ValueError(f"two traces are named {name!r}; pass traces as a dict to name them apart")
            items.append((name, trace))
        traces = dict(items)
    if not traces:
        raise ValueError("traces is empty; give .npy paths or arrays of page numbers, e.g. {'sort': 'sort.npy'}")
    prepared = []
    for name, trace in traces.items():
        if isinstance(trace, (str, os.PathLike)):
            path = Path(trace).expanduser().absolute()
            pages = workloads.load_trace(path)  # memory-mapped; a missing file raises here
            source = str(path)
        else:
            pages = workloads.check_trace(trace.pages if isinstance(trace, Trace) else trace,
                                          name=f"trace {name!r}")
            source = pages
        low, high, digest = _scan(pages)
        if low < 0:
            raise ValueError(f"trace {name!r} holds a negative page number ({low}); page numbers start at 0")
        prepared.append(_Trace(str(name), source, high + 1, digest, len(pages), pages.dtype.str))
    return prepared


def _scan(pages) -> tuple[int, int, str]:
    """Smallest and largest page number and a hash of the contents, chunk by chunk."""
    digest = hashlib.blake2b(str(pages.dtype).encode(), digest_size=16)
    low, high = None, None
    for start in range(0, len(pages), _SCAN_ACCESSES):
        part = np.ascontiguousarray(pages[start:start + _SCAN_ACCESSES])
        digest.update(memoryview(part).cast("B"))
        low = int(part.min()) if low is None else min(low, int(part.min()))
        high = int(part.max()) if high is None else max(high, int(part.max()))
    return low, high, digest.hexdigest()


def _option_names(names, what: str) -> None:
    parameters = inspect.signature(simulator.simulate).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        # simulate() takes policy parameters by keyword: the probe on a one-access trace
        # checks those names, the simulator's own way
        parameters = {name: p for name, p in parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
        for name in names:
            if name in _SWEPT:
                raise ValueError(f"{what} {name!r} is a sweep dimension; give it as sweep's own argument")
        return
    accepted = [name for name in parameters if name not in _SWEPT]
    accepted = [name for name in accepted if name != "progress"]
    for name in names:
        if name in _SWEPT:
            raise ValueError(f"{what} {name!r} is a sweep dimension; give it as sweep's own argument "
                             f"({'traces' if name == 'trace' else name + ('s' if name != 'fast_capacity' else '')}=)")
        if name not in accepted:
            close = difflib.get_close_matches(name, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{what} {name!r} is not an argument of memtier.simulate{hint}; "
                             f"it takes {', '.join(accepted)}")


def _token(value):
    """A stable, JSON-able stand-in for an argument's value, for the cell's key."""
    value = getattr(value, "params", value)  # a Fit is identified by its parameters
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _column_value(value):
    """What the table shows for an argument: scalars as they are, anything else as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mechanism):
        return value.label
    return repr(value)


def _version() -> str:
    from .. import __version__

    return __version__


def _cells(traces, policies, specs, mechanisms, grid, options) -> list[_Cell]:
    names = list(grid)
    cells = []
    for trace in traces:
        n_pages = options.get("n_pages") or trace.n_pages
        for policy, spec, mechanism in itertools.product(policies, specs, mechanisms):
            pages = _capacity_pages(spec, n_pages)
            for values in itertools.product(*(grid[name] for name in names)):
                chosen = dict(zip(names, values))
                mechanism_name = mechanism if isinstance(mechanism, str) else mechanism.label
                identity = {
                    "memtier": _version(), "trace": trace.digest, "trace_name": trace.name, "policy": policy,
                    "mechanism": mechanism if isinstance(mechanism, str) else repr(mechanism),
                    "fast_capacity": pages, "fast_capacity_spec": _spec_text(spec),
                    "grid": {k: _token(v) for k, v in chosen.items()},
                    "options": {k: _token(v) for k, v in options.items()},
                }
                key = hashlib.blake2b(json.dumps(identity, sort_keys=True).encode(), digest_size=16).hexdigest()
                columns = {"cell": key, "trace": trace.name, "trace_pages": n_pages, "policy": policy,
                           "mechanism": mechanism_name, "fast_capacity_spec": _spec_text(spec),
                           "fast_capacity": pages, "fast_capacity_share": pages / n_pages}
                columns.update({k: _column_value(v) for k, v in chosen.items()})
                kwargs = {"policy": policy, "fast_capacity": pages, "mechanism": mechanism, **chosen}
                cells.append(_Cell(key, columns, kwargs, trace.name, trace.accesses))
    return cells


def _probe(cells, options, kinds) -> None:
    """Let the simulator check every distinct combination of arguments on a one-access trace,
    so that an argument it refuses stops the sweep before any cell runs.

    The one access is in an array of the kind the cells' traces will be (``kinds``: its dtype
    and whether it is read-only, by trace name): numba compiles a kernel apart for each kind,
    so the kernels compiled and cached here are the ones the cells load.  With a writable
    probe, on a first run each worker process of a local cluster compiled the read-only kernels
    of a trace given by path once more (12 versions of 8 kernels; each worker's first cell took
    23-27 s, 3.4-3.6 s with this probe, on this project's 2-core VM shared at a load of 1.3-3),
    after the sweep's own process had compiled the rest.
    """
    largest = {}
    for cell in cells:
        rest = {k: v for k, v in cell.kwargs.items() if k != "fast_capacity"}
        signature = json.dumps({"kind": kinds[cell.trace], **{k: _token(v) for k, v in rest.items()}},
                               sort_keys=True)
        if signature not in largest or cell.kwargs["fast_capacity"] > largest[signature][0]:
            largest[signature] = (cell.kwargs["fast_capacity"], kinds[cell.trace], rest)
    for pages, (dtype, read_only), rest in largest.values():
        probe = np.zeros(1, dtype=dtype)
        probe.flags.writeable = not read_only
        try:
            simulator.simulate(probe, fast_capacity=pages, **rest, **options).summary()
        except Exception as error:  # noqa: BLE001 - any refusal is the user's to fix
            described = ", ".join(f"{k}={_column_value(v)!r}" for k, v in rest.items())
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"{described}: {message}") from None


def _ready_workers(client, cells, options, kinds, progress) -> None:
    """A cluster given (``client=``, ``--scheduler``): its workers load the kernels the cells
    need before the first cell (:func:`_probe` on each, ``Client.run``), from their own numba
    cache, which on a first run there means compiling them: a minute or more a worker, which
    the first cells took before with nothing said.  One line says so first.  A worker that
    cannot import memtier is said in one line here, not in every cell's error.  (A local
    cluster's workers share this process's cache, which ``_probe`` has just filled.)"""
    count = len(client.scheduler_info().get("workers", {}))
    if not count:
        return  # none yet (an adaptive cluster): each compiles at its first cell
    if progress:
        tqdm.write(f"sweep: loading memtier's kernels on the cluster's {count} worker(s) from their numba cache "
                   "(a first run there compiles them: a minute or more)", file=sys.stderr)
    try:
        client.run(_probe, cells, options, kinds)
    except ImportError as error:
        raise ValueError(f"the cluster's workers cannot run memtier ({type(error).__name__}: {error}); install "
                         "this version of memtier where they run") from None


# --- running a cell ---------------------------------------------------------------------------


def _where() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "in-process"


def _scalar(value):
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


#: Aligned copies of arrays Dask handed over unaligned, by ``id`` of the array Dask holds:
#: ``(weak reference to it, the copy)``; an entry goes when Dask drops its array.
_ALIGNED_COPIES: dict = {}


def _aligned_copy(pages: np.ndarray) -> np.ndarray:
    """An aligned copy of ``pages``, made once per array a worker holds, not once per cell.

    A scattered array arrives aligned (:class:`_Aligned`), but one a worker fetched from
    another worker (Dask's memory manager keeps a scattered array on as few workers as the
    running cells need, so the others fetch it when their cells come) is laid over the
    received message at an odd address.  The compiled kernels in the cache are for aligned
    arrays: an unaligned one would be compiled anew, and copying it costs a pass over the
    whole trace, which for a short cell is a good part of its time.
    """
    entry = _ALIGNED_COPIES.get(id(pages))
    if entry is not None and entry[0]() is pages:
        return entry[1]
    copy = np.require(pages, requirements="A")
    key = id(pages)
    _ALIGNED_COPIES[key] = (weakref.ref(pages, lambda _: _ALIGNED_COPIES.pop(key, None)), copy)
    return copy


def _run_cell(trace, kwargs: dict, options: dict) -> dict:
    """Run one cell where it lands (a Dask worker, or here); the simulator's own errors are
    returned as the cell's error, not raised, so that one bad cell does not stop a study."""
    where = _where()
    start = time.perf_counter()
    try:
        if isinstance(trace, str):
            trace = workloads.load_trace(trace)
        elif isinstance(trace, np.ndarray) and not trace.flags.aligned:
            trace = _aligned_copy(trace)
        start = time.perf_counter()
        summary = simulator.simulate(trace, **kwargs, **options).summary()
        summary = {str(k): _scalar(v) for k, v in summary.items()}
        return {"summary": summary, "error": None, "seconds": time.perf_counter() - start, "worker": where}
    except Exception as error:  # noqa: BLE001 - recorded in the table
        return {"summary": None, "error": f"{type(error).__name__}: {error}",
                "seconds": time.perf_counter() - start, "worker": where}


def _row(cell: _Cell, outcome: dict) -> dict:
    row = dict(cell.columns)
    row["status"] = "ok" if outcome["error"] is None else "failed"
    row["error"] = outcome["error"]
    for key, value in (outcome["summary"] or {}).items():
        if key in row or key in RUN_COLUMNS:
            if row.get(key) == value:
                continue  # the summary repeats a parameter (policy, fast_capacity)
            key = f"result_{key}"
        row[key] = value
    row["seconds"] = outcome["seconds"]
    row["worker"] = outcome["worker"]
    return row


def _table(rows: list[dict]) -> pd.DataFrame:
    """The tidy table, columns in a fixed order: the cell, its status, the summary, the run."""
    order = []
    for row in rows:
        order.extend(k for k in row if k not in order and k not in RUN_COLUMNS)
    table = pd.DataFrame.from_records(rows, columns=order + list(RUN_COLUMNS))
    return table


# --- the out folder ---------------------------------------------------------------------------


def _check_out(out) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a sweep folder; out= names a folder of Parquet "
                              "files (one per cell): choose a new name")
    if not out.parent.exists():
        raise FileNotFoundError(f"folder {out.parent} does not exist; create it first (out={out})")
    if out.is_dir():
        for entry in out.iterdir():
            if not (_PART.fullmatch(entry.name) or _TEMPORARY.fullmatch(entry.name)):
                raise FileExistsError(f"{out} holds {entry.name}, which is not a memtier sweep's; give out= "
                                      "a new folder or one an earlier sweep wrote")
    return out


def _read_parts(out: Path) -> dict[str, dict]:
    """Every readable part file of ``out``, as rows by cell key."""
    rows = {}
    if not out.is_dir():
        return rows
    for entry in sorted(out.iterdir()):
        match = _PART.fullmatch(entry.name)
        if not match:
            continue
        try:
            frame = pd.read_parquet(entry)
        except Exception:  # noqa: BLE001 - an unreadable part is run again and replaced
            continue
        if len(frame) == 1:
            rows[match.group(1)] = {k: _scalar(v) for k, v in frame.iloc[0].items()}
    return rows


def _write_part(out: Path, row: dict) -> None:
    out.mkdir(exist_ok=True)
    final = out / f"cell-{row['cell']}.parquet"
    temporary = out / f".cell-{row['cell']}.{os.getpid()}.tmp"
    try:
        pd.DataFrame([row]).to_parquet(temporary, index=False)
        os.replace(temporary, final)
    except BaseException:  # Ctrl-C in the middle of a write: leave no half-written file
        temporary.unlink(missing_ok=True)
        raise


def read_sweep(out) -> pd.DataFrame:
    """Read the table a sweep with ``out=`` wrote (finished cells only).

    Parameters
    ----------
    out : path
        The folder given to :func:`sweep` as ``out=``.

    Returns
    -------
    pandas.DataFrame
        One row per finished cell, as :func:`sweep` returns them, ordered by trace, policy,
        mechanism and fast capacity.
    """
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out} is not a sweep folder (sweep(..., out={str(out)!r}) writes one)")
    rows = list(_read_parts(out).values())
    if not rows:
        raise ValueError(f"{out} holds no finished cell")
    table = _table(rows)
    order = [c for c in ("trace", "policy", "mechanism", "fast_capacity") if c in table]
    return table.sort_values(order, kind="stable").reset_index(drop=True)


# --- where cells run --------------------------------------------------------------------------


def _connect(address: str, timeout: float):
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"no Dask scheduler answers at {address} within {timeout:g} s ({reason}); "
                         "start one with 'dask scheduler' or check the address") from None


def _has_bokeh() -> bool:
    """Dask's dashboard needs bokeh (the ``notebooks`` extra installs it)."""
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


#: Dask settings of the local cluster a sweep starts (a cluster given by ``client=`` keeps its
#: own).  Dask's defaults are for long-lived clusters watched on the dashboard; each setting
#: below costs a sweep's cells CPU time on the cores they run on (measured on this project's
#: 2-core VM with an idle local cluster of 2: the scheduler, nannies and workers used 91 ms of
#: CPU time a second with Dask's defaults, 17 ms with these; benchmarks/bench_sweep_idle.py):
#:
#: - the workers' statistical profiler (a thread sampling every thread's stack every 10 ms for
#:   the dashboard's "Profile" page) is off: it competed with the cells for the interpreter
#:   lock and cost them about a tenth more CPU time;
#: - every scheduler, nanny and worker wakes to time its event loop every ``tick.interval``
#:   (20 ms), only to warn when the loop was blocked for ``tick.limit`` (3 s): once a second
#:   still does that (58 of the 91 ms a second);
#: - the system monitor (CPU, memory and network figures for the dashboard, every 500 ms)
#:   runs every 2 s;
#: - the nannies and workers read their memory use every 500 ms, not 100 ms, to spill, pause
#:   or restart a worker near its memory limit: a cell's memory is its trace, memory-mapped,
#:   and a few arrays over its pages, set when it starts.
LOCAL_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def _local_cluster(workers: int):
    """A local cluster of ``workers`` single-threaded processes, its dashboard on a free port
    when bokeh is installed."""
    from distributed import Client, LocalCluster

    # Log lines of the cluster's own processes are silenced: on closing, workers log heartbeats
    # that found the scheduler gone; what matters, a cell's error or a lost worker, is in the table.
    # The workers are set up by memtier/simulation/_sweep_worker.py (Ctrl-C, the cells' module
    # imported while the cluster starts, a quick exit).
    import dask

    with dask.config.set(LOCAL_CONFIG):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0" if _has_bokeh() else None, silence_logs=logging.CRITICAL,
                               preload=[f"{__package__}._sweep_worker"])
    return Client(cluster, set_as_default=False), cluster


#: What to do when a script's worker processes would run the sweep again.
_GUARD = ('in a script, call memtier.sweep under \'if __name__ == "__main__":\' (each worker process '
          "of the local cluster imports the script again, Python's 'spawn' start), or pass workers=1 "
          "to run every cell in this process")


def _refuse_a_worker_rerunning_the_script() -> None:
    """End a worker process of the local cluster that is running the caller's script again.

    Dask starts the workers with multiprocessing's 'spawn', which imports the parent's
    ``__main__`` script in each new process under the name ``__mp_main__``.  A script that
    calls :func:`sweep` at its top level, not under ``if __name__ == "__main__":``, so
    calls it again in every worker, which would start a cluster of its own: Python refuses
    that with a page of traceback per worker (``freeze_support``).  Here such a worker
    stops at once with one line (``SystemExit``: no traceback), and the parent's sweep
    says the same when its cluster does not start (:func:`_cluster_failed`).
    """
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            raise SystemExit(f"memtier.sweep: a worker process ran the script again: {_GUARD}")
        frame = frame.f_back


def _cluster_failed(workers: int, error: BaseException) -> RuntimeError:
    """The error of a local cluster that did not start, with the usual cause's remedy."""
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    main = sys.modules.get("__main__")
    hint = f"; {_GUARD}" if getattr(main, "__file__", None) else ""
    return RuntimeError(f"Dask's local cluster of {workers} worker processes did not start ({reason}){hint}")


class _Starting:
    """A local cluster started in a thread, so that the caller can read its inputs meanwhile."""

    def __init__(self, workers: int):
        from concurrent.futures import ThreadPoolExecutor

        self._executor = ThreadPoolExecutor(1, thread_name_prefix="memtier-cluster")
        self._future = self._executor.submit(_local_cluster, workers)

    def get(self):
        try:
            return self._future.result()
        finally:
            self._executor.shutdown()

    def discard(self):
        """Stop the cluster (once started): the sweep ended before it was needed."""
        try:
            client, cluster = self.get()
        except Exception:  # noqa: BLE001 - it never started: nothing to stop
            return
        client.close()
        cluster.close()


class _Aligned:
    """An array to scatter, which a worker unpickles into an aligned array.

    Dask sends an array's bytes out of band and, on the worker, makes the array over the
    received message at whatever offset the bytes had there (an odd one, typically).  The
    simulator's kernels are compiled for aligned arrays: each cell would copy the trace (or
    compile the kernels anew) before it runs.  Unpickled through :func:`_aligned_array`, the
    copy is made once per worker, when the array arrives, and the worker keeps only that.
    """

    def __init__(self, pages: np.ndarray):
        self.pages = np.ascontiguousarray(pages)

    def __reduce_ex__(self, protocol):
        data = pickle.PickleBuffer(self.pages) if protocol >= 5 else self.pages.tobytes()
        return _aligned_array, (data, self.pages.dtype.str)


def _aligned_array(data, dtype: str) -> np.ndarray:
    """The trace a worker receives, over the message's own bytes (a copy only when they are not
    aligned), read-only whether those bytes were or not: the kind ``_probe`` compiled the
    kernels for (numba compiles a kernel apart for writable and read-only arrays)."""
    pages = np.frombuffer(data, dtype=dtype)
    if not pages.flags.aligned:
        pages = pages.copy()
    pages.flags.writeable = False
    return pages


def _write_arrays(sources: dict, folder: Path) -> dict:
    """The traces given as arrays written to ``.npy`` files in ``folder``, for a local
    cluster's workers to memory-map; paths pass as they are."""
    written = {}
    for index, (name, source) in enumerate(sources.items()):
        if isinstance(source, str):
            written[name] = source
        else:
            path = folder / f"trace{index}.npy"
            np.save(path, source, allow_pickle=False)
            written[name] = str(path)
    return written


def _run_here(cells, sources, options, finish):
    for cell in cells:
        finish(cell, _run_cell(sources[cell.trace], cell.kwargs, options))


def _longest_first(cells: list) -> list:
    """The cells in the order a cluster should start them: the longest traces first, cells of
    traces of one length in grid order.

    A cell's time grows with its trace's length (the simulator serves one access after
    another).  Started last, a long cell keeps one worker busy while the others have nothing
    left to do; started first, it runs beside the short ones (the longest-processing-time-first
    rule for independent jobs; Graham, SIAM J. Appl. Math. 17(2), 1969).  The policy's and the
    capacity's share of a cell's time are not known before it runs, so they do not order it.
    """
    return sorted(cells, key=lambda cell: -cell.accesses)


#: Times a cell is submitted again after its worker's data were lost (not after it killed
#: workers: Dask already tried that cell on ``allowed-failures`` workers).
RESUBMITS = 3


def _run_dask(client, cells, sources, options, finish) -> int:
    """Run the cells on Dask; returns how many times cells were submitted again."""
    from distributed import as_completed

    shared, futures, tries = {}, {}, {}

    def share(name):
        # Arrays go to every worker once; cells carry only a reference to that copy.
        source = sources[name]
        if isinstance(source, str):
            shared[name] = source
        else:
            key = f"memtier-trace-{name}-{uuid.uuid4().hex}"
            shared[name] = client.scatter({key: _Aligned(source)}, broadcast=True, hash=False)[key]

    def submit(cell):
        # Dask starts the queued cell of highest priority first (ties in submission order).
        future = client.submit(_run_cell, shared[cell.trace], cell.kwargs, options, pure=False,
                               priority=cell.accesses)
        futures[future] = cell
        return future

    try:
        for name in sources:
            share(name)
        running = as_completed([submit(cell) for cell in _longest_first(cells)], loop=client.loop)
        for future in running:
            cell = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as error:  # noqa: BLE001 - the cell never ran to its end
                tries[cell.key] = tries.get(cell.key, 0) + 1
                if type(error).__name__ != "KilledWorker" and tries[cell.key] <= RESUBMITS:
                    # Dask keeps a scattered array on fewer workers than it was sent to (its
                    # memory manager drops replicas), so a lost worker can take the last copy:
                    # send it again and run the cell again.
                    if not isinstance(shared[cell.trace], str) and shared[cell.trace].status != "finished":
                        share(cell.trace)
                    future.release()
                    running.add(submit(cell))
                    continue
                outcome = {"summary": None, "error": f"{type(error).__name__}: {error}",
                           "seconds": float("nan"), "worker": None}
            future.release()
            finish(cell, outcome)
        return sum(tries.values())
    finally:
        # On Ctrl-C or an error, stop what is still queued (a shared cluster stays up).
        pending = list(futures) + [f for f in shared.values() if not isinstance(f, str)]
        if pending:
            client.cancel(pending)


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# --- the sweep --------------------------------------------------------------------------------


def sweep(traces, policies="all", fast_capacity=("10%",), mechanisms=("linux",), *, grid=None,
          out=None, client=None, workers=None, progress: bool = True, connect_timeout: float = 10.0,
          **options) -> pd.DataFrame:
    """Run :func:`memtier.simulate` on every cell of a grid, in-process or on Dask.

    Parameters
    ----------
    traces : dict of name -> path or array, or a list of them
        Page-access traces: ``.npy`` paths (memory-mapped on the workers; names from the file
        names when a list is given), arrays of page numbers (generated workloads), or
        :class:`memtier.Trace`.
    policies : "all", str or list of str
        Policy names :func:`memtier.simulate` accepts; ``"all"`` for the simulator's list
        policies and oracles (``memtier.simulation.simulator.POLICIES``, as ``memtier simulate --policy all``).
    fast_capacity : list of int or str
        Fast-node limits: pages (``4096``) or shares of each trace's pages (``"10%"``;
        largest page number + 1, or ``n_pages=`` if given).
    mechanisms : list of str or Mechanism
        Names from :data:`memtier.MECHANISMS`, or :class:`memtier.Mechanism` objects.
    grid : dict of name -> list, optional
        Further :func:`memtier.simulate` arguments to sweep, e.g. ``{"period": [10_000, 100_000]}``;
        each value becomes a column of the table.
    out : path, optional
        A folder to save each finished cell in (one Parquet file per cell); running the same
        sweep again skips the cells already there that finished without error.
    client : dask.distributed.Client or str, optional
        Run on this cluster (or connect to the scheduler at this address) and leave it running.
    workers : int, optional
        Without ``client``: start a local cluster of this many processes (default: one per
        core) and stop it afterwards; ``1`` runs every cell here, with no cluster.
    progress : bool
        A tqdm bar of finished cells (where stderr is a terminal), and one closing line on stderr.
    connect_timeout : float
        Seconds to wait for a scheduler given by address.
    **options
        Passed to every :func:`memtier.simulate` call unchanged (``period=``, ``fit=``,
        ``migration_share=`` ...).

    Returns
    -------
    pandas.DataFrame
        One row per cell, in grid order (traces, policies, fast capacities, mechanisms, then
        ``grid``): ``cell`` (its key), ``trace``, ``trace_pages``, ``policy``, ``mechanism``,
        ``fast_capacity_spec`` (as given), ``fast_capacity`` (pages), ``fast_capacity_share``,
        the ``grid`` columns, ``status`` (``"ok"`` or ``"failed"``), ``error``, then every key
        of ``SimulationResult.summary()`` (a key that repeats a parameter with another value is
        prefixed ``result_``), and :data:`RUN_COLUMNS`: ``seconds`` (the simulation's wall
        time) and ``worker`` (the Dask worker's address, or ``"in-process"``).
        ``table.attrs`` counts the cells: ``cells``, ``ran``, ``skipped``, ``failed``, and
        ``resubmitted`` when cells were sent again after a lost worker took their data.
    """
    grid = dict(grid or {})
    _option_names(grid, "grid argument")
    _option_names(options, "argument")
    both = set(grid) & set(options)
    if both:
        raise ValueError(f"{', '.join(sorted(both))} given both in grid= and as a fixed argument; give it once")
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or not list(values):
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values, got {values!r}")
        grid[name] = list(values)
    if client is not None and workers is not None:
        raise ValueError("give client= (an existing cluster) or workers= (a local one), not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer))
                                or workers < 1):
        raise ValueError(f"workers must be a whole number >= 1 (1: run here, no cluster), got {workers!r}")
    policies = _policies(policies)
    mechanisms = _mechanisms(mechanisms)
    specs = _capacity_specs(fast_capacity)
    _check_paths(traces)
    out = _check_out(out) if out is not None else None
    local = (workers or _default_workers()) if client is None else 1
    if local > 1:
        _refuse_a_worker_rerunning_the_script()
    # A new sweep starts its local cluster now, while the traces are read, the cost model is
    # fitted and the arguments are checked (seconds each); a resumed one once it knows that
    # cells are left.
    starting = _Starting(local) if local > 1 and (out is None or not out.is_dir()) else None
    own_client = own_cluster = spill = None
    try:
        traces = _traces(traces)
        if options.get("n_pages") is not None:
            for trace in traces:
                if trace.n_pages > options["n_pages"]:
                    raise ValueError(f"trace {trace.name!r} touches page {trace.n_pages - 1}, outside "
                                     f"n_pages={options['n_pages']}; pass n_pages >= {trace.n_pages}")
        cells = _cells(traces, policies, specs, mechanisms, grid, options)
        if "fit" not in options and "fit" not in grid:
            from ..model.fitting import default_fit

            run_options = {**options, "fit": default_fit().params}
        else:
            run_options = {**options, "fit": getattr(options["fit"], "params", options["fit"])} \
                if "fit" in options else dict(options)
        # the arrays the cells get: memory-mapped read-only (a path, or an array a local cluster's
        # workers read from the .npy file it is written to), read-only from the message on a
        # cluster given (_aligned_array), else the array itself
        kinds = {trace.name: (trace.dtype, isinstance(trace.source, str) or local > 1 or client is not None
                              or not trace.source.flags.writeable) for trace in traces}
        _probe(cells, run_options, kinds)

        done = {}
        if out is not None:
            wanted = {cell.key for cell in cells}
            done = {k: row for k, row in _read_parts(out).items() if k in wanted and row.get("status") == "ok"}
            for entry in out.iterdir() if out.is_dir() else ():
                if _TEMPORARY.fullmatch(entry.name):
                    entry.unlink(missing_ok=True)  # left by an interrupted write
        pending = [cell for cell in cells if cell.key not in done]
        sources = {trace.name: trace.source for trace in traces if any(c.trace == trace.name for c in pending)}
        if pending and local > 1 and not all(isinstance(source, str) for source in sources.values()):
            # written while the local cluster starts; its workers memory-map them
            spill = tempfile.TemporaryDirectory(prefix="memtier-sweep-")
            sources = _write_arrays(sources, Path(spill.name))

        if pending and local > 1:
            try:
                client, own_cluster = starting.get() if starting is not None else _local_cluster(local)
            except Exception as error:  # noqa: BLE001 - said in one line, with the usual cause
                starting = None
                raise _cluster_failed(local, error) from None
            own_client, starting = client, None
            if progress and _has_bokeh():
                tqdm.write(f"sweep: Dask's dashboard at {own_cluster.dashboard_link}", file=sys.stderr)
        elif pending and isinstance(client, str):
            client = own_client = _connect(client, connect_timeout)
        if pending and client is not None and own_cluster is None:
            _ready_workers(client, pending, run_options, kinds, progress)

        rows = dict(done)
        failed = resubmitted = 0
        bar = progress_bar(progress, total=len(cells), initial=len(done), unit="cell", desc="sweep")

        def finish(cell, outcome):
            nonlocal failed
            row = _row(cell, outcome)
            if out is not None:
                _write_part(out, row)
            rows[cell.key] = row
            failed += row["status"] != "ok"
            bar.update(1)

        try:
            if pending and client is not None:
                resubmitted = _run_dask(client, pending, sources, run_options, finish)
            elif pending:
                _run_here(pending, sources, run_options, finish)
        finally:
            bar.close()
    finally:
        if starting is not None:
            starting.discard()
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
        if spill is not None:
            spill.cleanup()
    table = _table([rows[cell.key] for cell in cells])
    table.attrs.update(cells=len(cells), ran=len(pending), skipped=len(done), failed=failed)
    if resubmitted:
        table.attrs["resubmitted"] = resubmitted
    if progress:
        saved = f"; saved in {out}" if out is not None else ""
        tqdm.write(f"sweep: {len(cells)} cells, {len(pending)} run, {len(done)} already done, "
                   f"{failed} failed{saved}", file=sys.stderr)
    return table
