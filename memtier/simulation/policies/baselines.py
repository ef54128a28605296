"""Numba kernels of the reference policies: the fast node as an exact LRU cache, the
clairvoyant oracle and the reactive oracle.  Private, like :mod:`memtier.simulation.policies.active_shrink`, whose flags, state slots and output columns they
share; the public entry point is :func:`memtier.simulate`.

The LRU is a queue of accesses with lazy deletion (see :func:`run_lru`); the test suite
checks its decisions against libCacheSim's LRU and a pure-Python reference.
"""
import numpy as np

from ..._jit import njit, prefetch
from ..hotset import hot_count_threshold, true_hot_set
from .active_shrink import (
    C_ACCESSES, C_DEMOTED, C_FAST_BEFORE, C_FAST_HITS, C_FAST_USED, C_MIGRATION_US, C_PROMOTED, C_REACTIVE_HITS,
    C_SLOW_USED, F_PERIOD, F_UNIT_FAST, F_UNIT_SLOW, FAST, FS_REMAINING, IN_TRUE_SET, K_BATCH_PAGES, K_CALL_PAGES,
    K_FAST_CAPACITY, NEW, PRESENT, S_DISTINCT, S_FAST_USED, S_LRU_HEAD, S_LRU_TAIL, S_N_TOP, S_PERIOD, S_SLOW_USED,
    S_TOUCHED, SMALL_COUNTS, STATIC_FAST, calls_cost_us, mark_move, score_period, write_scores,
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
#: ~630 000 touched pages gathered in 2.2 ms against 3.3 ms at 16, best of 5, shared VM),
#: and previous top pages ahead whose count it reads for the reactive oracle.
SCORE_AHEAD = 64
#: Accesses the LRU serves with one access loop before it chooses again between the two
#: (:func:`_serve_lru`): the loop that branches on hit or miss when the last block's misses
#: were rare or nearly all, the loop without that branch otherwise.
LRU_BLOCK = 4096
#: The share of misses in a block, from ``LRU_BLOCK_FREE_LOW`` to ``LRU_BLOCK_FREE_HIGH``,
#: for which the next block is served without the hit-or-miss branch.  Measured by the
#: crossover of the two loops (kernel alone, 8 M accesses, each a hot page (1 000, always
#: cached) or, with probability p, a cold one (999 000, fast node 100 000), alternating in one
#: process, best of 3, shared 2-core VM, M accesses/s branching / branch-free): misses 0.02
#: 262 / 217, 0.09 167 / 135, 0.18 146 / 131, 0.27 115 / 120, 0.36 97 / 107, 0.45 79 / 116,
#: 0.63 93 / 121, 0.81 101 / 118, 0.88 127 / 112, 0.90 108 / 108.
LRU_BLOCK_FREE_LOW = 0.25
LRU_BLOCK_FREE_HIGH = 0.85
#: The loop that branches on hit or miss records a page's first access of the period in
#: ``touched`` without a branch when the last block's first accesses were from this share
#: to one minus it of its accesses, and behind a branch otherwise (the branch-free loop
#: always without).  Whole runs, alternating in one process (best of 5, shared VM, M/s,
#: behind a branch / without): zipf 1.2, 4 % first accesses a period, 162 / 144; hot set,
#: 16 %, 87 / 94.  Between those two, by the rule that a branch mispredicts about as often as
#: its rarer outcome, not measured at the crossover.
LRU_TOUCH_FREE_LOW = 0.1


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
    out[row, C_MIGRATION_US] = (calls_cost_us(np.int64(out[row, C_PROMOTED]), batch, migrate_cost)
                                + calls_cost_us(np.int64(out[row, C_DEMOTED]), batch, migrate_cost))
    _score_lru(row, config, records, touched, histogram, top, state, moved, out)
    out[row, C_FAST_BEFORE] = state[S_FAST_USED]
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_DISTINCT] - state[S_FAST_USED]
    state[S_PERIOD] += 1


@njit
def _score_lru(row, config, records, touched, histogram, top, state, gathered, out):
    """:func:`memtier.simulation.policies.active_shrink.score_period` for the LRU, the same
    figures in the same order from the LRU's records: ``lru`` judges no decision, so only
    the top pages, their share fast at first access, the reactive oracle's and first-touch
    placement's accesses are scored; ``S_N_MOVED`` stays 0 (no page is marked).

    Why a score of its own: the period's end is the larger share of ``lru``'s time on
    traces whose periods touch many pages (uniform: ~600 000 a period), and ``score_period``
    reads two random lines a touched page: its count (the record) and its ``flags`` (for
    ``STATIC_FAST``).  Here the record's ``COUNT`` carries ``STATIC_BIT`` beside twice the
    count (so one period may count at most 2**30 - 1 accesses of a page), and the counts
    are gathered into ``gathered`` (the LRU's ``moved`` array, unused otherwise: no array
    allocated a period).

    The gather (:func:`_gather_packed`) only moves each packed count, at random, into
    ``gathered``; the histogram, the static hits and the largest count are then taken in a
    sequential pass over ``gathered`` (:func:`_histogram_gathered`), whose small counts are
    counted in registers: in the gather's loop, each page's ``histogram[n] += 1`` waited on
    the previous page's when both had the same small count (most pages of a uniform period
    have 1 to 3).  The reactive oracle's hits read the previous top pages' counts at random,
    prefetched ``SCORE_AHEAD`` pages ahead (it was :data:`memtier.simulation.hotset.AHEAD`,
    16).  On a captured uniform period (667 000 touched pages, caches evicted, best of 9,
    shared VM): 8.6-11.7 ms -> 6.4-7.3 ms; zipf 0.8 (553 000): 7.8-11.8 -> 3.0-10.0 (the VM's
    load moved both)."""
    n_touched = state[S_TOUCHED]
    counts = records[COUNT::2]
    reactive_hits = 0
    n_top = state[S_N_TOP]
    for j in range(n_top):  # before the counts are reset
        prefetch(counts, np.uint64(top[min(j + SCORE_AHEAD, n_top - 1)]))
        reactive_hits += counts[np.uint64(top[j])] >> 1
    _gather_packed(counts, touched, n_touched, gathered)
    most, static_hits = _histogram_gathered(gathered, n_touched, histogram,
                                            min(config[K_FAST_CAPACITY], n_touched))
    k, threshold, ties = hot_count_threshold(config[K_FAST_CAPACITY], histogram, most, gathered, touched, n_touched, False)
    n_top, top_fast = _take_top(gathered, touched, n_touched, k, threshold, ties, top)
    if state[S_PERIOD] == 0:
        reactive_hits = static_hits
    state[S_N_TOP] = n_top
    state[S_TOUCHED] = 0
    write_scores(out, row, k, top_fast, static_hits, 0, 0, 0, 0)
    out[row, C_REACTIVE_HITS] = reactive_hits


@njit
def _take_top(gathered, touched, n_touched, k, threshold, ties, top):
    """The period's top pages into ``top``, in first-touch order: every page whose count
    exceeds ``threshold`` and the first ``ties`` whose count equals it, at most ``k``;
    returns ``(pages taken, those fast at their first access)``.

    The pages are taken without a branch (``top`` has a slot past ``k``), in two loops split
    at the last tie taken (found first, by counting the ties from the start): before it a
    page is taken if its count is at least the threshold, after it if above, so that neither
    loop carries the count of ties left (score_period's single loop does).  On a captured
    uniform period (667 000 touched pages, best of 9, shared VM) 1.15 -> 0.93 ms, zipf 0.8
    (553 000) 0.91 -> 0.77."""
    last_tie = -1
    if ties > 0:
        seen = 0
        for i in range(n_touched):
            seen += gathered[i] == threshold
            if seen == ties:
                last_tie = i
                break
    top_fast = np.uint64(0)
    n_top = np.uint64(0)  # unsigned: no wraparound code at each store
    most = np.uint64(k)
    i = 0
    while i <= last_tie and n_top != most:
        page = touched[i]
        taken = np.uint64(gathered[i] >= threshold)
        top[n_top] = page ^ (page >> 31)
        n_top += taken
        top_fast += taken & np.uint64(page < 0)
        i += 1
    while i < n_touched and n_top != most:  # the rest are below the threshold, or ties past the first
        page = touched[i]
        taken = np.uint64(gathered[i] > threshold)
        top[n_top] = page ^ (page >> 31)
        n_top += taken
        top_fast += taken & np.uint64(page < 0)
        i += 1
    return np.int64(n_top), np.int64(top_fast)


@njit
def _gather_packed(counts, touched, n_touched, gathered):
    """Each touched page's packed count (``2 * count + STATIC_BIT``) into ``gathered``, in
    ``touched``'s order; the count left reset (its ``STATIC_BIT`` kept)."""
    last = n_touched - 1
    for i in range(n_touched):
        ahead = touched[min(i + SCORE_AHEAD, last)]
        ahead ^= ahead >> 31
        prefetch(counts, np.uint64(ahead))
        page = touched[i]
        page ^= page >> 31
        c = counts[np.uint64(page)]
        counts[np.uint64(page)] = c & STATIC_BIT
        gathered[i] = c


@njit
def _histogram_gathered(gathered, n_touched, histogram, k):
    """Unpack ``gathered`` (packed counts, :func:`_gather_packed`) into counts in place, and
    histogram them; returns ``(largest bin, accesses to STATIC_BIT pages)``.

    As :func:`memtier.simulation.policies.active_shrink`'s page-order histogram: counts below
    ``SMALL_COUNTS`` (``active_shrink``'s, 16: the registers ``h0``-``h15`` below) are counted in registers, by comparisons, in a loop without memory
    dependencies; the larger ones all in bin ``SMALL_COUNTS`` unless ``k`` or more of them
    make the threshold fall among them (the threshold search passes that bin whole), then
    one by one.  With a histogram of ``SMALL_COUNTS`` bins or fewer (the tests force one),
    every count one by one."""
    top = histogram.shape[0] - 1
    if top <= SMALL_COUNTS:
        most = static_hits = 0
        for i in range(n_touched):
            c = gathered[i]
            n = c >> 1
            gathered[i] = n
            static_hits += n & -(c & STATIC_BIT)
            binned = min(n, top)
            histogram[binned] += 1
            most = max(most, binned)
        return most, static_hits
    most = static_hits = big = 0
    h0 = h1 = h2 = h3 = h4 = h5 = h6 = h7 = h8 = h9 = h10 = h11 = h12 = h13 = h14 = h15 = 0
    for i in range(n_touched):  # SMALL_COUNTS bins, written out so that they stay in registers
        c = gathered[i]
        n = c >> 1
        gathered[i] = n
        static_hits += n & -(c & STATIC_BIT)
        h0 += n == 0
        h1 += n == 1
        h2 += n == 2
        h3 += n == 3
        h4 += n == 4
        h5 += n == 5
        h6 += n == 6
        h7 += n == 7
        h8 += n == 8
        h9 += n == 9
        h10 += n == 10
        h11 += n == 11
        h12 += n == 12
        h13 += n == 13
        h14 += n == 14
        h15 += n == 15
        big += n >= SMALL_COUNTS
        most = max(most, n)
    small = (h0, h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, h11, h12, h13, h14, h15)
    for b in range(SMALL_COUNTS):
        histogram[b] += small[b]
    if big < k:  # the threshold lies below SMALL_COUNTS: the bins above need not be told apart
        histogram[SMALL_COUNTS] += big
        return min(most, SMALL_COUNTS), static_hits
    for i in range(n_touched):
        n = gathered[i]
        if n >= SMALL_COUNTS:
            histogram[min(n, top)] += 1
    return min(most, top), static_hits


@njit
def run_lru(trace, final, config, fconfig, migrate_cost, records, flags, queue, touched, histogram, top,
             state, fstate, moved, pagestat, pending, out):
    """The fast node as an LRU cache of the slow one: an access to a page not on the fast
    node (its first access included: pages start on the slow node) is served slow, then the
    page is promoted and, the fast node full, the least recently used page demoted.
    Periods end as in :func:`memtier.simulation.policies.active_shrink.run_lists` (``pending`` carries the running one).

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
    free = False  # _serve_lru's choices of loop for its next block
    touch_free = True
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
            j, head, tail, fast_used, distinct, n_touched, hits, promoted, demoted, free, touch_free = _serve_lru(
                trace, j, stop, capacity, records, flags, queue, touched, head, tail, fast_used, distinct,
                n_touched, hits, promoted, demoted, free, touch_free)
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
               n_touched, hits, promoted, demoted, free, touch_free):
    """The LRU's access loop over ``trace[j:stop]`` (see :func:`run_lru`), its running
    figures passed in and returned; it returns early, at the access it has not served, when
    the queue may be full (it serves at most as many accesses as the queue has free slots,
    so that no access has to test it).

    Until the fast node is full, :func:`_fill_lru` serves (a miss then evicts nothing).
    Once it is full it stays full (a miss evicts one page for the one it promotes), so every
    miss evicts, a new page is never ``STATIC_FAST`` (the fast node's first ``capacity``
    pages are its first ``capacity`` distinct ones) and the fill level need not be tested:
    blocks of ``LRU_BLOCK`` accesses are served by :func:`_serve_full_branching`, which
    branches on hit or miss, or :func:`_serve_full_free`, which does not, as the last block's
    share of misses says (``free``, carried from call to call: see ``LRU_BLOCK_FREE_LOW``),
    the former recording first accesses with or without a branch as the last block's share of
    them says (``touch_free``, likewise: ``LRU_TOUCH_FREE_LOW``).
    A branch on a random outcome mispredicts about as often as the rarer outcome happens
    (each about 15-20 cycles, and the loads behind it issued again); without the branch,
    every access does the work of both, and the queue's head waits on each access's record.
    The same decisions either way (each loop is the other's twin in the tests' runs)."""
    mask = queue.shape[0] - 1
    # each access appends one entry and the head never moves back: this many fit
    end = min(stop, j + mask + 1 - (tail - head))
    first, promoted_before = j, promoted
    if fast_used < capacity:
        j, tail, fast_used, distinct, n_touched, promoted = _fill_lru(
            trace, j, end, capacity, records, flags, queue, touched, tail, fast_used, distinct, n_touched, promoted)
    touched_before = n_touched
    while j < end:
        block_end = min(end, j + LRU_BLOCK)
        if free:
            head, tail, distinct, n_touched, misses = _serve_full_free(
                trace, j, block_end, records, flags, queue, touched, head, tail, distinct, n_touched)
        else:
            head, tail, distinct, n_touched, misses = _serve_full_branching(
                trace, j, block_end, records, flags, queue, touched, head, tail, distinct, n_touched, touch_free)
        served = block_end - j
        free = LRU_BLOCK_FREE_LOW * served <= misses <= LRU_BLOCK_FREE_HIGH * served
        firsts = n_touched - touched_before
        touch_free = LRU_TOUCH_FREE_LOW * served <= firsts <= (1 - LRU_TOUCH_FREE_LOW) * served
        touched_before = n_touched
        promoted += misses
        demoted += misses
        j = block_end
    # every miss promotes, so the hits need no count of their own
    return end, head, tail, fast_used, distinct, n_touched, hits + (end - first) - (promoted - promoted_before), \
        promoted, demoted, free, touch_free


@njit
def _fill_lru(trace, j, end, capacity, records, flags, queue, touched, tail, fast_used, distinct, n_touched,
              promoted):
    """:func:`_serve_lru` while the fast node has room: every miss promotes, none evicts.
    Returns at ``end`` or once the fast node is full.

    Every index is unsigned (``np.uint64``, the trace ``uint32``) and the records a flat
    array: numba wraps a signed index that might be negative (a shift, a mask and an add
    per access and array) and multiplies a 2-D array's row by its stride, all on the path
    from the trace to the record's load.  The prefetch reads ``trace[min(j + distance,
    n - 1)]`` (a conditional move) rather than testing ``j + distance < n`` (a branch)."""
    mask = queue.shape[0] - 1
    last = trace.shape[0] - 1
    while j < end and fast_used < capacity:
        prefetch(records, np.uint64(trace[np.uint64(min(j + PREFETCH_DISTANCE, last))]) * np.uint64(2))
        page = trace[np.uint64(j)]
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
        j += 1
    return j, tail, fast_used, distinct, n_touched, promoted


@njit
def _serve_full_branching(trace, j, end, records, flags, queue, touched, head, tail, distinct, n_touched,
                          touch_free):
    """``trace[j:end]`` on a full fast node, branching on hit or miss; ``(head, tail,
    distinct, n_touched, misses)``.  A function of its own, with only the arrays and figures
    it needs (the fill level, the capacity and the promotion and demotion counts, which are
    the misses, are not carried), so that its figures stay in registers (the same lesson as
    :func:`memtier.simulation.policies.active_shrink._serve`).  With ``touch_free``, the
    period's first access of a page is recorded in ``touched`` without a branch (the entry
    is written at every access and overwritten unless ``n_touched`` moves on), otherwise
    behind one (see ``LRU_TOUCH_FREE_LOW``)."""
    mask = queue.shape[0] - 1
    last = trace.shape[0] - 1
    misses = 0
    for j in range(j, end):
        prefetch(records, np.uint64(trace[np.uint64(min(j + PREFETCH_DISTANCE, last))]) * np.uint64(2))
        page = trace[np.uint64(j)]
        at = np.uint64(page) * np.uint64(2)
        slot = records[at]
        hit = slot >= 0
        if hit:
            queue[np.uint64(slot)] = HOLE
        else:
            if slot == UNTOUCHED:  # full: not STATIC_FAST
                distinct += 1
                flags[page] = PRESENT | NEW
                records[at + np.uint64(COUNT)] = 0
            victim = queue[np.uint64(head & mask)]
            while victim == HOLE:
                head += 1
                victim = queue[np.uint64(head & mask)]
            head += 1
            records[np.uint64(victim) * np.uint64(2)] = NOT_CACHED
            misses += 1
        slot = tail & mask
        records[at] = slot
        queue[np.uint64(slot)] = page
        tail += 1
        c = records[at + np.uint64(COUNT)]
        if touch_free:  # the same for the whole block: a branch that does not mispredict
            touched[np.uint64(n_touched)] = np.int32(page) ^ -np.int32(hit)  # ~page if hit: memtier.simulation.hotset
            n_touched += np.int64(c < 2)  # the period's first access (STATIC_BIT aside)
        elif c < 2:
            touched[np.uint64(n_touched)] = ~page if hit else page
            n_touched += 1
        records[at + np.uint64(COUNT)] = c + 2
    return head, tail, distinct, n_touched, misses


@njit
def _serve_full_free(trace, j, end, records, flags, queue, touched, head, tail, distinct, n_touched):
    """:func:`_serve_full_branching` without a branch on hit or miss: every access writes
    ``HOLE`` to a queue slot (its page's old one on a hit, the tail's, about to be
    overwritten, on a miss) and ``NOT_CACHED`` to a record (the victim's on a miss, its own,
    about to be overwritten, on a hit), and the head moves by the miss.

    The victim must then be at the head without a search: after each access the head skips
    one hole (a hole is made at most once an access, and the head moves one entry more at
    every miss), and the loop that skips holes before the access is then rarely entered
    (a branch that predicts well).  On a hit the head and its victim are read and not used.
    Measured against :func:`_serve_full_branching` in ``LRU_BLOCK_FREE_LOW``'s comment;
    on ``benchmarks/bench_simulator.py``'s zipf-0.8 trace (49 % hits) the kernel alone ran
    at 101 M accesses/s against 80 for the loop before (one period, alternating, best of 3,
    shared VM; ``docs/simulator.md``).
    Its loop keeps few values (LLVM spilled the loop's figures to the stack when the fill
    level and the promotion and demotion counts were carried too), and the skip loop's
    test is the hole alone: with the miss in it, LLVM branched on the miss again."""
    mask = queue.shape[0] - 1
    last = trace.shape[0] - 1
    misses = 0
    for j in range(j, end):
        prefetch(records, np.uint64(trace[np.uint64(min(j + PREFETCH_DISTANCE, last))]) * np.uint64(2))
        page = trace[np.uint64(j)]
        at = np.uint64(page) * np.uint64(2)
        slot = np.int64(records[at])
        if slot == UNTOUCHED:  # full: not STATIC_FAST
            distinct += 1
            flags[page] = PRESENT | NEW
            records[at + np.uint64(COUNT)] = 0
        miss = np.int64(np.uint64(slot) >> np.uint64(63))  # NOT_CACHED and UNTOUCHED are negative
        victim = np.int64(queue[np.uint64(head & mask)])
        while victim == HOLE:  # live entries lie ahead: the fast node is full
            head += 1
            victim = np.int64(queue[np.uint64(head & mask)])
        tail_slot = tail & mask
        hole = tail_slot ^ ((slot ^ tail_slot) & (miss - 1))  # slot on a hit, tail_slot on a miss
        queue[np.uint64(hole)] = HOLE
        evicted = np.int64(at) ^ (((victim << 1) ^ np.int64(at)) & -miss)  # the victim's record on a miss
        records[np.uint64(evicted)] = NOT_CACHED
        head += miss
        misses += miss
        records[at] = tail_slot
        queue[np.uint64(tail_slot)] = page
        tail += 1
        c = records[at + np.uint64(COUNT)]
        touched[np.uint64(n_touched)] = np.int32(page) ^ (np.int32(miss) - np.int32(1))  # ~page on a hit
        n_touched += np.int64(c < 2)
        records[at + np.uint64(COUNT)] = c + 2
        head += np.int64(queue[np.uint64(head & mask)] == HOLE)  # the entry just written is live: head < tail
    return head, tail, distinct, n_touched, misses


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
    true_hot_set(capacity, counts, touched, n_touched, flags, histogram)
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
    score_period(row, config, fconfig, counts, touched, flags, histogram, top, state, moved, pagestat, out)
    out[row, C_FAST_BEFORE] = kept
    out[row, C_FAST_USED] = kept
    out[row, C_SLOW_USED] = state[S_SLOW_USED]
    state[S_PERIOD] += 1


@njit
def run_oracle(trace, final, config, fconfig, flags, fast_pages, counts, touched, histogram, top, state,
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
    score_period(row, config, fconfig, counts, touched, flags, histogram, top, state, moved, pagestat, out)
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
            mark_move(page, False, flags, state, moved, pagestat, config, fconfig, out, row, True)
            demoted += 1
    promoted = 0
    for j in range(state[S_N_TOP]):
        page = top[j]
        flags[page] &= ~IN_TRUE_SET
        if not flags[page] & FAST:
            mark_move(page, True, flags, state, moved, pagestat, config, fconfig, out, row, True)
            fast_pages[kept] = page
            kept += 1
            promoted += 1
    call = config[K_CALL_PAGES]
    out[row, C_PROMOTED] = promoted
    out[row, C_DEMOTED] = demoted
    out[row, C_MIGRATION_US] += (calls_cost_us(promoted, call, migrate_cost)
                                 + calls_cost_us(demoted, call, migrate_cost))
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_SLOW_USED]
    state[S_PERIOD] += 1


@njit
def run_reactive(trace, final, config, fconfig, migrate_cost, flags, fast_pages, counts, touched, histogram,
                  top, state, fstate, moved, pagestat, pending, out):
    """The reactive oracle: the top pages of period ``t`` (its ``fast_capacity`` most
    accessed) are placed on the fast node for period ``t + 1``, and nothing else is; in the
    first period, pages are placed as first touch places them.  It knows the past exactly,
    not the future: the best a once-a-period policy that reacts to the last period could
    do, its moves charged.  Periods end as in :func:`memtier.simulation.policies.active_shrink.run_lists`."""
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
