"""The shared driver of the classifier policies: trace, clock, nodes, moves and metrics.

Private.  Every policy module in :mod:`memtier.simulation.policies` writes one numba kernel, ``run_policy``,
that walks a chunk of the trace with the helpers below, so that what is common (placing a
page at its first access, serving an access from its node, the simulated clock, moving a
page and charging it, closing a period and scoring it) is written once and a policy adds
only its own classification.  The metrics are :func:`memtier.simulation.policies.active_shrink.score_period`'s, the same as
for the list policies (computed in page order by :func:`score_in_page_order` for a period that
touched many pages), with one difference in *when* a move is judged: these policies move
pages at any time (a hint fault, a sampling thread's pass), not once at a period's end, so
a move made during period ``t`` is judged by the accesses of period ``t + 1`` (as the list
policies' reclaim demotions are).

The clock.  ``fstate[FS_NOW_NS]`` is the policy's clock in ns: every access adds its latency
(``fast_access_ns`` or ``slow_access_ns``), and every piece of work a policy charges to the
application (a hint fault, a page-table scan, a sample, a migration) adds its cost.  The
policies' timers (a scan period, a migration thread's interval) run on this clock.  Result
rows are periods of the accesses' own time (``period_s``) or counts (``period``), as for
every other policy, so the work charged lengthens a run but not its periods.

Flags and marks (``pagestat[page, P_MARKS]``) are :mod:`memtier.simulation.policies.active_shrink`'s, plus two marks used
here only: ``PROMOTED_NEXT`` (promoted during the current period, judged in the next) and
``IN_NEXT`` (listed in ``nxt``); and one flag, :data:`MARKS_HELD` (the page's marks may hold
something the metrics read).
"""
import numpy as np

from ..._jit import njit, njit_borrow, prefetch, prefetch_each
from .active_shrink import (
    ACCESSED, AHEAD, C_ACCESSES, C_DEMOTED, C_FAST_BEFORE, C_FAST_HITS, C_FAST_USED, C_MIGRATION_US, C_PINGPONG,
    C_PROMOTED, C_REACTIVE_HITS, C_SCAN_US, C_SCANNED, C_SLOW_USED, C_STAYS_ENDED, C_STAYS_REPAID, DEMOTED,
    DEMOTED_NEXT, FAST, F_FAST_NS, F_PERIOD, F_SLOW_NS, F_UNIT_FAST, F_UNIT_SLOW, F_WORTH_MIN, IN_STAY, IN_TRUE_SET,
    K_DENSE_TOUCHED, K_FAST_CAPACITY, K_PINGPONG_PERIODS, NEW, P_LAST_DEMOTED, P_MARKS, P_STAY, PRESENT, PROMOTED,
    S_DISTINCT, S_FAST_USED, S_N_TOP, S_PERIOD, S_SLOW_USED, S_TOUCHED, STATIC_FAST, break_ties, histogram_pages,
    judge_worth, score_period, take_top_pages, threshold_pool, write_scores,
)

# Marks beyond memtier.simulation.policies.active_shrink' (1-16).
PROMOTED_NEXT = 32
IN_NEXT = 64
#: Page flag: the page's marks may hold something the metrics read (``PROMOTED``, ``DEMOTED``,
#: ``IN_STAY``, or this period's move), so that a period scored in page order
#: (:func:`score_in_page_order`) reads the marks of these pages only.  Set by :func:`move_page`
#: at every move (every mark is set there), cleared in page order once the marks hold none of
#: them; a period scored in first-touch order leaves it set (a page may be flagged with no
#: such mark, never the other way round).  The bit is the oracles' scratch ``IN_TRUE_SET``
#: (memtier.simulation.hotset), which no classifier policy uses (``ACTIVE`` and ``MARKED``,
#: the list policies' other bits, are ``mglru``'s and ``numa-balancing``'s own flags).
MARKS_HELD = IN_TRUE_SET
# How far PROMOTED_NEXT and DEMOTED_NEXT lie above PROMOTED and DEMOTED (score_in_page_order's
# turnover of the marks shifts them down).
NEXT_SHIFT_PROMOTED = PROMOTED_NEXT.bit_length() - PROMOTED.bit_length()
NEXT_SHIFT_DEMOTED = DEMOTED_NEXT.bit_length() - DEMOTED.bit_length()

# Slots of ``state`` beyond memtier.simulation.policies.active_shrink' nine: pages judged in this period (in
# ``judged``) and pages moved during it (in ``nxt``).
S_N_JUDGED, S_N_NEXT = 9, 10
STATE_SIZE = 11

# Slots of ``fstate``: what is left of the period (its units), the clock (ns).
FS_REMAINING, FS_NOW_NS = 0, 1
FSTATE_SIZE = 2
#: Accesses ahead of the one served whose page's flags and count :func:`serve_until`
#: prefetches, for a policy that moves many pages: farther than the list policies' ``AHEAD``
#: (16), because between events its work (eviction, page-table walks, records at random)
#: pushes the counts and flags out of the caches, so more of the loop's reads go to memory
#: and need more time in flight.  ``mglru`` on the traces of ``benchmarks/bench_policies.py``
#: against 16 (CPU time, alternated in one process, shared 2-core VM): 32 zipf +4 %, hot set
#: +7 %; 64 zipf +15-18 %, hot set +2-7 %; 128 zipf +7-9 %, hot set +2-7 %.
SERVE_AHEAD = 64


@njit_borrow
def allocate_first_touch(page, fast, flags, state, config):
    """Allocate ``page`` at its first access, on the fast node if ``fast``; its flags."""
    state[S_DISTINCT] += 1
    f = PRESENT | NEW
    if state[S_DISTINCT] <= config[K_FAST_CAPACITY]:
        f |= STATIC_FAST
    if fast:
        f |= FAST
        state[S_FAST_USED] += 1
    else:
        state[S_SLOW_USED] += 1
    flags[page] = f
    return f


@njit
def flush_loop_state(accesses, hits, now_ns, remaining, n_touched, state, fstate, pending):
    """Write back the access loop's running figures before anything else reads them.

    Each policy's loop serves an access the way ``memtier.simulation.policies.active_shrink.run_lists`` does: the
    clock advances by the access's latency and the period's remainder by its units, the
    page's accessed bit is set, its count of the period incremented, and its first access
    of the period recorded in ``touched``, as ``~page`` if it was on the fast node then
    (``page ^ -fast``, :mod:`memtier.simulation.hotset`).
    The loop keeps the clock, what is left of the period, the pages touched and the
    accesses and fast hits of the period in local variables (numba cannot keep array slots
    in registers, the arrays might overlap), and flushes them here before every event (a
    first touch, a fault, a sample, a timer, a period's end), then reloads them."""
    pending[0, C_ACCESSES] += accesses
    pending[0, C_FAST_HITS] += hits
    fstate[FS_NOW_NS] = now_ns
    fstate[FS_REMAINING] = remaining
    state[S_TOUCHED] = n_touched


@njit
def serve_until(trace, j, n, stop_flags, flags, counts, touched, latency, unit, next_event, n_touched, accesses,
                 hits, now, remaining, ahead=AHEAD, watch=0, fresh=()):
    """Serve ``trace[j:n]`` as :func:`flush_loop_state` describes, until an access needs the policy or
    an event is due; returns ``(j, needs_policy, n_touched, accesses, hits, now, remaining)``.

    ``needs_policy``: access ``j`` was not served, its page's flags masked by ``stop_flags``
    being other than ``PRESENT`` (a first touch, or, with a policy's own flag in the mask,
    say an armed page); the policy handles it, and the next call serves it.  Otherwise
    ``j`` is the next access to serve: ``n``, or the one after an access whose latency
    brought ``now`` to ``next_event`` or ended the period (``remaining <= 0``).
    ``latency`` and ``unit`` are indexed by ``fast`` (slow first).

    The access loop of a policy kernel, in a function of its own: written inline between
    the policy's calls, the loop kept its running figures in memory rather than in
    registers (memtier.simulation.policies.active_shrink._serve tells the same story), and a policy's rare events cost
    a return here rather than a branch around them at every access.  As in that loop, indices
    are unsigned and the flags and count of the page ``ahead`` accesses on are prefetched
    (read at random, they miss the cache over 1 M pages): ``mglru`` on the zipf trace of
    ``benchmarks/bench_policies.py`` 27.5 -> 37.7 M accesses/s, ``hemem`` (through
    :func:`serve_sampled`) 44-57 -> 72 (CPU time, shared 2-core VM, back to back).
    ``ahead``: ``AHEAD`` (16), or :data:`SERVE_AHEAD` for a policy whose work between
    events pushes the counts and flags out of the caches.

    ``fresh``: the policy's own per-page arrays (a tuple; empty by default, and then no code is
    compiled for it) whose rows are prefetched for a page ``ahead // 2`` accesses on whose flags
    have a bit of ``watch`` set (its flags were prefetched ``ahead // 2`` accesses before):
    ``numa-balancing`` and ``tpp`` give an armed page's scan time and ``referenced`` byte, which
    its hint fault reads (their time-scaled runs on the benchmark's zipf trace x1.11-1.16, the
    fault's own share of the profile 7.8 % -> 1.6 %; prefetching them at every access instead,
    without looking at the flags, lost 8-21 %)."""
    last = trace.shape[0] - 1
    for j in range(j, n):
        later = np.uint64(trace[min(j + ahead, last)])
        prefetch(flags, later)
        prefetch(counts, later)
        if len(fresh) != 0:  # known when compiled: no code for the other policies
            near = np.uint64(trace[min(j + (ahead >> 1), last)])
            if flags[near] & watch:
                prefetch_each(fresh, near)
        page = np.uint64(trace[j])
        f = flags[page]
        if (f & stop_flags) != PRESENT:
            return j, True, n_touched, accesses, hits, now, remaining
        fast = (f >> 1) & 1
        c = counts[page]
        flags[page] = f | ACCESSED
        touched[np.uint64(n_touched)] = page ^ -np.int64(fast)
        n_touched += c == 0
        counts[page] = c + 1
        accesses += 1
        hits += fast
        now += latency[fast]  # indexed, not branched: fast and slow accesses interleave at random
        remaining -= unit[fast]
        if now >= next_event or remaining <= 0:
            return j + 1, False, n_touched, accesses, hits, now, remaining
    return n, False, n_touched, accesses, hits, now, remaining


#: :func:`serve_sampled` prefetches the flags and count of the page ``SAMPLED_AHEAD`` accesses
#: on (farther than the list policies' ``AHEAD``, 16: between events ``memtis``'s and ``hemem``'s
#: work pushes them out of the caches; ``memtis`` against 16, three rounds alternated at load 5,
#: CPU time: zipf +1-17 %, hot set +3-28 %; 64 was no better than 32), and looks ``NEAR``
#: accesses on for a first touch (half way: the flags it reads there were prefetched
#: ``SAMPLED_AHEAD - NEAR`` accesses before).
SAMPLED_AHEAD = 32
NEAR = 16


@njit
def serve_sampled(trace, writes, has_writes, j, n, flags, counts, touched, fresh, latency, unit, next_event, left,
                  store_sampler, loads_by_node, periods, sample_ns, queue, n_queued, n_touched, accesses, hits, now,
                  remaining):
    """Serve ``trace[j:n]`` as :func:`serve_until` does (stopping only at a first touch), each
    access also counted down by its sampler in ``left``: a store by ``left[store_sampler]``, a
    load by ``left[0]``, or with ``loads_by_node`` by ``left[fast]`` (slow loads, fast loads
    apart).  Returns as :func:`serve_until` (``needs_policy`` is a first touch), also after an
    access that was sampled (its counter reached 0).  HeMem's samplers are loads and stores
    (``store_sampler`` 1); MEMTIS's slow loads, fast loads and stores (2, ``loads_by_node``).
    :func:`serve_until` cannot stop at a sample: the samplers count every access.

    ``queue`` (MEMTIS; empty for HeMem): a sampled access does not return while ``queue`` has
    room: its sampler starts over from ``periods``, its cost ``sample_ns`` is added to the clock,
    its page goes into ``queue[n_queued]`` and its rows of ``fresh`` are prefetched; the caller
    counts the queued samples, in their order, at the next return, before anything else (for a
    sample that the accesses after it do not depend on: it writes only the policy's own arrays,
    which serving an access does not read).  Returns ``(j, first_touch, n_queued, n_touched,
    accesses, hits, now, remaining)``.

    ``fresh``: the policy's own per-page arrays that its first touch writes (a tuple, possibly
    empty).  When the page ``NEAR`` accesses on is not yet present, its rows of them are
    prefetched: a first touch otherwise waits on a cache miss in each (five for ``memtis``,
    its count, cooling clock, list and both links), and its stores held up every access
    after it.  The sampler's counter is chosen without a branch (stores come at random), and
    the trace and the store flags are read at unsigned indices too.  With cycle counters around
    the phases of ``memtis.run_policy``, its first touches went from 550 to 180 million cycles
    (hot-set trace, best of six) for 11 % more in the loop.  All of it on the traces of
    ``benchmarks/bench_policies.py``, three rounds alternated with the code before (CPU time,
    best of two runs a round, the shared 2-core VM at load 4-5), M accesses/s: ``memtis`` zipf
    44-46 -> 56-66, hot set 41-44 -> 51-61; ``hemem`` zipf 65-71 -> 75-94, hot set 57-61 -> 70-80."""
    last = np.uint64(trace.shape[0] - 1)
    size = queue.shape[0]
    for j in range(j, n):
        at = np.uint64(j)  # unsigned: no wraparound code for a negative index at each read
        ahead = np.uint64(trace[min(at + np.uint64(SAMPLED_AHEAD), last)])
        prefetch(flags, ahead)
        prefetch(counts, ahead)
        near = np.uint64(trace[min(at + np.uint64(NEAR), last)])
        if flags[near] == 0:
            prefetch_each(fresh, near)
        page = np.uint64(trace[at])
        f = flags[page]
        if f == 0:
            return j, True, n_queued, n_touched, accesses, hits, now, remaining
        fast = (f >> 1) & 1
        c = counts[page]
        flags[page] = f | ACCESSED
        touched[np.uint64(n_touched)] = page ^ -np.int64(fast)
        n_touched += c == 0
        counts[page] = c + 1
        accesses += 1
        hits += fast
        now += latency[fast]  # indexed, not branched: fast and slow accesses interleave at random
        remaining -= unit[fast]
        store = np.uint64(0)
        if has_writes:  # the same at every access
            store = np.uint64(writes[at] != 0)
        # without a branch: written as a choice, it was compiled as a branch on the store flag,
        # mispredicted at random (the 30 % stores of the benchmark)
        event = (store * np.uint64(store_sampler)) | ((np.uint64(1) - store) * np.uint64(fast * loads_by_node))
        left[event] -= 1
        if left[event] == 0:
            if size == 0:
                return j + 1, False, n_queued, n_touched, accesses, hits, now, remaining
            left[event] = periods[event]
            now += sample_ns
            queue[n_queued] = page
            n_queued += 1
            prefetch_each(fresh, page)
            if n_queued == size:
                return j + 1, False, n_queued, n_touched, accesses, hits, now, remaining
        if now >= next_event or remaining <= 0:
            return j + 1, False, n_queued, n_touched, accesses, hits, now, remaining
    return n, False, n_queued, n_touched, accesses, hits, now, remaining


@njit
def charge_overhead(ns, events, fstate, pending):
    """Charge management work done on the application's time (hint faults, page-table
    scans, samples): ``ns`` in all, for ``events`` pages or events."""
    fstate[FS_NOW_NS] += ns
    pending[0, C_SCAN_US] += ns * 1e-3
    pending[0, C_SCANNED] += events


@njit
def charge_migration(us, fstate, pending):
    """Charge one migration call of ``us`` microseconds."""
    fstate[FS_NOW_NS] += us * 1e3
    pending[0, C_MIGRATION_US] += us


@njit_borrow
def move_page(page, to_fast, flags, state, pagestat, nxt, config, fconfig, pending):
    """Move ``page`` to the other node: flags, node counts, and the metrics' records
    (ping-pong, stays, the move judged by the next period).  The accessed bit is cleared:
    the new page-table entry starts old (``remove_migration_pte`` makes it ``pte_mkold``)."""
    f = flags[page] & ~ACCESSED
    m = pagestat[page, P_MARKS]
    if not m & IN_NEXT:
        nxt[state[S_N_NEXT]] = page
        state[S_N_NEXT] += 1
        m |= IN_NEXT
    if to_fast:
        f |= FAST
        m = (m & ~DEMOTED_NEXT) | PROMOTED_NEXT | IN_STAY
        state[S_FAST_USED] += 1
        state[S_SLOW_USED] -= 1
        if state[S_PERIOD] - pagestat[page, P_LAST_DEMOTED] <= config[K_PINGPONG_PERIODS]:
            pending[0, C_PINGPONG] += 1
        pagestat[page, P_STAY] = 0
        pending[0, C_PROMOTED] += 1
    else:
        f &= ~FAST
        m = (m & ~PROMOTED_NEXT) | DEMOTED_NEXT
        state[S_FAST_USED] -= 1
        state[S_SLOW_USED] += 1
        pagestat[page, P_LAST_DEMOTED] = state[S_PERIOD]
        if m & IN_STAY:
            pending[0, C_STAYS_ENDED] += 1
            if pagestat[page, P_STAY] > fconfig[F_WORTH_MIN]:
                pending[0, C_STAYS_REPAID] += 1
            m &= ~IN_STAY
        pending[0, C_DEMOTED] += 1
    flags[page] = f | MARKS_HELD
    pagestat[page, P_MARKS] = m


@njit
def end_period(row, config, fconfig, flags, counts, touched, histogram, top, state, moved, pagestat, judged, nxt,
           fstate, pending, out):
    """End of a period: write its row, score it (``memtier.simulation.policies.active_shrink.score_period``, which judges the
    pages marked ``PROMOTED`` / ``DEMOTED``: the moves of the previous period), then make
    this period's moves the ones the next period judges."""
    out[row, :] = pending[0, :]
    pending[0, :] = 0.0
    # the pages the period's decisions were made about: on the fast node at its end, and
    # those demoted during it (each demotion once), so that demotion recall stays a share
    out[row, C_FAST_BEFORE] = state[S_FAST_USED] + out[row, C_DEMOTED]
    # the same results, whichever order is faster: page order, when the pages touched and the
    # moves to turn over (read at random in first-touch order) are many
    if state[S_TOUCHED] + state[S_N_JUDGED] + state[S_N_NEXT] >= config[K_DENSE_TOUCHED]:
        score_in_page_order(row, config, fconfig, counts, touched, flags, histogram, top, state, pagestat, judged,
                            nxt, out)
    else:
        score_period(row, config, fconfig, counts, touched, flags, histogram, top, state, moved, pagestat, out)
        _next_judged(state, pagestat, judged, nxt)
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_SLOW_USED]
    state[S_PERIOD] += 1
    fstate[FS_REMAINING] = fconfig[F_PERIOD]


@njit
def _next_judged(state, pagestat, judged, nxt):
    """After a period scored in first-touch order: the moves judged in it unmarked, and
    this period's moves made the ones the next period judges."""
    # the moved pages in the order they moved, their marks at random: prefetched AHEAD
    n_judged = state[S_N_JUDGED]
    for j in range(n_judged):
        prefetch(pagestat, np.uint64(judged[min(j + AHEAD, n_judged - 1)]))
        page = judged[j]
        pagestat[page, P_MARKS] &= ~(PROMOTED | DEMOTED)
    n_next = state[S_N_NEXT]
    for j in range(n_next):
        prefetch(pagestat, np.uint64(nxt[min(j + AHEAD, n_next - 1)]))
        page = nxt[j]
        m = pagestat[page, P_MARKS] & ~IN_NEXT
        if m & PROMOTED_NEXT:
            m = (m & ~PROMOTED_NEXT) | PROMOTED
        elif m & DEMOTED_NEXT:
            m = (m & ~DEMOTED_NEXT) | DEMOTED
        pagestat[page, P_MARKS] = m
        judged[j] = page
    state[S_N_JUDGED] = state[S_N_NEXT]
    state[S_N_NEXT] = 0


@njit
def score_in_page_order(row, config, fconfig, counts, touched, flags, histogram, top, state, pagestat, judged, nxt,
                        out):
    """What :func:`memtier.simulation.policies.active_shrink.score_period` and the marks' turnover of
    :func:`end_period` do, in page order over the whole per-page arrays (read sequentially;
    pages not touched have count 0), for a period that touched many pages: the same results.

    First-touch order reads each touched page's count, flags and marks at random (three cache
    misses a page over a million pages); here the counts and flags are streamed, and the
    marks read only for the pages flagged :data:`MARKS_HELD`, in page order.  Whether a page was
    fast at its first access of the period (the sign of its ``touched`` entry) is copied into
    a bitmap, one bit a page, by one sequential pass over ``touched``; a page not moved
    during the period is still where it was then, so the unflagged pages read it from their
    ``FAST`` flag, and only the flagged ones (every page moved in the period is) and the top
    pages from the bitmap.  The ties at the threshold are broken by first touch as in the
    list policies' page-order pass (``active_shrink.break_ties``); the order of ``top`` and of
    ``judged`` (page order here) is part of no result.  ``judged`` and ``nxt`` are scratch
    once read: every page they list is flagged, and the new list of judged pages is rebuilt
    from the flagged ones."""
    n_pages = counts.shape[0]
    n_touched = state[S_TOUCHED]
    n_top = state[S_N_TOP]
    reactive_hits = 0
    for j in range(n_top):  # before the counts are reset (top is in page order after such a period)
        prefetch(counts, np.uint64(top[min(j + AHEAD, n_top - 1)]))
        reactive_hits += counts[top[j]]
    first_fast = np.zeros((n_pages >> 3) + 1, dtype=np.uint8)
    _first_fast_bits(touched, n_touched, first_fast)
    most, static_hits = histogram_pages(counts, flags, histogram, min(config[K_FAST_CAPACITY], n_touched))
    worth_min = fconfig[F_WORTH_MIN]
    missed_worth, fast_worth = _judge_unheld(counts, flags, worth_min)
    n_held = _list_held(flags, judged)
    promoted_worth, demoted_worth, missed, fast, n_judged = _judge_held(counts, flags, pagestat, first_fast, judged,
                                                                        n_held, worth_min, nxt)
    missed_worth += missed
    fast_worth += fast
    histogram[0] = 0  # the pages not touched
    k, threshold, ties, pool = threshold_pool(config[K_FAST_CAPACITY], histogram, most, counts, touched, n_touched,
                                              True)
    n_top = top_fast = 0
    least = np.int64(1) << 40  # nothing to take (k == 0)
    if k > 0:
        n_top, top_fast, least = break_ties(counts, touched, n_touched, threshold, ties, pool, top)
    n_top, fast = _top_pages_first_fast(counts, first_fast, least, top, n_top)
    top_fast += fast
    if state[S_PERIOD] == 0:
        reactive_hits = static_hits
    state[S_N_TOP] = n_top
    state[S_TOUCHED] = 0
    state[S_N_JUDGED] = n_judged
    state[S_N_NEXT] = 0
    write_scores(out, row, k, top_fast, static_hits, promoted_worth, demoted_worth, missed_worth, fast_worth)
    out[row, C_REACTIVE_HITS] = reactive_hits


@njit
def _first_fast_bits(touched, n_touched, bits):
    """Bit ``page`` of ``bits`` set for each page of ``touched`` that was fast at its first
    access of the period (its entry negative); ``bits`` (a byte per eight pages) fits the
    caches, so its writes at random cost little."""
    for i in range(n_touched):
        entry = touched[i]
        page = np.uint64(entry ^ (entry >> 31))
        fast = np.uint8((entry >> 31) & 1)
        bits[page >> np.uint64(3)] |= np.uint8(fast << (page & np.uint64(7)))


@njit
def _judge_unheld(counts, flags, worth_min):
    """The break-even judgment (``active_shrink.judge_worth``) of every touched page as if it
    had no marks and was where it is now at its first access: ``(missed, fast)``; ``NEW``
    cleared on the touched pages not flagged :data:`MARKS_HELD` (the flagged ones are judged
    again, and cleared, by :func:`_judge_held`).  Without branches: a loop the compiler
    vectorises."""
    missed = fast = 0
    for page in range(counts.shape[0]):
        f = flags[page]
        c = counts[page]
        used = np.int64(c > 0)
        worth = np.int64(c > worth_min) & used & np.int64(((f >> 7) & 1) ^ 1)  # not NEW
        on_fast = np.int64((f >> 1) & 1)
        fast += worth & on_fast
        missed += worth & (on_fast ^ 1)
        held = (f >> 5) & 1  # MARKS_HELD
        flags[page] = f & ~np.uint8(NEW * (used & np.int64(held ^ 1)))
    return missed, fast


@njit
def _list_held(flags, held):
    """The pages flagged :data:`MARKS_HELD`, in page order, into ``held``; their number."""
    n = np.uint64(0)  # unsigned: no wraparound code for a negative index at each store
    for page in range(flags.shape[0]):
        held[n] = page  # kept only if flagged (the array has a spare slot)
        n += np.uint64((flags[page] >> 5) & 1)
    return np.int64(n)


@njit
def _judge_held(counts, flags, pagestat, first_fast, held, n_held, worth_min, worth):
    """The flagged pages (``held``, in page order): their break-even judgment corrected for
    their marks and for where they were at their first access of the period (returned as
    ``(promoted, demoted, missed, fast)`` differences from :func:`_judge_unheld`'s), the stays'
    accesses, ``NEW`` cleared; then their marks turned over as :func:`end_period` turns them
    over (the last period's moves unmarked, this period's made the next one's to judge) and
    the pages that the next period judges listed back into ``held`` (their number returned
    last), the flag cleared where the marks hold nothing the metrics read.  ``worth``
    (scratch) keeps the marks and flags of the pages used more than ``worth_min``, judged
    after the loop (``active_shrink._judge_marked`` tells why).  Written without branches on
    the marks: against the same turnover behind branches, 1.40 -> 1.09-1.15 ms on a period of
    ``mglru`` time-scaled on the hot-set trace of ``benchmarks/bench_policies.py`` (180,000
    flagged pages, caches evicted, CPU time, best of 7)."""
    n_judged = np.uint64(0)  # unsigned, as below
    n_worth = np.uint64(0)  # unsigned: no wraparound code for a negative index at each store
    last = n_held - 1
    marks = pagestat[:, P_MARKS]  # a view, for the prefetch of the word read first
    for j in range(n_held):
        prefetch(marks, np.uint64(held[min(j + AHEAD, last)]))  # read ahead of the stores below (n_judged <= j)
        page = np.uint64(held[j])  # unsigned, as above
        c = counts[page]
        f = flags[page]
        m = pagestat[page, P_MARKS]
        fast_then = np.int64((first_fast[page >> np.uint64(3)] >> (page & np.uint64(7))) & 1)
        worth[n_worth] = (m << 9) | (fast_then << 8) | f
        used = np.int64(c > 0)
        n_worth += np.uint64((c > worth_min) & used)
        pagestat[page, P_STAY] += c * ((m >> 3) & 1)  # IN_STAY
        f &= ~np.uint8(NEW * used)
        # the turnover, without branches (the pages' marks come at random): the last period's
        # moves unmarked, this period's (PROMOTED_NEXT, DEMOTED_NEXT: never both) made the next's
        m = ((m & ~(PROMOTED | DEMOTED | IN_NEXT | PROMOTED_NEXT | DEMOTED_NEXT))
             | ((m >> NEXT_SHIFT_PROMOTED) & PROMOTED) | ((m >> NEXT_SHIFT_DEMOTED) & DEMOTED))
        held[n_judged] = page  # kept only if judged next (n_judged <= j: this slot was read)
        n_judged += np.uint64((m & (PROMOTED | DEMOTED)) != 0)
        kept = np.int64((m & (PROMOTED | DEMOTED | IN_STAY)) != 0)
        f &= ~np.uint8(MARKS_HELD * (kept ^ 1))
        pagestat[page, P_MARKS] = m
        flags[page] = f
    promoted_worth = demoted_worth = missed_worth = fast_worth = 0
    for j in range(np.int64(n_worth)):
        f = np.uint8(worth[j] & 0xFF)
        fast_then = ((worth[j] >> 8) & 1) != 0
        m = worth[j] >> 9
        promoted0, demoted0, missed0, fast0 = judge_worth(0, f, (f & FAST) != 0)  # as _judge_unheld did
        promoted, demoted, missed, fast = judge_worth(m, f, fast_then)
        promoted_worth += promoted - promoted0
        demoted_worth += demoted - demoted0
        missed_worth += missed - missed0
        fast_worth += fast - fast0
    return promoted_worth, demoted_worth, missed_worth, fast_worth, np.int64(n_judged)


@njit
def _top_pages_first_fast(counts, first_fast, least, top, n_top):
    """Append to ``top`` every page whose count is at least ``least``, in page order, and
    reset every count; returns ``(pages in top, those of them fast at their first access of
    the period)``, read from the bitmap ``first_fast``."""
    start = n_top
    n_top = take_top_pages(counts, least, top, n_top)
    top_fast = 0
    for j in range(start, n_top):
        page = np.uint64(top[j])
        top_fast += (first_fast[page >> np.uint64(3)] >> (page & np.uint64(7))) & 1
    return n_top, top_fast


def shared_storage(n_pages: int, fast_capacity: int, period_accesses: int, fconfig):
    """The arrays every policy kernel takes, in its argument order after ``migrate_cost``."""
    from ..simulator import HISTOGRAM_BINS

    fast_length = min(fast_capacity, n_pages)
    pagestat = np.zeros((n_pages, 3), dtype=np.int32)
    pagestat[:, P_LAST_DEMOTED] = -(1 << 30)
    fstate = np.zeros(FSTATE_SIZE, dtype=np.float64)
    fstate[FS_REMAINING] = fconfig[F_PERIOD]
    return dict(
        flags=np.zeros(n_pages, dtype=np.uint8),
        counts=np.zeros(n_pages, dtype=np.int32),
        touched=np.zeros(n_pages + 1, dtype=np.int32),
        histogram=np.zeros(min(period_accesses, HISTOGRAM_BINS) + 2, dtype=np.int32),
        top=np.zeros(fast_length + 1, dtype=np.int32),
        state=np.zeros(STATE_SIZE, dtype=np.int64),
        fstate=fstate,
        moved=np.zeros(1, dtype=np.int32),  # score_period's list of moves: unused here (S_N_MOVED stays 0)
        pagestat=pagestat,
        judged=np.zeros(n_pages + 1, dtype=np.int32),
        nxt=np.zeros(n_pages + 1, dtype=np.int32),
        pending=np.zeros((1, out_columns()), dtype=np.float64),
    )


def out_columns() -> int:
    from .active_shrink import N_COLUMNS

    return N_COLUMNS
