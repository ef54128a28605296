"""Numba kernels of the simulator: the kernel's page lists, ``mm_manage`` and reclaim.

Private: :mod:`memtier.simulation.simulator` validates every input before calling anything here
(numba does not check bounds).  The pure-Python twin of these rules is
``tests/naive_lists.py``; the tests hold the two equal on random traces.

Every rule of ``active-shrink`` below cites the patch of Zi Yan's RFC ("[RFC PATCH nn/25]",
linux-mm, 2019-04-04) and the function it follows; ``memory_manage.c`` is the file patches
20-25 add, ``vmscan.c`` the one patch 22 changes.  Where the posted code has a plain bug, the
evident intent is modelled and the comment says so.

State is kept in compact per-page arrays:

- ``flags`` (uint8): the bits the access loop reads and writes, below (``IN_TRUE_SET`` is
  scratch at a period's end); ``pagestat`` (int32,
  shape (n_pages, 3)): what only the metrics use, kept together so that a move touches one
  cache line: accesses since the page's promotion (``P_STAY``), the period of its last
  demotion (``P_LAST_DEMOTED``) and the marks below (``P_MARKS``);
- ``ring`` (int32) and ``meta`` (int64, shape (4, 4)): the four lists.  The kernel's lists
  only ever gain pages at the head and lose them at the tail (scans, isolation for
  migration), so each list is a FIFO queue, kept as a ring buffer in its own region of
  ``ring``, as long as the node's limit; ``meta[list]`` holds the region's start, its length,
  the position of the tail page and the list's size.  A scan reads its list sequentially,
  which lets the processor fetch ahead (a linked list would make every step wait for the
  previous load);
- ``counts`` (int32): accesses in the current period, and ``touched`` (int32): the pages
  touched in it, in first-touch order (for the metrics, :mod:`memtier.simulation.hotset`);
  ``first_flags`` (uint8), beside ``touched``: each of those pages' flags at its first access
  of the period, so that the metrics read them in order rather than at random
  (:func:`_score_touched`); a period that touched a large share of the pages is scored in
  page order instead (:func:`_score_pages`), with ``scratch`` (int32, ``n_pages + 1``) as its
  list of marked pages (and as the gathered counts of :func:`_score_touched`);
- ``moving`` (uint8, a bit per page): the pages ``active-shrink``'s decision moves, noted
  between its isolation and the metrics (:func:`_close_period`).

Lists are numbered ``node * 2 + active``: 0 fast inactive, 1 fast active, 2 slow inactive,
3 slow active.

Periods.  A period ends when its accesses have used up ``fconfig[F_PERIOD]`` units, an
access costing ``F_UNIT_FAST`` or ``F_UNIT_SLOW`` units (1 and 1 when the period is a count
of accesses; the access latencies in ns when it is simulated time, ``period_s``).  A period
cannot end before ``remaining / F_UNIT_SLOW`` more accesses, so the access loop runs in
blocks of that many without a per-access test; a period may span chunks of the trace (the
running row is kept in ``pending``).
"""
import numpy as np

from ..._jit import njit, njit_borrow, njit_inline, prefetch
from ..hotset import (  # noqa: F401 (flags re-exported)
    AHEAD, IN_TRUE_SET, STATIC_FAST, gather_counts, hot_count_threshold, threshold_pool,
)

# Page flags.
PRESENT = 1        # allocated (touched at least once)
FAST = 2           # on the fast node
ACTIVE = 4         # PG_active: on an active list
ACCESSED = 8       # the page-table entry's accessed (young) bit, set by every access
# STATIC_FAST = 16: where first-touch placement (the static policy) puts the page, and
# IN_TRUE_SET = 32: scratch, in the period's top pages (both from memtier.simulation.hotset)
MARKED = 64        # its marks (below) may hold PROMOTED, DEMOTED or IN_STAY: set at every move
                   # (mark_move), cleared once the marks no longer do (_score_lists); read, from
                   # ``first_flags``, by the list policies' metrics only (whether a page was fast at
                   # its first access of the period is kept in ``touched``, as the sign of its
                   # entry: memtier.simulation.hotset)
NEW = 128          # allocated during the current period (kept by the policies that decide: only
                   # their metrics read it, score_period)
TOUCHED_FAST = IN_TRUE_SET  # list policies (the bit is the oracles' scratch): demoted by reclaim
                   # during the period after its first access of the period, so it was fast then
                   # (set by _reclaim, read and cleared by _score_lists: the page-order pass reads
                   # it where the touched-order pass reads the sign of the page's ``touched`` entry)

# Marks (``pagestat[page, P_MARKS]``).
PROMOTED = 2       # moved to the fast node at the last decision (judged in this period)
DEMOTED = 4        # moved to the slow node at the last decision (judged in this period)
IN_STAY = 8        # promoted and on the fast node ever since
DEMOTED_NEXT = 16  # demoted during this period by reclaim (judged in the next one)
# Columns of ``pagestat``.
P_STAY, P_LAST_DEMOTED, P_MARKS = range(3)

FAST_INACTIVE, FAST_ACTIVE, SLOW_INACTIVE, SLOW_ACTIVE = 0, 1, 2, 3

# Policies.
STATIC, RECLAIM_NO_DEMOTION, RECLAIM_DEMOTION, ACTIVE_SHRINK, LRU, ORACLE, REACTIVE_ORACLE = range(7)

# Slots of the int64 ``state`` array carried from chunk to chunk: pages on each node, pages
# touched so far, pages touched in the period, the head and tail of the LRU's queue
# (memtier.simulation.policies.baselines), the period's index, the previous period's top pages (in ``top``)
# and the pages moved at the last decision (in ``moved``).
(S_FAST_USED, S_SLOW_USED, S_DISTINCT, S_TOUCHED, S_LRU_HEAD, S_LRU_TAIL, S_PERIOD, S_N_TOP,
 S_N_MOVED) = range(9)
STATE_SIZE = 9

# Slots of the int64 ``config`` array (fixed for a run).
(K_POLICY, K_FAST_CAPACITY, K_SLOW_CAPACITY, K_HUGE, K_BATCH_PAGES, K_CALL_PAGES, K_MAX_PAGES,
 K_EXCHANGE, K_RATIO_GATE, K_HALVES_FIRST, K_COLD_CHECK, K_PAGE_BYTES, K_PINGPONG_PERIODS,
 K_BUDGETED, K_DENSE_TOUCHED) = range(15)
CONFIG_SIZE = 15
# K_DENSE_TOUCHED: the fewest pages a period must touch for the list policies' metrics to be
# computed in page order rather than in first-touch order (_score_lists; the same results).
# Slots of the float64 ``fconfig`` array.
(F_FAST_NS, F_SLOW_NS, F_MIGRATION_SHARE, F_PERIOD, F_UNIT_FAST, F_UNIT_SLOW, F_RMAP_NS,
 F_WORTH_MIN) = range(8)
FCONFIG_SIZE = 8
# Slots of the float64 ``fstate`` array: what is left of the current period, in its units.
FS_REMAINING = 0
FSTATE_SIZE = 1

# Columns of the per-period ``out`` rows (float64), documented in memtier.simulation.result.
(C_ACCESSES, C_FAST_HITS, C_STATIC_HITS, C_REACTIVE_HITS, C_PROMOTED, C_DEMOTED, C_EXCHANGED,
 C_MIGRATION_US, C_SCANNED, C_SCAN_US, C_TOP, C_TOP_FAST, C_PROMOTED_WORTH, C_DEMOTED_WORTH,
 C_MISSED_WORTH, C_FAST_WORTH, C_FAST_BEFORE, C_PINGPONG, C_STAYS_ENDED, C_STAYS_REPAID,
 C_FAST_USED, C_SLOW_USED, C_BUDGET_US) = range(23)
N_COLUMNS = 23

#: Pages reclaim tries to free per invocation (the kernel's ``SWAP_CLUSTER_MAX``) and the
#: batch in which it scans a list.
SWAP_CLUSTER_MAX = 32

# Columns of ``meta``.
M_START, M_LENGTH, M_TAIL, M_SIZE = range(4)


@njit_inline
def _wrapped(position, length):
    """``position`` taken back into a ring of ``length`` slots (it is below ``2 * length``)."""
    return position - length if position >= length else position


@njit_inline
def push_head(lst, page, ring, meta):
    position = _wrapped(meta[lst, M_TAIL] + meta[lst, M_SIZE], meta[lst, M_LENGTH])
    ring[meta[lst, M_START] + position] = page
    meta[lst, M_SIZE] += 1


@njit_inline
def pop_tail(lst, ring, meta):
    tail = meta[lst, M_TAIL]
    page = ring[meta[lst, M_START] + tail]
    tail += 1
    meta[lst, M_TAIL] = 0 if tail == meta[lst, M_LENGTH] else tail
    meta[lst, M_SIZE] -= 1
    return page


@njit_inline
def ring_ahead(position, length):
    """The ring position ``AHEAD`` pages from ``position`` in a list's region of ``length``
    (``position`` itself if the region is shorter): where a scan prefetches a page's flags
    (:func:`memtier._jit.prefetch`; read at random, they miss the cache on a large memcg, and
    a hint lets the processor fetch them a few pages before the scan reaches them)."""
    if length <= AHEAD:
        return position
    return _wrapped(position + AHEAD, length)


@njit
def _int_sqrt(x):
    root = np.int64(np.sqrt(np.float64(x)))
    while root * root > x:
        root -= 1
    while (root + 1) * (root + 1) <= x:
        root += 1
    return root


@njit
def lru_inactive_is_low(node, meta, page_bytes, isolated):
    """``inactive_list_is_low()`` (vmscan.c): ``inactive * ratio < active`` with
    ``ratio = int_sqrt(10 * GB on the node's lists)``, 1 under 1 GB.  ``isolated`` inactive
    pages, taken off the list, still count."""
    inactive = meta[node * 2, M_SIZE] + isolated
    active = meta[node * 2 + 1, M_SIZE]
    gigabytes = ((inactive + active) * page_bytes) >> 30
    ratio = _int_sqrt(10 * gigabytes) if gigabytes > 0 else 1
    return inactive * ratio < active


@njit
def _mixed_references(flags, ring, start, length, tail, n_scan):
    """Whether between 15 % and 85 % of the first (up to) 256 pages from a list's tail have
    their accessed bit set: the choice of :func:`_shrink_inactive`'s loop (either gives the
    same lists; this only picks the faster)."""
    n = min(n_scan, 256)
    referenced = 0
    for _ in range(n):
        referenced += (flags[ring[start + tail]] >> 3) & 1  # ACCESSED
        tail += 1
        if tail == length:
            tail = 0
    return 0.15 * n < referenced < 0.85 * n


@njit
def _shrink_inactive(node, n_scan, flags, ring, meta, cold, isolate):
    """Scan ``n_scan`` pages from the tail of ``node``'s inactive list
    (``shrink_inactive_list`` -> ``shrink_page_list`` -> ``page_check_references``, anonymous
    pages): a page whose accessed bit is set is activated, the bit cleared
    (``PAGEREF_ACTIVATE``); an unreferenced page would be reclaimed, but patch 22 sets
    ``sc->no_reclaim`` and ``shrink_page_list`` keeps it (``goto keep_locked``), so
    ``putback_inactive_pages`` returns it to the head of the inactive list.  With ``isolate``
    (the ``referenced-cold`` variant) unreferenced pages are kept off the lists in ``cold``
    and their number returned.

    The two lists' ring positions are kept in local variables for the scan (the same
    arithmetic as :func:`pop_tail` and :func:`push_head`): numba cannot tell that ``meta``
    and ``ring`` do not overlap, and would otherwise reload ``meta`` at every step.  The scan
    goes in runs in which neither the tail read nor either head written wraps around its
    ring, so that a page costs no wraparound tests (:func:`shrink_active` likewise): the slow
    node's two scans of the 7th 1 s period of ``benchmarks/bench_simulator.py``'s traces
    (alternating in one process, CPU time, best of 11-15, shared 2-core VM) took 2.07 -> 1.58
    ms (zipf 0.8) and 2.04 -> 1.71 ms (uniform).

    When the pages about to be scanned are a mix of referenced and unreferenced ones
    (:func:`_mixed_references`), and without ``isolate``, each page is written to the head
    slot of both lists and only the list it joins grows (the other slot lies outside its list,
    free: the node's two lists share its limit, and each ring is as long): a branch on the
    accessed bit would mispredict often.  Where nearly all pages go one way, the branch is
    predicted and the loop with it is faster.  The slow node's inactive scan of a 1 s period
    of ``benchmarks/bench_simulator.py``'s traces (345 000 pages, CPU time, best of 7,
    alternating, shared 2-core VM), branch -> without: zipf 0.8 (62 % referenced) 2.3 -> 1.8
    ms, hot set (33 %) 1.86 -> 1.52; but uniform (89 %) 1.56 -> 1.85, scan (100 %) 0.88 ->
    1.46."""
    inactive = node * 2
    active = inactive + 1
    i_start, i_length, i_tail, i_size = meta[inactive, 0], meta[inactive, 1], meta[inactive, 2], meta[inactive, 3]
    a_start, a_length, a_tail, a_size = meta[active, 0], meta[active, 1], meta[active, 2], meta[active, 3]
    n_cold = 0
    mixed = not isolate and _mixed_references(flags, ring, i_start, i_length, i_tail, n_scan)
    last = np.uint64(ring.shape[0] - 1)
    left = n_scan
    while left > 0:  # in runs where no position wraps around its ring
        a_head = _wrapped(a_tail + a_size, a_length)
        i_head = _wrapped(i_tail + i_size, i_length)
        run = min(left, i_length - i_tail, a_length - a_head, i_length - i_head)
        # unsigned ring positions and page numbers: no wraparound code for a negative index
        source = np.uint64(i_start + i_tail)
        to_active = np.uint64(a_start + a_head)
        to_inactive = np.uint64(i_start + i_head)
        n_active = n_inactive = np.uint64(0)
        if mixed:
            for k in range(np.uint64(run)):  # without a branch on the accessed bit: see above
                prefetch(flags, np.uint64(ring[min(source + k + np.uint64(AHEAD), last)]))
                page = ring[source + k]
                f = flags[np.uint64(page)]
                referenced = (f >> 3) & 1  # ACCESSED
                flags[np.uint64(page)] = (f & ~ACCESSED) | (referenced << 2)  # ACTIVE
                ring[to_active + n_active] = page  # a free slot of each ring: the list's size says which
                ring[to_inactive + n_inactive] = page
                n_active += np.uint64(referenced)
                n_inactive += np.uint64(referenced ^ 1)
        else:
            for k in range(np.uint64(run)):
                prefetch(flags, np.uint64(ring[min(source + k + np.uint64(AHEAD), last)]))
                page = ring[source + k]
                f = flags[np.uint64(page)]
                if f & ACCESSED:
                    flags[np.uint64(page)] = (f & ~ACCESSED) | ACTIVE
                    ring[to_active + n_active] = page
                    n_active += np.uint64(1)
                elif isolate:
                    cold[n_cold] = page
                    n_cold += 1
                else:
                    ring[to_inactive + n_inactive] = page
                    n_inactive += np.uint64(1)
        i_tail += run
        if i_tail == i_length:
            i_tail = 0
        i_size += np.int64(n_inactive) - run
        a_size += np.int64(n_active)
        left -= run
    meta[inactive, M_TAIL] = i_tail
    meta[inactive, M_SIZE] = i_size
    meta[active, M_SIZE] = a_size
    return n_cold


@njit
def shrink_active(node, n_scan, flags, ring, meta):
    """``shrink_active_list`` (vmscan.c) for anonymous pages: every page scanned from the
    tail moves to the head of the inactive list (``move_active_pages_to_lru``), its accessed
    bit tested and cleared on the way by ``page_referenced`` (only referenced executable
    file pages stay active)."""
    active = node * 2 + 1
    inactive = active - 1
    a_start, a_length, a_tail, a_size = meta[active, 0], meta[active, 1], meta[active, 2], meta[active, 3]
    i_start, i_length, i_tail, i_size = meta[inactive, 0], meta[inactive, 1], meta[inactive, 2], meta[inactive, 3]
    last = np.uint64(ring.shape[0] - 1)
    left = n_scan
    while left > 0:  # in runs where neither position wraps around its ring
        head = _wrapped(i_tail + i_size, i_length)
        run = min(left, a_length - a_tail, i_length - head)
        source = np.uint64(a_start + a_tail)  # unsigned, as in _shrink_inactive
        target = np.uint64(i_start + head)
        for k in range(np.uint64(run)):
            prefetch(flags, np.uint64(ring[min(source + k + np.uint64(AHEAD), last)]))
            page = ring[source + k]
            flags[np.uint64(page)] = flags[np.uint64(page)] & ~(ACCESSED | ACTIVE)
            ring[target + k] = page
        a_tail += run
        if a_tail == a_length:
            a_tail = 0
        a_size -= run
        i_size += run
        left -= run
    meta[active, M_TAIL] = a_tail
    meta[active, M_SIZE] = a_size
    meta[inactive, M_SIZE] = i_size


@njit
def _shrink_lists_node(node, config, flags, ring, meta, cold, isolate):
    """Patch 22, ``shrink_lists_node_memcg()``: for each evictable list in the kernel's order
    (``for_each_evictable_lru``: inactive anon, then active anon), scan half of it,
    ``lruvec_size_memcg_node(lru) / 2``, read inside the loop, so the active list's half is
    taken *after* the inactive scan has activated pages.  ``shrink_active_list()`` is called
    directly: the call through ``shrink_list()``, which holds the ``inactive_list_is_low()``
    test, is commented out in the patch.

    Bug modelled by its intent: the patch's ``scan_control`` leaves ``reclaim_idx`` at 0, so
    ``isolate_lru_pages()`` would skip every page above ``ZONE_DMA`` and scan next to
    nothing; the intent, scanning the memcg's pages on the node, is what is simulated.

    Variants (today's behaviour, ``simulate(variants=...)``): ``halves-first`` reads both
    halves before either scan; ``inactive-ratio-gate`` shrinks the active list only while
    ``inactive_list_is_low()``.  Returns ``(pages scanned, cold pages isolated)``."""
    n_inactive = meta[node * 2, M_SIZE] // 2
    n_active = meta[node * 2 + 1, M_SIZE] // 2
    n_cold = _shrink_inactive(node, n_inactive, flags, ring, meta, cold, isolate)
    if config[K_HALVES_FIRST] == 0:
        n_active = meta[node * 2 + 1, M_SIZE] // 2
    if config[K_RATIO_GATE] != 0 and not lru_inactive_is_low(node, meta, config[K_PAGE_BYTES], n_cold):
        n_active = 0
    shrink_active(node, n_active, flags, ring, meta)
    return n_inactive + n_active, n_cold


@njit_inline
def mark_move(page, to_fast, flags, state, moved, pagestat, config, fconfig, out, row, judged_now):
    """Move ``page`` to the other node in the flags and the node counts, and record the move
    for the metrics (ping-pong, stays, the pages the next period judges); returns its new
    flags.  The accessed bit is cleared: the new page-table entry starts old
    (``remove_migration_pte`` makes it with ``pte_mkold``)."""
    f = flags[page] & ~ACCESSED
    m = pagestat[page, P_MARKS]
    if to_fast:
        f |= FAST
        m |= PROMOTED | IN_STAY
        state[S_FAST_USED] += 1
        state[S_SLOW_USED] -= 1
        if state[S_PERIOD] - pagestat[page, P_LAST_DEMOTED] <= config[K_PINGPONG_PERIODS]:
            out[row, C_PINGPONG] += 1
        pagestat[page, P_STAY] = 0
    else:
        f &= ~FAST
        m |= DEMOTED if judged_now else DEMOTED_NEXT
        state[S_FAST_USED] -= 1
        state[S_SLOW_USED] += 1
        pagestat[page, P_LAST_DEMOTED] = state[S_PERIOD]
        if m & IN_STAY:
            out[row, C_STAYS_ENDED] += 1
            if pagestat[page, P_STAY] > fconfig[F_WORTH_MIN]:
                out[row, C_STAYS_REPAID] += 1
            m &= ~IN_STAY
    flags[page] = f | MARKED
    pagestat[page, P_MARKS] = m
    moved[state[S_N_MOVED]] = page
    state[S_N_MOVED] += 1
    return f


@njit_inline
def _move(page, to_fast, flags, ring, meta, state, moved, pagestat, config, fconfig, out,
          row, judged_now):
    """Put an isolated page on the other node (:func:`mark_move`): it keeps ``PG_active``
    (``migrate_page_states``) and goes to the head of the matching list
    (``putback_lru_page`` of the new page)."""
    f = mark_move(page, to_fast, flags, state, moved, pagestat, config, fconfig, out, row,
                   judged_now)
    lst = (0 if to_fast else 2) + (1 if f & ACTIVE else 0)
    push_head(lst, page, ring, meta)


@njit_inline
def _putback(page, lst, ring, meta):
    """``putback_movable_pages`` -> ``putback_lru_page``: an isolated page that is not moved
    returns to the head of the list it was isolated from (its node and ``PG_active`` are
    unchanged, so the caller knows which: no need to read the page's flags)."""
    push_head(lst, page, ring, meta)


@njit_borrow
def _isolate_tail(lst, n, ring, meta, pages, start):
    """Up to ``n`` pages from the tail of ``lst``, oldest first, into ``pages[start:]``
    (:func:`pop_tail` page by page, as ``isolate_lru_pages`` takes them); returns how many.
    The list's ring positions are kept in local variables (numba cannot tell that ``meta``
    and ``ring`` do not overlap, and would reload ``meta`` at every page)."""
    r_start, r_length, tail, size = meta[lst, 0], meta[lst, 1], meta[lst, 2], meta[lst, 3]
    n = min(n, size)
    for j in range(n):
        pages[np.uint64(start + j)] = ring[np.uint64(r_start + tail)]  # unsigned: no wraparound code
        tail += 1
        if tail == r_length:
            tail = 0
    meta[lst, M_TAIL] = tail
    meta[lst, M_SIZE] = size - n
    return n


@njit_borrow
def _putback_range(lst, pages, low, high, ring, meta):
    """:func:`_putback` of ``pages[high - 1]``, ``pages[high - 2]``, ..., ``pages[low]``, in
    that order, to the head of ``lst`` (the ring positions in local variables, as in
    :func:`_isolate_tail`)."""
    r_start, r_length, tail, size = meta[lst, 0], meta[lst, 1], meta[lst, 2], meta[lst, 3]
    for j in range(high - 1, low - 1, -1):
        position = _wrapped(tail + size, r_length)
        ring[np.uint64(r_start + position)] = pages[np.uint64(j)]  # unsigned: no wraparound code
        size += 1
    meta[lst, M_SIZE] = size


#: How many pages ahead :func:`_move_range` prefetches a page's flags and metrics row: each
#: move waits on the 12-byte row of a page at random in a 12 MB array (1 M pages), and a
#: hint 16 pages ahead came too late.  ``mm_manage`` of the 7th 1 s period of
#: ``benchmarks/bench_simulator.py``'s zipf 0.8 trace (100 000 moves; alternating, CPU time,
#: best of 11, shared 2-core VM): 16 ahead 1.91 ms, 32 ahead 1.73, 48 ahead 1.93 (the loops
#: before, page by page with ``_move``: 2.21).
MOVE_AHEAD = 32


@njit_inline
def _record_move(m, page, to_fast, pagestat, period, pingpong_periods, worth_min):
    """The metrics' record of a move at a decision, judged in the next period (the part of
    :func:`mark_move` that :func:`_move_range` and :func:`_judge_marked` share): the page's
    new marks ``m`` (from its old ones; the caller stores them), the period of a demotion,
    a promoted page's stay restarted; returns ``(marks, ping-pong, stay ended, stay
    repaid)``, the last three 0 or 1."""
    pingpong = stay_ended = stay_repaid = 0
    if to_fast:
        m |= PROMOTED | IN_STAY
        pingpong = np.int64(period - pagestat[page, P_LAST_DEMOTED] <= pingpong_periods)
        pagestat[page, P_STAY] = 0
    else:
        m |= DEMOTED
        pagestat[page, P_LAST_DEMOTED] = period
        stay_ended = np.int64((m >> 3) & 1)  # IN_STAY, without a branch (about half the fast pages)
        stay_repaid = stay_ended & np.int64(pagestat[page, P_STAY] > worth_min)
        m &= ~IN_STAY
    return m, pingpong, stay_ended, stay_repaid


@njit_borrow
def _move_range(pages, low, high, to_fast, flags, ring, meta, state, moved, pagestat, config, fconfig, out, row,
                recorded):
    """:func:`_move` of ``pages[low:high]`` in order, each judged in the next period's
    metrics (``judged_now``): the same flags, marks, counts and list heads, with the node
    counts, the ring positions of the two lists the pages join and the period's counters kept
    in local variables for the loop (numba cannot tell that ``state``, ``meta`` and ``out`` do
    not overlap the arrays written per page, and would load and store each of them at every
    page), and the flags and metrics row of the page ``AHEAD`` on prefetched (the pages lie at
    random in memory).  With ``recorded``, the pages' metrics rows were already written
    (:func:`_record_move`, by :func:`_judge_marked` in page order) and are not touched here."""
    inactive = 0 if to_fast else 2
    active = inactive + 1
    i_start, i_length, i_tail, i_size = meta[inactive, 0], meta[inactive, 1], meta[inactive, 2], meta[inactive, 3]
    a_start, a_length, a_tail, a_size = meta[active, 0], meta[active, 1], meta[active, 2], meta[active, 3]
    period = state[S_PERIOD]
    n_moved = state[S_N_MOVED]
    pingpong_periods = config[K_PINGPONG_PERIODS]
    worth_min = fconfig[F_WORTH_MIN]
    pingpong = stays_ended = stays_repaid = 0
    for j in range(low, high):
        if j + MOVE_AHEAD < high:
            ahead = np.uint64(pages[j + MOVE_AHEAD])
            prefetch(flags, ahead)
            if not recorded:
                prefetch(pagestat, ahead)
        page = np.uint64(pages[j])  # unsigned: no wraparound code for a negative index
        f = flags[page] & ~ACCESSED
        if to_fast:
            f |= FAST
        else:
            f &= ~FAST
        if not recorded:
            m, moved_back, ended, repaid = _record_move(pagestat[page, P_MARKS], page, to_fast, pagestat, period,
                                                        pingpong_periods, worth_min)
            pagestat[page, P_MARKS] = m
            pingpong += moved_back
            stays_ended += ended
            stays_repaid += repaid
        flags[page] = f | MARKED
        moved[n_moved] = page
        n_moved += 1
        if f & ACTIVE:
            position = _wrapped(a_tail + a_size, a_length)
            ring[np.uint64(a_start + position)] = page
            a_size += 1
        else:
            position = _wrapped(i_tail + i_size, i_length)
            ring[np.uint64(i_start + position)] = page
            i_size += 1
    n = max(high - low, 0)
    direction = 1 if to_fast else -1
    state[S_FAST_USED] += direction * n
    state[S_SLOW_USED] -= direction * n
    state[S_N_MOVED] = n_moved
    meta[inactive, M_SIZE] = i_size
    meta[active, M_SIZE] = a_size
    out[row, C_PINGPONG] += pingpong
    out[row, C_STAYS_ENDED] += stays_ended
    out[row, C_STAYS_REPAID] += stays_repaid


@njit
def calls_cost_us(n_pages, call_pages, cost_us):
    """Time to move ``n_pages`` in calls of at most ``call_pages`` (``cost_us[k]``: one
    call moving ``k``)."""
    full = n_pages // call_pages
    rest = n_pages - full * call_pages
    return full * cost_us[call_pages] + cost_us[rest]


@njit
def _affordable_pages(limit, call_pages, migrate_cost, budget_us):
    """The most pages ``n <= limit`` that can be promoted, each with a demotion to make room,
    within ``budget_us`` (costs grow with ``n``: a binary search)."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if 2.0 * calls_cost_us(middle, call_pages, migrate_cost) <= budget_us:
            low = middle
        else:
            high = middle - 1
    return low


@njit_borrow
def _mm_manage(row, config, migrate_cost, ring, meta, cold, n_cold, iso_slow, iso_fast, state, out):
    """Patch 23, ``do_mm_manage()``, with patches 24 (batches) and 25 (exchange).

    1. ``nr_pages`` is capped by the fast node's limit and the pages on the slow node
       (``min_t(..., max_nr_pages_fast_node, nr_pages)``, ``min_t(..., nr_pages_slow_node,
       nr_pages)``), and by ``max_migrate_pages`` (the syscall's ``nr_pages``) and, with a
       ``migration_share``, the pages the budget affords (a departure: the RFC has no budget).
    2. The slow node's active pages are isolated from the tail
       (``isolate_pages_from_lru_list(..., ISOLATE_HOT_PAGES)``); when the fast node has free
       room and the slow node's active pages fit in it, inactive pages are taken too,
       inactive list first (``ISOLATE_HOT_AND_COLD_PAGES``).  Bug modelled by its intent: the
       patch passes the whole ``nr_pages`` to each list (and leaves ``reclaim_idx`` at 0);
       at most ``nr_pages`` in all are taken.
    3. If fewer pages are free on the fast node than were isolated, ``isolated - free`` pages
       are isolated from the fast node's inactive tail with no reference check
       (``ISOLATE_COLD_PAGES``; variant ``referenced-cold``: only the pages this period's scan
       found unreferenced), exchanged one for one with isolated slow pages when exchanging
       (patch 25: THPs only, ``thp_migration_supported()`` being true on x86-64; variant
       ``exchange-base-pages`` models a kernel without THP migration), and the rest demoted
       (``migrate_to_node(&fast_..._list, slow_nid, ...)``).  A departure: demotion stops at
       the slow node's limit (the posted code does not check it); pages left over go back.
    4. ``putback_overflow_pages()`` then keeps ``M - 1`` of the isolated slow pages, those
       isolated last (``list_for_each_entry`` from the list's head, where
       ``isolate_lru_pages`` puts each page it takes), with ``M = free / 2 + demoted`` for
       base pages (``nr_free_pages/2 + max_nr_base_pages``) and ``free + demoted`` for THPs
       (the empty base list hands its ``free / 2`` on to the huge list); none if ``M <= 2``
       pages ("drop just one more page").  The loop stops at the page where ``M`` reaches 2
       and ``list_cut_position`` keeps that page too, so ``M - 1`` pages are kept although
       the counter says ``M - 2``: the list, which is what migrates, is modelled.  The others
       go back to the head of their list (``putback_movable_pages``).  This step runs only
       when fast pages were isolated (``nr_isolated_fast_base_pages != ULONG_MAX``).
    5. The kept slow pages are promoted (``migrate_to_node(&slow_..._list, fast_nid, ...)``).

    Calls: ``migrate_to_node`` splits a list into batches of ``migration_batch_size`` only
    with ``MIGRATE_CONCUR`` (patch 24), otherwise one call takes the whole list
    (``K_CALL_PAGES``); base pages are copied without ``MIGRATE_MT`` (``mode &
    ~MIGRATE_MT``), which the caller folds into ``migrate_cost``.  Pages move in isolation
    order (oldest first); the order inside one call is not modelled.

    Done in two halves, around the period's metrics (:func:`_close_period`): this one isolates
    (steps 1-3) and counts what moves, ``(n_slow, n_slow_inactive, n_fast, exchanged, demoted,
    kept, fast_isolated)``; :func:`_mm_migrate` moves and puts back (steps 3-5).  Isolation
    takes pages off the lists, which the metrics do not read; its counts are those the moves
    find: an exchange moves one page each way, so the room on the slow node is the same after
    it.
    """
    fast_capacity = config[K_FAST_CAPACITY]
    call = config[K_CALL_PAGES]
    out[row, C_FAST_BEFORE] = state[S_FAST_USED]
    free = fast_capacity - state[S_FAST_USED]
    nr = min(fast_capacity, state[S_SLOW_USED])
    if config[K_MAX_PAGES] >= 0:
        nr = min(nr, config[K_MAX_PAGES])
    if config[K_BUDGETED] != 0:
        nr = _affordable_pages(nr, call, migrate_cost, out[row, C_BUDGET_US])
    # 2. isolate on the slow node
    n_slow = 0
    if free > 0 and meta[SLOW_ACTIVE, M_SIZE] < free:
        n_slow = _isolate_tail(SLOW_INACTIVE, max(nr, 0), ring, meta, iso_slow, 0)
    n_slow_inactive = n_slow  # iso_slow[:n_slow_inactive] came from the inactive list
    n_slow += _isolate_tail(SLOW_ACTIVE, max(nr - n_slow, 0), ring, meta, iso_slow, n_slow)
    kept = n_slow
    n_fast = exchanged = demoted = 0
    fast_isolated = free < n_slow
    if fast_isolated:
        # 3. isolate cold pages on the fast node
        need = n_slow - free
        if config[K_COLD_CHECK] != 0:
            while n_fast < need and n_fast < n_cold:
                iso_fast[n_fast] = cold[n_fast]
                n_fast += 1
        else:
            n_fast = _isolate_tail(FAST_INACTIVE, need, ring, meta, iso_fast, 0)
        if config[K_EXCHANGE] != 0:
            exchanged = min(n_slow, n_fast)
            n_slow -= exchanged
            n_fast -= exchanged
        room = config[K_SLOW_CAPACITY] - state[S_SLOW_USED]
        demoted = min(n_fast, room)
        # 4. putback_overflow_pages
        limit = free // 2 + demoted if config[K_HUGE] == 0 else free + demoted
        kept = 0 if limit <= 2 else min(n_slow, limit - 1)
    return n_slow, n_slow_inactive, n_fast, exchanged, demoted, kept, fast_isolated


@njit_borrow
def _mm_migrate(row, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta, cold, n_cold, iso_slow,
                iso_fast, state, moved, pagestat, out, n_slow, n_slow_inactive, n_fast, exchanged, demoted, kept,
                fast_isolated, recorded):
    """The moves of :func:`_mm_manage` (steps 3-5), after the period's metrics: the exchanges,
    the demotions, the fast pages left over put back, the promotions (the last ``kept``
    isolated slow pages), the others put back, each list's pushes in the order the RFC makes
    them, and the calls charged.  With ``recorded``, :func:`_judge_marked` has already written
    the moved pages' metrics rows (:func:`_move_range`)."""
    call = config[K_CALL_PAGES]
    spent = 0.0
    if fast_isolated:
        if exchanged > 0:
            for j in range(exchanged):
                slow_page = iso_slow[n_slow + exchanged - 1 - j]
                fast_page = iso_fast[n_fast + exchanged - 1 - j]
                _move(fast_page, False, flags, ring, meta, state, moved, pagestat, config, fconfig,
                      out, row, True)
                _move(slow_page, True, flags, ring, meta, state, moved, pagestat, config, fconfig,
                      out, row, True)
            spent += calls_cost_us(exchanged, call, exchange_cost)
            out[row, C_EXCHANGED] += exchanged
        _move_range(iso_fast, 0, demoted, False, flags, ring, meta, state, moved, pagestat, config, fconfig, out,
                    row, recorded)
        _putback_range(FAST_INACTIVE, iso_fast, demoted, n_fast, ring, meta)
        if config[K_COLD_CHECK] != 0:  # the variant's unused cold pages go back too
            for j in range(n_cold - 1, n_fast + exchanged - 1, -1):
                _putback(cold[j], FAST_INACTIVE, ring, meta)
            n_cold = 0
        spent += calls_cost_us(demoted, call, migrate_cost)
        out[row, C_DEMOTED] += demoted
    for j in range(n_cold - 1, -1, -1):  # referenced-cold: the scan's cold pages, not needed
        _putback(cold[j], FAST_INACTIVE, ring, meta)
    _move_range(iso_slow, n_slow - kept, n_slow, True, flags, ring, meta, state, moved, pagestat, config, fconfig,
                out, row, recorded)  # 5. promote
    # the others go back, last isolated first (the two lists' pushes are independent)
    _putback_range(SLOW_ACTIVE, iso_slow, min(n_slow_inactive, n_slow - kept), n_slow - kept, ring, meta)
    _putback_range(SLOW_INACTIVE, iso_slow, 0, min(n_slow_inactive, n_slow - kept), ring, meta)
    spent += calls_cost_us(kept, call, migrate_cost)
    out[row, C_PROMOTED] += kept
    out[row, C_MIGRATION_US] += spent


@njit
def _mark_moving(pages, low, high, flags, moving):
    """Flag ``pages[low:high]`` ``MARKED`` and set each one's bit in ``moving`` (a bitmap,
    bit ``page & 7`` of byte ``page >> 3``: 1 M pages in 125 kB, which the cache holds), so
    that :func:`_judge_marked` records their moves in page order (:func:`_close_period`); each
    moves to the other node."""
    for j in range(low, high):
        page = np.uint64(pages[j])  # unsigned: no wraparound code for a negative index
        moving[page >> np.uint64(3)] |= np.uint8(1 << (page & np.uint64(7)))
        flags[page] |= MARKED


@njit_inline
def _reclaim_batch(n, demoted, slow_capacity, worth_min, flags, counts, ring, meta, state, moved, pagestat, out, row):
    """One batch of :func:`_reclaim`'s scan: ``n`` pages from the tail of the fast node's inactive
    list, each referenced page activated (``PAGEREF_ACTIVATE``), each other one demoted
    (:func:`_move`, judged in the next period) while fewer than ``SWAP_CLUSTER_MAX`` are and the
    slow node has room, else put back at the inactive head; returns the pages demoted so far.

    :func:`pop_tail`, :func:`push_head` and :func:`mark_move` written out with the lists'
    ring positions, the node counts and the count of moved pages in local variables, and
    unsigned page numbers (numba cannot tell that ``meta``, ``state`` and ``out`` do not overlap
    the arrays written per page, and reloaded and stored them at every page).  A demoted page
    keeps ``PG_active`` (clear on the inactive list) and joins the slow list it names."""
    i_start, i_length, i_tail, i_size = meta[FAST_INACTIVE, 0], meta[FAST_INACTIVE, 1], meta[FAST_INACTIVE, 2], \
        meta[FAST_INACTIVE, 3]
    a_start, a_length, a_tail, a_size = meta[FAST_ACTIVE, 0], meta[FAST_ACTIVE, 1], meta[FAST_ACTIVE, 2], \
        meta[FAST_ACTIVE, 3]
    s_start, s_length, s_tail, s_size = meta[SLOW_INACTIVE, 0], meta[SLOW_INACTIVE, 1], meta[SLOW_INACTIVE, 2], \
        meta[SLOW_INACTIVE, 3]
    t_start, t_length, t_tail, t_size = meta[SLOW_ACTIVE, 0], meta[SLOW_ACTIVE, 1], meta[SLOW_ACTIVE, 2], \
        meta[SLOW_ACTIVE, 3]
    slow_used = state[S_SLOW_USED]
    n_moved = state[S_N_MOVED]
    period = state[S_PERIOD]
    first = demoted
    stays_ended = stays_repaid = 0
    for _ in range(n):
        prefetch(flags, np.uint64(ring[i_start + ring_ahead(ring_ahead(i_tail, i_length), i_length)]))
        ahead = np.uint64(ring[i_start + ring_ahead(i_tail, i_length)])
        # its row, written if it is demoted, and its count, read then: only for a page whose accessed
        # bit is clear (its flags were prefetched AHEAD pages ago; row 0 otherwise: a hint, never a
        # fault), since fetching them for the pages activated used up the misses the processor can
        # have in flight
        cold_ahead = ahead * np.uint64(((flags[ahead] >> 3) & 1) ^ 1)  # not ACCESSED
        prefetch(pagestat, cold_ahead)
        prefetch(counts, cold_ahead)
        page = np.uint64(ring[i_start + i_tail])  # pop_tail
        i_tail += 1
        if i_tail == i_length:
            i_tail = 0
        i_size -= 1
        f = flags[page]
        if f & ACCESSED:
            flags[page] = (f & ~ACCESSED) | ACTIVE
            ring[a_start + _wrapped(a_tail + a_size, a_length)] = page  # push_head(FAST_ACTIVE)
            a_size += 1
        elif demoted < SWAP_CLUSTER_MAX and slow_used < slow_capacity:
            # _move(page, to_fast=False, judged_now=False): the new page-table entry starts old
            # (remove_migration_pte, pte_mkold); the page keeps PG_active (migrate_page_states)
            # and goes to the head of the matching list (putback_lru_page of the new page)
            f = f & ~(ACCESSED | FAST)
            m = pagestat[page, P_MARKS] | DEMOTED_NEXT
            slow_used += 1
            pagestat[page, P_LAST_DEMOTED] = period
            if m & IN_STAY:
                stays_ended += 1
                if pagestat[page, P_STAY] > worth_min:
                    stays_repaid += 1
                m &= ~IN_STAY
            f |= TOUCHED_FAST * np.uint8(counts[page] != 0)  # without a branch: touched at random
            flags[page] = f | MARKED
            pagestat[page, P_MARKS] = m
            moved[n_moved] = page
            n_moved += 1
            if f & ACTIVE:
                ring[t_start + _wrapped(t_tail + t_size, t_length)] = page
                t_size += 1
            else:
                ring[s_start + _wrapped(s_tail + s_size, s_length)] = page
                s_size += 1
            demoted += 1
        else:
            ring[i_start + _wrapped(i_tail + i_size, i_length)] = page  # push_head(FAST_INACTIVE)
            i_size += 1
    meta[FAST_INACTIVE, M_TAIL] = i_tail
    meta[FAST_INACTIVE, M_SIZE] = i_size
    meta[FAST_ACTIVE, M_SIZE] = a_size
    meta[SLOW_INACTIVE, M_SIZE] = s_size
    meta[SLOW_ACTIVE, M_SIZE] = t_size
    state[S_FAST_USED] -= demoted - first
    state[S_SLOW_USED] = slow_used
    state[S_N_MOVED] = n_moved
    out[row, C_STAYS_ENDED] += stays_ended
    out[row, C_STAYS_REPAID] += stays_repaid
    return demoted


@njit_borrow
def _reclaim(row, config, fconfig, migrate_cost, flags, counts, ring, meta, state, moved, pagestat, out):
    """Demotion on reclaim (Linux 5.15 and later: ``demote_page_list`` from
    ``shrink_page_list``) when an allocation finds the fast node at its limit: deactivate
    until the inactive list is no longer low, then scan its tail in batches of
    ``SWAP_CLUSTER_MAX`` until that many cold pages are demoted or the lists were scanned
    twice over.  Every page scanned costs an rmap walk.  A page demoted after its first access
    of the period (its count is not 0) is flagged ``TOUCHED_FAST`` for the metrics."""
    slow_capacity, batch = config[K_SLOW_CAPACITY], config[K_BATCH_PAGES]
    demoted = 0
    scanned = 0
    limit = 2 * (meta[FAST_INACTIVE, M_SIZE] + meta[FAST_ACTIVE, M_SIZE]) + SWAP_CLUSTER_MAX
    page_bytes = config[K_PAGE_BYTES]
    while demoted < SWAP_CLUSTER_MAX and scanned < limit:
        # Refill the inactive list before scanning it, as the inactive-ratio rule intends:
        # a deactivated page must get the inactive list's whole length of time to be
        # referenced again (deactivating one batch and scanning it at once would demote
        # every page whose next access is more than a batch away, hot pages included).
        while lru_inactive_is_low(0, meta, page_bytes, 0) and meta[FAST_ACTIVE, M_SIZE] > 0:
            n = min(SWAP_CLUSTER_MAX, meta[FAST_ACTIVE, M_SIZE])
            shrink_active(0, n, flags, ring, meta)
            scanned += n
        n = min(SWAP_CLUSTER_MAX, meta[FAST_INACTIVE, M_SIZE])
        if n == 0:
            break
        demoted = _reclaim_batch(n, demoted, slow_capacity, fconfig[F_WORTH_MIN], flags, counts, ring, meta, state,
                                 moved, pagestat, out, row)
        scanned += n
    out[row, C_DEMOTED] += demoted
    out[row, C_MIGRATION_US] += calls_cost_us(demoted, batch, migrate_cost)
    out[row, C_SCANNED] += scanned
    out[row, C_SCAN_US] += scanned * fconfig[F_RMAP_NS] * 1e-3


@njit_inline
def judge_worth(marks, flags, first_fast):
    """A page the period used enough to repay a move (more than ``F_WORTH_MIN`` accesses),
    judged by where it was: ``(promoted, demoted, missed, fast)``, each 0 or 1, the counts of
    the break-even classification that :func:`score_period` and :func:`_judge_touched` both keep.
    Promoted or demoted by the last period's decisions (``marks``); else, unless it is new
    this period (placed, not judged), fast (right) or slow (a promotion missed)."""
    if marks & PROMOTED:
        return 1, 0, 0, 0
    if marks & DEMOTED:
        return 0, 1, 0, 1
    if flags & NEW:
        return 0, 0, 0, 0
    if first_fast:
        return 0, 0, 0, 1
    return 0, 0, 1, 0


@njit_inline
def write_scores(out, row, k, top_fast, static_hits, promoted_worth, demoted_worth, missed_worth, fast_worth):
    """A period's metrics into its row of ``out``: the same columns whichever order
    (:func:`score_period`, :func:`_score_lists` or :func:`_score_pages`) computed them in."""
    out[row, C_TOP] = k
    out[row, C_TOP_FAST] = top_fast
    out[row, C_STATIC_HITS] = static_hits
    out[row, C_PROMOTED_WORTH] = promoted_worth
    out[row, C_DEMOTED_WORTH] = demoted_worth
    out[row, C_MISSED_WORTH] = missed_worth
    out[row, C_FAST_WORTH] = fast_worth


#: Touched pages ahead of the one :func:`score_period` judges whose flags and marks it prefetches:
#: farther than ``AHEAD`` (16).  Its pass is a few loads and branches a page, so 16 pages
#: ahead are too few to hide a random miss: ``perf`` samples of ``mglru`` (hot-set trace of
#: ``benchmarks/bench_policies.py``, ``--stands-for 60``) put about 60 % of ``score_period``'s time
#: on the load of the marks.
SCORE_AHEAD = 64


@njit
def score_period(row, config, fconfig, counts, touched, flags, histogram, top, state, moved, pagestat, out):
    """The period's metrics, in one pass over the pages it touched; the period's counts are
    reset and its top pages kept in ``top`` (the reactive oracle's placement for the next).

    - ``C_TOP``: the period's top pages, its ``fast_capacity`` most accessed (fewer if it
      touched fewer; ties broken by first touch); ``C_TOP_FAST``: those of them that were on
      the fast node at their first access of the period (placement accuracy);
    - ``C_STATIC_HITS``: accesses first-touch placement serves fast; ``C_REACTIVE_HITS``:
      accesses the reactive oracle (the previous period's top pages fast) serves fast, and in
      the first period what first-touch placement serves;
    - break-even, of the moves made at the last decision (policies that decide only): a page
      is *worth* having fast if its accesses in this period times (slow - fast latency)
      exceed the cost of moving it, i.e. its count exceeds ``F_WORTH_MIN``.
      ``C_PROMOTED_WORTH``, ``C_DEMOTED_WORTH``: moved pages worth it; ``C_MISSED_WORTH``:
      pages left on the slow node that were worth promoting; ``C_FAST_WORTH``: pages on the
      fast node at the decision worth keeping;
    - stays: accesses of promoted pages while they stay fast are added to ``P_STAY``.

    Then the pages moved at the last decision are unmarked, and those demoted by reclaim
    during this period become the ones judged in the next."""
    n_touched = state[S_TOUCHED]
    reactive_hits = 0
    n_top = state[S_N_TOP]
    for j in range(n_top):  # before the counts are reset
        prefetch(counts, np.uint64(top[min(j + AHEAD, n_top - 1)]))
        reactive_hits += counts[top[j]]
    policy = config[K_POLICY]
    # the classifier policies of memtier.simulation.policies (codes from 100) mark their moves too
    deciding = (policy == ACTIVE_SHRINK or policy == REACTIVE_ORACLE or policy == RECLAIM_DEMOTION
                or policy >= 100)
    gathered = np.empty(n_touched, dtype=counts.dtype)  # the counts, read once (gather_counts)
    # a policy that decides nothing needs the flags only for static_hits: read them here, once
    most, static_hits = gather_counts(counts, touched, n_touched, histogram, gathered, flags,
                                       STATIC_FAST if not deciding else 0)
    k, threshold, ties = hot_count_threshold(config[K_FAST_CAPACITY], histogram, most, gathered, touched, n_touched, False)
    worth_min = fconfig[F_WORTH_MIN]
    top_fast = 0
    promoted_worth = 0
    demoted_worth = 0
    missed_worth = 0
    fast_worth = 0
    n_top = 0
    if not deciding:  # the top pages only: a sequential pass (and NEW, read only below, is left set)
        for i in range(n_touched):
            c = gathered[i]
            if c > threshold or (c == threshold and ties > 0):
                if c == threshold:
                    ties -= 1
                page = touched[i]
                top[n_top] = page ^ (page >> 31)
                n_top += 1
                if page < 0:
                    top_fast += 1
    else:
        last = n_touched - 1
        marks = pagestat[:, P_MARKS]
        for i in range(n_touched):
            ahead = touched[min(i + SCORE_AHEAD, last)]  # the flags and marks are read at random
            ahead ^= ahead >> 31
            prefetch(flags, np.uint64(ahead))
            prefetch(marks, np.uint64(ahead))  # the word read first (a 12-byte row may cross a line)
            page = touched[i]
            first_fast = page < 0
            page ^= page >> 31
            c = gathered[i]
            f = flags[page]
            if f & STATIC_FAST:
                static_hits += c
            if c > threshold or (c == threshold and ties > 0):
                if c == threshold:
                    ties -= 1
                top[n_top] = page
                n_top += 1
                if first_fast:
                    top_fast += 1
            m = pagestat[page, P_MARKS]
            if c > worth_min:
                promoted, demoted, missed, fast = judge_worth(m, f, first_fast)
                promoted_worth += promoted
                demoted_worth += demoted
                missed_worth += missed
                fast_worth += fast
            if m & IN_STAY:
                pagestat[page, P_STAY] += c
            flags[page] = f & ~NEW
    if state[S_PERIOD] == 0:
        reactive_hits = static_hits
    state[S_N_TOP] = n_top
    state[S_TOUCHED] = 0
    kept = 0
    for j in range(state[S_N_MOVED]):
        page = moved[j]
        m = pagestat[page, P_MARKS] & ~(PROMOTED | DEMOTED)
        if m & DEMOTED_NEXT:
            m = (m & ~DEMOTED_NEXT) | DEMOTED
            moved[kept] = page
            kept += 1
        pagestat[page, P_MARKS] = m
    state[S_N_MOVED] = kept
    write_scores(out, row, k, top_fast, static_hits, promoted_worth, demoted_worth, missed_worth, fast_worth)
    out[row, C_REACTIVE_HITS] = reactive_hits


@njit
def _judge_touched(counts, touched, first_flags, n_touched, histogram, gathered, flags, pagestat, worth_min,
                   deciding):
    """The pass of :func:`_score_lists` over the pages a period touched, in ``touched``'s order:
    the histogram of :func:`memtier.simulation.hotset.gather_counts` (the counts moved into
    ``gathered``, ``counts`` left zeroed), the accesses first-touch placement serves fast and,
    for a policy that decides, the break-even counts, the stays' accesses and ``NEW`` cleared,
    all as :func:`score_period` computes them.  Returns ``(most, static_hits, promoted_worth,
    demoted_worth, missed_worth, fast_worth)``.

    Why a pass of its own: :func:`score_period` reads each touched page's flags and its marks row
    at random (with the counts, three cache misses a page on a large trace: about 18 ns a
    touched page on the uniform trace of ``benchmarks/bench_simulator.py``, the largest share
    of ``reclaim-demotion``'s and ``active-shrink``'s time there).  Here the flags come in
    order from ``first_flags``, and the marks are read (and prefetched) only for pages flagged
    ``MARKED``.  Both are the flags of the page's first access of the period, which is exact
    for what is read of them: ``STATIC_FAST`` never changes, ``NEW`` is set at allocation (a
    first access) and cleared here; ``PROMOTED``, ``DEMOTED`` and ``IN_STAY`` change only at a
    period's end (``mm_manage``, and :func:`_score_lists` turning reclaim's ``DEMOTED_NEXT``
    into ``DEMOTED``), since a list policy moves a page only there or, ``reclaim-demotion``,
    demotes it during the period as ``DEMOTED_NEXT`` (not read here) and never promotes.  A
    page with none of the three is not ``MARKED`` (:func:`mark_move` flags every page it
    moves; :func:`_score_lists` unflags a page only once its marks hold none of them).
    Measured on a uniform period (593 000 touched pages, ``active-shrink``; alternating in one
    process, CPU time, best of 15-21): the whole metrics 10.5-12.0 ms with :func:`score_period`, 8.8-9.3 ms
    here."""
    top = histogram.shape[0] - 1
    most = 0
    static_hits = 0
    promoted_worth = demoted_worth = missed_worth = fast_worth = 0
    marks = pagestat[:, P_MARKS]  # a view, for the prefetch
    last = n_touched - 1
    for i in range(n_touched):
        a = min(i + AHEAD, last)
        ahead = touched[a]
        ahead ^= ahead >> 31
        prefetch(counts, np.uint64(ahead))
        if deciding:  # its marks row if it has one to read (row 0 otherwise: a hint, never a fault)
            prefetch(marks, np.uint64(ahead) * np.uint64((first_flags[a] >> 6) & 1))
        page = touched[i]
        first_fast = page < 0
        page ^= page >> 31
        c = counts[page]
        counts[page] = 0
        gathered[i] = c
        binned = min(c, top)  # the last bin gathers every count beyond it (hotset.hot_count_threshold)
        histogram[binned] += 1
        most = max(most, binned)
        f = first_flags[i]
        static_hits += c * ((f >> 4) & 1)  # STATIC_FAST
        if not deciding:
            continue
        m = pagestat[page, P_MARKS] if f & MARKED else 0  # most pages: neither moved nor new
        if c > worth_min:
            promoted, demoted, missed, fast = judge_worth(m, f, first_fast)
            promoted_worth += promoted
            demoted_worth += demoted
            missed_worth += missed
            fast_worth += fast
        if m & IN_STAY:
            pagestat[page, P_STAY] += c
        if f & NEW:
            flags[page] &= ~NEW
    return most, static_hits, promoted_worth, demoted_worth, missed_worth, fast_worth


@njit_inline
def _dense(config, state):
    """Whether :func:`_score_lists` scores the period in page order (:func:`_score_pages`)."""
    return state[S_TOUCHED] >= config[K_DENSE_TOUCHED]


@njit
def _score_lists(row, config, fconfig, counts, touched, first_flags, flags, histogram, top, state, moved, pagestat,
                 scratch, moving, n_moving, out):
    """:func:`score_period` for the list policies (``static``, ``reclaim-*``, ``active-shrink``): the
    same metrics, and each page's ``MARKED`` flag cleared once its marks hold nothing the
    metrics read; ``scratch`` is an int32 array of at least ``n_pages + 1``.

    Two passes give the same results.  A period that touched few pages is scored in their
    first-touch order (:func:`_score_touched`), reading each page's count at random; one that
    touched ``config[K_DENSE_TOUCHED]`` pages or more, in page order over the whole arrays
    (:func:`_score_pages`), reading them sequentially: on the uniform trace of
    ``benchmarks/bench_simulator.py`` a 1 s period touches two thirds of the pages.  In page
    order, the ``n_moving`` pages noted in ``moving`` have their moves recorded on the way
    (:func:`_judge_marked`)."""
    n_top = state[S_N_TOP]
    reactive_hits = 0
    for j in range(n_top):  # before the counts are reset
        prefetch(counts, np.uint64(top[min(j + AHEAD, n_top - 1)]))
        reactive_hits += counts[top[j]]
    policy = config[K_POLICY]
    deciding = policy == ACTIVE_SHRINK or policy == RECLAIM_DEMOTION
    if _dense(config, state):
        _score_pages(row, config, fconfig, counts, touched, flags, histogram, top, state, moved, pagestat, scratch,
                     deciding, moving, n_moving, out)
    else:
        _score_touched(row, config, fconfig, counts, touched, first_flags, flags, histogram, top, state, moved,
                       pagestat, scratch, deciding, out)
    if state[S_PERIOD] == 0:
        reactive_hits = out[row, C_STATIC_HITS]
    out[row, C_REACTIVE_HITS] = reactive_hits
    state[S_TOUCHED] = 0


@njit
def _score_touched(row, config, fconfig, counts, touched, first_flags, flags, histogram, top, state, moved, pagestat,
                   gathered, deciding, out):
    """The metrics in first-touch order: the flags read from ``first_flags``
    (:func:`_judge_touched`), the counts gathered into ``gathered`` on the way."""
    n_touched = state[S_TOUCHED]
    most, static_hits, promoted_worth, demoted_worth, missed_worth, fast_worth = _judge_touched(
        counts, touched, first_flags, n_touched, histogram, gathered, flags, pagestat, fconfig[F_WORTH_MIN], deciding)
    k, threshold, ties = hot_count_threshold(config[K_FAST_CAPACITY], histogram, most, gathered, touched, n_touched, False)
    top_fast = 0
    n_top = 0
    for i in range(n_touched):  # the top pages: a sequential pass, without branches (see score_period)
        if n_top == k:  # all found (a scan's come first)
            break
        c = gathered[i]
        page = touched[i]
        tie = np.int64(c == threshold)
        chosen = np.int64(c > threshold) | (tie & np.int64(ties > 0))
        ties -= chosen & tie
        top[n_top] = page ^ (page >> 31)  # kept only if chosen (top has a spare slot)
        n_top += chosen
        top_fast += chosen & np.int64(page < 0)
    state[S_N_TOP] = n_top
    kept = 0
    n_moved = state[S_N_MOVED]
    for j in range(n_moved):
        ahead = np.uint64(moved[min(j + AHEAD, n_moved - 1)])
        prefetch(flags, ahead)
        prefetch(pagestat, ahead)
        page = moved[j]
        m = pagestat[page, P_MARKS] & ~(PROMOTED | DEMOTED)
        if m & DEMOTED_NEXT:
            m = (m & ~DEMOTED_NEXT) | DEMOTED
            moved[kept] = page
            kept += 1
        pagestat[page, P_MARKS] = m
        f = flags[page] & ~TOUCHED_FAST
        if not m & (DEMOTED | IN_STAY):
            f &= ~MARKED
        flags[page] = f
    state[S_N_MOVED] = kept
    write_scores(out, row, k, top_fast, static_hits, promoted_worth, demoted_worth, missed_worth, fast_worth)


@njit
def _score_pages(row, config, fconfig, counts, touched, flags, histogram, top, state, moved, pagestat, marked,
                 deciding, moving, n_moving, out):
    """The metrics in page order, from ``counts`` and ``flags`` read sequentially (pages not
    touched have count 0), each of the passes below written without branches on the page's
    values, which are random and would mispredict.

    What :func:`_score_touched` reads in first-touch order is read here from the page's
    state at the period's end, which is the same: whether the page was fast at its first
    access of the period is its ``FAST`` flag (list policies move pages only at the period's
    end, after the metrics) or, for a page reclaim demoted after that access, its
    ``TOUCHED_FAST`` flag (:func:`_reclaim`); the flags and marks the break-even judgment reads
    are those of the page's first access (see :func:`_judge_touched`).  First-touch order is
    needed only to break ties at the threshold: the ``ties`` first of the ``pool`` pages whose
    count equals it are taken, found by walking ``touched`` from its start, or, when fewer
    are left out than taken, the ``pool - ties`` last are left out, found from its end
    (:func:`break_ties`), so that the walk stays short; the rest of the top pages are found in
    page order (:func:`_top_pages`).  The order of ``top`` and of ``moved`` (page order here)
    is not part of any result.  ``marked`` (an int32 array of ``n_pages + 1``) lists the
    pages flagged ``MARKED`` (scratch: :func:`_judge_marked` overwrites it).

    Measured on the 7th 1 s period of ``benchmarks/bench_simulator.py``'s traces (the whole
    :func:`_score_lists`, in first-touch order as before -> in page order, alternating in one
    process, CPU time, best of 9, shared 2-core VM), ``static`` / ``reclaim-demotion`` /
    ``active-shrink``: uniform (667 000 of 1 M pages touched) 5.1 -> 2.0 / 6.5 -> 2.6 /
    10.2 -> 3.5 ms; zipf 0.8 (440 000-550 000) 4.6 -> 2.4 and ``active-shrink`` 9.1 -> 3.8;
    scan (all) 3.3 -> 1.5 and 4.6 -> 2.7; hot set (215 000-245 000) 2.4 -> 2.1 / 5.7 -> 3.8 /
    7.3 -> 3.8.  (The ``top`` of those periods was in first-touch order, so the reactive
    oracle's hits were read at random; after a period in page order they are read in order.)"""
    worth_min = fconfig[F_WORTH_MIN]
    most, static_hits = histogram_pages(counts, flags, histogram, min(config[K_FAST_CAPACITY], state[S_TOUCHED]))
    promoted_worth = demoted_worth = missed_worth = fast_worth = 0
    if deciding:
        missed_worth, fast_worth = _judge_unmarked(counts, flags, worth_min)
        n_marked = _list_marked(flags, marked)
        promoted_worth, demoted_worth, missed, fast, kept, pingpong, stays_ended, stays_repaid = _judge_marked(
            counts, flags, pagestat, marked, n_marked, worth_min, moved, moving, n_moving, state[S_PERIOD],
            config[K_PINGPONG_PERIODS])
        missed_worth += missed
        fast_worth += fast
        state[S_N_MOVED] = kept
        out[row, C_PINGPONG] += pingpong
        out[row, C_STAYS_ENDED] += stays_ended
        out[row, C_STAYS_REPAID] += stays_repaid
    histogram[0] = 0  # the pages not touched
    k, threshold, ties, pool = threshold_pool(config[K_FAST_CAPACITY], histogram, most, counts, touched,
                                               state[S_TOUCHED], True)
    n_top = top_fast = 0
    least = np.int64(1) << 40  # nothing to take (k == 0)
    if k > 0:
        n_top, top_fast, least = break_ties(counts, touched, state[S_TOUCHED], threshold, ties, pool, top)
    n_top, fast = _top_pages(counts, flags, least, top, n_top)
    top_fast += fast
    if deciding:
        for j in range(state[S_N_MOVED]):  # the only pages that may have TOUCHED_FAST
            flags[moved[j]] &= ~TOUCHED_FAST
    state[S_N_TOP] = n_top
    write_scores(out, row, k, top_fast, static_hits, promoted_worth, demoted_worth, missed_worth, fast_worth)


#: Counts below this are histogrammed by :func:`histogram_pages` in one pass the compiler
#: vectorises (a comparison per bin); the pages above are rare (zipf 0.8: 1 %, hot set 0.4 %
#: of a 1 s period's pages).
SMALL_COUNTS = 16


@njit
def histogram_pages(counts, flags, histogram, k):
    """The histogram of every page's count (the untouched pages in bin 0), the largest bin
    and the accesses first-touch placement serves fast (``STATIC_FAST``).

    Counts below :data:`SMALL_COUNTS` are counted bin by bin with comparisons, in a loop
    without memory dependencies that the compiler vectorises; the others, unless ``k`` of them
    or more make the threshold fall among them, all in bin ``SMALL_COUNTS`` (the threshold
    search passes that bin whole).  A page-by-page histogram (each page's bin read, added to
    and written) took 1.05-1.4 ms on a 1 M-page period of ``benchmarks/bench_simulator.py``'s
    traces, this 0.4 (uniform, scan; CPU time, shared 2-core VM)."""
    top = histogram.shape[0] - 1
    n = counts.shape[0]
    if top <= SMALL_COUNTS:  # a histogram this short: page by page
        most = static_hits = 0
        for page in range(n):
            c = counts[page]
            binned = min(c, top)
            histogram[binned] += 1
            most = max(most, binned)
            static_hits += c * ((flags[page] >> 4) & 1)
        return most, static_hits
    most = static_hits = big = 0
    h0 = h1 = h2 = h3 = h4 = h5 = h6 = h7 = h8 = h9 = h10 = h11 = h12 = h13 = h14 = h15 = 0
    for page in range(n):  # SMALL_COUNTS bins, written out so that they stay in registers
        c = counts[page]
        h0 += c == 0
        h1 += c == 1
        h2 += c == 2
        h3 += c == 3
        h4 += c == 4
        h5 += c == 5
        h6 += c == 6
        h7 += c == 7
        h8 += c == 8
        h9 += c == 9
        h10 += c == 10
        h11 += c == 11
        h12 += c == 12
        h13 += c == 13
        h14 += c == 14
        h15 += c == 15
        big += c >= SMALL_COUNTS
        most = max(most, c)
        static_hits += c * ((flags[page] >> 4) & 1)
    small = (h0, h1, h2, h3, h4, h5, h6, h7, h8, h9, h10, h11, h12, h13, h14, h15)
    for b in range(SMALL_COUNTS):
        histogram[b] += small[b]
    if big < k:  # the threshold lies below SMALL_COUNTS: the bins above need not be told apart
        histogram[SMALL_COUNTS] += big
        return min(most, SMALL_COUNTS), static_hits
    for page in range(n):
        c = counts[page]
        if c >= SMALL_COUNTS:
            histogram[min(c, top)] += 1
    return min(most, top), static_hits


@njit
def _judge_unmarked(counts, flags, worth_min):
    """The break-even judgment (:func:`judge_worth`) of every page as if it had no marks:
    ``(missed, fast)``; ``NEW`` cleared, except on ``MARKED`` pages, which
    :func:`_judge_marked` judges again and clears (a loop the compiler vectorises)."""
    missed = fast = 0
    for page in range(counts.shape[0]):
        f = flags[page]
        worth = np.int64(counts[page] > worth_min) & np.int64(((f >> 7) & 1) ^ 1)  # not NEW
        on_fast = np.int64((f >> 1) & 1)
        fast += worth & on_fast
        missed += worth & (on_fast ^ 1)
        flags[page] = f & ~((~f & MARKED) << 1)  # NEW (128) cleared where MARKED (64) is not set
    return missed, fast


@njit
def _list_marked(flags, marked):
    """The pages flagged ``MARKED``, in page order, into ``marked``; their number."""
    n = np.uint64(0)  # unsigned, as in _top_pages
    for page in range(flags.shape[0]):
        marked[n] = page  # kept only if marked (the array has a spare slot)
        n += np.uint64((flags[page] >> 6) & 1)
    return np.int64(n)


@njit
def _judge_marked(counts, flags, pagestat, marked, n_marked, worth_min, moved, moving, n_moving, period,
                  pingpong_periods):
    """The marked pages: their break-even judgment corrected for their marks and for
    ``TOUCHED_FAST`` (returned as ``(promoted, demoted, missed, fast)`` differences, then the
    pages kept in ``moved``), the stays' accesses, ``NEW`` cleared, and the marks of the last
    decision cleared as :func:`_score_touched` clears them, page by page.

    With ``n_moving`` pages noted in the bitmap ``moving`` (``active-shrink``,
    :func:`_close_period`, :func:`_mark_moving`), those pages move to the other node at this
    period's decision, and are flagged ``MARKED`` so that they are among the pages here: their
    move is recorded in their row (:func:`_record_move`, written out without branches) once the
    judgment is done with it, as :func:`_move_range` would record it after the metrics, and their
    bit cleared; the moves' ping-pongs, stays ended and stays repaid are returned too.  A page
    flagged only for its move has no marks the judgment reads (it was not ``MARKED``), so the
    judgment leaves it as :func:`_judge_unmarked` did.  The record without branches, against
    :func:`_record_move` behind a branch on the page's bit (the 7th 1 s period of
    ``benchmarks/bench_simulator.py``'s traces, this pass alone, caches evicted, CPU time, best
    of 9, alternating in one process, shared 2-core VM): uniform 1.80 -> 1.31 ms, zipf 0.8 1.95
    -> 1.53, hot set 2.85 -> 2.76.

    The break-even judgment of the pages worth a move (more than ``worth_min`` accesses: 7 % of
    the marked pages on zipf 0.8, 0.1 % on uniform, more on the hot set, at random) runs after the
    loop, over those pages only, their marks and flags kept in ``marked`` (overwritten: it is
    scratch once read).  Behind a branch in the loop it mispredicted; written without branches
    in the loop, it kept more values live than there are registers (1.5 -> 2.0 ms).  This pass
    on the same 7th periods (caches evicted, CPU time, best of 11, alternating in one process,
    shared 2-core VM), branch in the loop -> judged after it: ``active-shrink`` hot set 1.83 ->
    1.38 ms, zipf 0.8 1.51 -> 1.37, uniform 1.36 -> 1.37; ``reclaim-demotion`` hot set 0.96 ->
    0.93, zipf 0.8 0.69 -> 0.74."""
    promoted_worth = demoted_worth = missed_worth = fast_worth = 0
    pingpong = stays_ended = stays_repaid = 0
    kept = 0
    n_worth = np.uint64(0)  # unsigned, as in _list_marked
    last = n_marked - 1
    for j in range(n_marked):
        prefetch(pagestat, np.uint64(marked[min(j + AHEAD, last)]))
        page = np.uint64(marked[j])  # unsigned: no wraparound code for a negative index
        c = counts[page]
        f = flags[page]
        m = pagestat[page, P_MARKS]
        # a page worth a move is judged after this loop, from its marks and flags kept here in the
        # slots of ``marked`` already read (n_worth <= j), without a branch (see the docstring)
        marked[n_worth] = (m << 8) | f
        n_worth += np.uint64(c > worth_min)
        pagestat[page, P_STAY] += c * ((m >> 3) & 1)  # IN_STAY
        m &= ~(PROMOTED | DEMOTED)
        next_judged = (m >> 4) & 1  # DEMOTED_NEXT: judged in the next period
        m = (m & ~DEMOTED_NEXT) | (next_judged << 2)  # DEMOTED
        moved[kept] = page
        kept += next_judged
        if n_moving > 0:  # the same at every page
            # _record_move without branches (about half the marked pages move, half of those each
            # way, at random: both branches mispredicted); a page that does not move keeps its row
            byte = page >> np.uint64(3)
            bit = np.uint8(1 << (page & np.uint64(7)))
            moves = np.int64((moving[byte] & bit) != 0)
            moving[byte] &= ~bit
            on_fast = np.int64((f >> 1) & 1)  # FAST
            to_fast = moves & (on_fast ^ 1)
            to_slow = moves & on_fast
            stay = pagestat[page, P_STAY]
            demoted_at = pagestat[page, P_LAST_DEMOTED]
            pingpong += to_fast & np.int64(period - demoted_at <= pingpong_periods)
            ended = to_slow & np.int64((m >> 3) & 1)  # IN_STAY
            stays_ended += ended
            stays_repaid += ended & np.int64(stay > worth_min)
            m = (m | (to_fast * (PROMOTED | IN_STAY)) | (to_slow * DEMOTED)) & ~(to_slow * IN_STAY)
            pagestat[page, P_STAY] = stay * (1 - to_fast)
            pagestat[page, P_LAST_DEMOTED] = demoted_at + to_slow * (period - demoted_at)
        pagestat[page, P_MARKS] = m
        f &= ~NEW
        if not m & (DEMOTED | IN_STAY):
            f &= ~MARKED
        flags[page] = f
    for j in range(np.int64(n_worth)):  # the break-even judgment of the pages worth a move
        f = np.uint8(marked[j] & 0xFF)
        m = marked[j] >> 8
        promoted0, demoted0, missed0, fast0 = judge_worth(0, f, (f & FAST) != 0)  # as _judge_unmarked did
        promoted, demoted, missed, fast = judge_worth(m, f, (f & (FAST | TOUCHED_FAST)) != 0)
        promoted_worth += promoted - promoted0
        demoted_worth += demoted - demoted0
        missed_worth += missed - missed0
        fast_worth += fast - fast0
    return promoted_worth, demoted_worth, missed_worth, fast_worth, kept, pingpong, stays_ended, stays_repaid


@njit
def break_ties(counts, touched, n_touched, threshold, ties, pool, top):
    """Break the ties at ``threshold`` by first touch: take the ``ties`` first pages of the
    ``pool`` whose count equals it into ``top``, or leave out the ``pool - ties`` last ones
    (their counts set to 0), whichever walk of ``touched`` is shorter.  Returns ``(pages in
    top, those fast at their first access, the least count :func:`_top_pages` takes)``."""
    n_top = top_fast = 0
    if ties == pool:
        return 0, 0, threshold
    last = n_touched - 1
    if ties <= pool - ties:
        for i in range(n_touched):
            if n_top == ties:
                break
            ahead = touched[min(i + AHEAD, last)]
            prefetch(counts, np.uint64(ahead ^ (ahead >> 31)))
            page = touched[i]
            first_fast = page < 0
            page ^= page >> 31
            if counts[np.uint64(page)] == threshold:  # unsigned: no wraparound code for a negative index
                top[n_top] = page
                n_top += 1
                top_fast += first_fast
        return n_top, top_fast, threshold + 1
    left_out = pool - ties
    for i in range(last, -1, -1):
        if left_out == 0:
            break
        ahead = touched[max(i - AHEAD, 0)]
        prefetch(counts, np.uint64(ahead ^ (ahead >> 31)))
        page = np.uint64(touched[i] ^ (touched[i] >> 31))  # unsigned, as above
        if counts[page] == threshold:
            counts[page] = 0
            left_out -= 1
    return 0, 0, threshold


@njit_inline
def take_top_pages(counts, least, top, n_top):
    """Append to ``top`` (from ``n_top``) every page whose count is at least ``least``, in
    page order, without a branch, and reset every count; returns the new ``n_top``."""
    at = np.uint64(n_top)  # unsigned: no wraparound code for a negative index at each store
    for page in range(counts.shape[0]):
        top[at] = page  # kept only if taken (top has a spare slot)
        at += np.uint64(counts[page] >= least)
    counts[:] = 0
    return np.int64(at)


@njit
def _top_pages(counts, flags, least, top, n_top):
    """Append to ``top`` every page whose count is at least ``least``, in page order, and
    reset every count; returns ``(pages in top, those of them fast at their first access of
    the period)``, the flags read only for the pages taken."""
    start = n_top
    n_top = take_top_pages(counts, least, top, n_top)
    top_fast = 0
    for j in range(start, n_top):
        f = flags[np.uint64(top[j])]
        top_fast += ((f >> 1) | (f >> 5)) & 1  # FAST or TOUCHED_FAST
    return n_top, top_fast


@njit
def _close_period(row, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta, cold, iso_slow,
                  iso_fast, counts, touched, first_flags, histogram, top, state, moved, pagestat, scratch, moving,
                  out):
    """End of a period: its metrics, then the policy's periodic work (``mm_manage`` for
    ``active-shrink``: patch 22's ``shrink_lists()``, slow node then fast node, then patch
    23's ``do_mm_manage()``), each scanned page charged an rmap walk.

    ``active-shrink`` scans its lists and isolates the pages it will move (:func:`_mm_manage`)
    before the metrics, and moves them (:func:`_mm_migrate`) after: the same results, since
    the metrics read neither the lists nor the accessed and active bits, and the scans and
    isolation read nothing the metrics write (counts, ``NEW``, ``MARKED``, the marks).  Done
    so, a period scored in page order records each move in the page's metrics row
    (:func:`_judge_marked`) in the same pass that reads that row for the metrics, instead of
    reading it again at random in :func:`_move_range`: the moving pages are noted for it in
    ``moving`` (a bitmap, :func:`_mark_moving`), unless pages are exchanged (the exchanges move
    one by one, :func:`_move`)."""
    if config[K_POLICY] != ACTIVE_SHRINK:
        _score_lists(row, config, fconfig, counts, touched, first_flags, flags, histogram, top, state, moved, pagestat,
                     scratch, moving, 0, out)
        # reclaim decided during the period: the pages it demoted were fast then
        out[row, C_FAST_BEFORE] = state[S_FAST_USED] + out[row, C_DEMOTED]
    else:
        hits = out[row, C_FAST_HITS]
        slow = out[row, C_ACCESSES] - hits
        access_us = (hits * fconfig[F_FAST_NS] + slow * fconfig[F_SLOW_NS]) * 1e-3
        if config[K_BUDGETED] != 0:
            out[row, C_BUDGET_US] = fconfig[F_MIGRATION_SHARE] * access_us
        scanned_slow, _ = _shrink_lists_node(1, config, flags, ring, meta, cold, False)
        scanned_fast, n_cold = _shrink_lists_node(0, config, flags, ring, meta, cold, config[K_COLD_CHECK] != 0)
        out[row, C_SCANNED] += scanned_slow + scanned_fast
        out[row, C_SCAN_US] += (scanned_slow + scanned_fast) * fconfig[F_RMAP_NS] * 1e-3
        n_slow, n_slow_inactive, n_fast, exchanged, demoted, kept, fast_isolated = _mm_manage(
            row, config, migrate_cost, ring, meta, cold, n_cold, iso_slow, iso_fast, state, out)
        recorded = config[K_EXCHANGE] == 0 and _dense(config, state)
        n_moving = 0
        if recorded:
            _mark_moving(iso_fast, 0, demoted, flags, moving)
            _mark_moving(iso_slow, n_slow - kept, n_slow, flags, moving)
            n_moving = demoted + kept
        _score_lists(row, config, fconfig, counts, touched, first_flags, flags, histogram, top, state, moved, pagestat,
                     scratch, moving, n_moving, out)
        _mm_migrate(row, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta, cold, n_cold, iso_slow,
                    iso_fast, state, moved, pagestat, out, n_slow, n_slow_inactive, n_fast, exchanged, demoted, kept,
                    fast_isolated, recorded)
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_SLOW_USED]
    state[S_PERIOD] += 1


@njit
def _serve(trace, j, stop, flags, counts, touched, first_flags, ring, meta, state, fast_capacity, reclaim_at, distinct,
           n_touched, hits):
    """The access loop: serve ``trace[j:stop]``; returns ``(j, distinct, n_touched, hits)``,
    ``j`` the first access not served: ``stop``, or a first touch that finds the fast node
    full under ``reclaim-demotion`` (``reclaim_at`` other than -1), which must reclaim first (the
    caller reclaims and calls again with ``reclaim_at = j``, so that the page is then placed
    wherever there is room).  Each access sets the page's accessed bit, counts it, and
    records the page in ``touched`` (and its flags in ``first_flags``) at its first access of
    the period; a first access
    allocates the page (:func:`_allocate`).

    Kept apart from the period's end and reclaim so that the loop holds only a few values
    and keeps them in registers: written inline with them, the loop kept its counters in
    memory, and each call there (the allocation, then a function of its own) took and
    released a reference to every array it was passed (numba's NRT_incref/NRT_decref): half
    the speed.  Allocation stays inside the loop: leaving the loop at every first touch and
    entering it again cost a third of the loop's speed (hot-set trace, 1 M first touches in
    20 M accesses).

    Indices are unsigned (``np.uint64``; page numbers are checked non-negative before any
    kernel runs), so numba adds no wraparound for a negative index to each array access, and
    the flags and count of the page ``AHEAD`` accesses on are prefetched (read at random,
    they miss the cache on a large trace).  The loop alone, on the 20 M-access traces of
    ``benchmarks/bench_simulator.py`` (CPU time, best of 5, alternating in one process,
    shared 2-core VM): uniform 138 -> 170 (unsigned) -> 216 M accesses/s (and prefetch),
    zipf 0.8 104 -> 128 -> 194.  The trace is read at an unsigned index too: 4 M accesses
    after the 7th 1 s period's state, caches evicted, best of 9, three rounds alternating in one
    process: uniform 237-277 -> 261-305, hot set 261-273 -> 287-299, zipf 0.8 244-271 ->
    242-298."""
    last = np.uint64(trace.shape[0] - 1)
    for j in range(j, stop):
        at = np.uint64(j)  # the trace read at an unsigned index too (j starts anywhere: numba kept its wraparound)
        ahead = np.uint64(trace[min(at + np.uint64(AHEAD), last)])
        prefetch(flags, ahead)
        prefetch(counts, ahead)
        page = np.uint64(trace[at])
        f = flags[page]
        if f == 0:
            if reclaim_at != -1 and reclaim_at != j and state[S_FAST_USED] >= fast_capacity:
                return j, distinct, n_touched, hits
            distinct += 1
            f = _allocate(page, distinct, fast_capacity, ring, meta, state)
        fast = (f >> 1) & 1
        hits += fast
        flags[page] = f | ACCESSED
        # branch-free: the slot is overwritten unless this is the page's first access in
        # the period; ~page when it is on the fast node then (memtier.simulation.hotset)
        c = counts[page]
        touched[np.uint64(n_touched)] = page ^ -np.int64(fast)
        first_flags[np.uint64(n_touched)] = f  # beside it: the page's flags (for _score_lists)
        n_touched += c == 0
        counts[page] = c + 1
    return stop, distinct, n_touched, hits


@njit_inline
def _allocate(page, distinct, fast_capacity, ring, meta, state):
    """A page's first access: on the fast node while under its limit, else on the slow node
    (patch 19, ``MPOL_PREFERRED`` with ``MPOL_F_MEMCG``), on the active list
    (``lru_cache_add_active_or_unevictable``); its flags."""
    f = PRESENT | ACTIVE | NEW
    if distinct <= fast_capacity:
        f |= STATIC_FAST
    if state[S_FAST_USED] < fast_capacity:
        f |= FAST
        state[S_FAST_USED] += 1
        push_head(FAST_ACTIVE, page, ring, meta)
    else:
        state[S_SLOW_USED] += 1
        push_head(SLOW_ACTIVE, page, ring, meta)
    return f


@njit
def run_lists(trace, final, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta, cold,
               iso_slow, iso_fast, counts, touched, first_flags, histogram, top, state, fstate, moved, pagestat,
               scratch, moving, pending, out):
    """Run ``static``, ``reclaim-*`` or ``active-shrink`` over ``trace`` (one chunk); return
    the number of periods completed (rows written to ``out``).  ``pending`` holds the running
    period, carried to the next chunk; with ``final``, a last partial period is closed too.

    A page is allocated at its first access: on the fast node while under its limit, else
    on the slow node (patch 19, ``MPOL_PREFERRED`` with ``MPOL_F_MEMCG``);
    ``reclaim-demotion`` first tries to make room.  New anonymous pages join the active
    list (``lru_cache_add_active_or_unevictable``)."""
    fast_capacity = config[K_FAST_CAPACITY]
    demotion = config[K_POLICY] == RECLAIM_DEMOTION
    unit_fast, unit_slow = fconfig[F_UNIT_FAST], fconfig[F_UNIT_SLOW]
    n = trace.shape[0]
    row = 0
    i = 0
    while i < n:
        remaining = fstate[FS_REMAINING]
        stop = min(n, i + max(1, np.int64(remaining / unit_slow)))
        hits = 0
        n_touched = state[S_TOUCHED]
        distinct = state[S_DISTINCT]
        j = i
        reclaim_at = -2 if demotion else -1  # -1: never reclaim; >= 0: the first touch that has
        while True:
            j, distinct, n_touched, hits = _serve(trace, j, stop, flags, counts, touched, first_flags, ring, meta,
                                                  state, fast_capacity, reclaim_at, distinct, n_touched, hits)
            if j == stop:
                break
            # reclaim-demotion: the fast node is full at a first touch; make room, then place it
            _reclaim(0, config, fconfig, migrate_cost, flags, counts, ring, meta, state, moved, pagestat, pending)
            reclaim_at = j
        state[S_TOUCHED] = n_touched
        state[S_DISTINCT] = distinct
        pending[0, C_ACCESSES] += stop - i
        pending[0, C_FAST_HITS] += hits
        remaining -= hits * unit_fast + (stop - i - hits) * unit_slow
        i = stop
        if remaining <= 0 or (final and i == n):
            out[row, :] = pending[0, :]
            pending[0, :] = 0.0
            _close_period(row, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta, cold, iso_slow,
                          iso_fast, counts, touched, first_flags, histogram, top, state, moved, pagestat, scratch,
                          moving, out)
            row += 1
            remaining = fconfig[F_PERIOD]
        fstate[FS_REMAINING] = remaining
    return row
