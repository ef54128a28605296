"""The measurement schema: what is accepted, and every refusal names file, row and column."""
import numpy as np
import pandas as pd
import pytest

from memtier import MeasurementError, load_measurements, parse_page_size, save_measurements
from memtier.measurement.datasets import amd_zen3_2025, amd_zen3_2026, other_published, provenance, rfc_2019

GOOD = dict(page_size="2M", n_pages=16, copy="cpu", workers=4, batched=True, exchange=False,
            scope="migrate", gbps=7.382)


@pytest.mark.parametrize("text, size", [
    ("4K", 4096), ("4KB", 4096), ("4KiB", 4096), ("4 kib", 4096), ("64K", 65536), ("2M", 2 << 20),
    ("2MB", 2 << 20), ("16MB", 16 << 20), ("1G", 1 << 30), ("4096", 4096), (2097152, 2 << 20),
    (4096.0, 4096),
])
def test_page_sizes_accepted(text, size):
    assert parse_page_size(text) == size


@pytest.mark.parametrize("text", ["3K", "2K", "4X", "", "2G", "1.5K", "abc", -4096, 0, True, 4096.5])
def test_page_sizes_refused(text):
    with pytest.raises(ValueError):
        parse_page_size(text)


def test_shipped_data_load_with_provenance():
    rfc = rfc_2019()
    assert len(rfc) == 52
    assert set(rfc["scope"]) == {"migrate", "copy"}
    # 26 configurations, each measured at both scopes.
    assert rfc.groupby(["page_size", "n_pages", "copy", "workers", "batched", "exchange"]).size().eq(2).all()
    assert "lore.kernel.org" in provenance("zi_yan_2019_rfc.csv")
    other = other_published()
    assert (other["scope"] == "syscall").all()
    # time_us rows get their throughput derived: 2 MiB in 658.54 us is 3.18 GB/s.
    row = other[(other["page_size"] == 2 << 20) & (other["time_us"].round(2) == 658.54)]
    assert row["gbps"].iloc[0] == pytest.approx(2097152 / 658.54e3)



def test_amd_zen3_2025_transcription():
    """The 2025 postings' tables, read off the mails as printed (V2: 20250319192211.10092-1, V3:
    20250923174752.35701-1, both shivankg@amd.com): row counts per table and values from each
    table's corners and middle, so that a shifted column or row fails."""
    rows = amd_zen3_2025()
    assert len(rows) == 237
    v2, v3 = (rows[rows["source"] == s] for s in ("SG-RFCv2-2025-03-19", "SG-RFCv3-2025-09-23"))
    assert len(v2) == 106 and len(v3) == 131
    assert (rows["scope"] == "syscall").all() and rows["batched"].all() and not rows["exchange"].any()

    def value(table, size, copy, workers, n_pages=None, note=None):
        kb = {"4K": 4, "16K": 16, "32K": 32, "64K": 64, "128K": 128, "256K": 256, "512K": 512, "1M": 1024, "2M": 2048}
        page = kb[size] << 10
        hit = table[(table["page_size"] == page) & (table["copy"] == copy) & (table["workers"] == workers)
                    & (table["n_pages"] == (n_pages or (1 << 30) // page))]
        if note is not None:
            hit = hit[hit["notes"].str.startswith(note)]
        assert len(hit) == 1, (size, copy, workers, n_pages, note)
        return hit["gbps"].iloc[0], hit["gbps_sd"].iloc[0]

    # V2 table 1a (threads 1-16, 4K-2M with 32K, 128K, 512K) and 1b (channels).
    assert set(v2["workers"]) == {1, 2, 4, 8, 16}
    assert value(v2, "4K", "cpu", 1) == (1.72, 0.05)
    assert value(v2, "2M", "cpu", 8) == (37.42, 0.70)
    assert value(v2, "512K", "cpu", 16) == (9.72, 1.51)
    assert value(v2, "4K", "dma", 1) == (0.46, 0.01)
    assert value(v2, "256K", "dma", 4) == (8.32, 0.04)
    assert value(v2, "2M", "dma", 16) == (55.45, 1.20)
    # A spread printed as 0.00 is kept as printed (the fit reads it as half the last digit).
    assert value(v2, "4K", "dma", 8) == (1.14, 0.0)
    # V2 tables 2a/2b: 2 MiB folios, 1 to 8192 of them, one thread or channel.
    assert value(v2, "2M", "cpu", 1, n_pages=1) == (7.56, 3.23)
    assert value(v2, "2M", "dma", 1, n_pages=8192) == (12.03, 0.05)
    # V3: vanilla (1a), mtcopy (1b, threads 1-16 with 12), DMA (1c), folio counts (2).
    assert set(v3["workers"]) == {1, 2, 4, 8, 12, 16}
    assert value(v3, "4K", "cpu", 1, note="vanilla") == (3.73, 0.33)
    assert value(v3, "4K", "cpu", 1, note="mtcopy") == (3.84, 0.10)
    assert value(v3, "128K", "cpu", 8) == (13.94, 3.75)
    assert value(v3, "2M", "cpu", 16) == (35.89, 2.07)
    assert value(v3, "4K", "dma", 1) == (2.75, 0.19)
    assert value(v3, "2M", "dma", 12) == (59.94, 4.19)
    assert value(v3, "1M", "dma", 16) == (15.44, 4.65)
    assert value(v3, "2M", "cpu", 1, n_pages=1, note="vanilla") == (7.96, 2.22)
    assert value(v3, "2M", "cpu", 1, n_pages=16, note="mtcopy") == (9.06, 0.95)
    assert value(v3, "2M", "dma", 1, n_pages=8192) == (12.81, 0.02)
    # mTHPs are PTE-mapped (x86-64's default), 4 KiB and 2 MiB one entry each.
    assert (rows.loc[rows["page_size"] == 128 << 10, "ptes_per_page"] == 32).all()
    assert (rows.loc[rows["page_size"].isin([4096, 2 << 20]), "ptes_per_page"] == 1).all()
    header = provenance("amd_zen3_2025.csv")
    assert "20250319192211.10092-1-shivankg@amd.com" in header and "20250923174752.35701-1-shivankg@amd.com" in header
    # None of these rows repeats the 2026 file's (other postings, other kernels).
    assert not set(rows["source"]) & set(amd_zen3_2026()["source"])

def _csv(tmp_path, rows, columns=None):
    path = tmp_path / "m.csv"
    table = pd.DataFrame(rows, columns=columns)
    path.write_text("# a provenance header\n" + table.to_csv(index=False))
    return path


def test_good_file_round_trip(tmp_path):
    path = _csv(tmp_path, [GOOD, {**GOOD, "gbps": None, "time_us": 4000.0, "workers": 8}])
    table = load_measurements(path)
    assert table["page_size"].tolist() == [2 << 20, 2 << 20]
    assert table["given"].tolist() == ["gbps", "time_us"]
    assert table["gbps"].iloc[1] == pytest.approx(16 * 2097152 / 4000e3)
    out = tmp_path / "out.csv"
    save_measurements(table, out, header="saved by a test")
    again = load_measurements(out)
    pd.testing.assert_frame_equal(again[["gbps", "time_us", "workers"]], table[["gbps", "time_us", "workers"]],
                                  rtol=1e-5)
    with pytest.raises(FileExistsError):
        save_measurements(table, out)
    save_measurements(table, out, force=True)


def test_validated_table_is_accepted_again():
    table = load_measurements(pd.DataFrame([GOOD]))
    pd.testing.assert_frame_equal(load_measurements(table), table)


@pytest.mark.parametrize("change, column, words", [
    ({"page_size": "3M"}, "page_size", "power of two"),
    ({"page_size": "huge"}, "page_size", "not understood"),
    ({"n_pages": 0}, "n_pages", "positive integer"),
    ({"n_pages": 2.5}, "n_pages", "positive integer"),
    ({"workers": -1}, "workers", "positive integer"),
    ({"copy": "gpu"}, "copy", "cpu, dma"),
    ({"scope": "kernel"}, "scope", "syscall, migrate, copy"),
    ({"batched": "maybe"}, "batched", "boolean"),
    ({"gbps": -3}, "gbps", "positive"),
    ({"gbps": "inf"}, "gbps", "finite"),
    ({"gbps": "fast"}, "gbps", "not a number"),
    ({"gbps_sd": -0.1}, "gbps_sd", ">= 0"),
    ({"ptes_per_page": 600}, "ptes_per_page", "cannot map"),
])
def test_refusals_name_file_row_and_column(tmp_path, change, column, words):
    path = _csv(tmp_path, [GOOD, {**GOOD, **change}])
    with pytest.raises(MeasurementError) as error:
        load_measurements(path)
    message = str(error.value)
    assert str(path) in message and "row 2" in message and f"'{column}'" in message
    assert words in message


def test_both_or_neither_throughput_refused(tmp_path):
    with pytest.raises(MeasurementError, match="row 1.*both"):
        load_measurements(_csv(tmp_path, [{**GOOD, "time_us": 5.0}]))
    with pytest.raises(MeasurementError, match="row 1.*neither"):
        load_measurements(_csv(tmp_path, [{**GOOD, "gbps": None}], columns=list(GOOD) + ["time_us"]))


def test_missing_column_refused(tmp_path):
    row = dict(GOOD)
    del row["scope"]
    with pytest.raises(MeasurementError, match="missing column.*scope"):
        load_measurements(_csv(tmp_path, [row]))
    row = dict(GOOD)
    del row["gbps"]
    with pytest.raises(MeasurementError, match="gbps.*time_us"):
        load_measurements(_csv(tmp_path, [row]))


def test_empty_and_missing_files_refused(tmp_path):
    with pytest.raises(MeasurementError, match="no such file"):
        load_measurements(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(MeasurementError, match="no header"):
        load_measurements(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(GOOD) + "\n")
    with pytest.raises(MeasurementError, match="no rows"):
        load_measurements(header_only)


def test_configurations_without_throughput():
    row = {k: v for k, v in GOOD.items() if k != "gbps"}
    table = load_measurements(pd.DataFrame([row]), throughput=False)
    assert np.isnan(table["gbps"].iloc[0])


def test_zero_spread_loads(tmp_path):
    """Published tables print small spreads as 0.00: such a row loads, its spread 0."""
    table = load_measurements(_csv(tmp_path, [GOOD, {**GOOD, "gbps_sd": "0.00"}]))
    assert table["gbps_sd"].iloc[1] == 0.0
