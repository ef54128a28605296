"""The package's boundaries: outputs written atomically, sparse page numbers, memory checked
before allocating, and every input checked before a kernel sees it."""
import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

import memtier
from memtier import limits, outputs, workloads
from memtier.simulation import pagespace
from memtier.cli import main
from memtier.traces.damon import DamonRecordError, read_damon_record
from memtier.measurement.datasets import data_path
from memtier.measurement.schema import MeasurementError, load_measurements
from memtier.model.cost import ARRAY_SIZE

RFC = str(data_path("zi_yan_2019_rfc.csv"))


# --- outputs ------------------------------------------------------------------------------------


def test_atomic_write_never_touches_a_users_files(tmp_path):
    target = tmp_path / "out.csv"
    neighbours = [tmp_path / name for name in ("out.csv.tmp", ".out.csv.partial", "out.csv.partial")]
    for path in neighbours:
        path.write_text("mine")
    outputs.write_text(target, "result\n")
    assert target.read_text() == "result\n"
    assert all(path.read_text() == "mine" for path in neighbours)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name] + [p.name for p in neighbours])
    with pytest.raises(FileExistsError, match="--force"):
        outputs.write_text(target, "again\n")
    outputs.write_text(target, "again\n", force=True)
    assert target.read_text() == "again\n"


def test_a_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with outputs.atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []


def test_outputs_checked_before_work(tmp_path):
    source = tmp_path / "in.json"
    source.write_text("{}")
    with pytest.raises(ValueError, match="also an input"):
        outputs.check_output(source, force=True, inputs=[source])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        outputs.check_output(tmp_path / "nodir" / "x.csv")
    with pytest.raises(IsADirectoryError):
        outputs.check_output(tmp_path, force=True)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_get_the_mode_of_a_new_file(tmp_path, umask):
    """A result is readable as any file its user writes: 0o666 less the umask (0o644 under the
    usual 0o022), not the owner-only 0o600 of a temporary file; lackey's writer too."""
    old = os.umask(umask)
    try:
        outputs.write_text(tmp_path / "out.csv", "result\n")
        handle, temporary = outputs.temporary_beside(tmp_path / "trace.npy")
        handle.close()
        outputs.commit(temporary, tmp_path / "trace.npy")
    finally:
        os.umask(old)
    for name in ("out.csv", "trace.npy"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_file_that_appears_meanwhile_is_not_replaced(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(FileExistsError, match="appeared"):
        with outputs.atomic_write(target) as handle:
            handle.write("mine?")
            target.write_text("theirs")
    assert target.read_text() == "theirs" and len(list(tmp_path.iterdir())) == 1


# --- sparse page numbers ------------------------------------------------------------------------


def naive_renumber(trace):
    """First-touch renumbering, one access at a time."""
    numbers, dense = {}, []
    for page in trace:
        dense.append(numbers.setdefault(int(page), len(numbers)))
    return np.array(dense), np.array(list(numbers), dtype=np.int64)


@pytest.mark.parametrize("seed", range(4))
def test_renumber_matches_its_twin(seed):
    rng = np.random.default_rng(seed)
    pages = rng.choice(np.array([0, 7, 2**40, 2**62, 123456789, 5 * 2**30]), 3000) + rng.integers(0, 50, 3000)
    dense, numbers = pagespace.renumber(pages, chunk=int(rng.integers(1, 700)))
    expected_dense, expected_numbers = naive_renumber(pages)
    np.testing.assert_array_equal(dense, expected_dense)
    np.testing.assert_array_equal(numbers, expected_numbers)
    np.testing.assert_array_equal(numbers[dense], pages)


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_page_range_matches_numpy(dtype):
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype)
    for size, chunk in ((1, 1), (1000, 7), (5000, 4096)):
        trace = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
        assert pagespace.page_range(trace, chunk) == (int(trace.min()), int(trace.max()))
        assert pagespace.page_range(trace[::-1].copy(), chunk) == (int(trace.min()), int(trace.max()))


def test_sparse_trace_simulates_like_its_dense_renumbering():
    dense = workloads.hot_set(300, 20_000, seed=3)
    spread = np.arange(300, dtype=np.int64) * (2**36 + 12345) + 2**20  # page numbers over 2**44
    sparse = spread[dense]
    params = memtier.ModelParams()
    for policy in ("active-shrink", "lru"):
        result = memtier.simulate(sparse, policy, 30, period=2000, fit=params)
        reference = memtier.simulate(pagespace.renumber(dense)[0], policy, 30, period=2000, fit=params)
        assert result.fast_hit_ratio == reference.fast_hit_ratio
        assert result.config["n_pages"] == 300
        # every page maps back to its original number, and the final placement with it
        first_touch = pagespace.renumber(sparse)[1]
        np.testing.assert_array_equal(result.page_numbers, first_touch)
        np.testing.assert_array_equal(result.final_node, reference.final_node)
    small = memtier.simulate(dense, "lru", 30, period=2000, fit=params)
    assert small.page_numbers is None  # a dense trace keeps its numbers


def test_two_pages_far_apart_need_no_gigabytes():
    trace = np.zeros(100, dtype=np.int64)
    trace[::2] = 2**30
    result = memtier.simulate(trace, "active-shrink", 1, fit=memtier.ModelParams())
    assert result.config["n_pages"] == 2 and sorted(result.page_numbers) == [0, 2**30]


def test_memory_estimated_before_allocating(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 64 << 20)
    trace = np.arange(1000, dtype=np.int64)
    with pytest.raises(MemoryError, match=r"needs about .* more than the 64\.0 MiB"):
        memtier.simulate(trace, "lru", 10, n_pages=50_000_000)
    with pytest.raises(MemoryError, match="needs about"):
        workloads.zipf(100_000_000, 10)
    assert memtier.simulate(trace, "lru", 10, fit=memtier.ModelParams()).config["n_pages"] == 1000


def test_kernel_integers_capped():
    with pytest.raises(ValueError, match="2\\^63"):
        memtier.simulate(np.arange(10), "static", 5, period=2**63)


# --- inputs -------------------------------------------------------------------------------------


def test_every_bad_cell_is_reported(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("page_size,n_pages,copy,workers,batched,exchange,scope,gbps\n"
                    "2M,1e300,cpu,1,False,False,copy,2\n"
                    "2M,1,cpu,99999999999999999999,False,False,copy,1e308\n")
    with pytest.raises(MeasurementError) as error:
        load_measurements(path)
    message = str(error.value)
    assert "3 problems" in message and "\n" not in message
    assert "row 1, column 'n_pages'" in message and "at most" in message
    assert "row 2, column 'workers'" in message and "NR_CPUS" in message
    assert "row 2, column 'gbps'" in message and "GB/s" in message


def test_misspelt_column_refused(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("page_size,n_pages,copy,workers,batched,exchange,scope,gbps,gbps_std\n"
                    "2M,1,cpu,1,False,False,copy,2,0.1\n")
    with pytest.raises(MeasurementError, match="did you mean 'gbps_sd'"):
        load_measurements(path)


def test_configurations_and_tables_of_another_kind_are_refused_in_words():
    """predict() needs no throughput column, so its refusal does not ask for one; fit() of a list
    says what it takes, instead of pathlib's 'expected str, bytes or os.PathLike object'."""
    with pytest.raises(MeasurementError) as refused:
        memtier.default_fit().predict([{"page_size": "2M", "n_pages": 16}])
    assert "missing column(s) copy, workers" in str(refused.value) and "gbps" not in str(refused.value)
    import pandas as pd

    with pytest.raises(MeasurementError, match="missing column.*one of gbps or time_us"):
        load_measurements(pd.DataFrame([{"page_size": "2M"}]))
    with pytest.raises(MeasurementError, match="give a CSV file's path or a pandas DataFrame, not a list"):
        memtier.fit([{"page_size": "2M", "n_pages": 16}])


def test_huge_tables_stop_early(tmp_path, monkeypatch):
    import memtier.measurement.schema as measurements

    monkeypatch.setattr(measurements, "MAX_ROWS", 10)
    path = tmp_path / "m.csv"
    path.write_text("page_size,n_pages,copy,workers,batched,exchange,scope,gbps\n"
                    + "2M,1,cpu,1,False,False,copy,2\n" * 11)
    with pytest.raises(MeasurementError, match="more than 10 rows"):
        load_measurements(path)


@pytest.fixture(scope="module")
def saved_fit(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "fit.json"
    memtier.fit(RFC, bootstrap=3).save(path)
    return json.loads(path.read_text())


@pytest.mark.parametrize("change, words", [
    (lambda d: d.pop("params"), "params"),
    (lambda d: d["params"].update(warp=1.0), "unknown parameter(s) warp"),
    (lambda d: d["params"].update(link_gbps="12.9"), "link_gbps is '12.9'"),
    (lambda d: d["params"].update(link_gbps=True), "link_gbps is True"),
    (lambda d: d["params"].pop("link_gbps"), "link_gbps missing"),
    (lambda d: d.update(samples=[[0.0] * ARRAY_SIZE] * 3), "'samples' row 1"),
    (lambda d: d.update(samples=[1, 2, 3, 4, 5]), f"{ARRAY_SIZE} finite numbers"),
    (lambda d: d.update(confidence=-1), "'confidence' is -1"),
    (lambda d: d.update(confidence=[0.9, 0.95]), "'confidence'"),
    (lambda d: d.update(memtier_fit=True), "not a memtier fit"),
])
def test_fit_files_checked_against_their_schema(tmp_path, saved_fit, change, words):
    data = json.loads(json.dumps(saved_fit))
    change(data)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as error:
        memtier.load_fit(path)
    assert words in str(error.value)


def test_deeply_nested_json_is_one_error(tmp_path):
    path = tmp_path / "fit.json"
    path.write_text("[" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        memtier.load_fit(path)


def _record(tmp_path, region=None, **changes):
    region = region or {"start": 0, "end": 8192, "nr_accesses": 1}
    record = {"target_id": 1, "snapshots": [{"start_time": 0, "end_time": 100, "regions": [region]}]}
    record.update(changes)
    path = tmp_path / "damon.data"
    path.write_text(json.dumps([record]))
    return path


@pytest.mark.parametrize("region, changes, words", [
    ({"start": -8192, "end": 8192, "nr_accesses": 1}, {}, "[0, 2^64)"),
    ({"start": 0, "end": 2**64, "nr_accesses": 1}, {}, "[0, 2^64)"),
    ({"start": 0, "end": 8192, "nr_accesses": -1}, {}, "nr_accesses"),
    (None, {"target_id": -1}, "target_id"),
    ({"start": 0, "end": 8192, "nr_accesses": {"percent": 50}}, {"intervals": {"sample_us": 0, "aggr_us": 100}},
     "sample_us"),
])
def test_damon_values_checked(tmp_path, region, changes, words):
    with pytest.raises(DamonRecordError) as error:
        read_damon_record(_record(tmp_path, region, **changes))
    assert words in str(error.value)


def test_damon_inflation_stops_at_the_limit(tmp_path):
    path = tmp_path / "bomb.data"
    path.write_bytes(zlib.compress(b"[" + b" " * (8 << 20) + b"]"))
    with pytest.raises(DamonRecordError, match="inflates to more than"):
        read_damon_record(path, max_bytes=1 << 20)


def test_public_wrappers_check_their_arguments():
    params = memtier.ModelParams()
    with pytest.raises(ValueError, match="dma must be True or False"):
        memtier.call_time_us(params, 4096, 1, dma="no")
    with pytest.raises(ValueError, match="8192"):
        memtier.call_time_us(params, 4096, 1, workers=1_000_000_000)
    with pytest.raises(ValueError, match="negative page number"):
        workloads.mix(np.array([-5, 1]))


# --- the command line ---------------------------------------------------------------------------


def cli(*args, **options):
    return subprocess.run([sys.executable, "-m", "memtier", *map(str, args)], capture_output=True, text=True,
                          **options)


def test_flags_named_in_messages(tmp_path):
    simulate = ["simulate", "--pages", "100", "--accesses", "1000"]
    for args, words in [(simulate + ["--fast-capacity", "-10%"], "--fast-capacity"),
                        (simulate + ["--fast-capacity", "0%"], "--fast-capacity"),
                        (simulate + ["--fast-capacity", "10", "--seed", "-1"], "--seed -1: must be at least 0"),
                        (simulate + ["--fast-capacity", "10", "--period", "9223372036854775808"], "--period"),
                        (simulate + ["--fast-capacity", "10", "--period-s", "0"], "--period-s 0: must be above 0"),
                        (simulate + ["--fast-capacity", "10", "--rmap-ns", "-1"], "--rmap-ns -1: must be at least 0"),
                        (simulate + ["--fast-capacity", "10", "--write-share", "2"],
                         "--write-share 2: must be at most 1"),
                        (simulate + ["--fast-capacity", "10", "--policy", "numa-balancing", "--param",
                                     "hot_thresold_ms=5"], "(did you mean hot_threshold_ms?)"),
                        (["fit", RFC, "--bootstrap", "-5"], "--bootstrap")]:
        status, err = _in_process(args)
        assert status == 2 and err.count("\n") == 1 and words in err, err


def test_a_trace_of_another_format_is_named_for_what_it_is(tmp_path):
    """A CSV, a lackey log or an .npz given as a trace: what it starts with and how to make a
    trace, not numpy's advice to load pickled data with allow_pickle=."""
    (tmp_path / "rows.csv").write_text("page_size,n_pages\n4096,1\n")
    (tmp_path / "prog.lackey").write_text(" L 1fff000778,8\n")
    np.savez(tmp_path / "archive.npz", pages=np.arange(3))
    (tmp_path / "archive.npy").write_bytes((tmp_path / "archive.npz").read_bytes())
    for name in ("rows.csv", "prog.lackey", "archive.npy"):
        status, err = _in_process(["simulate", "--trace", str(tmp_path / name), "--fast-capacity", "10"])
        assert status == 2 and err.count("\n") == 1, err
        assert "memtier trace convert" in err and "pickle" not in err, err
        with pytest.raises(ValueError, match="not a numpy .npy trace"):
            workloads.load_trace(tmp_path / name)


def _in_process(argv):
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    return status, err.getvalue()


def test_unexpected_errors_are_one_line_and_debug_shows_them(monkeypatch):
    import memtier.cli as cli_module

    def broken(args):
        raise KeyError("surprise")

    original = cli_module.build_parser

    def parser(command=None):
        built = original(command)
        for action in built._actions:
            if getattr(action, "choices", None) and "predict" in action.choices:
                action.choices["predict"].set_defaults(handler=broken)
        return built

    monkeypatch.setattr(cli_module, "build_parser", parser)
    status, err = _in_process(["predict", "x.json"])
    assert status == 3 and err.count("\n") == 1 and "unexpected KeyError" in err and "report" in err
    status, err = _in_process(["predict", "x.json", "--debug"])
    assert status == 3 and "Traceback" in err and "surprise" in err


def test_results_written_before_printing(tmp_path):
    fit = tmp_path / "q.json"
    done = subprocess.run(f"'{sys.executable}' -m memtier fit '{RFC}' --bootstrap 0 --out '{fit}' >&-",
                          shell=True, capture_output=True, text=True, executable="/bin/bash")
    assert done.returncode == 0 and memtier.load_fit(fit).free
    out = tmp_path / "s.csv"
    done = subprocess.run(f"'{sys.executable}' -m memtier simulate --pages 1000 --accesses 20000 "
                          f"--fast-capacity 10% --policy static,lru --fit '{fit}' --out '{out}' | head -c 1; "
                          "exit ${PIPESTATUS[0]}", shell=True, capture_output=True, text=True,
                          executable="/bin/bash")
    assert out.stat().st_size > 100 and done.returncode in (0, 141)


def test_a_closed_pipe_is_not_success(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)
    done = subprocess.run([sys.executable, "-m", "memtier", "fit", RFC, "--bootstrap", "0"], stdout=write_end,
                          stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert done.returncode == 141 and "Traceback" not in done.stderr


def test_sidecar_never_over_an_input(tmp_path):
    log = tmp_path / "out.json"
    log.write_text(" L 1fff000778,8\n S 1fff000770,8\n")
    done = cli("trace", "convert", log, "--out", tmp_path / "out.npy", "--force")
    assert done.returncode == 2 and "also an input" in done.stderr and done.stderr.count("\n") == 1
    assert log.read_text().startswith(" L 1fff000778") and not (tmp_path / "out.npy").exists()


def test_an_interrupted_reproduce_is_completed_by_a_rerun(tmp_path):
    from memtier.reproduce import MARKER, OUTPUTS, reproduce

    out = tmp_path / "r"
    out.mkdir()
    (out / MARKER).write_text("interrupted\n")
    (out / "rfc_fit.json").write_text("{")  # what the interrupted run had finished
    reproduce(out, quick=True, bootstrap=2)
    assert not (out / MARKER).exists() and memtier.load_fit(out / "rfc_fit.json")
    assert all((out / name).stat().st_size > 0 for name in OUTPUTS)
    assert (out / "fig_fit.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(FileExistsError, match="already holds"):
        reproduce(out, quick=True, bootstrap=2)


@pytest.mark.parametrize("policy, most", [("lru", (1 << 30) - 1), ("static", (1 << 31) - 1)])
def test_a_period_longer_than_the_counts_hold_is_refused(policy, most):
    # a trace of most + 1 accesses that takes no memory (one page, read through a zero stride)
    trace = np.broadcast_to(np.int32(0), (most + 1,))
    with pytest.raises(ValueError, match=f"more than the {most:,} accesses of one page"):
        memtier.simulate(trace, policy, 1, period_s=1000.0)  # 1000 s hold 10^10 accesses
    with pytest.raises(ValueError, match="give a shorter period"):
        memtier.simulate(trace, policy, 1, period=most + 1)


def test_a_script_that_sweeps_unguarded_gets_one_clear_line(tmp_path):
    """The README's sweep, pasted into a script without ``if __name__ == "__main__":``: the local
    cluster's workers import the script again ('spawn').  Each says so in one line and stops,
    instead of Python's page of traceback per worker, and the sweep's error says the same."""
    script = tmp_path / "study.py"
    script.write_text("import numpy as np\nimport memtier\n"
                      "memtier.sweep({'t': np.arange(2000) % 100}, ['lru'], ['10%'], workers=2, progress=False)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": root})
    assert done.returncode != 0
    assert "freeze_support" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert 'if __name__ == "__main__":' in lines[-1] and "did not start" in lines[-1]
    assert "memtier.sweep: a worker process ran the script again" in done.stderr


@pytest.mark.parametrize("name", ["fast_capacity", "slow_capacity"])
def test_a_share_given_to_simulate_says_it_takes_pages(name):
    """'10%' is what the command line and sweep() take; simulate() says so, where it said only
    'must be a whole number'."""
    capacities = {"fast_capacity": 10, name: "10%"}
    with pytest.raises(ValueError, match=f"{name} '10%': simulate\\(\\) takes a page count.*memtier.sweep"):
        memtier.simulate(np.arange(100), "lru", **capacities)


@pytest.mark.parametrize("out", ["heat.npy", "heat.json"])
def test_damon_table_and_trace_on_one_name_are_refused_as_such(tmp_path, out):
    """--out naming the --trace file or its sidecar is two outputs on one name, not an input."""
    record = data_path("damon/damon.data")
    status, err = _in_process(["trace", "damon", str(record), "--out", str(tmp_path / out),
                               "--trace", str(tmp_path / "heat.npy")])
    assert status == 2 and err.count("\n") == 1 and "is also where --trace" in err, err
    assert list(tmp_path.iterdir()) == []


def test_python_callers_are_told_the_keyword_not_only_the_flag(tmp_path):
    """reproduce() and run_measurements() refuse an existing output naming force=True, as every
    other writer does, not only the command line's --force."""
    from memtier.reproduce import reproduce

    (tmp_path / "summary.md").write_text("mine")
    with pytest.raises(FileExistsError, match=r"force=True"):
        reproduce(tmp_path)
    (tmp_path / "mine.csv").write_text("mine")
    with pytest.raises(FileExistsError, match=r"force=True"):
        memtier.run_measurements(tmp_path / "mine.csv", memtier.make_plan(quick=True))
    assert (tmp_path / "mine.csv").read_text() == (tmp_path / "summary.md").read_text() == "mine"
