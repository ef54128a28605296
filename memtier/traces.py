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
where the trace came from and what was counted and skipped.

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

from ._jit import njit
from .measurements import format_page_size, parse_page_size

#: Sizes of the pieces the parser reads at a time: big enough that the per-call overhead is
#: negligible, small enough to stay in the L2 cache.
DEFAULT_CHUNK_BYTES = 1 << 20
MIN_CHUNK_BYTES = 64
#: The input is judged (lackey or not) once this many bytes have been parsed, or at its end.
SNIFF_BYTES = 1 << 16
#: One access line may touch at most this many pages; a larger size is not a real access.
MAX_PAGES_PER_ACCESS = 64
#: Dense page numbers are stored as int32: 2**31 distinct pages of 4 KiB is 8 TiB of footprint.
MAX_DISTINCT_PAGES = 2**31 - 1

INSTALL_HINT = "install it with 'apt-get install valgrind' or 'conda install -c conda-forge valgrind'"

# Indices into the counters array the kernel fills.
_LOADS, _STORES, _MODIFIES, _INSTRUCTIONS = 0, 1, 2, 3
_VALGRIND, _BLANK, _SUPERBLOCKS, _UNRECOGNISED, _TRUNCATED, _CROSSINGS = 4, 5, 6, 7, 8, 9
_COUNTER_NAMES = ("loads", "stores", "modifies", "instruction_lines", "valgrind_lines",
                  "blank_lines", "superblock_lines", "unrecognised_lines", "truncated_lines",
                  "page_crossings")
# Indices into the kernel's int64 state array.
_N_DISTINCT, _LAST_ID, _SKIPPING = 0, 1, 2
# Why the kernel returned.
_DONE, _GROW, _OUT_FULL = 0, 1, 2

_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)  # no page number reaches this (they are < 2**52)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier


class LackeyFormatError(ValueError):
    """Input that is not a lackey log (``valgrind --tool=lackey --trace-mem=yes`` output)."""


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
    """

    pages: np.ndarray
    info: dict = field(default_factory=dict)
    page_addresses: np.ndarray | None = None

    @property
    def n_pages(self) -> int:
        """Distinct pages (``pages.max() + 1``)."""
        return int(self.info.get("distinct_pages", int(self.pages.max()) + 1 if self.pages.size else 0))


# --- the kernel -----------------------------------------------------------------------------


@njit
def _parse_lackey(buf, pos, end, final, shift, instructions, hash_shift, keys, ids, last_page,
                  state, counts, out):
    """Parse the complete lines of ``buf[pos:end]`` into dense page numbers in ``out``.

    Returns ``(pos, n_out, why)``: where parsing stopped, how many page numbers were written,
    and why it stopped (``_DONE``: no complete line left; ``_GROW``: the hash table is half
    full; ``_OUT_FULL``: ``out`` has no room).  A line is consumed whole or not at all, so the
    caller resumes at ``pos``.
    """
    mask = keys.size - 1
    limit = keys.size // 2
    n_out = 0
    n_distinct = state[_N_DISTINCT]
    last_id = state[_LAST_ID]
    why = _DONE
    if state[_SKIPPING] == 1:  # the tail of a line longer than the whole buffer
        while pos < end and buf[pos] != 10:
            pos += 1
        if pos == end:
            if final:
                counts[_UNRECOGNISED] += 1
            return end, 0, _DONE
        pos += 1
        state[_SKIPPING] = 0
        counts[_UNRECOGNISED] += 1
    while pos < end:
        nl = pos
        while nl < end and buf[nl] != 10:
            nl += 1
        if nl == end and not final:
            break  # incomplete line: the caller carries it into the next chunk
        stop = nl
        if stop > pos and buf[stop - 1] == 13:
            stop -= 1
        if nl == end:  # a final line without its newline: cut short
            counts[_TRUNCATED] += 1
            pos = end
            break
        length = stop - pos
        kind = -1
        if length >= 6 and buf[pos + 2] == 32:
            c0 = buf[pos]
            c1 = buf[pos + 1]
            if c0 == 32:
                if c1 == 76:
                    kind = _LOADS
                elif c1 == 83:
                    kind = _STORES
                elif c1 == 77:
                    kind = _MODIFIES
            elif c0 == 73 and c1 == 32:
                kind = _INSTRUCTIONS
        if kind == -1:
            if length == 0:
                counts[_BLANK] += 1
            elif length >= 2 and (buf[pos] == 61 and buf[pos + 1] == 61
                                  or buf[pos] == 45 and buf[pos + 1] == 45):
                counts[_VALGRIND] += 1  # "==PID==" and "--PID--" lines
            elif length >= 3 and buf[pos] == 83 and buf[pos + 1] == 66 and buf[pos + 2] == 32:
                counts[_SUPERBLOCKS] += 1  # "SB addr" (--trace-superblocks=yes)
            else:
                counts[_UNRECOGNISED] += 1
            pos = nl + 1
            continue
        if kind == _INSTRUCTIONS and not instructions:
            counts[_INSTRUCTIONS] += 1
            pos = nl + 1
            continue
        # address: 1 to 16 hex digits, then a comma, then the size: 1 to 12 decimal digits
        p = pos + 3
        address = np.uint64(0)
        digits = 0
        while p < stop:
            c = buf[p]
            if 48 <= c <= 57:
                d = c - 48
            elif 97 <= c <= 102:
                d = c - 87
            elif 65 <= c <= 70:
                d = c - 55
            else:
                break
            address = (address << np.uint64(4)) | np.uint64(d)
            digits += 1
            p += 1
        good = 0 < digits <= 16 and p < stop and buf[p] == 44
        p += 1
        size = 0
        size_digits = 0
        while p < stop and 48 <= buf[p] <= 57:
            size = size * 10 + (buf[p] - 48)
            size_digits += 1
            p += 1
        good = good and 0 < size_digits <= 12 and p == stop
        if not good:
            counts[_UNRECOGNISED] += 1
            pos = nl + 1
            continue
        first = address >> shift
        last_byte = address + np.uint64(max(size, 1) - 1)
        if last_byte < address:  # wrapped past the top of the address space
            last_byte = _EMPTY
        last = last_byte >> shift
        n_touched = np.int64(last - first) + 1
        if n_touched > MAX_PAGES_PER_ACCESS:
            counts[_UNRECOGNISED] += 1
            pos = nl + 1
            continue
        if n_out + n_touched > out.size:
            why = _OUT_FULL
            break
        if n_distinct + n_touched > limit:
            why = _GROW
            break
        for k in range(n_touched):
            page = first + np.uint64(k)
            if page != last_page[0]:
                slot = np.int64((page * _GOLDEN) >> hash_shift)
                while True:
                    key = keys[slot]
                    if key == page:
                        last_id = ids[slot]
                        break
                    if key == _EMPTY:
                        keys[slot] = page
                        ids[slot] = n_distinct
                        last_id = n_distinct
                        n_distinct += 1
                        break
                    slot = (slot + 1) & mask
                last_page[0] = page
            out[n_out] = last_id
            n_out += 1
        counts[kind] += 1
        if n_touched > 1:
            counts[_CROSSINGS] += 1
        pos = nl + 1
    state[_N_DISTINCT] = n_distinct
    state[_LAST_ID] = last_id
    return pos, n_out, why


@njit
def _rehash(old_keys, old_ids, keys, ids, hash_shift):
    """Insert every filled slot of the old table into the (larger, empty) new one."""
    mask = keys.size - 1
    for i in range(old_keys.size):
        page = old_keys[i]
        if page != _EMPTY:
            slot = np.int64((page * _GOLDEN) >> hash_shift)
            while keys[slot] != _EMPTY:
                slot = (slot + 1) & mask
            keys[slot] = page
            ids[slot] = old_ids[i]


# --- the streaming parser -------------------------------------------------------------------


class _LackeyParser:
    """Feeds a binary stream through :func:`_parse_lackey`, chunk by chunk.

    Memory is the read buffer, the output buffer and the page table (which grows with the
    distinct pages, never with the length of the log).
    """

    def __init__(self, page_size, instructions, chunk_bytes, name):
        self.page_size = parse_page_size(page_size)
        self.shift = np.uint64(self.page_size.bit_length() - 1)
        self.instructions = bool(instructions)
        chunk_bytes = int(chunk_bytes)
        if chunk_bytes < MIN_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes={chunk_bytes} is too small; use at least {MIN_CHUNK_BYTES}")
        self.chunk_bytes = chunk_bytes
        self.name = name
        self._table(1 << 16)
        self.last_page = np.full(1, _EMPTY, dtype=np.uint64)
        self.state = np.zeros(3, dtype=np.int64)
        self.counts = np.zeros(len(_COUNTER_NAMES), dtype=np.int64)
        # the shortest access line, " L 0,1\n", is 7 bytes and touches at most 2 pages here
        self.out = np.empty(max(2 * (chunk_bytes // 7 + 1), MAX_PAGES_PER_ACCESS), dtype=np.int32)
        self.bytes_parsed = 0
        self.head = b""
        self.judged = False

    def _table(self, capacity):
        self.keys = np.full(capacity, _EMPTY, dtype=np.uint64)
        self.ids = np.zeros(capacity, dtype=np.int32)
        self.hash_shift = np.uint64(64 - (capacity.bit_length() - 1))

    def _grow(self):
        if 2 * self.state[_N_DISTINCT] >= MAX_DISTINCT_PAGES:
            raise ValueError(f"{self.name} touches more than {MAX_DISTINCT_PAGES} distinct pages; "
                             "use a larger page size")
        old_keys, old_ids = self.keys, self.ids
        self._table(2 * old_keys.size)
        _rehash(old_keys, old_ids, self.keys, self.ids, self.hash_shift)

    def run(self, stream, sink, progress=None):
        """Parse everything ``stream`` (a binary file object) yields; pass page arrays to ``sink``."""
        buf = np.empty(self.chunk_bytes, dtype=np.uint8)
        view = memoryview(buf)
        filled = 0
        while True:
            got = stream.readinto(view[filled:]) or 0
            final = got == 0
            if not self.head:
                self.head = bytes(view[:min(filled + got, 80)])
            filled += got
            pos = 0
            while True:
                pos, n_out, why = _parse_lackey(
                    buf, pos, filled, final, self.shift, self.instructions, self.hash_shift,
                    self.keys, self.ids, self.last_page, self.state, self.counts, self.out)
                if n_out:
                    sink(self.out[:n_out])
                if why == _GROW:
                    self._grow()
                elif why == _DONE:
                    break
            self.bytes_parsed += pos
            if progress is not None:
                progress.update(pos)
            if not self.judged and (self.bytes_parsed >= SNIFF_BYTES or final):
                self._judge()
            if final:
                break
            if pos == 0 and filled == buf.size:  # one line fills the whole buffer
                self.state[_SKIPPING] = 1
                self.bytes_parsed += filled
                filled = 0
                continue
            remainder = filled - pos
            buf[:remainder] = buf[pos:filled].copy()
            filled = remainder
        if self.accesses_lines == 0:
            raise LackeyFormatError(self._not_lackey("it holds no lackey access lines"))
        return self.info()

    @property
    def accesses_lines(self) -> int:
        return int(self.counts[[_LOADS, _STORES, _MODIFIES, _INSTRUCTIONS]].sum())

    def _judge(self):
        """Refuse input whose first lines are mostly not lackey's."""
        self.judged = True
        known = int(self.counts[:_UNRECOGNISED].sum())
        if self.counts[_UNRECOGNISED] > known:
            raise LackeyFormatError(self._not_lackey(
                f"{self.counts[_UNRECOGNISED]} of its first {known + self.counts[_UNRECOGNISED]} "
                "lines are not lackey lines"))

    def _not_lackey(self, why):
        start = self.head.decode("utf-8", "replace").split("\n")[0][:60]
        return (f"{self.name} is not a lackey log ({why}; it starts {start!r}); expected the output "
                "of 'valgrind --tool=lackey --trace-mem=yes', lines like ' L 1fff000778,8'")

    def info(self) -> dict:
        counts = {name: int(value) for name, value in zip(_COUNTER_NAMES, self.counts)}
        counts["instructions_included"] = self.instructions
        counts["distinct_pages"] = int(self.state[_N_DISTINCT])
        counts["bytes_parsed"] = int(self.bytes_parsed)
        return counts

    def page_addresses(self) -> np.ndarray:
        """First byte address of each dense page, indexed by dense page number."""
        filled = self.keys != _EMPTY
        addresses = np.empty(int(self.state[_N_DISTINCT]), dtype=np.uint64)
        addresses[self.ids[filled]] = self.keys[filled] << self.shift
        return addresses


# --- writing traces -------------------------------------------------------------------------


def sidecar_path(path) -> Path:
    """The JSON sidecar of a trace file: ``prog.npy`` -> ``prog.json``."""
    return Path(path).with_suffix(".json")


def _check_outputs(path, force):
    """Refuse to overwrite an existing trace or sidecar unless ``force``; return both paths."""
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"trace file {path} must end in .npy (it is saved with numpy's np.save layout)")
    if not path.parent.exists():
        raise FileNotFoundError(f"folder {path.parent} does not exist; create it first")
    side = sidecar_path(path)
    if not force:
        for existing in (path, side):
            if existing.exists():
                raise FileExistsError(f"{existing} exists; pass force=True (--force) to overwrite it")
    return path, side


class _NpyAppender:
    """Writes an int32 ``.npy`` file whose length is known only at the end.

    The header is written with room to spare and rewritten with the final shape on
    :meth:`close`, so a trace of any length is written in constant memory.  The file appears
    under its name only when complete (written to a temporary name, then renamed).
    """

    HEADER_BYTES = 128

    def __init__(self, path):
        self.path = Path(path)
        self.temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        self.file = open(self.temporary, "wb")
        self.length = 0
        self.file.write(self._header(0))

    def _header(self, length):
        text = "{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }" % length
        text = text.ljust(self.HEADER_BYTES - 10 - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")

    def __call__(self, pages):
        self.file.write(pages.astype("<i4", copy=False).tobytes())
        self.length += pages.size

    def close(self, force):
        self.file.seek(0)
        self.file.write(self._header(self.length))
        self.file.close()
        if self.path.exists() and not force:
            self.abort()
            raise FileExistsError(f"{self.path} appeared while the trace was written; not overwritten")
        os.replace(self.temporary, self.path)

    def abort(self):
        self.file.close()
        self.temporary.unlink(missing_ok=True)


def _write_sidecar(path, info, force):
    side = sidecar_path(path)
    if side.exists() and not force:
        raise FileExistsError(f"{side} exists; pass force=True (--force) to overwrite it")
    temporary = side.with_name(f".{side.name}.{os.getpid()}.partial")
    temporary.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(temporary, side)


def _describe(info, page_size, source):
    from . import __version__

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


def save_trace(trace: Trace, path, force: bool = False) -> Path:
    """Save ``trace.pages`` as an int32 ``.npy`` file and ``trace.info`` as its JSON sidecar.

    Raises
    ------
    FileExistsError
        If either file exists and ``force`` is false.
    ValueError
        If the pages are not dense page numbers ``0 .. n - 1`` fitting in int32.
    """
    path, _ = _check_outputs(path, force)
    pages = np.asarray(trace.pages)
    if pages.ndim != 1 or not np.issubdtype(pages.dtype, np.integer):
        raise ValueError(f"trace pages must be a 1-D integer array, got {pages.dtype} of shape {pages.shape}")
    if pages.size and (pages.min() < 0 or pages.max() > MAX_DISTINCT_PAGES):
        raise ValueError("trace pages must be dense page numbers from 0 that fit in int32")
    writer = _NpyAppender(path)
    try:
        writer(pages)
        writer.close(force)
    except BaseException:
        writer.abort()
        raise
    _write_sidecar(path, dict(trace.info), force)
    return path


def load_trace(path) -> Trace:
    """Read a trace saved by memtier (``.npy`` plus its JSON sidecar, if present)."""
    path = Path(path)
    pages = np.load(path, allow_pickle=False)
    side = sidecar_path(path)
    info = json.loads(side.read_text()) if side.exists() else {}
    return Trace(pages=pages, info=info)


# --- public entry points ----------------------------------------------------------------------


def _progress_bar(enabled, total, description):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=description,
                leave=False)


def _parse_stream(stream, name, page_size, instructions, chunk_bytes, sink, progress):
    parser = _LackeyParser(page_size, instructions, chunk_bytes, name)
    accesses = [0]

    def counting_sink(pages):
        accesses[0] += pages.size
        sink(pages)

    try:
        info = parser.run(stream, counting_sink, progress)
    finally:
        if progress is not None:
            progress.close()
    info["accesses"] = accesses[0]
    return parser, info


def parse_lackey(source, page_size="4K", instructions: bool = False,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Trace:
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
        Bytes read at a time.

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

    if isinstance(source, (bytes, bytearray, memoryview)):
        stream, name, owned = io.BytesIO(bytes(source)), "the given text", True
    elif hasattr(source, "readinto"):
        stream, name, owned = source, getattr(source, "name", "the given stream"), False
    else:
        path = Path(source)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder, not a lackey log")
        stream, name, owned = open(path, "rb"), str(path), True
    pieces = []
    try:
        parser, info = _parse_stream(stream, name, page_size, instructions, chunk_bytes,
                                     lambda pages: pieces.append(pages.copy()), None)
    finally:
        if owned:
            stream.close()
    pages = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int32)
    return Trace(pages=pages, info=_describe(info, parser.page_size, {"kind": "lackey text", "name": name}),
                 page_addresses=parser.page_addresses())


def convert_lackey(log, out, page_size="4K", instructions: bool = False, force: bool = False,
                   progress: bool = False, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict:
    """Convert a saved lackey log into a trace file ``out`` (``.npy``) and its JSON sidecar.

    The log is streamed: memory stays constant whatever its length.  Returns the sidecar's
    contents.  Raises :class:`FileExistsError` if ``out`` or its sidecar exists and ``force``
    is false, :class:`LackeyFormatError` if ``log`` is not a lackey log.
    """
    log = Path(log)
    if not log.is_file():
        raise FileNotFoundError(f"lackey log {log} does not exist or is not a file")
    out, _ = _check_outputs(out, force)
    writer = _NpyAppender(out)
    try:
        with open(log, "rb") as stream:
            bar = _progress_bar(progress, log.stat().st_size, log.name)
            parser, info = _parse_stream(stream, str(log), page_size, instructions, chunk_bytes,
                                         writer, bar)
        info = _describe(info, parser.page_size, {"kind": "lackey log", "path": str(log.resolve())})
        writer.close(force)
    except BaseException:
        writer.abort()
        raise
    _write_sidecar(out, info, force)
    return info


def valgrind_path() -> str:
    """The valgrind executable, or :class:`ValgrindNotFound` saying how to install it."""
    found = shutil.which("valgrind")
    if found is None:
        raise ValgrindNotFound(f"valgrind is not installed; {INSTALL_HINT}")
    return found


def record(program, out=None, page_size="4K", instructions: bool = False, force: bool = False,
           progress: bool = False, program_output=None, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
    """Run ``program`` under valgrind's lackey and turn its accesses into a page trace.

    Lackey's text goes through a pipe straight into the parser; it is never written to disk.

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
        Show a progress bar (bytes of lackey text parsed).
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
        raise ValueError("no program given; e.g. record(['ls', '/'])")
    valgrind = valgrind_path()
    if shutil.which(program[0]) is None:
        raise FileNotFoundError(f"program {program[0]!r} not found (not a file, not on PATH)")
    if out is not None:
        out, _ = _check_outputs(out, force)
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True).stdout.strip()
    read_end, write_end = os.pipe()
    pieces = []
    writer = _NpyAppender(out) if out is not None else None
    sink = writer if writer is not None else (lambda pages: pieces.append(pages.copy()))
    try:
        process = subprocess.Popen(
            [valgrind, "--tool=lackey", "--trace-mem=yes", f"--log-fd={write_end}", *program],
            pass_fds=(write_end,), stdin=subprocess.DEVNULL,
            stdout=program_output, stderr=program_output)
        os.close(write_end)
        write_end = None
        try:
            with os.fdopen(read_end, "rb", buffering=0) as stream:
                read_end = None
                bar = _progress_bar(progress, None, program[0])
                parser, info = _parse_stream(stream, f"valgrind's output for {program[0]}",
                                             page_size, instructions, chunk_bytes, sink, bar)
        finally:
            if process.poll() is None:
                process.kill()
            status = process.wait()
        info = _describe(info, parser.page_size, {"kind": "valgrind lackey", "program": program,
                                                  "valgrind": version, "exit_status": status})
        if writer is not None:
            writer.close(force)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        for end in (read_end, write_end):
            if end is not None:
                os.close(end)
    if writer is None:
        pages = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int32)
        return Trace(pages=pages, info=info, page_addresses=parser.page_addresses())
    _write_sidecar(out, info, force)
    return info
