"""Numba kernels of the simulator: the kernel's page lists, an exact LRU and an oracle.

Private: :mod:`memtier.simulator` validates every input before calling anything here
(numba does not check bounds).  The pure-Python twin of these rules is
``tests/naive_lists.py``; the tests hold the two equal on random traces.

State is kept in compact per-page arrays (the benchmark reports the total, 15-20 bytes a
page on a million pages):

- ``flags`` (uint8): the bits below;
- ``ring`` (int32) and ``meta`` (int64, shape (4, 4)): the four lists.  The kernel's lists
  only ever gain pages at the head and lose them at the tail (scans, isolation for
  migration), so each list is a FIFO queue, kept as a ring buffer in its own region of
  ``ring``, as long as the node's limit; ``meta[list]`` holds the region's start, its length,
  the position of the tail page and the list's size.  A scan reads its list sequentially,
  which lets the processor fetch ahead (a linked list would make every step wait for the
  previous load);
- ``counts`` (int32): accesses in the current period, and ``touched`` (int32): the pages
  touched in it, in first-touch order (for the true hot set and the oracle).

Lists are numbered ``node * 2 + active``: 0 fast inactive, 1 fast active, 2 slow inactive,
3 slow active.
"""
import numpy as np

from ._jit import njit
from .hotset import IN_TRUE_SET, STATIC_FAST, _score  # noqa: F401 (flags re-exported)

# Page flags.
PRESENT = 1        # allocated (touched at least once)
FAST = 2           # on the fast node
ACTIVE = 4         # PG_active: on an active list
ACCESSED = 8       # the page-table entry's accessed (young) bit, set by every access
# STATIC_FAST = 16: where first-touch placement (the static policy) puts the page, and
# IN_TRUE_SET = 32: scratch, in the period's true hot set (both from memtier.hotset)

FAST_INACTIVE, FAST_ACTIVE, SLOW_INACTIVE, SLOW_ACTIVE = 0, 1, 2, 3

# Policies.
STATIC, RECLAIM, ACTIVE_SHRINK, LRU, ORACLE = 0, 1, 2, 3, 4

# Slots of the int64 ``state`` array carried from chunk to chunk: pages on each node, pages
# touched so far, pages touched in the period, and the positions of the head and tail of the
# LRU's queue (memtier.baselines).
S_FAST_USED, S_SLOW_USED, S_DISTINCT, S_TOUCHED, S_LRU_HEAD, S_LRU_TAIL = range(6)
STATE_SIZE = 6

# Slots of the int64 ``config`` and float64 ``fconfig`` arrays (fixed for a run).
(K_POLICY, K_FAST_CAPACITY, K_SLOW_CAPACITY, K_PAGE_BYTES, K_BATCH_PAGES, K_MAX_PAGES, K_EXCHANGE,
 K_PERIOD) = range(8)
CONFIG_SIZE = 8
F_FAST_NS, F_SLOW_NS, F_MIGRATION_SHARE = range(3)

# Columns of the per-period ``out`` rows (float64).
(C_ACCESSES, C_FAST_HITS, C_STATIC_HITS, C_PROMOTED, C_DEMOTED, C_EXCHANGED, C_MIGRATION_US,
 C_CLASSIFIED, C_TRUE_HOT, C_TRUE_POSITIVE, C_FAST_USED, C_SLOW_USED, C_BUDGET_US) = range(13)
N_COLUMNS = 13

#: Pages reclaim tries to free per invocation (the kernel's ``SWAP_CLUSTER_MAX``) and the
#: batch in which it scans a list.
SWAP_CLUSTER_MAX = 32


# Columns of ``meta``.
M_START, M_LENGTH, M_TAIL, M_SIZE = range(4)


@njit
def _push_head(lst, page, ring, meta):
    position = meta[lst, M_TAIL] + meta[lst, M_SIZE]
    if position >= meta[lst, M_LENGTH]:
        position -= meta[lst, M_LENGTH]
    ring[meta[lst, M_START] + position] = page
    meta[lst, M_SIZE] += 1


@njit
def _pop_tail(lst, ring, meta):
    tail = meta[lst, M_TAIL]
    page = ring[meta[lst, M_START] + tail]
    tail += 1
    meta[lst, M_TAIL] = 0 if tail == meta[lst, M_LENGTH] else tail
    meta[lst, M_SIZE] -= 1
    return page


@njit
def _int_sqrt(x):
    root = np.int64(np.sqrt(np.float64(x)))
    while root * root > x:
        root -= 1
    while (root + 1) * (root + 1) <= x:
        root += 1
    return root


@njit
def _inactive_is_low(node, meta, page_bytes, isolated):
    """``inactive_list_is_low()``: ``inactive * ratio < active`` with
    ``ratio = int_sqrt(10 * GB on the node's lists)``, 1 under 1 GB.  ``isolated`` inactive
    pages, taken off the list for migration, still count (the kernel puts its isolated
    pages back before it looks at the active list)."""
    inactive = meta[node * 2, M_SIZE] + isolated
    active = meta[node * 2 + 1, M_SIZE]
    gigabytes = ((inactive + active) * page_bytes) >> 30
    ratio = _int_sqrt(10 * gigabytes) if gigabytes > 0 else 1
    return inactive * ratio < active


@njit
def _shrink_inactive(node, n_scan, flags, ring, meta, cold, isolate):
    """Scan ``n_scan`` pages from the tail of ``node``'s inactive list
    (``shrink_inactive_list`` + ``page_check_references`` for anonymous pages): a page
    whose accessed bit is set is activated, the bit cleared; an unreferenced page is cold.
    With ``isolate``, cold pages are kept off the lists in ``cold`` (mm_manage isolates them
    as demotion candidates) and their number returned; otherwise they go back to the head
    of the inactive list (nothing is reclaimed).

    The two lists' ring positions are kept in local variables for the scan (the same
    arithmetic as :func:`_pop_tail` and :func:`_push_head`): numba cannot tell that ``meta``
    and ``ring`` do not overlap, and would otherwise reload ``meta`` at every step."""
    inactive = node * 2
    active = inactive + 1
    i_start, i_length, i_tail, i_size = meta[inactive, 0], meta[inactive, 1], meta[inactive, 2], meta[inactive, 3]
    a_start, a_length, a_tail, a_size = meta[active, 0], meta[active, 1], meta[active, 2], meta[active, 3]
    n_cold = 0
    for _ in range(n_scan):
        page = ring[i_start + i_tail]
        i_tail += 1
        if i_tail == i_length:
            i_tail = 0
        i_size -= 1
        f = flags[page]
        if f & ACCESSED:
            flags[page] = (f & ~ACCESSED) | ACTIVE
            position = a_tail + a_size
            if position >= a_length:
                position -= a_length
            ring[a_start + position] = page
            a_size += 1
        elif isolate:
            cold[n_cold] = page
            n_cold += 1
        else:
            position = i_tail + i_size
            if position >= i_length:
                position -= i_length
            ring[i_start + position] = page
            i_size += 1
    meta[inactive, M_TAIL] = i_tail
    meta[inactive, M_SIZE] = i_size
    meta[active, M_SIZE] = a_size
    return n_cold


@njit
def _shrink_active(node, n_scan, flags, ring, meta):
    """``shrink_active_list`` for anonymous pages: every page scanned from the tail moves
    to the inactive list, its accessed bit tested and cleared on the way (ring positions in
    local variables, as in :func:`_shrink_inactive`)."""
    active = node * 2 + 1
    inactive = active - 1
    a_start, a_length, a_tail, a_size = meta[active, 0], meta[active, 1], meta[active, 2], meta[active, 3]
    i_start, i_length, i_tail, i_size = meta[inactive, 0], meta[inactive, 1], meta[inactive, 2], meta[inactive, 3]
    for _ in range(n_scan):
        page = ring[a_start + a_tail]
        a_tail += 1
        if a_tail == a_length:
            a_tail = 0
        a_size -= 1
        flags[page] = flags[page] & ~(ACCESSED | ACTIVE)
        position = i_tail + i_size
        if position >= i_length:
            position -= i_length
        ring[i_start + position] = page
        i_size += 1
    meta[active, M_TAIL] = a_tail
    meta[active, M_SIZE] = a_size
    meta[inactive, M_SIZE] = i_size


@njit
def _shrink_node(node, flags, ring, meta, page_bytes, cold, isolate):
    """The RFC's shrink on demand: half of each list, in the kernel's list order (inactive,
    then active, the latter only while the inactive list is low).  Returns the number of
    cold pages isolated into ``cold`` (with ``isolate``)."""
    n_inactive = meta[node * 2, M_SIZE] // 2
    n_active = meta[node * 2 + 1, M_SIZE] // 2
    n_cold = _shrink_inactive(node, n_inactive, flags, ring, meta, cold, isolate)
    if _inactive_is_low(node, meta, page_bytes, n_cold):
        _shrink_active(node, n_active, flags, ring, meta)
    return n_cold


@njit
def _move(page, to_fast, flags, ring, meta, state):
    """Put an isolated page on the other node: it keeps ``PG_active`` and goes to the head
    of the matching list; its new page-table entry starts old (``remove_migration_pte``
    makes it with ``pte_mkold``), so the accessed bit is cleared."""
    f = flags[page] & ~ACCESSED
    if to_fast:
        f |= FAST
        state[S_FAST_USED] += 1
        state[S_SLOW_USED] -= 1
    else:
        f &= ~FAST
        state[S_FAST_USED] -= 1
        state[S_SLOW_USED] += 1
    flags[page] = f
    lst = (0 if to_fast else 2) + (1 if f & ACTIVE else 0)
    _push_head(lst, page, ring, meta)


@njit
def _batches_cost_us(n_pages, batch_pages, cost_us):
    """Time to move ``n_pages`` in calls of at most ``batch_pages`` (``cost_us[k]``: one
    call moving ``k``)."""
    full = n_pages // batch_pages
    rest = n_pages - full * batch_pages
    return full * cost_us[batch_pages] + cost_us[rest]


@njit
def _affordable(k, cost_us, factor, room_us):
    """The largest call size up to ``k`` whose time (``factor * cost_us[size]``) fits in
    ``room_us``; 0 if none does (costs grow with the size)."""
    while k > 0 and factor * cost_us[k] > room_us:
        k -= 1
    return k


@njit
def _migrate(row, config, budget_us, migrate_cost, exchange_cost, flags, ring, meta, cold, n_cold,
             state, out):
    """mm_manage's migration (patches 23-25), in calls of at most ``batch_pages`` pages (a
    smaller last call when a whole batch no longer fits), while the period's time budget
    lasts: promote the slow node's active pages into free room on
    the fast node; then, the fast node full, exchange them one for one with the fast node's
    isolated cold pages (``exchange``), or demote a batch of cold pages and promote as many.
    Cold pages left over go back to the head of the fast inactive list."""
    fast_capacity = config[K_FAST_CAPACITY]
    slow_capacity = config[K_SLOW_CAPACITY]
    batch = config[K_BATCH_PAGES]
    max_pages = config[K_MAX_PAGES]
    exchange = config[K_EXCHANGE]
    hot = meta[SLOW_ACTIVE, M_SIZE]
    if max_pages >= 0 and max_pages < hot:
        hot = max_pages
    spent = 0.0
    while hot > 0 and state[S_FAST_USED] < fast_capacity:
        k = _affordable(min(batch, hot, fast_capacity - state[S_FAST_USED]), migrate_cost, 1.0,
                        budget_us - spent)
        if k == 0:
            hot = 0
            break
        spent += migrate_cost[k]
        for _ in range(k):
            page = _pop_tail(SLOW_ACTIVE, ring, meta)
            _move(page, True, flags, ring, meta, state)
        out[row, C_PROMOTED] += k
        hot -= k
    next_cold = 0
    while hot > 0 and next_cold < n_cold:
        k = min(batch, hot, n_cold - next_cold)
        if exchange:
            k = _affordable(k, exchange_cost, 1.0, budget_us - spent)
            cost = exchange_cost[k]
        else:
            # a demotion call, then a promotion call; both nodes full, only exchange can swap
            k = _affordable(min(k, slow_capacity - state[S_SLOW_USED]), migrate_cost, 2.0,
                            budget_us - spent)
            cost = 2.0 * migrate_cost[k]
        if k == 0:
            break
        spent += cost
        for _ in range(k):
            page = _pop_tail(SLOW_ACTIVE, ring, meta)
            _move(cold[next_cold], False, flags, ring, meta, state)
            _move(page, True, flags, ring, meta, state)
            next_cold += 1
        if exchange:
            out[row, C_EXCHANGED] += k
        else:
            out[row, C_DEMOTED] += k
            out[row, C_PROMOTED] += k
        hot -= k
    out[row, C_MIGRATION_US] += spent
    for j in range(next_cold, n_cold):
        _push_head(FAST_INACTIVE, cold[j], ring, meta)


@njit
def _reclaim(row, config, migrate_cost, flags, ring, meta, state, out):
    """Reclaim on the fast node at its limit (Linux default, with demotion in place of
    swap): deactivate until the inactive list is no longer low, then scan its tail in
    batches of ``SWAP_CLUSTER_MAX`` until that many cold pages are demoted or the lists were
    scanned twice over."""
    slow_capacity, batch = config[K_SLOW_CAPACITY], config[K_BATCH_PAGES]
    demoted = 0
    scanned = 0
    limit = 2 * (meta[FAST_INACTIVE, M_SIZE] + meta[FAST_ACTIVE, M_SIZE]) + SWAP_CLUSTER_MAX
    page_bytes = config[K_PAGE_BYTES]
    while demoted < SWAP_CLUSTER_MAX and scanned < limit:
        # Refill the inactive list before scanning it, as the inactive-ratio rule intends:
        # a page deactivated (its accessed bit cleared) must get the inactive list's whole
        # length of time to be referenced again.  Deactivating one batch and scanning it at
        # once would demote every page whose next access is more than a batch away, hot
        # pages included (an earlier version did, and reclaim lost the whole hot set).
        while _inactive_is_low(0, meta, page_bytes, 0) and meta[FAST_ACTIVE, M_SIZE] > 0:
            n = min(SWAP_CLUSTER_MAX, meta[FAST_ACTIVE, M_SIZE])
            _shrink_active(0, n, flags, ring, meta)
            scanned += n
        n = min(SWAP_CLUSTER_MAX, meta[FAST_INACTIVE, M_SIZE])
        if n == 0:
            break
        for _ in range(n):
            page = _pop_tail(FAST_INACTIVE, ring, meta)
            f = flags[page]
            if f & ACCESSED:
                flags[page] = (f & ~ACCESSED) | ACTIVE
                _push_head(FAST_ACTIVE, page, ring, meta)
            elif demoted < SWAP_CLUSTER_MAX and state[S_SLOW_USED] < slow_capacity:
                _move(page, False, flags, ring, meta, state)
                demoted += 1
            else:
                _push_head(FAST_INACTIVE, page, ring, meta)
        scanned += n
    out[row, C_DEMOTED] += demoted
    out[row, C_MIGRATION_US] += _batches_cost_us(demoted, batch, migrate_cost)


@njit
def _close_period(row, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta, cold,
                  counts, touched, histogram, state, out):
    """End of a period: the policy's periodic work, then the classification metrics."""
    if config[K_POLICY] == ACTIVE_SHRINK:
        hits = out[row, C_FAST_HITS]
        slow = out[row, C_ACCESSES] - hits
        access_us = (hits * fconfig[F_FAST_NS] + slow * fconfig[F_SLOW_NS]) * 1e-3
        budget = fconfig[F_MIGRATION_SHARE] * access_us
        out[row, C_BUDGET_US] = budget
        _shrink_node(1, flags, ring, meta, config[K_PAGE_BYTES], cold, False)
        n_cold = _shrink_node(0, flags, ring, meta, config[K_PAGE_BYTES], cold, True)
        _migrate(row, config, budget, migrate_cost, exchange_cost, flags, ring, meta, cold, n_cold,
                 state, out)
    true_positive, true_hot, static_hits = _score(config[K_FAST_CAPACITY], ACTIVE, counts, touched,
                                                  state[S_TOUCHED], flags, histogram)
    out[row, C_STATIC_HITS] = static_hits
    state[S_TOUCHED] = 0
    out[row, C_CLASSIFIED] = meta[FAST_ACTIVE, M_SIZE] + meta[SLOW_ACTIVE, M_SIZE]
    out[row, C_TRUE_HOT] = true_hot
    out[row, C_TRUE_POSITIVE] = true_positive
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_SLOW_USED]


@njit
def _run_lists(trace, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta, cold, counts,
               touched, histogram, state, out):
    """Run the ``static``, ``reclaim`` or ``active-shrink`` policy over ``trace``, which holds
    whole periods (the trace's last may be shorter); return the rows written to ``out``.

    A page is allocated at its first access: on the fast node while under its limit, else
    on the slow node (MPOL_PREFERRED with MPOL_F_MEMCG); ``reclaim`` first tries to make
    room.  New anonymous pages join the active list."""
    period = config[K_PERIOD]
    fast_capacity = config[K_FAST_CAPACITY]
    reclaim = config[K_POLICY] == RECLAIM
    distinct = state[S_DISTINCT]
    n = trace.shape[0]
    row = 0
    for start in range(0, n, period):
        stop = min(n, start + period)
        hits = 0
        n_touched = 0
        for i in range(start, stop):
            page = trace[i]
            f = flags[page]
            if f == 0:
                distinct += 1
                f = PRESENT | ACTIVE
                if distinct <= fast_capacity:
                    f |= STATIC_FAST
                if reclaim and state[S_FAST_USED] >= fast_capacity:
                    _reclaim(row, config, migrate_cost, flags, ring, meta, state, out)
                if state[S_FAST_USED] < fast_capacity:
                    f |= FAST
                    state[S_FAST_USED] += 1
                    _push_head(FAST_ACTIVE, page, ring, meta)
                else:
                    state[S_SLOW_USED] += 1
                    _push_head(SLOW_ACTIVE, page, ring, meta)
            hits += (f >> 1) & 1              # FAST
            flags[page] = f | ACCESSED
            # branch-free: the slot is overwritten unless this is the page's first touch
            c = counts[page]
            touched[n_touched] = page
            n_touched += c == 0
            counts[page] = c + 1
        out[row, C_ACCESSES] = stop - start
        out[row, C_FAST_HITS] = hits
        state[S_TOUCHED] = n_touched
        state[S_DISTINCT] = distinct
        _close_period(row, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta, cold,
                      counts, touched, histogram, state, out)
        row += 1
    return row
