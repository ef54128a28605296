"""The measurement schema: what a user hands memtier, checked before anything uses it.

One row is one measured configuration of page migration:

========== =================================================================================
column     meaning
========== =================================================================================
page_size  bytes of one page (folio); also ``"4K"``, ``"4KiB"``, ``"64K"``, ``"2M"``, ``"1G"``
n_pages    pages moved by one measured call (a positive integer)
copy       ``cpu`` (copy threads) or ``dma`` (DMA-engine channels)
workers    number of copy threads or DMA channels (a positive integer)
batched    ``True`` when the list is migrated concurrently (patches 09-11)
exchange   ``True`` when pages are exchanged between two nodes (patches 12-17)
scope      what the timer surrounded: ``syscall``, ``migrate`` or ``copy``
gbps       throughput in GB/s (10^9 bytes per second), *or*
time_us    elapsed microseconds of one call (exactly one of the two per row)
========== =================================================================================

Optional columns: ``source``, ``machine``, ``notes`` (text), ``gbps_sd`` (the spread of
repeated runs, GB/s, >= 0: published tables print small spreads as ``0.00``) and ``ptes_per_page`` (page-table entries that map one page; by default
the x86-64 rule of :func:`memtier.model.default_ptes_per_page`: 1 for 4 KiB, 2 MiB and 1 GiB
pages, one per 4 KiB otherwise.  Power's 64 KiB base pages and 16 MiB huge pages are 1).  Page sizes written as strings use binary units (``2M`` is 2 MiB), as
page sizes always are.

Every refusal names the file, the row (as numbered in the file: the first data row is 1) and
the column, and says what is expected.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

COPY_KINDS = ("cpu", "dma")
SCOPES = ("syscall", "migrate", "copy")
REQUIRED = ("page_size", "n_pages", "copy", "workers", "batched", "exchange", "scope")
THROUGHPUT = ("gbps", "time_us")
OPTIONAL_TEXT = ("source", "machine", "notes")
COLUMNS = REQUIRED + THROUGHPUT + ("gbps_sd", "ptes_per_page") + OPTIONAL_TEXT

MIN_PAGE_BYTES = 4096
MAX_PAGE_BYTES = 1 << 30

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


class MeasurementError(ValueError):
    """A measurement file or table that does not follow the schema."""


def parse_page_size(value) -> int:
    """Bytes of one page from an integer or a string such as ``"4K"``, ``"2MiB"``, ``"16MB"``.

    Units are binary (``K`` = 1024), as page sizes are. The result must be a power of two
    from 4 KiB to 1 GiB, the page sizes Linux supports on the architectures memtier models.

    Raises
    ------
    ValueError
        With a message saying what was read and what is accepted.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"page size {value!r} is not a size; write bytes (4096) or 4K, 64K, 2M, 1G")
    if isinstance(value, (int, np.integer)):
        size = int(value)
    elif isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or value != int(value):
            raise ValueError(f"page size {value!r} is not a whole number of bytes")
        size = int(value)
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(
                f"page size {value!r} is not understood; write bytes (4096) or 4K, 4KiB, 64K, 2M, 2MB, 1G"
            )
        number = float(match.group(1)) * _UNITS[match.group(2).lower()]
        if number != int(number):
            raise ValueError(f"page size {value!r} is not a whole number of bytes")
        size = int(number)
    if size < MIN_PAGE_BYTES or size > MAX_PAGE_BYTES or size & (size - 1):
        raise ValueError(f"page size {value!r} ({size} bytes) must be a power of two from 4 KiB to 1 GiB")
    return size


def format_page_size(page_bytes: int) -> str:
    """``4096 -> '4K'``, ``2097152 -> '2M'``: the short name used in figures and reports."""
    for suffix, unit in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if page_bytes % unit == 0:
            return f"{page_bytes // unit}{suffix}"
    return f"{page_bytes}B"


def _default_ptes(page_bytes: int) -> int:
    # x86-64: 4 KiB pages, 2 MiB PMD and 1 GiB PUD mappings are one entry; other folios one
    # 4 KiB PTE per subpage. Kept in step with memtier.model.default_ptes_per_page.
    if page_bytes in (4096, 2 << 20, 1 << 30):
        return 1
    return page_bytes // MIN_PAGE_BYTES


def _where(name: str, row: int, column: str) -> str:
    return f"{name}: row {row}, column '{column}'"


def _to_bool(value, where: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MeasurementError(f"{where}: {value!r} is not a boolean; write True or False")


def _to_positive_int(value, where: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MeasurementError(f"{where}: {value!r} is not a number; expected a positive integer") from None
    if not np.isfinite(number) or number <= 0 or number != int(number):
        raise MeasurementError(f"{where}: {value!r} must be a positive integer")
    return int(number)


def _to_positive_float(value, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MeasurementError(f"{where}: {value!r} is not a number; expected a positive number") from None
    if not np.isfinite(number) or number <= 0:
        raise MeasurementError(f"{where}: {value!r} must be a positive, finite number")
    return number


def _to_nonnegative_float(value, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MeasurementError(f"{where}: {value!r} is not a number; expected a number >= 0") from None
    if not np.isfinite(number) or number < 0:
        raise MeasurementError(f"{where}: {value!r} must be a finite number >= 0")
    return number


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, str) and value.strip() == ""
    )


def load_measurements(source, *, name: str | None = None, throughput: bool = True) -> pd.DataFrame:
    """Read and validate measurements in memtier's schema.

    Parameters
    ----------
    source : str, os.PathLike or pandas.DataFrame
        A CSV file (lines starting with ``#`` are comments: the provenance header) or a table.
    name : str, optional
        What to call the source in error messages (defaults to the file name).
    throughput : bool
        Whether rows must carry a measured ``gbps`` or ``time_us``.  ``False`` validates
        configurations to predict (their throughput columns are NaN).

    Returns
    -------
    pandas.DataFrame
        One row per configuration with columns ``page_size`` (int, bytes), ``n_pages``,
        ``workers`` (int), ``copy``, ``scope`` (str), ``batched``, ``exchange`` (bool),
        ``gbps`` (GB/s, derived from ``time_us`` where that was given), ``time_us``
        (derived from ``gbps`` where that was given), ``gbps_sd`` (NaN where unknown),
        ``source``, ``machine``, ``notes`` (str) and ``given`` (which of gbps/time_us the
        source gave).

    Raises
    ------
    MeasurementError
        Naming the file, the row and the column, and saying what is expected.
    """
    import pandas as pd  # here, not at the top: ``memtier trace convert`` never needs pandas

    if isinstance(source, pd.DataFrame):
        table = source.copy()
        name = name or "measurements"
    else:
        path = Path(source)
        name = name or str(path)
        if not path.exists():
            raise MeasurementError(f"{name}: no such file")
        try:
            table = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise MeasurementError(f"{name}: not a readable CSV file ({error})") from None
        except pd.errors.EmptyDataError:
            raise MeasurementError(f"{name}: the file holds no header and no rows") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise MeasurementError(
            f"{name}: missing column(s) {', '.join(missing)}; the schema needs "
            f"{', '.join(REQUIRED)} and one of gbps or time_us"
        )
    if throughput and not any(c in table.columns for c in THROUGHPUT):
        raise MeasurementError(f"{name}: needs a 'gbps' or a 'time_us' column")
    if len(table) == 0:
        raise MeasurementError(f"{name}: no rows of measurements")

    rows = []
    for index, record in enumerate(table.to_dict("records"), start=1):
        row = {}
        try:
            row["page_size"] = parse_page_size(record["page_size"])
        except ValueError as error:
            raise MeasurementError(f"{_where(name, index, 'page_size')}: {error}") from None
        row["n_pages"] = _to_positive_int(record["n_pages"], _where(name, index, "n_pages"))
        row["workers"] = _to_positive_int(record["workers"], _where(name, index, "workers"))
        for column, allowed in (("copy", COPY_KINDS), ("scope", SCOPES)):
            value = str(record[column]).strip().lower()
            if value not in allowed:
                raise MeasurementError(
                    f"{_where(name, index, column)}: {record[column]!r} is not one of {', '.join(allowed)}"
                )
            row[column] = value
        for column in ("batched", "exchange"):
            row[column] = _to_bool(record[column], _where(name, index, column))
        if not throughput:
            given = []
        elif record.get("given") in THROUGHPUT:
            # An already validated table: both are filled, one was measured, one derived.
            given = [record["given"]]
        else:
            given = [c for c in THROUGHPUT if c in record and not _is_missing(record[c])]
        if throughput and len(given) != 1:
            raise MeasurementError(
                f"{name}: row {index}: give exactly one of 'gbps' or 'time_us' "
                f"({'both are' if given else 'neither is'} set)"
            )
        if given:
            column = given[0]
            value = _to_positive_float(record[column], _where(name, index, column))
            bytes_moved = row["page_size"] * row["n_pages"]
            if column == "gbps":
                row["gbps"], row["time_us"] = value, bytes_moved / value / 1e3
            else:
                row["gbps"], row["time_us"] = bytes_moved / value / 1e3, value
            row["given"] = column
        else:
            row["gbps"] = row["time_us"] = np.nan
            row["given"] = ""
        sd = record.get("gbps_sd")
        # A spread may be 0: published tables print small spreads as 0.00 (how a fit weighs
        # such a row is memtier.fitting's choice, stated there).
        row["gbps_sd"] = (
            np.nan if _is_missing(sd) else _to_nonnegative_float(sd, _where(name, index, "gbps_sd"))
        )
        ptes = record.get("ptes_per_page")
        if _is_missing(ptes):
            row["ptes_per_page"] = _default_ptes(row["page_size"])
        else:
            row["ptes_per_page"] = _to_positive_int(ptes, _where(name, index, "ptes_per_page"))
            if row["ptes_per_page"] > row["page_size"] // MIN_PAGE_BYTES:
                raise MeasurementError(
                    f"{_where(name, index, 'ptes_per_page')}: {ptes!r} entries cannot map a "
                    f"{format_page_size(row['page_size'])} page (at most one per 4 KiB)"
                )
        for column in OPTIONAL_TEXT:
            value = record.get(column)
            row[column] = "" if _is_missing(value) else str(value)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS) + ["given"])


def save_measurements(table: pd.DataFrame, path, *, header: str = "", force: bool = False) -> Path:
    """Write measurements as a schema CSV, with ``header`` as ``#`` comment lines.

    The file is written beside its final name and renamed into place, so a reader never
    sees half a file.  An existing file is kept unless ``force`` is true.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; choose another name or pass force=True (--force)")
    table = load_measurements(table, name=str(path))
    out = table.copy()
    # Keep what the source gave: a derived number is not a measurement.
    out.loc[out["given"] == "gbps", "time_us"] = np.nan
    out.loc[out["given"] == "time_us", "gbps"] = np.nan
    out = out.drop(columns="given")
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        for line in header.splitlines():
            handle.write(f"# {line}\n" if line else "#\n")
        out.to_csv(handle, index=False, float_format="%.6g")
    os.replace(partial, path)
    return path
