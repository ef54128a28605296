"""The lackey text parser: a numba kernel over byte chunks and the loop that feeds it.

Used by :mod:`memtier.traces.lackey`; the format and the modelling choices are described there.
The kernel handles lines split across chunk boundaries (a line is consumed whole or not at
all), a truncated final line, and lines longer than a whole chunk; it renumbers pages densely
with an open-addressing hash table held in numpy arrays, which the caller doubles when it is
half full.  Memory is the read buffer, the output buffer and the table: it grows with the
distinct pages, never with the length of the log.

A saved log is parsed on every core (:func:`parse_file`): memory-mapped, cut into slices at
line ends, each worker thread numbering pages in its own table (the kernel releases the GIL),
the tables merged in file order so that the trace is the one a single core would give.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from .._jit import load_kernel, njit_quick_load
from ..measurement.schema import parse_page_size

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
#: The value of each byte as a hexadecimal digit, 16 for a byte that is not one.  One lookup
#: instead of three range tests: the digits of an address alternate unpredictably between
#: 0-9 and a-f, and the tests' branches were mispredicted at a good share of the digits.
_HEX_VALUE = np.full(256, 16, dtype=np.uint8)
_HEX_VALUE[ord("0"):ord("9") + 1] = np.arange(10)
_HEX_VALUE[ord("a"):ord("f") + 1] = np.arange(10, 16)
_HEX_VALUE[ord("A"):ord("F") + 1] = np.arange(10, 16)


class LackeyFormatError(ValueError):
    """Input that is not a lackey log (``valgrind --tool=lackey --trace-mem=yes`` output)."""


# --- the kernel -----------------------------------------------------------------------------


@njit_quick_load
def _parse_lackey(buf, pos, end, final, shift, instructions, hash_shift, keys, ids, id_keys,
                  last_page, state, counts, out, out_writes):
    """Parse the complete lines of ``buf[pos:end]`` into dense page numbers in ``out``, and
    in ``out_writes`` whether each access writes (``S`` and ``M`` lines: a modify reads and
    writes the same bytes).

    ``keys``/``ids`` are the open-addressing table (page -> dense id); ``id_keys[id]`` is the
    page of each dense id, in first-touch order (the parallel parser merges tables with it).

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
        # Fast path: a well-formed line, read in one pass (most lines are).  Anything else is
        # left to the careful path below, which finds the line's end first and classifies it.
        good = False
        kind = -1
        address = np.uint64(0)
        size = 0
        nl = pos
        if pos + 3 < end and buf[pos + 2] == 32:
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
            if kind == _INSTRUCTIONS and not instructions:
                nl = pos + 3
                while nl < end and buf[nl] != 10:
                    nl += 1
                if nl < end:
                    stop = nl
                    if buf[stop - 1] == 13:
                        stop -= 1
                    if stop - pos >= 6:
                        counts[_INSTRUCTIONS] += 1
                        pos = nl + 1
                        continue
            elif kind >= 0:
                p = pos + 3
                digits = 0
                while p < end:
                    d = _HEX_VALUE[buf[p]]
                    if d == 16:
                        break
                    address = (address << np.uint64(4)) | np.uint64(d)
                    digits += 1
                    p += 1
                if 0 < digits <= 16 and p < end and buf[p] == 44:
                    p += 1
                    size_digits = 0
                    while p < end and 48 <= buf[p] <= 57:
                        size = size * 10 + (buf[p] - 48)
                        size_digits += 1
                        p += 1
                    if 0 < size_digits <= 12 and p < end:
                        if buf[p] == 10:
                            nl = p
                            good = True
                        elif buf[p] == 13 and p + 1 < end and buf[p + 1] == 10:
                            nl = p + 1
                            good = True
        if not good:
            kind = -1
            address = np.uint64(0)
            size = 0
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
                d = _HEX_VALUE[buf[p]]
                if d == 16:
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
                        id_keys[n_distinct] = page
                        last_id = n_distinct
                        n_distinct += 1
                        break
                    slot = (slot + 1) & mask
                last_page[0] = page
            out[n_out] = last_id
            out_writes[n_out] = kind == _STORES or kind == _MODIFIES
            n_out += 1
        counts[kind] += 1
        if n_touched > 1:
            counts[_CROSSINGS] += 1
        pos = nl + 1
    state[_N_DISTINCT] = n_distinct
    state[_LAST_ID] = last_id
    return pos, n_out, why


@njit_quick_load
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


@njit_quick_load
def _merge_ids(id_keys, first, stop, hash_shift, keys, ids, global_id_keys, state, mapping):
    """Global dense ids of one worker's new pages ``id_keys[first:stop]`` (in the order the
    worker first met them), written to ``mapping[first:stop]``.

    A page the global table lacks gets the next global id, so pages are numbered in
    first-touch order over the whole log when the slices are merged in file order.  The caller
    makes sure the table has room for ``stop - first`` more pages.
    """
    mask = keys.size - 1
    n_distinct = state[_N_DISTINCT]
    for i in range(first, stop):
        page = id_keys[i]
        slot = np.int64((page * _GOLDEN) >> hash_shift)
        while True:
            key = keys[slot]
            if key == page:
                mapping[i] = ids[slot]
                break
            if key == _EMPTY:
                keys[slot] = page
                ids[slot] = n_distinct
                global_id_keys[n_distinct] = page
                mapping[i] = n_distinct
                n_distinct += 1
                break
            slot = (slot + 1) & mask
    state[_N_DISTINCT] = n_distinct


_LOADED = set()


def _load_kernels(readonly_input: bool) -> None:
    """Load the kernels' machine code for the argument types the parsers pass (the input
    bytes read-only from a memory-mapped file, writable from a stream), before the first
    call: :func:`memtier._jit.load_kernel`."""
    if readonly_input in _LOADED:
        return
    from numba import types

    def array(dtype, readonly=False):
        return types.Array(dtype, 1, "C", readonly=readonly)

    u64, i64, i32 = array(types.uint64), array(types.int64), array(types.int32)
    load_kernel(_parse_lackey, (array(types.uint8, readonly_input), types.int64, types.int64, types.boolean,
                                types.uint64, types.boolean, types.uint64, u64, i32, u64, u64, i64, i64, i32,
                                array(types.uint8)))
    load_kernel(_rehash, (u64, i32, u64, i32, types.uint64))
    load_kernel(_merge_ids, (u64, types.int64, types.int64, types.uint64, u64, i32, u64, i64, i32))
    _LOADED.add(readonly_input)


# --- the streaming parser -------------------------------------------------------------------


class LackeyParser:
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
        # room for a chunk of the shortest access lines (" L 0,1\n", 7 bytes) each crossing a
        # page boundary; a chunk of wider accesses makes the kernel return _OUT_FULL and resume
        self.out = np.empty(max(2 * (chunk_bytes // 7 + 1), MAX_PAGES_PER_ACCESS), dtype=np.int32)
        self.out_writes = np.empty(self.out.size, dtype=np.uint8)
        self.bytes_parsed = 0
        self.head = b""
        self.judged = False

    def _table(self, capacity):
        self.keys = np.full(capacity, _EMPTY, dtype=np.uint64)
        self.ids = np.zeros(capacity, dtype=np.int32)
        self.hash_shift = np.uint64(64 - (capacity.bit_length() - 1))
        old = getattr(self, "id_keys", np.empty(0, dtype=np.uint64))
        self.id_keys = np.empty(capacity // 2, dtype=np.uint64)  # the table is at most half full
        self.id_keys[:old.size] = old

    def _grow(self):
        if 2 * self.state[_N_DISTINCT] >= MAX_DISTINCT_PAGES:
            raise ValueError(f"{self.name} touches more than {MAX_DISTINCT_PAGES} distinct pages; "
                             "use a larger page size")
        old_keys, old_ids = self.keys, self.ids
        self._table(2 * old_keys.size)
        _rehash(old_keys, old_ids, self.keys, self.ids, self.hash_shift)

    def _parse(self, buf, pos, end, final):
        return _parse_lackey(buf, pos, end, final, self.shift, self.instructions, self.hash_shift,
                             self.keys, self.ids, self.id_keys, self.last_page, self.state,
                             self.counts, self.out, self.out_writes)

    def parse_slice(self, buf, final):
        """Parse all of ``buf`` (whole lines; ``final``: the log's last piece) into this
        parser's own dense ids.  Returns the id arrays, the first new id and the matching
        write flags.  Runs in a worker thread: the kernel releases the GIL."""
        first_new = int(self.state[_N_DISTINCT])
        pieces, write_pieces = [], []
        pos = 0
        while True:
            pos, n_out, why = self._parse(buf, pos, buf.size, final)
            if n_out:
                pieces.append(self.out[:n_out].copy())
                write_pieces.append(self.out_writes[:n_out].copy())
            if why == _GROW:
                self._grow()
            elif why == _DONE:
                break
        if pos != buf.size:  # a slice always ends with a newline, or is the last one
            raise RuntimeError(f"lackey slice parsed to {pos} of {buf.size} bytes")
        return pieces, first_new, write_pieces

    def run(self, stream, sink, progress=None, write_sink=None):
        """Parse everything ``stream`` (a binary file object) yields; pass page arrays to
        ``sink`` and, with ``write_sink``, the matching write flags (uint8) to it."""
        _load_kernels(readonly_input=False)
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
                pos, n_out, why = self._parse(buf, pos, filled, final)
                if n_out:
                    sink(self.out[:n_out])
                    if write_sink is not None:
                        write_sink(self.out_writes[:n_out])
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

    def _judge(self, counts=None):
        """Refuse input whose first lines are mostly not lackey's."""
        counts = self.counts if counts is None else counts
        self.judged = True
        known = int(counts[:_UNRECOGNISED].sum())
        if counts[_UNRECOGNISED] > known:
            raise LackeyFormatError(self._not_lackey(
                f"{counts[_UNRECOGNISED]} of its first {known + counts[_UNRECOGNISED]} "
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
        return self.id_keys[:int(self.state[_N_DISTINCT])] << self.shift


# --- the parallel parser of a file --------------------------------------------------------------


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _slice_bounds(view, size, nominal):
    """Cut ``view[0:size]`` into slices of about ``nominal`` bytes, each ending just after a
    newline (or at ``size``); returns ``(start, stop)`` pairs in file order."""
    bounds, start = [], 0
    while start < size:
        stop = start + nominal
        if stop >= size:
            stop = size
        else:
            newline = view.find(b"\n", stop - 1, size)
            stop = size if newline < 0 else newline + 1
        bounds.append((start, stop))
        start = stop
    return bounds


#: Slices the workers may parse ahead of the merge, per worker: enough that a worker never
#: waits for the merge, few enough that the parsed-but-unmerged output stays small.
AHEAD_PER_WORKER = 4


class _Slices:
    """Hands the slices of a file to the worker threads and their results to the merge.

    Each worker takes the next slice not yet taken (so a worker that is slowed down, by
    another process on its core for instance, takes fewer, and none waits for the other),
    always in file order, which is what its own page numbering needs; the merge takes the
    results in file order.  No worker runs more than ``ahead`` slices past the merge.
    """

    def __init__(self, count, ahead):
        self.count, self.ahead = count, ahead
        self.taken = self.merged = 0
        self.results = {}
        self.stopped = False
        self.changed = threading.Condition()

    def take(self):
        """The index of the next slice to parse, or ``None`` when there is none (or the
        merge stopped)."""
        with self.changed:
            while not self.stopped and self.taken < self.count and self.taken >= self.merged + self.ahead:
                self.changed.wait()
            if self.stopped or self.taken >= self.count:
                return None
            self.taken += 1
            return self.taken - 1

    def give(self, index, result):
        with self.changed:
            self.results[index] = result
            self.changed.notify_all()

    def result(self, index):
        """Wait for slice ``index``'s result (slices are merged in file order)."""
        with self.changed:
            while index not in self.results:
                self.changed.wait()
            self.merged = index + 1
            self.changed.notify_all()
            return self.results.pop(index)

    def stop(self):
        with self.changed:
            self.stopped = True
            self.changed.notify_all()


def _parse_slices(view, size, merged, parsers, mappings, workers, sink, progress, write_sink=None):
    data = np.frombuffer(view, dtype=np.uint8)
    merged.head = bytes(view[:80])
    bounds = _slice_bounds(view, size, parsers[0].chunk_bytes)
    slices = _Slices(len(bounds), AHEAD_PER_WORKER * workers)

    def work(k):
        parser = parsers[k]
        while (index := slices.take()) is not None:
            start, stop = bounds[index]
            try:
                pieces, first_new, write_pieces = parser.parse_slice(data[start:stop], stop == size)
                # what the merge needs of this slice, as it is now: the worker goes on
                # numbering pages (in its ``id_keys`` past ``last_new``, or in a new array
                # when its table grows) while the merge reads these
                result = (k, pieces, write_pieces, first_new, int(parser.state[_N_DISTINCT]),
                          parser.id_keys, parser.counts.copy())
            except BaseException as error:  # noqa: BLE001 - raised by the merge, in order
                result = error
            slices.give(index, result)

    threads = [threading.Thread(target=work, args=(k,), name=f"memtier-lackey-{k}", daemon=True)
               for k in range(workers)]
    for thread in threads:
        thread.start()
    counts = [np.zeros_like(merged.counts) for _ in range(workers)]
    try:
        for index, (start, stop) in enumerate(bounds):
            result = slices.result(index)
            if isinstance(result, BaseException):
                raise result
            k, pieces, write_pieces, first_new, last_new, id_keys, parser_counts = result
            counts[k] = parser_counts
            while merged.state[_N_DISTINCT] + (last_new - first_new) > merged.keys.size // 2:
                merged._grow()
            if last_new > mappings[k].size:
                grown = np.empty(max(last_new, 2 * mappings[k].size), dtype=np.int32)
                grown[:mappings[k].size] = mappings[k]
                mappings[k] = grown
            _merge_ids(id_keys, first_new, last_new, merged.hash_shift, merged.keys, merged.ids,
                       merged.id_keys, merged.state, mappings[k])
            for piece, writes in zip(pieces, write_pieces):
                sink(mappings[k][piece])
                if write_sink is not None:
                    write_sink(writes)
            merged.bytes_parsed = stop
            merged.counts = np.sum(counts, axis=0)
            if progress is not None:
                progress.update(stop - start)
            if not merged.judged and (stop >= SNIFF_BYTES or stop == size):
                merged._judge()
    finally:
        slices.stop()
        for thread in threads:
            thread.join()


def parse_file(path, page_size, instructions, chunk_bytes, sink, progress=None, workers=None,
               write_sink=None):
    """Parse a lackey log file on ``workers`` cores; pass page arrays (global dense ids, in
    file order) to ``sink`` and, with ``write_sink``, their write flags (uint8) to it.  Returns the merged parser (its table and counts) and the counts.

    The file is memory-mapped and cut into slices of ``chunk_bytes``, each ending at a line
    end.  Every worker thread takes the next slice free, in file order, and parses it with its
    own page table, numbering pages in the order *it* first met them.  This thread merges the
    slices in file order as they come: a worker's new pages are looked up in the global table,
    and those it lacks get the next global ids, so the result is the same first-touch
    numbering the one-core parser gives.  The workers do not wait for each other or for the
    merge (they run at most :data:`AHEAD_PER_WORKER` slices each ahead of it), so all cores
    stay busy to the end.  Memory is those slices' output and the tables, whatever the log's
    length.
    """
    import mmap

    workers = default_workers() if workers is None else max(1, int(workers))
    merged = LackeyParser(page_size, instructions, MIN_CHUNK_BYTES, str(path))
    parsers = [LackeyParser(page_size, instructions, chunk_bytes, str(path)) for _ in range(workers)]
    mappings = [np.empty(1 << 15, dtype=np.int32) for _ in range(workers)]
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            raise LackeyFormatError(merged._not_lackey("it is empty"))
        view = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        if hasattr(mmap, "MADV_SEQUENTIAL"):
            view.madvise(mmap.MADV_SEQUENTIAL)
        _load_kernels(readonly_input=True)
        _parse_slices(view, size, merged, parsers, mappings, workers, sink, progress, write_sink)
    finally:
        try:
            view.close()
        except BufferError:  # an array still points into it (an exception's traceback): GC closes it
            pass
    if merged.accesses_lines == 0:
        raise LackeyFormatError(merged._not_lackey("it holds no lackey access lines"))
    return merged, merged.info()
