"""memtier.sweep and `memtier sweep`: the grid, the table, resuming, and a real Dask cluster.

The cluster tests start a `dask scheduler` and two `dask worker` processes on 127.0.0.1,
each in its own process group, and stop every one of them afterwards, also when a test
fails (the fixture's `finally`)."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import memtier
from memtier import workloads
from memtier.measurement.datasets import rfc_2019
from memtier.simulation import simulator
from memtier.simulation.simulator import POLICIES
from memtier.simulation.sweeps import RUN_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
N_PAGES, N_ACCESSES = 200_000, 1_000_000   # about 0.1 s a cell on one core
CAPACITIES = ["5%", "20%"]
MECHANISMS = ["linux", "mt8"]


@pytest.fixture(scope="module")
def fit():
    # A fit without bootstrap: a second, where default_fit() takes ten; every run here uses it.
    return memtier.fit(rfc_2019(), bootstrap=0)


@pytest.fixture(scope="module")
def files(tmp_path_factory, fit):
    folder = tmp_path_factory.mktemp("sweep")
    workloads.save_trace(workloads.hot_set(N_PAGES, N_ACCESSES, hot_fraction=0.1, phases=2, seed=1),
                         folder / "hot.npy")
    workloads.save_trace(workloads.zipf(N_PAGES, N_ACCESSES, alpha=1.0, seed=2), folder / "zipf.npy")
    fit.save(folder / "fit.json")
    return folder


@pytest.fixture(scope="module")
def reference(files, fit):
    """The CLI tests' grid run in-process, without out=."""
    return memtier.sweep({"hot": files / "hot.npy", "zipf": files / "zipf.npy"}, "all", CAPACITIES, MECHANISMS,
                         workers=1, fit=fit, progress=False)


def _comparable(table):
    order = ["trace", "policy", "mechanism", "fast_capacity"]
    return table.drop(columns=list(RUN_COLUMNS)).sort_values(order).reset_index(drop=True)


def _memtier(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "memtier", "sweep", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, **kwargs)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- in-process ---------------------------------------------------------------------------


def test_table_holds_one_row_per_cell_with_the_simulators_summary(fit):
    trace = workloads.hot_set(20_000, 200_000, hot_fraction=0.1, seed=3)
    table = memtier.sweep({"hot": trace}, ["static", "lru"], ["10%", 500], ["linux", "exchange-mt8"],
                          grid={"period": [2_000, 20_000]}, workers=1, fit=fit, progress=False)
    assert len(table) == 2 * 2 * 2 * 2 and (table["status"] == "ok").all() and table["error"].isna().all()
    assert table["cell"].is_unique
    # grid order: trace, policy, capacity, mechanism, then grid=
    assert list(table["policy"][:8]) == ["static"] * 8
    assert list(table["fast_capacity_spec"][:4]) == ["10%"] * 4
    assert list(table["fast_capacity"].unique()) == [2_000, 500]
    assert list(table["period"][:2]) == [2_000, 20_000]
    row = table.iloc[-1]
    expected = memtier.simulate(trace, "lru", 500, mechanism="exchange-mt8", period=20_000, fit=fit).summary()
    assert row["result_mechanism"] == expected["mechanism"] != row["mechanism"]  # the label, not the name
    for key, value in expected.items():
        # a summary key equal to the parameter of the same name is not repeated
        got = row[f"result_{key}" if f"result_{key}" in table else key]
        assert got == value or (pd.isna(got) and pd.isna(value)), key
    assert table.attrs == {"cells": 16, "ran": 16, "skipped": 0, "failed": 0}
    assert (table["worker"] == "in-process").all() and (table["seconds"] > 0).all()


def test_policies_all_is_the_simulators_list(fit):
    table = memtier.sweep([np.arange(100) % 50], "all", [10], workers=1, fit=fit, progress=False)
    assert list(table["policy"]) == list(POLICIES)
    assert list(table["trace"]) == ["trace0"] * len(POLICIES)


def test_a_failing_cell_is_recorded_and_the_others_run(tmp_path, fit):
    trace = workloads.uniform(1_000, 20_000, seed=4)
    # no room on the slow node: only a fast node holding every page can take the trace
    kwargs = dict(workers=1, fit=fit, slow_capacity=0, progress=False, out=tmp_path / "s")
    table = memtier.sweep({"u": trace}, ["static", "lru"], ["10%", "100%"], **kwargs)
    failed = table[table["status"] == "failed"]
    assert list(failed["fast_capacity_spec"]) == ["10%", "10%"]
    assert failed["error"].str.contains("limits smaller than needed").all()
    assert failed["fast_hit_ratio"].isna().all()
    ok = table[table["status"] == "ok"]
    assert list(ok["fast_hit_ratio"]) == [memtier.simulate(trace, p, 1_000, slow_capacity=0, fit=fit).fast_hit_ratio
                                          for p in ("static", "lru")]
    assert table.attrs["failed"] == 2
    again = memtier.sweep({"u": trace}, ["static", "lru"], ["10%", "100%"], **kwargs)
    assert again.attrs == {"cells": 4, "ran": 2, "skipped": 2, "failed": 2}  # failed cells are tried again
    assert len(memtier.read_sweep(tmp_path / "s")) == 4


def test_a_scattered_array_arrives_aligned():
    """Dask lays a received array over its message at an odd offset; _Aligned makes the
    worker's copy aligned once, so that no cell copies it again."""
    import pickle

    from memtier.simulation.sweeps import _Aligned

    pages = workloads.zipf(1_000, 10_000, seed=1)
    buffers = []
    message = pickle.dumps(_Aligned(pages), protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 1  # out of band, as Dask sends it
    received = bytearray(len(buffers[0].raw()) + 1)
    received[1:] = buffers[0].raw()  # one byte off, as a message read from a socket may be
    odd = memoryview(received)[1:]
    assert not np.frombuffer(odd, dtype=pages.dtype).flags.aligned
    arrived = pickle.loads(message, buffers=[odd])
    assert isinstance(arrived, np.ndarray) and arrived.flags.aligned
    np.testing.assert_array_equal(arrived, pages)
    assert arrived.dtype == pages.dtype
    # read-only, aligned or not and whatever the message's bytes were: the kind the sweep's probe
    # compiled the kernels for (a writable one made each worker compile them again)
    assert not arrived.flags.writeable
    whole = bytearray(buffers[0].raw())  # aligned, writable bytes: used as they are, not copied
    aligned = pickle.loads(message, buffers=[whole])
    assert not aligned.flags.writeable and np.shares_memory(aligned, np.frombuffer(whole, dtype=pages.dtype))


def test_a_local_cluster_gives_the_in_process_table_for_arrays(tmp_path, monkeypatch, fit):
    """Arrays reach a local cluster's workers through a temporary file, removed afterwards."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # of two lengths: the cluster starts the longer trace's cells first, the table keeps grid order
    traces = {"hot": workloads.hot_set(5_000, 50_000, hot_fraction=0.1, seed=3),
              "zipf": workloads.zipf(5_000, 80_000, seed=4)}
    grid = dict(policies=["static", "lru"], fast_capacity=["10%"], mechanisms=["linux"], fit=fit, progress=False)
    local = memtier.sweep(traces, workers=2, **grid)
    here = memtier.sweep(traces, workers=1, **grid)
    assert local["worker"].str.startswith("tcp://").all()
    pd.testing.assert_frame_equal(local.drop(columns=list(RUN_COLUMNS)), here.drop(columns=list(RUN_COLUMNS)))
    assert not list(tmp_path.glob("memtier-sweep-*")), "the temporary trace files were left behind"


def test_the_argument_check_compiles_for_the_kind_of_array_each_cell_gets(tmp_path, monkeypatch, fit):
    """numba compiles a kernel apart for each dtype and for read-only and writable arrays: the
    check's one-access trace is of the kind the cells' trace is, so that the kernels it compiles
    (and caches) are the ones the cells load: a file's are read-only (memory-mapped) and of its
    dtype; an array's are the array itself here, or read-only from a local cluster's .npy file."""
    seen = []
    real = simulator.simulate

    def recording(trace, *args, **kwargs):
        seen.append(("check" if len(trace) == 1 else "cell", trace.dtype.str, trace.flags.writeable))
        return real(trace, *args, **kwargs)

    monkeypatch.setattr(simulator, "simulate", recording)
    path = tmp_path / "t.npy"
    np.save(path, np.arange(1000, dtype=np.int64) % 100)
    for trace, kind in ((path, ("<i8", False)), (np.arange(1000, dtype=np.int32) % 100, ("<i4", True))):
        seen.clear()
        memtier.sweep({"t": trace}, ["static", "lru"], ["10%"], workers=1, fit=fit, progress=False)
        assert {s[1:] for s in seen if s[0] == "check"} == {s[1:] for s in seen if s[0] == "cell"} == {kind}
    seen.clear()
    memtier.sweep({"t": np.arange(1000, dtype=np.int32) % 100}, ["static"], ["10%"], workers=2, fit=fit,
                  progress=False)
    assert seen == [("check", "<i4", False)]  # the cells ran in the workers, on the .npy file


def test_a_cluster_starts_the_longest_traces_first_and_keeps_grid_order_among_equals(fit):
    from memtier.simulation.sweeps import _cells, _longest_first, _traces

    traces = _traces({"short": np.arange(100) % 50, "long": np.arange(300) % 50, "also": np.arange(300) % 70})
    cells = _cells(traces, ["static", "lru"], ["10%", "20%"], ["linux"], {}, {})
    order = _longest_first(cells)
    assert sorted(c.key for c in order) == sorted(c.key for c in cells)
    assert [c.trace for c in order] == ["long"] * 4 + ["also"] * 4 + ["short"] * 4
    assert [c.key for c in order[:8]] == [c.key for c in cells if c.trace != "short"]  # grid order kept
    assert [c.accesses for c in order] == [300] * 8 + [100] * 4


def test_the_local_cluster_runs_with_memtiers_settings():
    """The local cluster's scheduler and workers tick once a second, and the workers are set up
    by memtier's preload: Ctrl-C ignored, the cells' module already imported."""
    import dask

    from memtier.simulation import sweeps

    client, cluster = sweeps._local_cluster(1)
    try:
        def seen():
            import signal
            import sys

            return (dask.config.get("distributed.admin.tick.interval"),
                    dask.config.get("distributed.worker.profile.enabled"),
                    signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
                    "memtier.simulation.sweeps" in sys.modules)
        assert list(client.run(seen).values()) == [("1s", False, True, True)]
        assert cluster.scheduler._tick_interval == 1.0
    finally:
        client.close()
        cluster.close()


def test_a_closing_worker_takes_its_objects_out_of_the_collectors_sight():
    code = ("import gc; from memtier.simulation import _sweep_worker as w; before = gc.get_freeze_count(); "
            "w.dask_teardown(None); print(before, gc.get_freeze_count())")
    before, after = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                            check=True, cwd=ROOT).stdout.split())
    assert before == 0 and after > 10_000


@pytest.mark.parametrize("change, message", [
    (dict(policies=["static", "lur"]), "unknown policy 'lur' (did you mean 'lru'?)"),
    (dict(traces={"gone": "missing.npy"}), "does not exist"),
    (dict(fast_capacity=[0]), "at least 1 page"),
    (dict(fast_capacity=["0%"]), "out of range"),
    (dict(fast_capacity=["ten"]), "neither pages nor a share"),
    (dict(mechanisms=["mt3"]), "unknown mechanism 'mt3'"),
    (dict(grid={"period": [100, 0]}), "period=0: period must be at least 1"),
    (dict(migration_shar=0.1), "'migration_shar'"),  # the sweep's check or the simulator's own
    (dict(grid={"policy": ["lru"]}), "is a sweep dimension"),
    (dict(workers=0), "workers must be a whole number >= 1"),
    (dict(workers=2, grid={"migration_share": [-1.0]}), "migration_share must be a non-negative number"),
    (dict(client="tcp://127.0.0.1:{port}", connect_timeout=1), "no Dask scheduler answers at"),
])
def test_bad_input_is_refused_in_one_line_before_any_cell_runs(tmp_path, monkeypatch, fit, change, message):
    arguments = dict(traces={"t": np.arange(1000) % 100}, policies=["static"], fast_capacity=["10%"],
                     mechanisms=["linux"], out=tmp_path / "study", fit=fit, progress=False, workers=1)
    arguments.update(change)
    if isinstance(arguments.get("client"), str):
        arguments["client"] = arguments["client"].format(port=_free_port())
        del arguments["workers"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError)) as error:
        memtier.sweep(**arguments)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "study").exists()  # created when the first cell finishes


def test_out_that_is_not_a_sweep_folder_is_refused(tmp_path, fit):
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt, which is not a memtier sweep's"):
        memtier.sweep([np.arange(10)], ["static"], [2], workers=1, fit=fit, out=tmp_path / "study")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a sweep folder"):
        memtier.sweep([np.arange(10)], ["static"], [2], workers=1, fit=fit, out=tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"


def test_cli_refuses_bad_input_in_one_line(files, capsys):
    from memtier.cli import main

    assert main(["sweep", "--trace", str(files / "hot.npy"), "--policy", "lur", "--fast-capacity", "5%",
                 "--fit", str(files / "fit.json"), "--out", str(files / "never")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.splitlines() == [
        "memtier: error: unknown policy 'lur' (did you mean 'lru'?); choose from "
        + ", ".join(getattr(simulator, "ALL_POLICIES", POLICIES)) + " or 'all'"]
    for bad in (["--fast-capacity", "0"], ["--fast-capacity", "5%", "--param", "period"],
                ["--fast-capacity", "5%", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]):
        assert main(["sweep", "--trace", str(files / "hot.npy"), "--fit", str(files / "fit.json"), *bad]) == 2
        captured = capsys.readouterr()
        assert len(captured.err.splitlines()) == 1 and captured.err.startswith("memtier: error: ")
    assert not (files / "never").exists()


def _group_alive(group: int) -> list[int]:
    """Processes (not zombies) of a process group, read from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def test_an_interrupted_sweep_resumes_where_it_stopped(files, reference, tmp_path):
    out = tmp_path / "study.parquet"
    command = [sys.executable, "-m", "memtier", "sweep", "--trace", str(files / "hot.npy"), "--trace",
               str(files / "zipf.npy"), "--fast-capacity", ",".join(CAPACITIES), "--mechanism",
               ",".join(MECHANISMS), "--fit", str(files / "fit.json"), "--out", str(out), "--quiet"]
    # First on a local cluster of two workers, in a process group of its own, as in a terminal.
    # Cells take tens of milliseconds once the kernels are loaded, so the sweep can end before
    # the Ctrl-C lands (seen once in CI with an empty numba cache: the workers compiled, then
    # every cell came at once); then it is run again on an empty folder, up to three times.
    for _attempt in range(3):
        if out.exists():
            shutil.rmtree(out)
        process = subprocess.Popen(command + ["--workers", "2"], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + 180  # compiling the kernels, if no test did before
            while len(list(out.glob("cell-*.parquet"))) < 3 and process.poll() is None:
                assert time.monotonic() < deadline, "no cell finished within three minutes"
                time.sleep(0.02)
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole group, workers too
            _, stderr = process.communicate(timeout=60)
            deadline = time.monotonic() + 20
            while _group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _group_alive(process.pid), "the local cluster's workers outlived the sweep"
        finally:
            if _group_alive(process.pid):
                os.killpg(process.pid, signal.SIGKILL)
        if process.returncode != 0:
            break
    assert process.returncode == 130, stderr
    # Dask may warn after it (e.g. port 8787 taken by another cluster, so the dashboard moved)
    assert "Traceback" not in stderr
    assert any(line.endswith("run the same command again to resume") for line in stderr.splitlines()), stderr
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("cell-*.parquet")}
    assert 3 <= len(kept) < len(reference), "the interrupt came too late to test anything"
    assert not [p for p in out.iterdir() if not p.name.startswith("cell-")]

    # then resumed in-process
    result = subprocess.run(command + ["--workers", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{len(reference)} cells: {len(reference) - len(kept)} run, {len(kept)} already done, 0 failed" \
        in result.stdout
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # not run again
    pd.testing.assert_frame_equal(_comparable(memtier.read_sweep(out)), _comparable(reference))


# --- a real cluster: `dask scheduler` and two `dask worker` processes ----------------------


class Cluster:
    def __init__(self, address, scheduler, workers):
        self.address, self.scheduler, self.workers = address, scheduler, workers


def _stop(process):
    """Stop a process and everything it started (its process group)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
    try:  # a worker's child left behind when its nanny was killed
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    processes = []

    def start(name, *args):
        log = open(folder / f"{name}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=folder, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        processes.append(process)
        return process

    try:
        scheduler = start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                          "--no-dashboard")
        workers = [start(f"worker{i}", "worker", address, "--nthreads", "1", "--nworkers", "1",
                         "--host", "127.0.0.1", "--no-dashboard", "--name", f"worker{i}",
                         "--local-directory", str(folder), "--death-timeout", "60")
                   for i in range(2)]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield Cluster(address, scheduler, workers)
    finally:
        for process in reversed(processes):
            _stop(process)
        assert all(p.poll() is not None for p in processes)


def test_cli_on_a_cluster_gives_the_in_process_table(cluster, files, reference, tmp_path):
    """... and says first that the cluster's workers load (or compile) the kernels."""
    from distributed import Client

    result = _memtier("--trace", files / "hot.npy", "--trace", files / "zipf.npy", "--policy", "all",
                      "--fast-capacity", ",".join(CAPACITIES), "--mechanism", ",".join(MECHANISMS),
                      "--fit", files / "fit.json", "--scheduler", cluster.address, "--out",
                      tmp_path / "study.parquet")
    assert result.returncode == 0, result.stderr
    assert "sweep: loading memtier's kernels on the cluster's 2 worker(s)" in result.stderr
    table = memtier.read_sweep(tmp_path / "study.parquet")
    assert len(table) == len(reference) and (table["status"] == "ok").all()
    assert table["worker"].str.startswith("tcp://127.0.0.1:").all()
    pd.testing.assert_frame_equal(_comparable(table), _comparable(reference))
    # the cluster was someone else's: it is left running
    assert cluster.scheduler.poll() is None
    with Client(cluster.address, timeout=10) as client:
        assert len(client.scheduler_info()["workers"]) == 2


def _sole_holder(address) -> int:
    """The worker (0 or 1) to kill: one holding the only copy of a trace array if there is one
    (Dask's memory manager drops replicas of scattered data that no queued cell waits for),
    so that the sweep must also send that array again."""
    from distributed import Client

    with Client(address, timeout=10) as client:
        names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
        holders = [workers for key, workers in client.who_has().items() if key.startswith("memtier-trace-")]
    alone = [names[workers[0]] for workers in holders if len(workers) == 1]
    return int(str(alone[0])[-1]) if alone else 1


def test_a_sweep_survives_a_worker_killed_in_the_middle(cluster, files, fit, tmp_path):
    # arrays this time: scattered to the workers once, then referred to by every cell
    traces = {"hot": workloads.hot_set(N_PAGES, N_ACCESSES, hot_fraction=0.1, phases=2, seed=5),
              "zipf": np.load(files / "zipf.npy")}
    grid = dict(policies="all", fast_capacity=CAPACITIES, mechanisms=MECHANISMS, fit=fit)
    out = tmp_path / "study"
    outcome = {}

    def run():
        try:
            outcome["table"] = memtier.sweep(traces, client=cluster.address, out=out, progress=False, **grid)
        except BaseException as error:  # noqa: BLE001 - reported by the assertions below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180  # the workers compile the kernels if no test did before
    while not list(out.glob("cell-*.parquet")) and thread.is_alive():
        assert time.monotonic() < deadline, "no cell finished within three minutes"
        time.sleep(0.01)
    victim = cluster.workers[_sole_holder(cluster.address)]
    os.killpg(victim.pid, signal.SIGKILL)  # the worker and its nanny, no goodbye
    finished_at_kill = len(list(out.glob("cell-*.parquet")))
    thread.join(timeout=180)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    assert victim.wait(timeout=10) == -signal.SIGKILL
    table = outcome["table"]
    assert finished_at_kill < len(table), "the sweep ended before the kill"
    assert (table["status"] == "ok").all() and table.attrs["failed"] == 0
    print(f"killed worker {cluster.workers.index(victim)}; {finished_at_kill} cells done then; attrs {table.attrs}")
    assert len(list(out.glob("cell-*.parquet"))) == len(table) == 2 * len(POLICIES) * 4
    expected = memtier.sweep(traces, workers=1, progress=False, **grid)
    pd.testing.assert_frame_equal(_comparable(table), _comparable(expected))
