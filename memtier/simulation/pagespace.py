"""The pages a simulation holds: sparse page numbers renumbered, and memory checked first.

The simulator keeps a few bytes per page of its address space ``0 .. n_pages - 1``.  A trace
of real addresses shifted by 12 bits (or any trace whose page numbers are spread over a huge
range) would make it allocate for every page of the range, touched or not: two pages, 0 and
2**30, would take gigabytes.  So at the simulator's boundary, before anything is allocated:

* A trace is **renumbered densely** when its range of page numbers is larger than it could
  fill, that is, more pages than accesses (and more than :data:`SPARSE_MIN_PAGES`, below which
  the range costs little and page numbers are kept as given).  Pages are numbered in
  first-touch order, as ``memtier trace convert`` numbers a lackey log's pages
  (:mod:`memtier.traces.lackey`).  A renumbering changes nothing the policies see: no policy looks at
  page numbers, only at which accesses touch the same page and in what order.  The result
  keeps the original number of every dense page (``SimulationResult.page_numbers``), so results
  map back: dense page ``i`` is page ``page_numbers[i]`` of the trace.
* The **memory the run will need** is estimated (:func:`simulation_bytes`) and a run that would
  not fit in what this process can have (:func:`memtier.limits.available_memory`) is refused
  with the estimate.

The renumbering reads the trace chunk by chunk (a memory-mapped trace is never loaded whole);
it needs the dense trace (4 bytes per access) and the distinct pages (about 24 bytes each).
"""
from __future__ import annotations

import numpy as np

from .._jit import njit
from ..limits import INT64_MAX, check_memory, format_bytes

#: Below this many pages a range is kept as it is, even when sparse: it costs at most a few tens
#: of MB, and small traces then keep their own page numbers.
SPARSE_MIN_PAGES = 1 << 20
#: Accesses read at once while scanning or renumbering a trace.
CHUNK_ACCESSES = 1 << 22


def _chunks(trace, chunk: int):
    for start in range(0, len(trace), chunk):
        yield start, np.asarray(trace[start:start + chunk])


@njit
def _min_max(part):
    """Smallest and largest value of a non-empty integer array, in one pass (numpy's
    ``min()`` and ``max()`` read it twice: 10.6 -> 5-8 ms on a 20 M-access trace, the
    validation pass of every simulation)."""
    low = high = part[0]
    for i in range(part.shape[0]):
        value = part[i]
        low = min(low, value)
        high = max(high, value)
    return low, high


def page_range(trace, chunk: int = CHUNK_ACCESSES) -> tuple[int, int]:
    """Smallest and largest page number of a non-empty integer trace, read chunk by chunk."""
    low = high = None
    for _, part in _chunks(trace, chunk):
        part_low, part_high = _min_max(np.ascontiguousarray(part))
        part_low, part_high = int(part_low), int(part_high)
        low = part_low if low is None else min(low, part_low)
        high = part_high if high is None else max(high, part_high)
    return low, high


def is_sparse(high: int, n_accesses: int) -> bool:
    """Whether a trace whose largest page is ``high`` is renumbered: its range holds more pages
    than it has accesses (so most of the range is never touched) and more than
    :data:`SPARSE_MIN_PAGES`."""
    return high + 1 > max(int(n_accesses), SPARSE_MIN_PAGES)


def renumber(trace, chunk: int = CHUNK_ACCESSES) -> tuple[np.ndarray, np.ndarray]:
    """Page numbers renumbered densely from 0 in first-touch order.

    Parameters
    ----------
    trace : array of int, shape (n_accesses,)
        Non-negative page numbers (a memory-mapped array is read chunk by chunk).
    chunk : int
        Accesses read at once.

    Returns
    -------
    dense : numpy.ndarray of int32, shape (n_accesses,)
        ``dense[i]`` is the ``k``-th distinct page the trace touched, counting from 0.
    page_numbers : numpy.ndarray of int64 (uint64 for a uint64 trace), shape (n_distinct,)
        The original page number of each dense page: ``page_numbers[dense] == trace``.
    """
    n_accesses = len(trace)
    dense = np.empty(n_accesses, dtype=np.int32)
    key_dtype = np.uint64 if np.asarray(trace[:1]).dtype == np.uint64 else np.int64
    known = np.empty(0, dtype=key_dtype)  # distinct pages seen so far, sorted
    known_ids = np.empty(0, dtype=np.int64)  # their dense numbers, in the same order
    next_id = 0
    for start, part in _chunks(trace, int(chunk)):
        unique, first, inverse = np.unique(part.astype(key_dtype, copy=False), return_index=True,
                                           return_inverse=True)
        position = np.searchsorted(known, unique)
        found = np.zeros(unique.size, dtype=bool)
        inside = position < known.size
        found[inside] = known[position[inside]] == unique[inside]
        ids = np.empty(unique.size, dtype=np.int64)
        ids[found] = known_ids[position[found]]
        new = np.flatnonzero(~found)
        # new pages take the next numbers in the order the chunk first touches them
        order = np.argsort(first[new], kind="stable")
        ids[new[order]] = next_id + np.arange(new.size)
        next_id += new.size
        if next_id > np.iinfo(np.int32).max:
            raise ValueError(f"the trace touches more than {np.iinfo(np.int32).max} distinct pages; "
                             "the simulator numbers pages with int32")
        known = np.insert(known, position[new], unique[new])
        known_ids = np.insert(known_ids, position[new], ids[new])
        dense[start:start + part.size] = ids[inverse.ravel()]
    page_numbers = np.empty(next_id, dtype=key_dtype)
    page_numbers[known_ids] = known
    return dense, page_numbers


def distinct_pages(trace, chunk: int = CHUNK_ACCESSES) -> int:
    """Number of distinct page numbers in a trace, read chunk by chunk."""
    seen = np.empty(0, dtype=np.int64)
    for _, part in _chunks(trace, int(chunk)):
        seen = np.union1d(seen, np.unique(part.astype(np.int64, copy=False)))
    return int(seen.size)


def address_space(trace, n_pages: int | None = None) -> int:
    """Pages the simulator will hold for ``trace``: ``n_pages`` when given; else the distinct
    pages when the trace is renumbered (:func:`is_sparse`), else the largest page + 1.  Shares
    of pages on the command line (``--fast-capacity 10%``) are shares of this."""
    if n_pages is not None:
        return int(n_pages)
    low, high = page_range(trace)
    if low < 0:
        raise ValueError(f"trace holds a negative page number ({low}); page numbers start at 0")
    if is_sparse(high, len(trace)):
        return distinct_pages(trace)
    return high + 1


def prepare(trace, low: int, high: int, n_pages: int | None, chunk: int = CHUNK_ACCESSES):
    """The simulator's boundary step for page numbers.

    Returns ``(trace, n_pages, high, page_numbers)``: the trace unchanged and ``page_numbers``
    None, or, for a sparse trace with ``n_pages`` not given, the dense trace, its number of
    pages, its largest page and the original number of each.  The renumbering's memory is checked first.
    """
    if n_pages is not None or not is_sparse(high, len(trace)):
        return trace, n_pages, high, None
    check_memory(len(trace) * 4 + min(len(trace), high + 1) * 24 + chunk * 48,
                 f"renumbering a trace of {len(trace):,} accesses over page numbers {low}..{high}",
                 "use a shorter trace")
    dense, page_numbers = renumber(trace, chunk)
    return dense, int(page_numbers.size), int(page_numbers.size) - 1, page_numbers


def simulation_bytes(n_pages: int, n_accesses: int, *, fast_capacity: int, slow_capacity: int,
                     period: int, chunk: int, batch_pages: int, trace_itemsize: int = 8) -> int:
    """Bytes a simulation will allocate (an upper estimate, every policy).

    Per page: flags (1 byte), an access count or the LRU's record (up to 8), list ring buffers
    (4 per page of each node's limit, two lists per node), cold-page and oracle buffers (4 per
    fast page) and the final node (1, plus temporaries of 8 while it is computed).  Per chunk of
    accesses: the chunk read and converted (``itemsize + 4`` per access) and its period rows.
    Per period: the result rows, as the kernels write them and as a table (3 copies of about
    35 float columns).  Per batch page: the cost model's table of call costs.
    """
    n_pages = int(n_pages)
    fast = min(int(fast_capacity), n_pages)
    slow = min(int(slow_capacity), n_pages)
    periods = -(-int(n_accesses) // max(1, int(period)))
    per_page = 1 + 8 + 1 + 8
    lists = 4 * (2 * fast + 2 * slow) + 4 * fast + 4 * 2 * (1 << max(1, 8 * fast - 1).bit_length())
    window = min(int(period), n_pages) * 4 + min(int(period), int(n_accesses), 1 << 16) * 4
    chunk_bytes = min(int(chunk), int(n_accesses)) * (trace_itemsize + 4)
    rows = periods * 35 * 8 * 3 + (-(-min(int(chunk), int(n_accesses)) // max(1, int(period)))) * 13 * 8
    return n_pages * per_page + lists + window + chunk_bytes + rows + int(batch_pages) * 128


def check_run(n_pages: int, n_accesses: int, *, max_migrate_pages=None, **sizes) -> None:
    """The simulator's last boundary check, before it allocates: every whole number fits the
    kernels' int64, and the run fits in memory (:func:`simulation_bytes`)."""
    for name, value in dict(sizes, n_pages=n_pages, max_migrate_pages=max_migrate_pages).items():
        if value is not None and int(value) > INT64_MAX:
            raise ValueError(f"{name}={value} is too large; the simulator's kernels hold at most {INT64_MAX} (2^63 - 1)")
    check_simulation_memory(n_pages, n_accesses, **sizes)


def check_simulation_memory(n_pages: int, n_accesses: int, **sizes) -> None:
    """Refuse, with the estimate, a simulation that would not fit in memory."""
    needed = simulation_bytes(n_pages, n_accesses, **sizes)
    check_memory(needed, f"simulating {n_accesses:,} accesses over {n_pages:,} pages "
                 f"(batches of {sizes.get('batch_pages')} pages, periods of {sizes.get('period'):,} accesses)",
                 "use fewer pages, a longer period or smaller batches")


__all__ = ["SPARSE_MIN_PAGES", "address_space", "check_run", "check_simulation_memory", "distinct_pages", "format_bytes",
           "is_sparse", "page_range", "prepare", "renumber", "simulation_bytes"]
