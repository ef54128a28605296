"""Read DAMON monitoring records written by damo, and turn them into page traces.

DAMON (the kernel's Data Access MONitor) splits a process's address space into regions and,
every *sampling interval*, checks the accessed bit of one random page per region.  Every
*aggregation interval* it reports, per region, ``nr_accesses``: in how many of the sampling
intervals the region's probe page was found accessed.  ``damo record`` saves these reports
("snapshots") as JSON, by default zlib-compressed (``json_compressed``).

:func:`read_damon_record` reads both formats into a tidy table, one row per region per
snapshot; :func:`damon_trace` draws a page trace the simulator accepts from it.
"""
from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..measurement.schema import parse_page_size
from .lackey import Trace

COLUMNS = ("target_id", "snapshot", "start_ns", "end_ns", "time_s", "start_addr", "end_addr",
           "bytes", "nr_accesses", "age")

_NS_PER_UNIT = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
                "h": 3600 * 10**9, "d": 86400 * 10**9}
_BYTES_PER_UNIT = {"b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
                   "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}
_NUMBER_UNIT = re.compile(r"^\s*([-+0-9.,]+)\s*([a-zA-Z]*)\s*$")
#: Largest record read, after decompression: damo writes about 100 bytes per region per
#: snapshot, so 256 MiB is hours of a busy process at the default 100 ms aggregation.  The text
#: is inflated piece by piece and reading stops at this size (a small compressed file can
#: inflate to gigabytes); pass ``max_bytes`` to read a larger record.
MAX_RECORD_BYTES = 256 << 20
#: Bytes of memory one access of a drawn trace takes while it is drawn (the region index,
#: page, random keys, sort order and renumbering: about ten 8-byte arrays).
_DRAW_BYTES_PER_ACCESS = 96
_ADDRESS_LIMIT = 1 << 64


class DamonRecordError(ValueError):
    """A file that is not a damo record memtier can read."""


def _number(value, what):
    """damo writes numbers as JSON numbers or as text with thousands separators ("94,827")."""
    if isinstance(value, bool) or value is None:
        raise DamonRecordError(f"{what} is {value!r}, not a number")
    if isinstance(value, (int, float)):
        return value
    text = str(value).replace(",", "").strip()
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise DamonRecordError(f"{what} is {value!r}, not a number") from None


def _with_unit(value, units, what):
    """A number with an optional unit ("5 ms", "1 m 3.5 s", "4 KiB"); pairs are added up."""
    if not isinstance(value, str):
        return _number(value, what)
    fields = value.split()
    if len(fields) > 2 and len(fields) % 2 == 0:
        return sum(_with_unit(" ".join(fields[i:i + 2]), units, what) for i in range(0, len(fields), 2))
    match = _NUMBER_UNIT.match(value)
    if not match:
        raise DamonRecordError(f"{what} is {value!r}, not understood")
    number = _number(match.group(1), what)
    unit = match.group(2)
    if not unit:
        return number
    scale = units.get(unit, units.get(unit.lower()))
    if scale is None:
        raise DamonRecordError(f"{what} is {value!r}: unknown unit {unit!r}")
    return number * scale


def _inflate(path: Path, max_bytes: int) -> bytes:
    """Decompress a zlib stream piece by piece, stopping once it passes ``max_bytes``."""
    inflater = zlib.decompressobj()
    pieces, size = [], 0
    try:
        with open(path, "rb") as handle:
            while not inflater.eof:
                compressed = handle.read(1 << 20)
                if not compressed:
                    break
                while compressed and not inflater.eof:
                    piece = inflater.decompress(compressed, max_bytes + 1 - size)
                    pieces.append(piece)
                    size += len(piece)
                    if size > max_bytes:
                        raise DamonRecordError(
                            f"{path} inflates to more than {max_bytes:,} bytes, larger than any damo record "
                            "memtier reads (a damaged file or a zlib bomb?); to allow more, read it with "
                            "memtier.read_damon_record(path, max_bytes=...)")
                    compressed = inflater.unconsumed_tail
    except zlib.error as error:
        raise DamonRecordError(f"{path} looks zlib-compressed but does not decompress ({error})") from None
    try:
        pieces.append(inflater.flush())
    except zlib.error as error:
        raise DamonRecordError(f"{path} looks zlib-compressed but does not decompress ({error})") from None
    if not inflater.eof:
        raise DamonRecordError(f"{path} looks zlib-compressed but does not decompress (the stream is cut short)")
    return b"".join(pieces)


def _load_json(path: Path, max_bytes: int = MAX_RECORD_BYTES):
    with open(path, "rb") as handle:
        head = handle.read(1)
    if head == b"\x78":  # a zlib stream (damo's json_compressed) starts with 0x78
        raw = _inflate(path, max_bytes)
    else:
        if path.stat().st_size > max_bytes:
            raise DamonRecordError(f"{path} holds {path.stat().st_size:,} bytes, more than the {max_bytes:,} "
                                   "memtier reads as a damo record; to allow more, read it with "
                                   "memtier.read_damon_record(path, max_bytes=...)")
        raw = path.read_bytes()
    text = raw.lstrip()
    if text[:1] not in (b"[", b"{"):
        raise DamonRecordError(
            f"{path} is not a damo record in JSON or json_compressed format; for perf_data or "
            "perf_script records run 'damo convert_record_format json_compressed' first")
    try:
        records = json.loads(text)
    except ValueError as error:
        raise DamonRecordError(f"{path} is not valid JSON ({error})") from None
    except RecursionError:
        raise DamonRecordError(f"{path} is not a damo record (JSON nested too deeply)") from None
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, dict) and "snapshots" in r for r in records):
        raise DamonRecordError(f"{path} is JSON but not a damo record: expected a list of records "
                               "with 'target_id' and 'snapshots'")
    return records


def _intervals_us(record):
    intervals = record.get("intervals")
    if not intervals:
        return None
    try:
        found = (_with_unit(intervals["sample_us"], {"us": 1, "ms": 1000, "s": 10**6}, "sample_us"),
                 _with_unit(intervals["aggr_us"], {"us": 1, "ms": 1000, "s": 10**6}, "aggr_us"))
    except (KeyError, TypeError):
        return None
    for name, value in zip(("sample_us", "aggr_us"), found):
        if not np.isfinite(float(value)) or value <= 0:
            raise DamonRecordError(f"the record's interval {name} is {value!r}; DAMON's intervals are "
                                   "positive times (damo's default sampling is 5 ms, aggregation 100 ms)")
    return found


def _whole(value, what: str, low: int, high: int, expected: str) -> int:
    """A whole number in ``[low, high)``, or a :class:`DamonRecordError` naming it."""
    try:
        if isinstance(value, float) and not np.isfinite(value):
            raise ValueError
        number = int(value)
    except (ValueError, OverflowError, TypeError):
        raise DamonRecordError(f"{what} is {value!r}, not a whole number") from None
    if not low <= number < high:
        raise DamonRecordError(f"{what} is {number}; expected {expected}")
    return number


def _nr_accesses(value, intervals, where):
    """Samples in which the region was found accessed; damo may store a percentage instead."""
    if value is None:
        raise DamonRecordError(f"{where} has a region with no access count (nr_accesses)")
    if not isinstance(value, dict):
        return int(_number(value, f"nr_accesses of {where}"))
    if value.get("samples") is not None:
        return int(_number(value["samples"], f"nr_accesses of {where}"))
    if value.get("percent") is not None and intervals is not None:
        max_samples = intervals[1] / intervals[0]  # as damo converts: aggregation / sampling
        return int(_number(str(value["percent"]).rstrip("% "), f"nr_accesses of {where}") * max_samples / 100)
    raise DamonRecordError(f"{where} has no access count (nr_accesses {value!r})")


def _age(value, intervals, where):
    """Aggregation intervals the region kept its access pattern; None when not recorded."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return int(_number(value, f"age of {where}"))
    if value.get("aggr_intervals") is not None:
        return int(_number(value["aggr_intervals"], f"age of {where}"))
    if value.get("usec") is not None and intervals is not None:
        usec = _with_unit(value["usec"], {"us": 1, "ms": 1000, "s": 10**6}, f"age of {where}")
        return int(usec / intervals[1])
    return None


def _regions(records, path):
    """One tuple per region per snapshot, and the intervals of the first record that has them."""
    rows = []
    intervals_seen = None
    int64 = 1 << 63
    for record in records:
        target = _whole(_number(record.get("target_id", 0) or 0, "target_id"), f"target_id in {path}",
                        0, _ADDRESS_LIMIT, "a number from 0 to 2^64 - 1")
        intervals = _intervals_us(record)
        intervals_seen = intervals_seen or intervals
        for index, snapshot in enumerate(record["snapshots"]):
            where = f"snapshot {index} of target {target} in {path}"
            start_ns = _whole(_with_unit(snapshot["start_time"], _NS_PER_UNIT, f"start_time of {where}"),
                              f"start_time of {where}", 0, int64, "a time from 0 to 2^63 - 1 ns")
            end_ns = _whole(_with_unit(snapshot["end_time"], _NS_PER_UNIT, f"end_time of {where}"),
                            f"end_time of {where}", 0, int64, "a time from 0 to 2^63 - 1 ns")
            for region in snapshot["regions"]:
                start = _whole(_with_unit(region["start"], _BYTES_PER_UNIT, f"a region start in {where}"),
                               f"a region start in {where}", 0, _ADDRESS_LIMIT, "an address in [0, 2^64)")
                end = _whole(_with_unit(region["end"], _BYTES_PER_UNIT, f"a region end in {where}"),
                             f"a region end in {where}", 0, _ADDRESS_LIMIT, "an address in [0, 2^64)")
                if end <= start:
                    raise DamonRecordError(f"{where} has a region that ends before it starts ({start:#x}-{end:#x})")
                accesses = _whole(_nr_accesses(region.get("nr_accesses"), intervals, where),
                                  f"nr_accesses of {where}", 0, 1 << 31, "a count from 0 to 2^31 - 1")
                age = _age(region.get("age"), intervals, where)
                if age is not None:
                    age = _whole(age, f"age of {where}", 0, int64, "a count from 0 to 2^63 - 1")
                rows.append((target, index, start_ns, end_ns, start, end, accesses, age))
    return rows, intervals_seen


def read_damon_record(path, *, max_bytes: int = MAX_RECORD_BYTES) -> pd.DataFrame:
    """Read a damo record (JSON or zlib-compressed JSON) into a tidy table.

    Parameters
    ----------
    path : path-like
        A file written by ``damo record`` (default format ``json_compressed``) or
        ``damo record --output_type json``.
    max_bytes : int
        Largest record read, after decompression (:data:`MAX_RECORD_BYTES`).

    Returns
    -------
    pandas.DataFrame
        One row per region per snapshot, in the record's order, with columns

        ``target_id`` (uint64), ``snapshot`` (index of the snapshot within its target),
        ``start_ns``/``end_ns`` (the snapshot's monitoring interval, ns, as recorded),
        ``time_s`` (snapshot start, seconds since the first snapshot of the record),
        ``start_addr``/``end_addr`` (the region ``[start, end)``, bytes), ``bytes``,
        ``nr_accesses`` (sampling intervals in which the region was found accessed) and
        ``age`` (aggregation intervals the region kept its access level; <NA> if unrecorded).
        ``attrs["base_ns"]`` is the first snapshot's start, ``attrs["intervals_us"]`` the
        (sampling, aggregation) intervals when the record holds them.

    Raises
    ------
    DamonRecordError
        If the file is not a damo record in a format memtier reads.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DAMON record {path} does not exist or is not a file")
    records = _load_json(path, int(max_bytes))
    try:
        rows, intervals_seen = _regions(records, path)
    except (KeyError, TypeError, AttributeError, OverflowError) as error:
        raise DamonRecordError(f"{path} is not a damo record memtier understands "
                               f"({type(error).__name__}: {error})") from None
    if not rows:
        raise DamonRecordError(f"{path} holds no regions")
    table = pd.DataFrame(rows, columns=["target_id", "snapshot", "start_ns", "end_ns", "start_addr",
                                        "end_addr", "nr_accesses", "age"])
    table["target_id"] = table["target_id"].astype(np.uint64)
    table["start_addr"] = table["start_addr"].astype(np.uint64)
    table["end_addr"] = table["end_addr"].astype(np.uint64)
    table["bytes"] = (table["end_addr"] - table["start_addr"]).astype(np.int64)
    table["age"] = table["age"].astype("Int64")
    base_ns = int(table["start_ns"].min())
    table["time_s"] = (table["start_ns"] - base_ns) / 1e9
    table = table[list(COLUMNS)]
    table.attrs.update(base_ns=base_ns, intervals_us=intervals_seen, path=str(path))
    return table


def damon_trace(table: pd.DataFrame, n_accesses: int = 100_000, page_size="4K", seed: int = 0) -> Trace:
    """Draw a page trace from DAMON regions, in proportion to how hot DAMON found them.

    DAMON's ``nr_accesses`` is measured on one probe page per region and stands for every
    page of the region (DAMON's premise: pages of a region are accessed alike).  So the
    expected accesses of a region in a snapshot are taken proportional to
    ``nr_accesses * pages in the region``; the ``n_accesses`` of the trace are shared among
    all (snapshot, region) pairs by one multinomial draw with those weights.  Each access
    goes to a page drawn uniformly within its region; snapshots follow each other in time and
    the accesses within one snapshot come in random order (DAMON does not record order within
    an aggregation interval).  Pages are renumbered densely in first-touch order; different
    targets are different address spaces.  The result depends only on the table and ``seed``.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`read_damon_record`.
    n_accesses : int
        Length of the trace.
    page_size : int or str
        Bytes per page, 4 KiB to 1 GiB.
    seed : int
        Seed of the random draws.

    Returns
    -------
    Trace
        ``pages`` (int32), ``info`` (the sidecar contents) and ``page_addresses``.
    """
    missing = [name for name in ("target_id", "snapshot", "start_ns", "start_addr", "end_addr", "nr_accesses")
               if name not in table.columns]
    if missing:
        raise ValueError(f"the DAMON table lacks columns {missing}; read it with read_damon_record")
    if isinstance(n_accesses, (bool, np.bool_)) or not float(n_accesses).is_integer():
        raise ValueError(f"n_accesses={n_accesses!r}; give a whole number of accesses")
    n_accesses = int(n_accesses)
    if n_accesses < 1:
        raise ValueError(f"n_accesses={n_accesses}; ask for at least one access")
    from ..limits import check_memory

    check_memory(n_accesses * _DRAW_BYTES_PER_ACCESS + len(table) * 64,
                 f"drawing a trace of {n_accesses:,} accesses", "ask for fewer accesses (--accesses)")
    page_bytes = parse_page_size(page_size)
    shift = page_bytes.bit_length() - 1
    first = table["start_addr"].to_numpy(np.uint64) >> np.uint64(shift)
    last = (table["end_addr"].to_numpy(np.uint64) - np.uint64(1)) >> np.uint64(shift)
    span = (last - first).astype(np.int64) + 1
    heat = table["nr_accesses"].to_numpy(np.float64)
    if np.any(heat < 0):
        raise ValueError("nr_accesses must not be negative")
    weight = heat * span
    if weight.sum() == 0:
        raise ValueError("DAMON found no region accessed in any snapshot; there is nothing to draw from")
    rng = np.random.default_rng(seed)
    per_region = rng.multinomial(n_accesses, weight / weight.sum())
    row = np.repeat(np.arange(len(table)), per_region)
    pages = first[row] + (rng.random(row.size) * span[row]).astype(np.uint64)
    targets, target_index = np.unique(table["target_id"].to_numpy(np.uint64), return_inverse=True)
    # snapshots in time order (then target), accesses within one snapshot in random order
    when = pd.MultiIndex.from_arrays([table["start_ns"], table["target_id"], table["snapshot"]])
    snapshot_rank = pd.factorize(when, sort=True)[0]
    order = np.lexsort((rng.random(row.size), snapshot_rank[row]))
    pages, row = pages[order], row[order]
    if len(targets) > 4096:
        raise ValueError(f"{len(targets)} targets in one record; memtier draws traces for at most 4096")
    # one 64-bit key per (target, page): pages are below 2**52 (4 KiB pages of a 64-bit space)
    keys = (target_index[row].astype(np.uint64) << np.uint64(52)) | pages
    unique_keys, first_seen, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(len(unique_keys), dtype=np.int64)
    rank[np.argsort(first_seen, kind="stable")] = np.arange(len(unique_keys))
    dense = rank[inverse.ravel()].astype(np.int32)
    page_addresses = np.empty(len(unique_keys), dtype=np.uint64)
    page_addresses[rank] = (unique_keys & np.uint64((1 << 52) - 1)) << np.uint64(shift)
    from .. import __version__

    info = {
        "format": "memtier page trace",
        "source": {"kind": "DAMON record", "path": table.attrs.get("path"), "seed": int(seed),
                   "method": "multinomial over (snapshot, region), weight nr_accesses x pages; "
                             "uniform page within region; random order within snapshot"},
        "page_size": page_bytes,
        "dtype": "int32",
        "memtier_version": __version__,
        "accesses": int(dense.size),
        "distinct_pages": int(len(unique_keys)),
        "targets": int(len(targets)),
        "snapshots": int(snapshot_rank.max() + 1),
    }
    return Trace(pages=dense, info=info, page_addresses=page_addresses)


def damon_heatmap(table: pd.DataFrame, start_addr=None, end_addr=None, address_bins: int = 200):
    """DAMON's access counts on a grid of address bands against snapshots, for plotting.

    Each cell holds the ``nr_accesses`` of the region that covers the middle of its address
    band in that snapshot (0 where no region does).  One target only: pass a table filtered
    to one ``target_id`` when the record holds several.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`read_damon_record`.
    start_addr, end_addr : int, optional
        Address range to show (bytes); by default all the regions' span.
    address_bins : int
        Number of address bands.

    Returns
    -------
    grid : numpy.ndarray of int64, shape (address_bins, n_snapshots)
    edges : numpy.ndarray of float64, shape (address_bins + 1,)
        Band boundaries (bytes).
    times : numpy.ndarray of float64, shape (n_snapshots + 1,)
        Snapshot boundaries (seconds since the record's start).
    """
    if table["target_id"].nunique() != 1:
        raise ValueError("damon_heatmap draws one target; filter the table by target_id first")
    if int(address_bins) < 1:
        raise ValueError("address_bins must be positive")
    low = float(table["start_addr"].min() if start_addr is None else start_addr)
    high = float(table["end_addr"].max() if end_addr is None else end_addr)
    if not high > low:
        raise ValueError(f"empty address range {low:#x}-{high:#x}")
    edges = np.linspace(low, high, int(address_bins) + 1)
    middles = (edges[:-1] + edges[1:]) / 2
    snapshots = table.groupby("snapshot", sort=True)
    grid = np.zeros((edges.size - 1, snapshots.ngroups), dtype=np.int64)
    base_ns = table.attrs.get("base_ns", int(table["start_ns"].min()))
    times = np.empty(snapshots.ngroups + 1)
    for column, (_, rows) in enumerate(snapshots):
        rows = rows.sort_values("start_addr")
        starts = rows["start_addr"].to_numpy(np.float64)
        ends = rows["end_addr"].to_numpy(np.float64)
        region = np.searchsorted(starts, middles, side="right") - 1
        inside = (region >= 0) & (middles < ends[np.maximum(region, 0)])
        grid[inside, column] = rows["nr_accesses"].to_numpy()[region[inside]]
        times[column] = (rows["start_ns"].iloc[0] - base_ns) / 1e9
        times[column + 1] = (rows["end_ns"].iloc[0] - base_ns) / 1e9
    return grid, edges, times
