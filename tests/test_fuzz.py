"""Hostile inputs through the command line, in-process: every bad input gets one clear line.

Hypothesis generates measurement CSVs, fit files, trace files, lackey logs, DAMON records and
option values that are wrong in one way or another, runs ``memtier.cli.main`` on them and
checks the command line's promise: a non-zero exit, exactly one line on stderr, no traceback,
and memory that stays bounded (the process's peak resident memory grows by less than
:data:`MEMORY_GROWTH`, with memtier's budget set to :data:`BUDGET`).
"""
import contextlib
import functools
import io
import json
import resource
import string
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memtier import limits
from memtier.cli import main
from memtier.measurement.datasets import data_path
from memtier.model.cost import ARRAY_SIZE

BUDGET = 1 << 30  # what memtier may allocate during the fuzz run
MEMORY_GROWTH = 1536 << 20  # largest growth of the process's peak resident memory allowed
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

HEADER = ["page_size", "n_pages", "copy", "workers", "batched", "exchange", "scope", "gbps"]
GOOD_ROW = ["2M", "1", "cpu", "1", "False", "False", "copy", "2.5"]
HOSTILE = ["", " ", "-1", "0", "1e300", "-1e300", "nan", "NaN", "inf", "-inf", "1e-320", "1e-300",
           "99999999999999999999", "9223372036854775808", "18446744073709551616", "0x10", "1_000",
           "True", "None", "null", "[]", "{}", "\x00", "é", "'", '"', "3M", "4097", "2.5.1", "1e308"]
#: Values each column refuses, whatever the rest of the row.
BAD = {
    "page_size": ["3M", "4097", "0", "-4K", "1e300", "nan", "2G", "", "x", "True"],
    "n_pages": ["0", "-1", "1e300", "nan", "inf", "9223372036854775808", "99999999999999999999", "1.5", "x", ""],
    "copy": ["gpu", "", "1", "nan", "cpu dma"],
    "workers": ["0", "-3", "1e20", "99999999999999999999", "9000", "nan", "2.5", ""],
    "batched": ["maybe", "2", "", "nan", "-1"],
    "exchange": ["maybe", "2", "", "nan", "-1"],
    "scope": ["kernel", "", "1", "nan"],
    "gbps": ["0", "-1", "1e308", "1e-300", "1e-320", "nan", "inf", "", "x", "99999999999999999999"],
}


@pytest.fixture(scope="module", autouse=True)
def small_budget():
    """memtier's memory budget set to BUDGET for the whole module; the peak checked after."""
    original = limits.available_memory
    limits.available_memory = lambda: BUDGET
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    yield
    limits.available_memory = original
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < MEMORY_GROWTH, f"peak memory grew by {grown / 2**20:.0f} MiB during the fuzz run"


def run(*argv):
    """main() in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def assert_refused(status, err):
    assert status != 0, f"accepted: {err!r}"
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("memtier: error: ") and len(err) > len("memtier: error: ") + 10, err
    assert "unexpected" not in err, f"the last-resort handler caught it: {err!r}"


def assert_clean(status, err):
    """Either it worked, or it was refused with one clear line."""
    if status != 0:
        assert_refused(status, err)


@st.composite
def bad_csv(draw):
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        row = [draw(st.sampled_from([good] + HOSTILE)) for good in GOOD_ROW]
        rows.append(row)
    column = draw(st.integers(0, len(HEADER) - 1))
    rows[draw(st.integers(0, len(rows) - 1))][column] = draw(st.sampled_from(BAD[HEADER[column]]))
    header = list(HEADER)
    if draw(st.booleans()):
        header.append(draw(st.sampled_from(["gbps_std", "time_us", "gbps_sd", "ptes_per_page", "notes"])))
        for row in rows:
            row.append(draw(st.sampled_from(HOSTILE)))
    return "\n".join(",".join(json.dumps(cell) if "," in cell or '"' in cell else cell for cell in row)
                     for row in [header] + rows) + "\n"


@FUZZ
@given(text=bad_csv())
def test_hostile_measurement_csvs(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("csv") / "m.csv"
    path.write_text(text, encoding="utf-8")
    status, _, err = run("fit", path, "--bootstrap", "0")
    assert_refused(status, err)


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "fit.json"
    assert main(["fit", str(data_path("zi_yan_2019_rfc.csv")), "--bootstrap", "3", "--out", str(path)]) == 0
    return json.loads(path.read_text())


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.sampled_from([0, -1, 1e308, -1e308, 10**30, 0.5, 2]),
                        st.text(max_size=5), st.lists(st.integers(-3, 3), max_size=3),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                        st.sampled_from([float("nan"), float("inf")]))


@FUZZ
@given(data=st.data())
def test_hostile_fit_files(tmp_path_factory, fit_file, data):
    fit = json.loads(json.dumps(fit_file))
    where = data.draw(st.sampled_from(["params", "samples", "free", "confidence", "measurements",
                                       "memtier_fit", "delete", "nested", "row"]))
    if where == "params":
        name = data.draw(st.sampled_from(sorted(fit["params"]) + ["warp"]))
        value = data.draw(JSON_VALUES.filter(lambda v: not isinstance(v, (int, float)) or isinstance(v, bool)
                                             or v < 0 or v > 1e5 or v != v) | st.just("12.9"))
        fit["params"][name] = value
    elif where == "samples":
        fit["samples"] = data.draw(st.sampled_from([[[0.0] * ARRAY_SIZE] * 3, [[-1.0] * ARRAY_SIZE] * 2, [1, 2, 3, 4, 5],
                                                    [[1.0] * (ARRAY_SIZE - 1)], "x", [[float("nan")] * ARRAY_SIZE], None]))
    elif where == "delete":
        fit.pop(data.draw(st.sampled_from(["memtier_fit", "params", "free", "confidence", "samples",
                                           "measurements"])))
    elif where == "nested":
        depth = data.draw(st.integers(1000, 100_000))
        text = "[" * depth
    elif where == "row":
        row = data.draw(st.integers(0, len(fit["measurements"]) - 1))
        column = data.draw(st.sampled_from(sorted(BAD)))
        fit["measurements"][row][column] = data.draw(st.sampled_from(BAD[column]))
    else:
        value = data.draw(JSON_VALUES.filter(lambda v: v != [] or where != "free"))
        if where == "confidence":
            value = data.draw(st.sampled_from([-1, 0, 1, 1.5, True, None, "0.95", [0.9, 0.95], float("nan")]))
        fit[where] = value
    path = tmp_path_factory.mktemp("fitjson") / "fit.json"
    path.write_text(text if where == "nested" else json.dumps(fit))
    status, _, err = run("predict", path, "--page-size", "2M", "--pages", "16", "--workers", "8")
    assert_refused(status, err)


@st.composite
def bad_npy(draw):
    kind = draw(st.sampled_from(["empty", "bytes", "float", "2d", "negative", "truncated", "bool", "pickle", "zero-d"]))
    if kind == "empty":
        return b""
    if kind == "bytes":
        return draw(st.binary(min_size=1, max_size=200))
    buffer = io.BytesIO()
    if kind == "float":
        np.save(buffer, np.array(draw(st.lists(st.floats(allow_nan=True), min_size=1, max_size=20))))
    elif kind == "2d":
        np.save(buffer, np.zeros((3, draw(st.integers(1, 4))), dtype=np.int32))
    elif kind == "negative":
        np.save(buffer, np.array([0, 1, -draw(st.integers(1, 2**62))], dtype=np.int64))
    elif kind == "bool":
        np.save(buffer, np.array([True, False]))
    elif kind == "zero-d":
        np.save(buffer, np.array(5))
    elif kind == "pickle":
        np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:  # a header that promises more than the file holds
        np.save(buffer, np.arange(draw(st.integers(10, 1000)), dtype=np.int32))
        return buffer.getvalue()[:-draw(st.integers(1, 39))]
    return buffer.getvalue()


@FUZZ
@given(content=bad_npy())
def test_hostile_traces(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("npy") / "t.npy"
    path.write_bytes(content)
    status, _, err = run("simulate", "--trace", path, "--fast-capacity", "2", "--policy", "lru", "--quiet")
    assert_refused(status, err)


@FUZZ
@given(lines=st.lists(st.one_of(
    st.text(alphabet=string.printable, max_size=40),
    st.sampled_from([" L zz,8", " S 1fff000770", "I  0401ab70,3", " M -5,4", " L 1fff000778,0", "==1== x",
                     " L ffffffffffffffffff,8", " S 0,99999999999999999999"])), min_size=0, max_size=8),
    page_size=st.sampled_from(["4K", "2M", "3K", "0", "-4K", "1e300"]))
def test_hostile_lackey_logs(tmp_path_factory, lines, page_size):
    folder = tmp_path_factory.mktemp("lackey")
    log = folder / "prog.lackey"
    log.write_text("\n".join(lines))
    status, _, err = run("trace", "convert", log, "--out", folder / "prog.npy", "--page-size", page_size, "--quiet")
    assert_clean(status, err)
    if page_size not in ("4K", "2M"):
        assert status != 0


@functools.lru_cache(maxsize=1)
def _bomb() -> bytes:
    """A zlib stream of about 300 kB that inflates past the DAMON reader's limit."""
    from memtier.traces.damon import MAX_RECORD_BYTES

    inflater = zlib.compressobj(9)
    block = b" " * (16 << 20)
    parts = [inflater.compress(b"[")]
    parts += [inflater.compress(block) for _ in range(MAX_RECORD_BYTES // len(block) + 1)]
    return b"".join(parts + [inflater.compress(b"]"), inflater.flush()])


DAMON_VALUES = st.one_of(st.sampled_from([-1, 0, 2**64, 2**64 - 1, 2**63, -(2**63), 1e300, float("nan"),
                                          "-5 ms", "0 us", "5 parsecs", "", "1,2,3", None, True, [], {}]),
                         st.integers(-10, 10))


@FUZZ
@given(data=st.data())
def test_hostile_damon_records(tmp_path_factory, data):
    region = {"start": 4096, "end": 4096 * 8, "nr_accesses": 3, "age": 1}
    snapshot = {"start_time": 0, "end_time": 100_000_000, "regions": [region]}
    record = {"target_id": 1, "intervals": {"sample_us": 5000, "aggr_us": 100_000}, "snapshots": [snapshot]}
    where = data.draw(st.sampled_from(["start", "end", "nr_accesses", "target_id", "sample_us", "aggr_us",
                                       "start_time", "bomb", "garbage"]))
    value = data.draw(DAMON_VALUES)
    if where in ("start", "end", "nr_accesses"):
        if where == "nr_accesses" and data.draw(st.booleans()):
            record["intervals"]["sample_us"] = 0
            value = {"percent": 50}
        region[where] = value
    elif where in ("sample_us", "aggr_us"):
        record["intervals"][where] = value
        region["nr_accesses"] = {"percent": 50}
    elif where == "start_time":
        snapshot["start_time"] = value
    elif where == "target_id":
        record["target_id"] = value if value not in (0, None, False) else -1
    folder = tmp_path_factory.mktemp("damon")
    path = folder / "damon.data"
    if where == "bomb":  # small on disk, more than the budget inflated
        path.write_bytes(_bomb())
    elif where == "garbage":
        path.write_bytes(b"\x78" + data.draw(st.binary(max_size=100)))
    else:
        path.write_text(json.dumps([record]))
    status, _, err = run("trace", "damon", path, "--out", folder / "heat.csv", "--trace", folder / "heat.npy",
                         "--accesses", "1000")
    assert_clean(status, err)
    if where in ("bomb", "garbage") or (where in ("start", "end") and not (isinstance(value, int) and not
                                                                            isinstance(value, bool) and
                                                                            0 <= value < 2**64)):
        assert status != 0


SIMULATE = ["simulate", "--pages", "1000", "--accesses", "5000", "--fast-capacity", "10%", "--quiet"]
NUMBERS = ["-1", "0", "-10%", "0%", "inf%", "nan%", "101%", "-inf", "inf", "nan", "1e300", "9223372036854775808",
           "99999999999999999999", "1.5", "x", "", "0x10", "10000000000", "-0"]


@FUZZ
@given(data=st.data())
def test_hostile_option_values(tmp_path_factory, data):
    flag = data.draw(st.sampled_from(["--pages", "--accesses", "--seed", "--period", "--batch-pages",
                                      "--fast-capacity", "--slow-capacity", "--alpha", "--hot-fraction",
                                      "--hot-probability", "--phases", "--max-migrate-pages", "--migration-share",
                                      "--page-size", "--mechanism", "--policy", "--workload",
                                      "predict --workers", "predict --pages", "predict --page-size",
                                      "fit --bootstrap", "reproduce --bootstrap"]))
    value = data.draw(st.sampled_from(NUMBERS))
    if flag.startswith("predict"):
        argv = ["predict", data_path("zi_yan_2019_rfc.csv"), flag.split()[1], value]
    elif flag.startswith("fit"):
        argv = ["fit", data_path("zi_yan_2019_rfc.csv"), "--bootstrap", value]
    elif flag.startswith("reproduce"):
        argv = ["reproduce", "--out", tmp_path_factory.mktemp("r") / "absent" / "r", "--bootstrap", value]
    else:
        argv = SIMULATE + [flag, value]
    status, _, err = run(*argv)
    # predict is given a CSV as its fit, reproduce an out folder in a missing folder: both
    # fail however good the value.  The simulator's options may take some of these values
    # (--alpha 1.5); the rest are wrong for every option.
    assert_clean(status, err)
    wrong = {"-1", "-10%", "nan", "nan%", "inf%", "x", "", "0x10", "-inf", "101%"}
    if flag != "--migration-share":
        wrong |= {"inf", "1e300", "99999999999999999999"}
    if flag.split()[0] in ("predict", "reproduce") or value in wrong:
        assert status != 0, (argv, err)
