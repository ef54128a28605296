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
the x86-64 rule of :func:`memtier.model.cost.default_ptes_per_page`: 1 for 4 KiB, 2 MiB and 1 GiB
pages, one per 4 KiB otherwise.  Power's 64 KiB base pages and 16 MiB huge pages are 1).  Page sizes written as strings use binary units (``2M`` is 2 MiB), as
page sizes always are.

Every refusal names the file, the row (as numbered in the file: the first data row is 1) and
the column, and says what is expected.
"""
from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import numpy as np

from ..limits import MAX_CALL_BYTES, MAX_WORKERS
from ..outputs import atomic_write, check_output

COPY_KINDS = ("cpu", "dma")
SCOPES = ("syscall", "migrate", "copy")
REQUIRED = ("page_size", "n_pages", "copy", "workers", "batched", "exchange", "scope")
THROUGHPUT = ("gbps", "time_us")
OPTIONAL_TEXT = ("source", "machine", "notes")
COLUMNS = REQUIRED + THROUGHPUT + ("gbps_sd", "ptes_per_page") + OPTIONAL_TEXT

MIN_PAGE_BYTES = 4096
MAX_PAGE_BYTES = 1 << 30
#: Throughput a row may state, GB/s.  The ceiling, 10 TB/s, is above the memory bandwidth of
#: any machine built so far (HBM3e accelerators reach about 8 TB/s); the floor, 1 kB/s (one
#: 4 KiB page in 4 s), is below any migration a timer measures.  Outside them a figure is a
#: typing error, and the fit's relative errors would overflow.
MIN_GBPS, MAX_GBPS = 1e-6, 1e4
#: Rows a measurement table may hold: a machine's configurations are hundreds, the RFC's 52.
#: Reading stops beyond this, so a huge file cannot exhaust memory.
MAX_ROWS = 100_000
#: Problems listed in one refusal (the message says how many more there are).
MAX_REPORTED = 5

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


#: A row whose spread (``gbps_sd``) is above this share of its value is too uncertain to read
#: as a figure of the machine.  At 0.5, one standard deviation either side spans 0.5x to 1.5x
#: the value, a factor of three, and the median of the 3 runs of ``memtier measure --quick`` is
#: uncertain by about 0.36 of its value (the median's standard error, 1.25 sd / sqrt(3); 0.24
#: for the default 7 runs): several times the cost model's largest accepted error on the RFC's
#: rows (9.5 %).  Chosen from that reasoning, not from any file; as a check, no spread memtier
#: ships from published sources reaches it: at most 0.32 of the value in
#: ``data/amd_zen3_2026.csv`` (the 1 MiB x1024 dcbm row) and 0.45 in ``data/amd_zen3_2025.csv``
#: (V2's one-THP DMA row); only the emulated guest run (``data/numa_guest_run.csv``) has larger ones.
WIDE_SPREAD = 0.5


def wide_spreads(table) -> np.ndarray:
    """Which rows of a measurement table have a spread above :data:`WIDE_SPREAD` of their value
    (``gbps_sd > 0.5 * gbps``); rows without a spread or a throughput are not.  Boolean, one
    per row.  Nothing is dropped or reweighted: a caller says so to the user."""
    if "gbps" not in table or "gbps_sd" not in table:
        return np.zeros(len(table), dtype=bool)
    gbps = table["gbps"].to_numpy(np.float64)
    sd = table["gbps_sd"].to_numpy(np.float64)
    return np.nan_to_num(sd, nan=0.0) > WIDE_SPREAD * np.nan_to_num(gbps, nan=np.inf)


def _default_ptes(page_bytes: int) -> int:
    # x86-64: 4 KiB pages, 2 MiB PMD and 1 GiB PUD mappings are one entry; other folios one
    # 4 KiB PTE per subpage. Kept in step with memtier.model.cost.default_ptes_per_page.
    if page_bytes in (4096, 2 << 20, 1 << 30):
        return 1
    return page_bytes // MIN_PAGE_BYTES


def _to_bool(value, where: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MeasurementError(f"{where}: {value!r} is not a boolean; write True or False")


def _to_positive_int(value, where: str, maximum: int | None = None, why: str = "") -> int:
    if isinstance(value, (bool, np.bool_)):
        raise MeasurementError(f"{where}: {value!r} is not a number; expected a positive integer")
    text = str(value).strip()
    try:
        number = int(text)  # exact, however large: "9223372036854775808" is not rounded
    except ValueError:
        try:
            number = float(text)
        except (TypeError, ValueError):
            raise MeasurementError(f"{where}: {value!r} is not a number; expected a positive integer") from None
        if not np.isfinite(number) or number != int(number):
            raise MeasurementError(f"{where}: {value!r} must be a positive integer")
        number = int(number)
    if number <= 0:
        raise MeasurementError(f"{where}: {value!r} must be a positive integer")
    if maximum is not None and number > maximum:
        raise MeasurementError(f"{where}: {value!r} is too large; at most {maximum:,}{why}")
    return number


def _to_positive_float(value, where: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise MeasurementError(f"{where}: {value!r} is not a number; expected a positive number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise MeasurementError(f"{where}: {value!r} is not a number; expected a positive number") from None
    if not np.isfinite(number) or number <= 0:
        raise MeasurementError(f"{where}: {value!r} must be a positive, finite number")
    return number


def _check_gbps(gbps: float, where: str, given: str, value) -> None:
    if not MIN_GBPS <= gbps <= MAX_GBPS:
        stated = f"{value!r} GB/s" if given == "gbps" else f"{value!r} us ({gbps:.3g} GB/s)"
        raise MeasurementError(f"{where}: {stated} is outside {MIN_GBPS:g}-{MAX_GBPS:g} GB/s, the range of "
                               "any real migration; check the unit (GB/s, or microseconds for time_us)")


def _misspelt(columns) -> list[str]:
    """Columns that are close to, but not, a schema column (``gbps_std`` for ``gbps_sd``)."""
    known = set(COLUMNS) | {"given"}
    problems = []
    for column in columns:
        if column in known:
            continue
        close = difflib.get_close_matches(column.lower(), known, n=1, cutoff=0.75)
        if close:
            problems.append(f"column {column!r} is not in the schema (did you mean {close[0]!r}?)")
    return problems


def _read_csv(path: Path, name: str) -> pd.DataFrame:
    """The file as text cells, at most :data:`MAX_ROWS` rows read."""
    import pandas as pd

    try:
        table = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False, skipinitialspace=True,
                            nrows=MAX_ROWS + 1)
    except pd.errors.EmptyDataError:
        raise MeasurementError(f"{name}: the file holds no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise MeasurementError(f"{name}: not a readable CSV file ({' '.join(str(error).split())})") from None
    except IsADirectoryError:
        raise MeasurementError(f"{name}: is a folder, not a CSV file") from None
    if len(table) > MAX_ROWS:
        raise MeasurementError(f"{name}: more than {MAX_ROWS:,} rows; memtier reads measurement tables of "
                               f"at most {MAX_ROWS:,} configurations (split the file, or average repeated rows)")
    return table


def _to_nonnegative_float(value, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
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
        if not isinstance(source, (str, os.PathLike)):
            raise MeasurementError(f"{name or 'measurements'}: give a CSV file's path or a pandas DataFrame, "
                                   f"not a {type(source).__name__} (pandas.DataFrame(rows) makes one of a list "
                                   "of dicts)")
        path = Path(source)
        name = name or str(path)
        if not path.exists():
            raise MeasurementError(f"{name}: no such file")
        table = _read_csv(path, name)
    if len(table) > MAX_ROWS:
        raise MeasurementError(f"{name}: more than {MAX_ROWS:,} rows; memtier reads measurement tables of "
                               f"at most {MAX_ROWS:,} configurations")
    table.columns = [str(c).strip() for c in table.columns]
    misspelt = _misspelt(table.columns)
    if misspelt:
        raise MeasurementError(f"{name}: {'; '.join(misspelt)}")
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise MeasurementError(
            f"{name}: missing column(s) {', '.join(missing)}; the schema needs "
            f"{', '.join(REQUIRED)}" + (" and one of gbps or time_us" if throughput else "")
        )
    if throughput and not any(c in table.columns for c in THROUGHPUT):
        raise MeasurementError(f"{name}: needs a 'gbps' or a 'time_us' column")
    if len(table) == 0:
        raise MeasurementError(f"{name}: no rows of measurements")

    rows, problems = [], []
    for index, record in enumerate(table.to_dict("records"), start=1):
        try:
            rows.append(_row(record, index, name, throughput))
        except _RowProblems as found:
            problems.extend(found.messages)
        if len(problems) > MAX_REPORTED:
            break
    if len(problems) == 1:
        raise MeasurementError(f"{name}: {problems[0]}")
    if problems:
        shown = "; ".join(problems[:MAX_REPORTED])
        more = " (and more; fix these first)" if len(problems) > MAX_REPORTED else ""
        raise MeasurementError(f"{name}: {len(problems[:MAX_REPORTED])} problems: {shown}{more}")
    return pd.DataFrame(rows, columns=list(COLUMNS) + ["given"])


class _RowProblems(Exception):
    def __init__(self, messages):
        super().__init__("; ".join(messages))
        self.messages = messages


def _row(record: dict, index: int, name: str, throughput: bool) -> dict:
    """One validated row; every problem of the row at once (:class:`_RowProblems`)."""
    row, problems = {}, []
    here = f"row {index}, column"

    def check(column, convert):
        try:
            row[column] = convert()
        except MeasurementError as error:
            problems.append(str(error))
        except ValueError as error:
            problems.append(f"{here} '{column}': {error}")

    check("page_size", lambda: parse_page_size(record["page_size"]))
    page = row.get("page_size")
    most_pages = MAX_CALL_BYTES // page if page else None
    check("n_pages", lambda: _to_positive_int(
        record["n_pages"], f"{here} 'n_pages'", most_pages,
        f" {format_page_size(page)} pages (one call cannot move more than 2^52 bytes, the most an "
        "x86-64 machine addresses)" if page else ""))
    check("workers", lambda: _to_positive_int(
        record["workers"], f"{here} 'workers'", MAX_WORKERS,
        " (Linux's NR_CPUS is at most 8192 on x86-64)"))
    for column, allowed in (("copy", COPY_KINDS), ("scope", SCOPES)):
        value = str(record[column]).strip().lower()
        if value not in allowed:
            problems.append(f"{here} '{column}': {record[column]!r} is not one of {', '.join(allowed)}")
        row[column] = value
    for column in ("batched", "exchange"):
        check(column, lambda column=column: _to_bool(record[column], f"{here} '{column}'"))
    if not throughput:
        given = []
    elif record.get("given") in THROUGHPUT:
        # An already validated table: both are filled, one was measured, one derived.
        given = [record["given"]]
    else:
        given = [c for c in THROUGHPUT if c in record and not _is_missing(record[c])]
    if throughput and len(given) != 1:
        problems.append(f"row {index}: give exactly one of 'gbps' or 'time_us' "
                        f"({'both are' if given else 'neither is'} set)")
    if given and "page_size" in row and "n_pages" in row:
        column = given[0]
        try:
            value = _to_positive_float(record[column], f"{here} '{column}'")
            bytes_moved = row["page_size"] * row["n_pages"]
            if column == "gbps":
                row["gbps"], row["time_us"] = value, bytes_moved / value / 1e3
            else:
                row["gbps"], row["time_us"] = bytes_moved / value / 1e3, value
            _check_gbps(row["gbps"], f"{here} '{column}'", column, record[column])
            row["given"] = column
        except MeasurementError as error:
            problems.append(str(error))
    else:
        row["gbps"] = row["time_us"] = np.nan
        row["given"] = ""
    sd = record.get("gbps_sd")
    # A spread may be 0: published tables print small spreads as 0.00 (how a fit weighs
    # such a row is memtier.model.fitting's choice, stated there).
    try:
        row["gbps_sd"] = (
            np.nan if _is_missing(sd) else _to_nonnegative_float(sd, f"{here} 'gbps_sd'")
        )
    except MeasurementError as error:
        problems.append(str(error))
    ptes = record.get("ptes_per_page")
    if _is_missing(ptes):
        row["ptes_per_page"] = _default_ptes(page) if page else 1
    elif page:
        check("ptes_per_page", lambda: _to_positive_int(
            ptes, f"{here} 'ptes_per_page'", page // MIN_PAGE_BYTES,
            f" entries: more cannot map a {format_page_size(page)} page (at most one per 4 KiB)"))
    for column in OPTIONAL_TEXT:
        value = record.get(column)
        row[column] = "" if _is_missing(value) else str(value)
    if problems:
        raise _RowProblems(problems)
    return row


def save_measurements(table: pd.DataFrame, path, *, header: str = "", force: bool = False) -> Path:
    """Write measurements as a schema CSV, with ``header`` as ``#`` comment lines.

    The file is written beside its final name and renamed into place, so a reader never
    sees half a file.  An existing file is kept unless ``force`` is true.
    """
    path = check_output(path, force=force)
    table = load_measurements(table, name=str(path))
    out = table.copy()
    # Keep what the source gave: a derived number is not a measurement.
    out.loc[out["given"] == "gbps", "time_us"] = np.nan
    out.loc[out["given"] == "time_us", "gbps"] = np.nan
    out = out.drop(columns="given")
    with atomic_write(path, force=force) as handle:
        for line in header.splitlines():
            handle.write(f"# {line}\n" if line else "#\n")
        out.to_csv(handle, index=False, float_format="%.6g")
    return path
