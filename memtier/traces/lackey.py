"""Real page-access traces: record a program under valgrind's lackey, or convert a saved log.

Valgrind's *lackey* tool (``valgrind --tool=lackey --trace-mem=yes``) prints one line per
memory access the program makes::

    I  0401ab70,3          an instruction fetch: address (hex), size (bytes)
     L 1fff000778,8        a data load
     S 1fff000770,8        a data store
     M 0402a2b0,4          a modify (load then store of the same bytes)
    ==4492== Command: ...  valgrind's own messages

memtier reads that text in byte chunks with a numba kernel (constant memory whatever the
length of the log), turns each access into the page(s) it touches at a chosen page size and
renumbers the pages densely in first-touch order, so the result is exactly what the simulator
takes: an integer array of page numbers ``0 .. n_pages - 1``.  Saved traces are ``.npy`` files
(``np.save`` layout, ``int32``) with a JSON sidecar (``prog.npy`` -> ``prog.json``) that says
where the trace came from and what was counted and skipped, and the accesses' write flags
(``prog.writes.npy``, uint8: 1 for an ``S`` or ``M`` line) that ``memtier simulate`` reads.

Modelling choices, made here once:

* **Data only by default.**  Tiered memory places data pages; code is small, hot, and in the
  page cache, so instruction fetches (``I`` lines) are skipped and counted unless
  ``instructions=True``.
* **A modify is one access.**  An ``M`` line is a read-modify-write of the same bytes: for a
  page (and for the accessed bit the kernel uses to find hot pages) it is one touch.
* **An access that straddles a page boundary touches both pages**, as the hardware would set
  both accessed bits; such accesses are counted in ``page_crossings``.
* **A truncated final line is skipped** (the program was killed mid-write; its address may be
  cut short) and counted in ``truncated_lines``.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._lackey_parser import (DEFAULT_CHUNK_BYTES, MAX_DISTINCT_PAGES, LackeyFormatError, LackeyParser,
                      parse_file)
from ..measurement.schema import format_page_size, parse_page_size
from ..outputs import check_output, commit, discard, progress_bar, temporary_beside, write_text
from .workloads import writes_path

INSTALL_HINT = "install it with 'apt-get install valgrind' or 'conda install -c conda-forge valgrind'"


class ValgrindNotFound(FileNotFoundError):
    """valgrind is not installed; the message says how to install it."""


@dataclass
class Trace:
    """A page-access trace and where it came from.

    Attributes
    ----------
    pages : numpy.ndarray of int32, shape (n_accesses,)
        Page touched by each access, renumbered densely from 0 in first-touch order.
    info : dict
        What the JSON sidecar holds: source, page size (bytes), counts of accesses, distinct
        pages, loads, stores, modifies and skipped lines.
    page_addresses : numpy.ndarray of uint64, shape (n_pages,), optional
        First byte address of each dense page (``page_addresses[p]``), when known.
    writes : numpy.ndarray of bool, shape (n_accesses,), optional
        Whether each access writes (lackey's ``S`` and ``M`` lines), when known; saved
        beside the trace as ``prog.writes.npy``.
    """

    pages: np.ndarray
    info: dict = field(default_factory=dict)
    page_addresses: np.ndarray | None = None
    writes: np.ndarray | None = None

    @property
    def n_pages(self) -> int:
        """Distinct pages (``pages.max() + 1``)."""
        return int(self.info.get("distinct_pages", int(self.pages.max()) + 1 if self.pages.size else 0))


# --- writing traces -------------------------------------------------------------------------


def sidecar_path(path) -> Path:
    """The JSON sidecar of a trace file: ``prog.npy`` -> ``prog.json``."""
    return Path(path).with_suffix(".json")


def check_trace_outputs(path, force, inputs=()):
    """Check, before any work, that a trace and its sidecar can be written; return both paths.

    Refuses an existing file unless ``force``, a missing folder, and (even with ``force``) a
    trace or sidecar that is one of ``inputs``: ``trace convert out.json --out out.npy`` would
    otherwise write the sidecar ``out.json`` over the log it reads.
    """
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"trace file {path} must end in .npy (it is saved with numpy's np.save layout)")
    side = sidecar_path(path)
    check_output(path, force=force, inputs=inputs, what="trace file")
    check_output(side, force=force, inputs=inputs, what=f"the trace's sidecar (beside {path.name})")
    check_output(writes_path(path), force=force, inputs=inputs, what="the trace's write flags")
    return path, side


_check_outputs = check_trace_outputs


class _NpyAppender:
    """Writes an int32 ``.npy`` file whose length is known only at the end.

    The header is written with room to spare and rewritten with the final shape on
    :meth:`close`, so a trace of any length is written in constant memory.  The file appears
    under its name only when complete (written under a unique temporary name, then renamed:
    :mod:`memtier.outputs`).
    """

    HEADER_BYTES = 128

    def __init__(self, path, descr="<i4"):
        self.path = Path(path)
        self.descr = descr
        self.file, self.temporary = temporary_beside(self.path)
        self.length = 0
        self.file.write(self._header(0))

    def _header(self, length):
        text = "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }" % (self.descr, length)
        text = text.ljust(self.HEADER_BYTES - 10 - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")

    def __call__(self, pages):
        self.file.write(np.ascontiguousarray(pages.astype(self.descr, copy=False)))  # no copy to bytes
        self.length += pages.size

    def close(self, force):
        self.file.seek(0)
        self.file.write(self._header(self.length))
        self.file.close()
        commit(self.temporary, self.path, force)

    def abort(self):
        self.file.close()
        discard(self.temporary)


def _write_sidecar(path, info, force, inputs=()):
    write_text(sidecar_path(path), json.dumps(info, indent=2) + "\n", force=force, inputs=inputs,
               what="the trace's sidecar")


def _describe(info, page_size, source):
    from .. import __version__

    described = {
        "format": "memtier page trace",
        "source": source,
        "page_size": page_size,
        "page_size_text": format_page_size(page_size),
        "dtype": "int32",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "memtier_version": __version__,
    }
    described.update(info)
    return described


def write_trace(trace: Trace, path, force: bool = False, inputs=()) -> Path:
    """Save ``trace.pages`` as an int32 ``.npy`` file and ``trace.info`` as its JSON sidecar.

    Raises
    ------
    FileExistsError
        If either file exists and ``force`` is false.
    ValueError
        If the pages are not dense page numbers ``0 .. n - 1`` fitting in int32.
    """
    path, _ = check_trace_outputs(path, force, inputs)
    pages = np.asarray(trace.pages)
    if pages.ndim != 1 or not np.issubdtype(pages.dtype, np.integer):
        raise ValueError(f"trace pages must be a 1-D integer array, got {pages.dtype} of shape {pages.shape}")
    if pages.size and (pages.min() < 0 or pages.max() >= MAX_DISTINCT_PAGES):
        raise ValueError("trace pages must be page numbers from 0 that fit in int32")
    if pages.size and not np.bincount(pages).all():
        raise ValueError("trace pages must be dense: every page number from 0 to the largest must occur "
                         "(renumber them, e.g. with np.unique(pages, return_inverse=True)[1])")
    writer = _NpyAppender(path)
    try:
        writer(pages)
        writer.close(force)
    except BaseException:
        writer.abort()
        raise
    info = dict(trace.info)
    if trace.writes is not None:
        writes = np.asarray(trace.writes)
        if writes.shape != pages.shape:
            raise ValueError(f"trace writes must have one flag per access ({pages.size}), got shape {writes.shape}")
        _write_flags(path, writes, force)
        info["writes_file"] = writes_path(path).name
    distinct = int(pages.max()) + 1 if pages.size else 0
    _write_sidecar(path, dict(info, accesses=int(pages.size), distinct_pages=distinct), force, inputs)
    return path


def _write_flags(path, writes, force):
    """Save the write flags beside the trace (``prog.writes.npy``, uint8), atomically."""
    flags_path = writes_path(path)
    if flags_path.exists() and not force:
        raise FileExistsError(f"{flags_path} exists; pass force=True (--force) to overwrite it")
    writer = _NpyAppender(flags_path, descr="|u1")
    try:
        writer(np.asarray(writes, dtype=np.uint8))
        writer.close(force)
    except BaseException:
        writer.abort()
        raise


def read_trace(path) -> Trace:
    """Read a trace saved by memtier (``.npy`` plus its JSON sidecar, if present)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trace file {path} does not exist or is not a file")
    try:
        pages = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as error:
        raise ValueError(f"{path} is not a numpy .npy trace ({error or 'the file is empty'})") from None
    side = sidecar_path(path)
    try:
        info = json.loads(side.read_text()) if side.exists() else {}
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ValueError(f"{side}, the sidecar of {path}, is not valid JSON; move it away or repair it") from None
    flags_path = writes_path(path)
    writes = np.load(flags_path, allow_pickle=False).astype(bool) if flags_path.exists() else None
    return Trace(pages=pages, info=info, writes=writes)


# --- public entry points ----------------------------------------------------------------------


def _progress_bar(enabled, total, description):
    if not enabled:
        return None
    return progress_bar(True, total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=description,
                        leave=False)


def _parse_stream(stream, name, page_size, instructions, chunk_bytes, sink, progress, write_sink=None):
    parser = LackeyParser(page_size, instructions, chunk_bytes, name)
    accesses = [0]

    def counting_sink(pages):
        accesses[0] += pages.size
        sink(pages)

    try:
        info = parser.run(stream, counting_sink, progress, write_sink)
    finally:
        if progress is not None:
            progress.close()
    info["accesses"] = accesses[0]
    return parser, info


def _parse_file(path, page_size, instructions, chunk_bytes, sink, progress, workers, write_sink=None):
    """:func:`memtier.traces._lackey_parser.parse_file`, counting the accesses like :func:`_parse_stream`."""
    accesses = [0]

    def counting_sink(pages):
        accesses[0] += pages.size
        sink(pages)

    try:
        parser, info = parse_file(path, page_size, instructions, chunk_bytes, counting_sink, progress,
                                  workers, write_sink)
    finally:
        if progress is not None:
            progress.close()
    info["accesses"] = accesses[0]
    return parser, info


def parse_lackey(source, page_size="4K", instructions: bool = False,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES, workers: int | None = None) -> Trace:
    """Parse lackey text into a dense page trace held in memory.

    Parameters
    ----------
    source : str, bytes, path-like or binary file object
        A lackey log: its path, its text as ``bytes``, or an open binary stream.
    page_size : int or str
        Bytes per page (``4096``, ``"4K"``, ``"2M"``): a power of two from 4 KiB to 1 GiB.
    instructions : bool
        Count instruction fetches (``I`` lines) as accesses too; by default they are skipped.
    chunk_bytes : int
        Bytes read at a time (for a file: bytes each worker parses at a time).
    workers : int, optional
        Threads parsing a file at once (default: every core this process may use); a file is
        memory-mapped and cut into slices at line ends, and the result is the same whatever
        the number of workers.  Text and streams are parsed on one core.

    Returns
    -------
    Trace
        ``pages`` (int32, dense from 0 in first-touch order), ``info`` (counts) and
        ``page_addresses``.

    Raises
    ------
    LackeyFormatError
        If the input is not a lackey log.
    """
    import io

    pieces, write_pieces = [], []
    if isinstance(source, (bytes, bytearray, memoryview)):
        stream, name, owned = io.BytesIO(bytes(source)), "the given text", True
    elif hasattr(source, "readinto"):
        stream, name, owned = source, getattr(source, "name", "the given stream"), False
    else:
        path = Path(source)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder, not a lackey log")
        if not path.exists():
            raise FileNotFoundError(f"lackey log {path} does not exist")
        name = str(path)
        if path.is_file():  # memory-mapped, on every core
            parser, info = _parse_file(path, page_size, instructions, chunk_bytes, pieces.append, None,
                                       workers, lambda writes: write_pieces.append(writes.astype(bool)))
            stream = None
        else:  # a pipe or a device: streamed
            stream, owned = open(path, "rb"), True
    if stream is not None:
        try:
            parser, info = _parse_stream(stream, name, page_size, instructions, chunk_bytes,
                                         lambda pages: pieces.append(pages.copy()), None,
                                         lambda writes: write_pieces.append(writes.astype(bool)))
        finally:
            if owned:
                stream.close()
    pages = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int32)
    writes = np.concatenate(write_pieces) if write_pieces else np.empty(0, dtype=bool)
    return Trace(pages=pages, info=_describe(info, parser.page_size, {"kind": "lackey text", "name": name}),
                 page_addresses=parser.page_addresses(), writes=writes)


def convert_lackey(log, out, page_size="4K", instructions: bool = False, force: bool = False,
                   progress: bool = False, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                   workers: int | None = None) -> dict:
    """Convert a saved lackey log into a trace file ``out`` (``.npy``) and its JSON sidecar.

    The log is memory-mapped and parsed on ``workers`` cores (default: all this process may
    use), ``chunk_bytes`` per worker at a time; memory stays constant whatever its length.
    The trace is the same whatever the number of workers.  Returns the sidecar's contents.  Raises :class:`FileExistsError` if ``out`` or its sidecar exists and ``force``
    is false, :class:`LackeyFormatError` if ``log`` is not a lackey log.
    """
    parse_page_size(page_size)
    log = Path(log)
    if not log.is_file():
        raise FileNotFoundError(f"lackey log {log} does not exist or is not a file")
    out, _ = check_trace_outputs(out, force, inputs=[log])
    writer = _NpyAppender(out)
    flag_writer = _NpyAppender(writes_path(out), descr="|u1")
    try:
        bar = _progress_bar(progress, log.stat().st_size, log.name)
        parser, info = _parse_file(log, page_size, instructions, chunk_bytes, writer, bar, workers,
                                   flag_writer)
        info = _describe(info, parser.page_size, {"kind": "lackey log", "path": str(log.resolve())})
        info["writes_file"] = writes_path(out).name
        writer.close(force)
        flag_writer.close(force)
    except BaseException:
        writer.abort()
        flag_writer.abort()
        raise
    _write_sidecar(out, info, force, inputs=[log])
    return info


def valgrind_path() -> str:
    """The valgrind executable, or :class:`ValgrindNotFound` saying how to install it."""
    found = shutil.which("valgrind")
    if found is None:
        raise ValgrindNotFound(f"valgrind is not installed; {INSTALL_HINT}")
    return found


def record_trace(program, out=None, page_size="4K", instructions: bool = False, force: bool = False,
           progress: bool = False, program_output=None, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
    """Run ``program`` under valgrind's lackey and turn its accesses into a page trace.

    Lackey's text goes through a pipe straight into the parser; it is never written to disk.
    Lackey's own instruction counters are switched off (``--basic-counts=no``): they are not
    needed and cost time.  Recording runs at the speed valgrind writes its text, one system
    call per line (about 25 MB of text a second on a 2-core VM, as fast as writing to a file),
    a small fraction of what the parser takes.

    Parameters
    ----------
    program : sequence of str
        The command and its arguments, e.g. ``["sort", "words.txt"]``.
    out : path-like, optional
        Save the trace here (``.npy`` plus a JSON sidecar) and return the sidecar's contents;
        without it, return a :class:`Trace` held in memory.
    page_size, instructions, chunk_bytes
        As for :func:`parse_lackey`.
    force : bool
        Overwrite ``out`` and its sidecar if they exist.
    progress : bool
        Show a progress bar (bytes of lackey text parsed) where stderr is a terminal.
    program_output : file object or int, optional
        Where the program's standard output and error go (``subprocess.DEVNULL`` to discard);
        by default they are this process's.

    Raises
    ------
    ValgrindNotFound
        If valgrind is not installed.
    FileNotFoundError
        If the program is not found.
    """
    program = [str(arg) for arg in program]
    if not program:
        raise ValueError("no program given; e.g. record_trace(['ls', '/'])")
    parse_page_size(page_size)
    valgrind = valgrind_path()
    if shutil.which(program[0]) is None:
        raise FileNotFoundError(f"program {program[0]!r} not found, or not executable (give a path or a "
                                "command on PATH)")
    if out is not None:
        out, _ = check_trace_outputs(out, force)
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True).stdout.strip()
    read_end, write_end = os.pipe()
    pieces, write_pieces = [], []
    writer = _NpyAppender(out) if out is not None else None
    flag_writer = _NpyAppender(writes_path(out), descr="|u1") if out is not None else None
    sink = writer if writer is not None else (lambda pages: pieces.append(pages.copy()))
    write_sink = flag_writer if flag_writer is not None else (lambda w: write_pieces.append(w.astype(bool)))
    try:
        process = subprocess.Popen(
            [valgrind, "--tool=lackey", "--trace-mem=yes", "--basic-counts=no", f"--log-fd={write_end}",
             *program],
            pass_fds=(write_end,), stdin=subprocess.DEVNULL,
            stdout=program_output, stderr=program_output)
        os.close(write_end)
        write_end = None
        try:
            with os.fdopen(read_end, "rb", buffering=0) as stream:
                read_end = None
                bar = _progress_bar(progress, None, program[0])
                parser, info = _parse_stream(stream, f"valgrind's output for {program[0]}",
                                             page_size, instructions, chunk_bytes, sink, bar, write_sink)
        except LackeyFormatError as error:
            process.kill()  # it may still be writing; nobody reads the pipe any more
            status = process.wait()
            raise LackeyFormatError(
                f"valgrind recorded no usable memory accesses of {program[0]} (exit status {status}); "
                f"run 'valgrind --tool=lackey --trace-mem=yes {program[0]}' to see why") from error
        except BaseException:
            process.kill()
            process.wait()
            raise
        status = process.wait()  # the pipe is at its end: valgrind has finished
        info = _describe(info, parser.page_size, {"kind": "valgrind lackey", "program": program,
                                                  "valgrind": version, "exit_status": status})
        if writer is not None:
            info["writes_file"] = writes_path(out).name
            writer.close(force)
            flag_writer.close(force)
    except BaseException:
        if writer is not None:
            writer.abort()
            flag_writer.abort()
        raise
    finally:
        for end in (read_end, write_end):
            if end is not None:
                os.close(end)
    if writer is None:
        pages = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int32)
        writes = np.concatenate(write_pieces) if write_pieces else np.empty(0, dtype=bool)
        return Trace(pages=pages, info=info, page_addresses=parser.page_addresses(), writes=writes)
    _write_sidecar(out, info, force)
    return info


# --- looking at a trace -----------------------------------------------------------------------


def _dense_pages(pages) -> np.ndarray:
    pages = np.asarray(pages)
    if pages.ndim != 1 or not np.issubdtype(pages.dtype, np.integer) or pages.size == 0:
        raise ValueError("pages must be a non-empty 1-D integer array of dense page numbers")
    if pages.min() < 0:
        raise ValueError("page numbers must not be negative")
    return pages


def popularity(pages) -> np.ndarray:
    """Share of all accesses taken by the ``k`` most accessed pages, for ``k = 1 .. n_pages``.

    ``popularity(pages)[k - 1]`` is the hit ratio a fast tier of ``k`` pages would reach if it
    always held the ``k`` hottest pages of the whole run (a static oracle: the ceiling for a
    placement that never migrates).
    """
    pages = _dense_pages(pages)
    counts = np.sort(np.bincount(pages))[::-1]
    counts = counts[counts > 0]
    return np.cumsum(counts) / pages.size


def heatmap(pages, time_bins: int = 200, page_bins: int = 200) -> np.ndarray:
    """Accesses per (page band, time band): a 2-D histogram of page number against time.

    Time is the access index (lackey has no clock), cut into ``time_bins`` equal bands; dense
    page numbers are cut into ``page_bins`` bands (fewer when there are fewer pages).

    Returns
    -------
    numpy.ndarray of int64, shape (page_bins, time_bins)
        Row 0 holds the lowest page numbers (the first touched).
    """
    pages = _dense_pages(pages)
    time_bins, page_bins = int(time_bins), int(page_bins)
    if time_bins < 1 or page_bins < 1:
        raise ValueError("time_bins and page_bins must be positive")
    n_pages = int(pages.max()) + 1
    page_bins = min(page_bins, n_pages)
    time_band = np.arange(pages.size, dtype=np.int64) * time_bins // pages.size
    page_band = pages.astype(np.int64) * page_bins // n_pages
    counts = np.bincount(page_band * time_bins + time_band, minlength=page_bins * time_bins)
    return counts.reshape(page_bins, time_bins)


def coarsen(trace: Trace, page_size) -> Trace:
    """The same accesses seen at a larger page size (e.g. 4 KiB pages folded into 2 MiB ones).

    Needs ``trace.page_addresses`` (kept by :func:`parse_lackey`, :func:`record_trace` and
    :func:`~memtier.traces.damon.damon_trace`).  Pages are renumbered densely in first-touch order.
    """
    new_size = parse_page_size(page_size)
    old_size = int(trace.info.get("page_size", 0))
    if trace.page_addresses is None:
        raise ValueError("this trace has no page addresses (traces loaded from .npy files lose them)")
    if new_size < old_size:
        raise ValueError(f"page size {format_page_size(new_size)} is smaller than the trace's "
                         f"{format_page_size(old_size)}; record it again at the smaller size")
    big = trace.page_addresses[trace.pages] >> np.uint64(new_size.bit_length() - 1)
    unique, first_seen, inverse = np.unique(big, return_index=True, return_inverse=True)
    rank = np.empty(unique.size, dtype=np.int64)
    rank[np.argsort(first_seen, kind="stable")] = np.arange(unique.size)
    info = dict(trace.info, page_size=new_size, page_size_text=format_page_size(new_size),
                distinct_pages=int(unique.size))
    addresses = np.empty(unique.size, dtype=np.uint64)
    addresses[rank] = unique << np.uint64(new_size.bit_length() - 1)
    return Trace(pages=rank[inverse.ravel()].astype(np.int32), info=info, page_addresses=addresses,
                 writes=trace.writes)
