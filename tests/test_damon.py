"""The DAMON record reader against damo's own report of the same records."""
import json
import re
import zlib

import numpy as np
import pandas as pd
import pytest

from memtier.cli import main
from memtier.measurement.datasets import damon_record
from memtier.traces.damon import DamonRecordError, damon_heatmap, damon_trace, read_damon_record
from memtier.traces.lackey import read_trace

# Real records from the damo project's tests (GPL-2.0), shipped in data/damon/.
DAMON = damon_record().parent
RECORDS = ["damon.data", "damon.data.json_compressed"]

_NS = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}


def damo_report(path):
    """Parse the text of ``damo report access --raw_form``: one dict per snapshot."""
    snapshots = []
    for block in path.read_text().split("\n\n"):
        if "monitoring_start:" not in block:
            continue
        snapshot = {"regions": []}
        for line in block.splitlines():
            if line.startswith(("monitoring_start:", "monitoring_end:")):
                value, unit = line.split(":", 1)[1].split()
                snapshot[line.split(":")[0]] = (float(value) * _NS[unit], 0.5e-3 * _NS[unit])
            elif line.startswith("target_id:"):
                snapshot["target_id"] = int(line.split(":")[1])
            elif line.startswith("nr_regions:"):
                snapshot["nr_regions"] = int(line.split(":")[1])
            elif re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                span, rest = line.split(" ", 1)
                start, end = (int(x, 16) for x in span.split("-"))
                nr_accesses, age = rest.split(")")[1].split()
                snapshot["regions"].append((start, end, int(nr_accesses), int(age)))
        snapshots.append(snapshot)
    return snapshots


@pytest.mark.parametrize("name", RECORDS)
def test_reader_matches_damos_own_report(name):
    table = read_damon_record(DAMON / name)
    report = damo_report(DAMON / "report-raw")
    assert len(report) == 543 and table["snapshot"].nunique() == len(report)
    for index, (snapshot_id, rows) in enumerate(table.groupby("snapshot", sort=True)):
        expected = report[index]
        assert snapshot_id == index
        assert len(rows) == expected["nr_regions"] == len(expected["regions"])
        assert set(rows["target_id"]) == {expected["target_id"]}
        found = list(zip(rows["start_addr"].tolist(), rows["end_addr"].tolist(),
                         rows["nr_accesses"].tolist(), rows["age"].fillna(-1).tolist()))
        assert found == expected["regions"], f"snapshot {index}"
        for column, key in (("start_ns", "monitoring_start"), ("end_ns", "monitoring_end")):
            value, tolerance = expected[key]
            assert abs(rows[column].iloc[0] - table.attrs["base_ns"] - value) <= tolerance + 1
    # damo prints the base time as "8 m 59.809 s"
    assert abs(table.attrs["base_ns"] - (8 * 60 + 59.809) * 1e9) < 0.5e6
    assert table["nr_accesses"].sum() == sum(r[2] for s in report for r in s["regions"])


def test_both_formats_give_the_same_table():
    a, b = (read_damon_record(DAMON / name) for name in RECORDS)
    pd.testing.assert_frame_equal(a, b)


def write_record(path, record, compress):
    text = json.dumps([record]).encode()
    path.write_bytes(zlib.compress(text) if compress else text)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_plain_numbers_percent_units_and_ages(tmp_path, compress):
    record = {
        "target_id": 3,
        "intervals": {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"},
        "snapshots": [{
            "start_time": "1 s 500 ms", "end_time": 1_600_000_000,
            "regions": [
                {"start": "4,096", "end": "12 KiB", "nr_accesses": {"samples": None, "percent": 50},
                 "age": {"usec": "300 ms", "aggr_intervals": None}},
                {"start": 12288, "end": 16384, "nr_accesses": 7, "age": 2},
            ]}]}
    table = read_damon_record(write_record(tmp_path / "r.json", record, compress))
    assert table["start_addr"].tolist() == [4096, 12288] and table["end_addr"].tolist() == [12288, 16384]
    assert table["nr_accesses"].tolist() == [10, 7]  # 50 % of 100 ms / 5 ms samples
    assert table["age"].tolist() == [3, 2]  # 300 ms / 100 ms aggregation intervals
    assert table["start_ns"].tolist() == [1_500_000_000] * 2 and table["end_ns"].iloc[0] == 1_600_000_000
    assert table["bytes"].tolist() == [8192, 4096] and table.attrs["intervals_us"] == (5000, 100000)


@pytest.mark.parametrize("content, match", [
    (b"not a record at all", "not a damo record"),
    (zlib.compress(b"[1, 2, 3]"), "not a damo record"),
    (b"\x78\x00garbage", "does not decompress"),
    (b'[{"target_id": 1, "snapshots": [{"start_time": 1, "end_time": 2, "regions": '
     b'[{"start": 10, "end": 5, "nr_accesses": 1, "age": 1}]}]}]', "ends before it starts"),
    (b'[{"target_id": 1, "snapshots": [{"start_time": 1, "end_time": 2, "regions": '
     b'[{"start": 0, "end": 4096}]}]}]', "no access count"),
])
def test_bad_records_are_refused(tmp_path, content, match):
    path = tmp_path / "bad.data"
    path.write_bytes(content)
    with pytest.raises(DamonRecordError, match=match):
        read_damon_record(path)


def test_trace_follows_access_counts(tmp_path):
    regions = [{"start": 0, "end": 4096 * 10, "nr_accesses": 0, "age": 0},
               {"start": 4096 * 10, "end": 4096 * 20, "nr_accesses": 3, "age": 0},
               {"start": 4096 * 100, "end": 4096 * 110, "nr_accesses": 1, "age": 0}]
    record = {"target_id": 1, "snapshots": [
        {"start_time": t, "end_time": t + 100, "regions": regions} for t in (0, 100)]}
    table = read_damon_record(write_record(tmp_path / "r.json", record, True))
    trace = damon_trace(table, n_accesses=40_000, seed=5)
    addresses = trace.page_addresses[trace.pages]
    assert trace.pages.dtype == np.int32 and trace.pages.size == 40_000
    assert trace.pages.max() + 1 == trace.info["distinct_pages"] == 20  # the cold region never drawn
    assert np.all(np.diff(np.maximum.accumulate(trace.pages)) <= 1)  # dense, first-touch order
    hot = np.mean(addresses < 4096 * 20)
    assert abs(hot - 0.75) < 0.01  # 3 : 1 accesses, regions of equal size
    assert np.all((addresses >= 4096 * 10) & (addresses < 4096 * 20) | (addresses >= 4096 * 100))
    np.testing.assert_array_equal(damon_trace(table, n_accesses=40_000, seed=5).pages, trace.pages)
    assert not np.array_equal(damon_trace(table, n_accesses=40_000, seed=6).pages, trace.pages)
    with pytest.raises(ValueError, match="no region accessed"):
        damon_trace(table.assign(nr_accesses=0))


def test_command_line(tmp_path, capsys):
    out, trace = tmp_path / "heat.csv", tmp_path / "heat.npy"
    argv = ["trace", "damon", str(DAMON / "damon.data"), "--out", str(out), "--trace", str(trace),
            "--accesses", "5000"]
    assert main(argv) == 0
    table = pd.read_csv(out)
    assert len(table) == sum(s["nr_regions"] for s in damo_report(DAMON / "report-raw"))
    loaded = read_trace(trace)
    assert loaded.pages.size == loaded.info["accesses"] == 5000
    assert main(argv) == 2 and "exists" in capsys.readouterr().err
    assert main(argv + ["--force", "--seed", "1"]) == 0


def test_heatmap_places_regions(tmp_path):
    record = {"target_id": 1, "snapshots": [
        {"start_time": 0, "end_time": 10**8, "regions": [
            {"start": 0, "end": 4096, "nr_accesses": 5, "age": 0},
            {"start": 8192, "end": 16384, "nr_accesses": 2, "age": 0}]},
        {"start_time": 10**8, "end_time": 2 * 10**8, "regions": [
            {"start": 0, "end": 16384, "nr_accesses": 1, "age": 0}]}]}
    table = read_damon_record(write_record(tmp_path / "r.json", record, False))
    grid, edges, times = damon_heatmap(table, address_bins=4)
    np.testing.assert_array_equal(grid, [[5, 1], [0, 1], [2, 1], [2, 1]])
    np.testing.assert_allclose(edges, [0, 4096, 8192, 12288, 16384])
    np.testing.assert_allclose(times, [0, 0.1, 0.2])


def test_targets_are_separate_address_spaces(tmp_path):
    snapshot = {"start_time": 0, "end_time": 100,
                "regions": [{"start": 0, "end": 4096 * 4, "nr_accesses": 2, "age": 0}]}
    records = [{"target_id": t, "snapshots": [snapshot]} for t in (7, 9)]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(records))
    table = read_damon_record(path)
    assert table["target_id"].tolist() == [7, 9]
    trace = damon_trace(table, n_accesses=2000, seed=1)
    assert trace.info["targets"] == 2 and trace.info["distinct_pages"] == 8  # 4 pages in each target
    assert sorted(trace.page_addresses.tolist()) == [0, 0, 4096, 4096, 8192, 8192, 12288, 12288]
