"""Numba kernels of the reference policies: the fast node as an exact LRU cache, the
clairvoyant oracle and the reactive oracle.  Private, like :mod:`memtier.simulation.policies.active_shrink`, whose flags, state slots and output columns they
share; the public entry point is :func:`memtier.simulate`.

The LRU is a queue of accesses with lazy deletion (see :func:`_run_lru`); the test suite
checks its decisions against libCacheSim's LRU and a pure-Python reference.
"""
import numpy as np

from ..._jit import njit, prefetch
from ..hotset import AHEAD, _threshold, _true_hot_set
from .active_shrink import (
    C_ACCESSES, C_DEMOTED, C_FAST_BEFORE, C_FAST_HITS, C_FAST_USED, C_MIGRATION_US, C_PROMOTED,
    C_REACTIVE_HITS, C_SLOW_USED, F_PERIOD, F_UNIT_FAST, F_UNIT_SLOW, FAST, FS_REMAINING, IN_TRUE_SET,
    K_BATCH_PAGES, K_CALL_PAGES, K_FAST_CAPACITY, NEW, PRESENT, S_DISTINCT, S_FAST_USED,
    S_LRU_HEAD, S_LRU_TAIL, S_N_TOP, S_PERIOD, S_SLOW_USED, S_TOUCHED, STATIC_FAST, _calls_cost_us,
    _mark_move,
    _score,
    _write_scores,
)

#: Fields of the LRU's per-page records, and the ``[SLOT]`` of a page not on the fast node
#: (``UNTOUCHED``: never accessed yet; ``NOT_CACHED``: accessed, now on the slow node).
#: ``[COUNT]`` is ``2 * accesses in the period + STATIC_BIT`` (see :func:`_score_lru`).
SLOT, COUNT = range(2)
STATIC_BIT = 1
UNTOUCHED, NOT_CACHED = -2, -1
#: A queue entry whose page was accessed again later (its newer entry is the live one).
HOLE = -1
#: Accesses ahead whose page record is prefetched: enough to cover a cache miss (about
#: 100 ns at ~10 ns an access); 8 to 64 measured within 3 % of each other.
PREFETCH_DISTANCE = 16
#: Touched pages ahead whose record :func:`_score_lru` prefetches (64: a uniform period's
#: ~630 000 touched pages gathered in 2.2 ms against 3.3 ms at 16, best of 5, shared VM).
SCORE_AHEAD = 64


#: The LRU's queue holds at least this many times the pages the fast node can hold.
QUEUE_FACTOR = 8


def lru_queue_slots(fast_capacity: int, n_pages: int) -> int:
    """Length of the LRU's queue: a power of two (slots are ``position & (length - 1)``) of
    at least ``QUEUE_FACTOR`` times the pages the fast node can hold, so that a compaction,
    which keeps at most that many, frees at least 7/8 of the queue.  A compaction writes the
    record of every page it keeps (a cache miss each, on a large trace), so its cost per
    access falls as the queue grows: at twice the fast node (the first choice), compactions
    took about a third of the kernel's time on the zipf-1.2 trace of
    ``benchmarks/bench_simulator.py``, which ran 11 % faster at 4x and 14 % at 8x (16x no
    faster; 2-core VM, shared, best of 4), for 4 bytes a slot."""
    return 1 << max(1, QUEUE_FACTOR * min(fast_capacity, n_pages) - 1).bit_length()


@njit
def _close_lru_period(row, config, fconfig, migrate_cost, records, touched, histogram, top, state, moved, out):
    """Charge the period's moves (in calls of ``batch_pages``) and score the period."""
    batch = config[K_BATCH_PAGES]
    out[row, C_MIGRATION_US] = (_calls_cost_us(np.int64(out[row, C_PROMOTED]), batch, migrate_cost)
                                + _calls_cost_us(np.int64(out[row, C_DEMOTED]), batch, migrate_cost))
    _score_lru(row, config, records, touched, histogram, top, state, moved, out)
    out[row, C_FAST_BEFORE] = state[S_FAST_USED]
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_DISTINCT] - state[S_FAST_USED]
    state[S_PERIOD] += 1


@njit
def _score_lru(row, config, records, touched, histogram, top, state, gathered, out):
    """:func:`memtier.simulation.policies.active_shrink._score` for the LRU, the same
    figures in the same order from the LRU's records: ``lru`` judges no decision, so only
    the top pages, their share fast at first access, the reactive oracle's and first-touch
    placement's accesses are scored; ``S_N_MOVED`` stays 0 (no page is marked).

    Why a score of its own: the period's end is the larger share of ``lru``'s time on
    traces whose periods touch many pages (uniform: ~600 000 a period), and ``_score``
    reads two random lines a touched page: its count (the record) and its ``flags`` (for
    ``STATIC_FAST``).  Here the record's ``COUNT`` carries ``STATIC_BIT`` beside twice the
    count (so one period may count at most 2**30 - 1 accesses of a page), and the counts
    are gathered into ``gathered`` (the LRU's ``moved`` array, unused otherwise: no array
    allocated a period)."""
    n_touched = state[S_TOUCHED]
    counts = records[COUNT::2]
    reactive_hits = 0
    n_top = state[S_N_TOP]
    for j in range(n_top):  # before the counts are reset
        prefetch(counts, np.uint64(top[min(j + AHEAD, n_top - 1)]))
        reactive_hits += counts[np.uint64(top[j])] >> 1
    last_bin = histogram.shape[0] - 1
    most = 0
    static_hits = 0
    last = n_touched - 1
    for i in range(n_touched):
        ahead = touched[min(i + SCORE_AHEAD, last)]
        ahead ^= ahead >> 31
        prefetch(counts, np.uint64(ahead))
        page = touched[i]
        page ^= page >> 31
        c = counts[np.uint64(page)]
        counts[np.uint64(page)] = c & STATIC_BIT
        n = c >> 1
        gathered[i] = n
        static_hits += n & -(c & STATIC_BIT)
        n = min(n, last_bin)
        histogram[n] += 1
        most = max(most, n)
    k, threshold, ties = _threshold(config[K_FAST_CAPACITY], histogram, most, gathered, touched, n_touched, False)
    top_fast = 0
    n_top = 0
    for i in range(n_touched):  # as _score's, without a branch (top has a slot past k)
        if n_top == k:  # the rest are below the threshold, or ties past the first
            break
        c = gathered[i]
        page = touched[i]
        tie = c == threshold
        taken = (c > threshold) | (tie & (ties > 0))
        ties -= taken & tie
        top[n_top] = page ^ (page >> 31)
        n_top += taken
        top_fast += taken & (page < 0)
    if state[S_PERIOD] == 0:
        reactive_hits = static_hits
    state[S_N_TOP] = n_top
    state[S_TOUCHED] = 0
    _write_scores(out, row, k, top_fast, static_hits, 0, 0, 0, 0)
    out[row, C_REACTIVE_HITS] = reactive_hits


@njit
def _run_lru(trace, final, config, fconfig, migrate_cost, records, flags, queue, touched, histogram, top,
             state, fstate, moved, pagestat, pending, out):
    """The fast node as an LRU cache of the slow one: an access to a page not on the fast
    node (its first access included: pages start on the slow node) is served slow, then the
    page is promoted and, the fast node full, the least recently used page demoted.
    Periods end as in :func:`memtier.simulation.policies.active_shrink._run_lists` (``pending`` carries the running one).

    Recency order is a queue of accesses with holes.  Every access appends its page at the
    queue's tail; the page's earlier entry, found through its record's slot, becomes a
    ``HOLE``.  So the live entries are the cached pages from least to most recently used,
    and the least recently used page is the first live entry from the head: eviction skips
    holes (sequential reads) and takes it.  Queue positions grow without end (``state``
    keeps head and tail, int64); a position's slot is ``position & mask``.  When the tail
    catches up with the head, :func:`_compact_lru` packs the live entries (at most
    ``capacity``, at most an eighth of the queue: :func:`lru_queue_slots`) towards the head.

    ``records`` holds each page's record, two int32 side by side (the ``(n_pages, 2)``
    array ``pages`` of :func:`memtier.simulation.simulator._run`, flattened):
    ``records[2 * page + SLOT]``, the page's queue slot (``NOT_CACHED`` off the fast node,
    ``UNTOUCHED`` before its first access), and ``records[2 * page + COUNT]``, its accesses
    in the period.  ``trace`` is read as unsigned (``uint32``; page numbers are checked
    non-negative before any kernel runs).  ``flags`` are written at a page's first access
    (``PRESENT``, ``STATIC_FAST``), not at every access; a hit at the page's first access of
    a period is kept in ``touched`` (``~page``, :mod:`memtier.simulation.hotset`).

    Why this rather than a doubly linked list: an access to a cached page reads and writes
    only its own record, plus one queue slot, where unlinking a list node also writes both
    neighbours' records, two more cache misses on a trace larger than the cache.  Holes,
    rather than checking at eviction whether an entry is still its page's newest, keep
    eviction from reading the records of long-gone entries.  The record of the page
    ``PREFETCH_DISTANCE`` accesses ahead is prefetched, so its miss overlaps the work on
    this one (the hit-or-miss branch is unpredictable; without the hint the processor
    cannot run far ahead of a load).  Measured before the simulated clock, kernel alone, on
    the first 30 M accesses of ``benchmarks/bench_simulator.py``'s trace (2-core x86 VM,
    accesses/s): this kernel 93-95 M; with a queue compacted back to position 0 whenever its
    end is reached 79 M, without the prefetch 62 M, and 48 M when also checking entries at
    eviction instead of leaving holes; a linked list 50-54 M through :func:`memtier.simulate`.
    """
    capacity = config[K_FAST_CAPACITY]
    unit_fast, unit_slow = fconfig[F_UNIT_FAST], fconfig[F_UNIT_SLOW]
    size = queue.shape[0]
    n = trace.shape[0]
    row = 0
    i = 0
    while i < n:
        remaining = fstate[FS_REMAINING]
        stop = min(n, i + max(1, np.int64(remaining / unit_slow)))
        head = state[S_LRU_HEAD]
        tail = state[S_LRU_TAIL]
        fast_used = state[S_FAST_USED]
        distinct = state[S_DISTINCT]
        n_touched = state[S_TOUCHED]
        hits = 0
        promoted = 0
        demoted = 0
        j = i
        while True:
            j, head, tail, fast_used, distinct, n_touched, hits, promoted, demoted = _serve_lru(
                trace, j, stop, capacity, records, flags, queue, touched, head, tail, fast_used, distinct,
                n_touched, hits, promoted, demoted)
            if j == stop:
                break
            if tail - head == size:  # the queue is full: see the docstring
                tail = _compact_lru(records, queue, head, tail)
        state[S_LRU_HEAD] = head
        state[S_LRU_TAIL] = tail
        state[S_FAST_USED] = fast_used
        state[S_DISTINCT] = distinct
        state[S_TOUCHED] = n_touched
        pending[0, C_ACCESSES] += stop - i
        pending[0, C_FAST_HITS] += hits
        pending[0, C_PROMOTED] += promoted
        pending[0, C_DEMOTED] += demoted
        remaining -= hits * unit_fast + (stop - i - hits) * unit_slow
        i = stop
        if remaining <= 0 or (final and i == n):
            out[row, :] = pending[0, :]
            pending[0, :] = 0.0
            _close_lru_period(row, config, fconfig, migrate_cost, records, touched, histogram, top, state, moved,
                              out)
            row += 1
            remaining = fconfig[F_PERIOD]
        fstate[FS_REMAINING] = remaining
    return row


@njit
def _serve_lru(trace, j, stop, capacity, records, flags, queue, touched, head, tail, fast_used, distinct,
               n_touched, hits, promoted, demoted):
    """The LRU's access loop over ``trace[j:stop]`` (see :func:`_run_lru`), its running
    figures passed in and returned; it returns early, at the access it has not served, when
    the queue may be full (it serves at most as many accesses as the queue has free slots,
    so that no access has to test it).  A function of its own, with only the
    arrays it reads, so that its figures stay in registers (the same lesson as
    :func:`memtier.simulation.policies.active_shrink._serve`).

    Every index is unsigned (``np.uint64``, the trace ``uint32``) and the records a flat
    array: numba wraps a signed index that might be negative (a shift, a mask and an add
    per access and array) and multiplies a 2-D array's row by its stride, all on the path
    from the trace to the record's load.  The prefetch reads ``trace[min(j + distance,
    n - 1)]`` (a conditional move) rather than testing ``j + distance < n`` (a branch).
    Together, on the zipf-1.2 trace of ``benchmarks/bench_simulator.py`` (kernel alone,
    CPU time, best of 7, alternating in one process on the shared 2-core VM): 82-90 M
    accesses/s before, 97-104 M after, the same decisions."""
    mask = queue.shape[0] - 1
    last = trace.shape[0] - 1
    # each access appends one entry and the head never moves back: this many fit
    end = min(stop, j + mask + 1 - (tail - head))
    first, promoted_before = j, promoted
    for j in range(j, end):
        prefetch(records, np.uint64(trace[min(j + PREFETCH_DISTANCE, last)]) * np.uint64(2))
        page = trace[j]
        at = np.uint64(page) * np.uint64(2)  # records[at + SLOT], records[at + COUNT]
        slot = records[at]
        hit = slot >= 0
        if hit:
            queue[np.uint64(slot)] = HOLE
        else:
            if slot == UNTOUCHED:
                distinct += 1
                static = distinct <= capacity
                flags[page] = PRESENT | NEW | (STATIC_FAST if static else 0)
                records[at + np.uint64(COUNT)] = STATIC_BIT if static else 0
            if fast_used == capacity:
                victim = queue[np.uint64(head & mask)]
                while victim == HOLE:
                    head += 1
                    victim = queue[np.uint64(head & mask)]
                head += 1
                records[np.uint64(victim) * np.uint64(2)] = NOT_CACHED
                demoted += 1
            else:
                fast_used += 1
            promoted += 1
        slot = tail & mask
        records[at] = slot
        queue[np.uint64(slot)] = page
        tail += 1
        c = records[at + np.uint64(COUNT)]
        if c < 2:  # the period's first access (STATIC_BIT aside)
            touched[np.uint64(n_touched)] = ~page if hit else page  # memtier.simulation.hotset
            n_touched += 1
        records[at + np.uint64(COUNT)] = c + 2
    # every miss promotes, so the hits need no count of their own
    return end, head, tail, fast_used, distinct, n_touched, hits + (end - first) - (promoted - promoted_before), \
        promoted, demoted


@njit
def _compact_lru(records, queue, head, tail):
    """Move the live entries between positions ``head`` and ``tail`` next to each other
    from ``head`` on, in order, and point their pages' records at their new slots; the new
    tail."""
    mask = queue.shape[0] - 1
    to = head
    for position in range(head, tail):  # unsigned indices: see _serve_lru
        page = queue[np.uint64(position & mask)]
        if page != HOLE:
            queue[np.uint64(to & mask)] = page
            records[np.uint64(page) * np.uint64(2)] = to & mask  # its SLOT
            to += 1
    return to


@njit
def _close_oracle_period(row, config, fconfig, flags, fast_pages, counts, touched, histogram, top, state,
                         moved, pagestat, out):
    """The clairvoyant oracle's period: its top pages are fast for the whole period."""
    capacity = config[K_FAST_CAPACITY]
    n_touched = state[S_TOUCHED]
    _true_hot_set(capacity, counts, touched, n_touched, flags, histogram)
    demoted = 0
    kept = 0
    for j in range(state[S_FAST_USED]):
        page = fast_pages[j]
        if flags[page] & IN_TRUE_SET:
            fast_pages[kept] = page
            kept += 1
        else:
            flags[page] &= ~FAST
            demoted += 1
    promoted = 0
    hits = 0
    for j in range(n_touched):
        page = touched[j]
        f = flags[page]
        if f & IN_TRUE_SET:
            hits += counts[page]
            touched[j] = ~page  # fast for the whole period, from its first access on
            if not f & FAST:
                f |= FAST
                fast_pages[kept] = page
                kept += 1
                promoted += 1
        flags[page] = f & ~IN_TRUE_SET
    state[S_FAST_USED] = kept
    state[S_SLOW_USED] = state[S_DISTINCT] - kept
    out[row, C_FAST_HITS] = hits
    out[row, C_PROMOTED] = promoted
    out[row, C_DEMOTED] = demoted
    _score(row, config, fconfig, counts, touched, flags, histogram, top, state, moved, pagestat, out)
    out[row, C_FAST_BEFORE] = kept
    out[row, C_FAST_USED] = kept
    out[row, C_SLOW_USED] = state[S_SLOW_USED]
    state[S_PERIOD] += 1


@njit
def _run_oracle(trace, final, config, fconfig, flags, fast_pages, counts, touched, histogram, top, state,
                fstate, moved, pagestat, pending, out):
    """The clairvoyant oracle: each period, the ``fast_capacity`` pages the period will touch
    most (ties: first touch) are on the fast node for the whole period.  It bounds the fast
    hits of any placement that changes only at period boundaries, with periods of the same
    accesses; its moves are counted but cost nothing (a bound, not a policy).  Periods are
    counts of accesses (``F_UNIT_* = 1``): in simulated time, its periods' lengths would
    depend on the placement that depends on them."""
    capacity = config[K_FAST_CAPACITY]
    n = trace.shape[0]
    row = 0
    i = 0
    while i < n:
        remaining = fstate[FS_REMAINING]
        stop = min(n, i + max(1, np.int64(remaining)))
        n_touched = state[S_TOUCHED]
        distinct = state[S_DISTINCT]
        for j in range(i, stop):
            page = trace[j]
            if flags[page] == 0:
                distinct += 1
                flags[page] = PRESENT | NEW | (STATIC_FAST if distinct <= capacity else 0)
            c = counts[page]
            if c == 0:
                touched[n_touched] = page
                n_touched += 1
            counts[page] = c + 1
        state[S_TOUCHED] = n_touched
        state[S_DISTINCT] = distinct
        pending[0, C_ACCESSES] += stop - i
        remaining -= stop - i
        i = stop
        if remaining <= 0 or (final and i == n):
            out[row, :] = pending[0, :]
            pending[0, :] = 0.0
            _close_oracle_period(row, config, fconfig, flags, fast_pages, counts, touched, histogram, top,
                                 state, moved, pagestat, out)
            row += 1
            remaining = fconfig[F_PERIOD]
        fstate[FS_REMAINING] = remaining
    return row


@njit
def _close_reactive_period(row, config, fconfig, migrate_cost, flags, fast_pages, counts, touched, histogram,
                           top, state, moved, pagestat, out):
    """The reactive oracle's period end: score it (which records its top pages), then make
    exactly those pages fast, moves charged like ``mm_manage``'s calls."""
    _score(row, config, fconfig, counts, touched, flags, histogram, top, state, moved, pagestat, out)
    out[row, C_FAST_BEFORE] = state[S_FAST_USED]
    for j in range(state[S_N_TOP]):  # the new placement, marked for the demotions below
        flags[top[j]] |= IN_TRUE_SET
    kept = 0
    demoted = 0
    for j in range(state[S_FAST_USED]):
        page = fast_pages[j]
        if flags[page] & IN_TRUE_SET:
            fast_pages[kept] = page
            kept += 1
        else:
            _mark_move(page, False, flags, state, moved, pagestat, config, fconfig, out, row, True)
            demoted += 1
    promoted = 0
    for j in range(state[S_N_TOP]):
        page = top[j]
        flags[page] &= ~IN_TRUE_SET
        if not flags[page] & FAST:
            _mark_move(page, True, flags, state, moved, pagestat, config, fconfig, out, row, True)
            fast_pages[kept] = page
            kept += 1
            promoted += 1
    call = config[K_CALL_PAGES]
    out[row, C_PROMOTED] = promoted
    out[row, C_DEMOTED] = demoted
    out[row, C_MIGRATION_US] += (_calls_cost_us(promoted, call, migrate_cost)
                                 + _calls_cost_us(demoted, call, migrate_cost))
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_SLOW_USED]
    state[S_PERIOD] += 1


@njit
def _run_reactive(trace, final, config, fconfig, migrate_cost, flags, fast_pages, counts, touched, histogram,
                  top, state, fstate, moved, pagestat, pending, out):
    """The reactive oracle: the top pages of period ``t`` (its ``fast_capacity`` most
    accessed) are placed on the fast node for period ``t + 1``, and nothing else is; in the
    first period, pages are placed as first touch places them.  It knows the past exactly,
    not the future: the best a once-a-period policy that reacts to the last period could
    do, its moves charged.  Periods end as in :func:`memtier.simulation.policies.active_shrink._run_lists`."""
    capacity = config[K_FAST_CAPACITY]
    unit_fast, unit_slow = fconfig[F_UNIT_FAST], fconfig[F_UNIT_SLOW]
    n = trace.shape[0]
    row = 0
    i = 0
    while i < n:
        remaining = fstate[FS_REMAINING]
        stop = min(n, i + max(1, np.int64(remaining / unit_slow)))
        n_touched = state[S_TOUCHED]
        distinct = state[S_DISTINCT]
        hits = 0
        for j in range(i, stop):
            page = trace[j]
            f = flags[page]
            if f == 0:
                distinct += 1
                f = PRESENT | NEW
                if distinct <= capacity:
                    f |= STATIC_FAST
                if distinct <= capacity and state[S_PERIOD] == 0:
                    f |= FAST
                    fast_pages[state[S_FAST_USED]] = page
                    state[S_FAST_USED] += 1
                else:
                    state[S_SLOW_USED] += 1
            fast = (f >> 1) & 1
            hits += fast
            flags[page] = f
            c = counts[page]
            touched[n_touched] = page ^ -fast  # memtier.simulation.hotset
            n_touched += c == 0
            counts[page] = c + 1
        state[S_TOUCHED] = n_touched
        state[S_DISTINCT] = distinct
        pending[0, C_ACCESSES] += stop - i
        pending[0, C_FAST_HITS] += hits
        remaining -= hits * unit_fast + (stop - i - hits) * unit_slow
        i = stop
        if remaining <= 0 or (final and i == n):
            out[row, :] = pending[0, :]
            pending[0, :] = 0.0
            _close_reactive_period(row, config, fconfig, migrate_cost, flags, fast_pages, counts, touched,
                                   histogram, top, state, moved, pagestat, out)
            row += 1
            remaining = fconfig[F_PERIOD]
        fstate[FS_REMAINING] = remaining
    return row
