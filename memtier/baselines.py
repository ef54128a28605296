"""Numba kernels of the two reference policies: the fast node as an exact LRU cache, and the
oracle.  Private, like :mod:`memtier.lists`, whose flags, state slots and output columns they
share; the public entry point is :func:`memtier.simulate`.

The LRU is a doubly linked list kept in one (n_pages, 4) int32 array of page records; the test suite checks its decisions against libCacheSim's LRU.
(A queue of access positions with lazy deletion, tried first, was half as fast: evicting
skips stale entries, each a dependent random read.)
"""
import numpy as np

from ._jit import njit

#: Fields of the LRU's per-page records, and ``[OLDER]`` of a page not on the fast node.
OLDER, NEWER, COUNT, FLAGS = range(4)
NOT_CACHED = -2
from .lists import (
    C_ACCESSES, C_CLASSIFIED, C_DEMOTED, C_FAST_HITS, C_FAST_USED, C_MIGRATION_US, C_PROMOTED,
    C_SLOW_USED, C_STATIC_HITS, C_TRUE_HOT, C_TRUE_POSITIVE, FAST, IN_TRUE_SET, K_BATCH_PAGES,
    K_FAST_CAPACITY, K_PERIOD, PRESENT, S_DISTINCT, S_FAST_USED, S_LRU_NEWEST, S_LRU_OLDEST,
    S_TOUCHED, STATIC_FAST, _batches_cost_us,
)
from .hotset import _score, _true_hot_set


@njit
def _close_lru_period(row, config, migrate_cost, flags, counts, touched, histogram, state, out):
    """Charge the period's moves (in calls of ``batch_pages``) and measure how well the
    cached set matches the period's true hot set."""
    batch = config[K_BATCH_PAGES]
    out[row, C_MIGRATION_US] = (_batches_cost_us(np.int64(out[row, C_PROMOTED]), batch, migrate_cost)
                                + _batches_cost_us(np.int64(out[row, C_DEMOTED]), batch, migrate_cost))
    true_positive, true_hot, static_hits = _score(config[K_FAST_CAPACITY], FAST, counts, touched,
                                                  state[S_TOUCHED], flags, histogram)
    state[S_TOUCHED] = 0
    out[row, C_STATIC_HITS] = static_hits
    out[row, C_CLASSIFIED] = state[S_FAST_USED]
    out[row, C_TRUE_HOT] = true_hot
    out[row, C_TRUE_POSITIVE] = true_positive
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_DISTINCT] - state[S_FAST_USED]


@njit
def _run_lru(trace, config, migrate_cost, pages, touched, histogram, state, out):
    """The fast node as an LRU cache of the slow one: an access to a page not on the fast
    node (its first access included: pages start on the slow node) is served slow, then the
    page is promoted and, the fast node full, the least recently used page demoted.
    ``trace`` holds whole periods (the trace's last may be shorter).

    ``pages[page]`` is the page's record, 16 bytes in one cache line: its neighbours in
    recency order (``[OLDER]`` towards the least, ``[NEWER]`` towards the most recently
    used; -1 at an end; ``[OLDER] == NOT_CACHED`` when the page is not on the fast node),
    its accesses in the period (``[COUNT]``) and its flags (``[FLAGS]``, written at first
    touch; the ``FAST`` bit is brought up to date only at the end of a period, from
    ``[OLDER]``).  One record per page, rather than one array per field, halves the cache
    misses of an access."""
    capacity = config[K_FAST_CAPACITY]
    period = config[K_PERIOD]
    newest = state[S_LRU_NEWEST]
    oldest = state[S_LRU_OLDEST]
    fast_used = state[S_FAST_USED]
    distinct = state[S_DISTINCT]
    n = trace.shape[0]
    row = 0
    for start in range(0, n, period):
        stop = min(n, start + period)
        n_touched = 0
        hits = 0
        promoted = 0
        demoted = 0
        for i in range(start, stop):
            page = trace[i]
            if pages[page, FLAGS] == 0:
                distinct += 1
                pages[page, FLAGS] = PRESENT | (STATIC_FAST if distinct <= capacity else 0)
            older = pages[page, OLDER]
            if older != NOT_CACHED:
                hits += 1
                if page != newest:  # unlink, to be pushed as the newest below
                    newer = pages[page, NEWER]
                    if older >= 0:
                        pages[older, NEWER] = newer
                    else:
                        oldest = newer
                    pages[newer, OLDER] = older
            else:
                if fast_used == capacity:
                    victim = oldest
                    oldest = pages[victim, NEWER]
                    if oldest >= 0:
                        pages[oldest, OLDER] = -1
                    else:
                        newest = -1
                    pages[victim, OLDER] = NOT_CACHED
                    demoted += 1
                else:
                    fast_used += 1
                promoted += 1
            if page != newest:
                pages[page, OLDER] = newest
                pages[page, NEWER] = -1
                if newest >= 0:
                    pages[newest, NEWER] = page
                else:
                    oldest = page
                newest = page
            c = pages[page, COUNT]
            if c == 0:
                touched[n_touched] = page
                n_touched += 1
            pages[page, COUNT] = c + 1
        out[row, C_ACCESSES] = stop - start
        out[row, C_FAST_HITS] = hits
        out[row, C_PROMOTED] = promoted
        out[row, C_DEMOTED] = demoted
        state[S_FAST_USED] = fast_used
        state[S_DISTINCT] = distinct
        state[S_TOUCHED] = n_touched
        _mark_cached(pages, touched, n_touched)
        _close_lru_period(row, config, migrate_cost, pages[:, FLAGS], pages[:, COUNT], touched,
                          histogram, state, out)
        row += 1
    state[S_LRU_NEWEST] = newest
    state[S_LRU_OLDEST] = oldest
    return row


@njit
def _mark_cached(pages, touched, n_touched):
    """Bring the ``FAST`` flag of the period's pages up to date (pages not touched in the
    period cannot be in its true hot set, so the metrics need no others)."""
    for i in range(n_touched):
        page = touched[i]
        if pages[page, OLDER] != NOT_CACHED:
            pages[page, FLAGS] |= FAST
        else:
            pages[page, FLAGS] &= ~FAST


@njit
def _run_oracle(trace, config, flags, fast_pages, counts, touched, histogram, state, out):
    """Each period, the ``fast_capacity`` pages the period will touch most (ties: first
    touch) are on the fast node for the whole period: the best placement that changes only
    at period boundaries.  Moves are counted but cost no time (the policy is a bound)."""
    capacity = config[K_FAST_CAPACITY]
    period = config[K_PERIOD]
    n = trace.shape[0]
    row = 0
    for start in range(0, n, period):
        stop = min(n, start + period)
        n_touched = 0
        static_hits = 0
        distinct = state[S_DISTINCT]
        for i in range(start, stop):
            page = trace[i]
            f = flags[page]
            if f == 0:
                distinct += 1
                f = PRESENT | (STATIC_FAST if distinct <= capacity else 0)
                flags[page] = f
            static_hits += (f >> 4) & 1
            c = counts[page]
            if c == 0:
                touched[n_touched] = page
                n_touched += 1
            counts[page] = c + 1
        state[S_DISTINCT] = distinct
        chosen = _true_hot_set(capacity, counts, touched, n_touched, flags, histogram)
        # pages leaving the fast node
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
                if not f & FAST:
                    f |= FAST
                    fast_pages[kept] = page
                    kept += 1
                    promoted += 1
            flags[page] = f & ~IN_TRUE_SET
            counts[page] = 0
        state[S_FAST_USED] = kept
        out[row, C_ACCESSES] = stop - start
        out[row, C_FAST_HITS] = hits
        out[row, C_STATIC_HITS] = static_hits
        out[row, C_PROMOTED] = promoted
        out[row, C_DEMOTED] = demoted
        out[row, C_CLASSIFIED] = chosen
        out[row, C_TRUE_HOT] = chosen
        out[row, C_TRUE_POSITIVE] = chosen
        out[row, C_FAST_USED] = kept
        out[row, C_SLOW_USED] = distinct - kept
        row += 1
    return row
