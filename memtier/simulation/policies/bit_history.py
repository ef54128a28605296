"""``bit-history``: a history of each page's accessed bit, k scans deep, as kept by kstaled
(Michel Lespinasse, "kstaled: page idle tracking", linux-mm, September 2011) and AutoTiering
(Kim et al., "Exploring the Design Space of Page Management for Multi-Tiered Memory
Systems", USENIX ATC'21; github ``Sys-KU/AutoTiering``, ``mm/page_balancing.c``,
``mm/mprotect.c``, ``mm/migrate.c``).

- **Scanning.**  Every ``scan_period_ms`` the scanner walks every resident page: the page's
  history shifts left by one, its newest bit (the lowest) set if the page's accessed bit
  was, and the accessed bit is cleared.  AutoTiering does this for each page its NUMA
  scanner reaches (``change_pte_range`` -> ``mod_page_access_lv``: "Shift Left, Recently
  accessed bit is LSB"), keeping ``history_bits`` = 8 bits (``ACCESS_HISTORY_SIZE``);
  kstaled walks all of memory every ``scan_seconds`` and keeps, per page, the number of
  scans since its accessed bit was last seen (an 8-bit idle age).  The period is
  ``scan_period_ms`` = 1000 ms, the NUMA scanner's shortest period
  (``numa_balancing_scan_period_min_ms``, which AutoTiering's history rides on; kstaled's
  ``scan_seconds`` has no default, it is set by the user).  A new page starts with every
  bit set (``reset_page_access_lv`` at allocation: ``~(1 << ACCESS_HISTORY_SIZE)``; kstaled:
  idle age 0), and the history moves with a migrated page (``copy_page_info``).
- **Score** (``__get_page_access_lv``): the number of set bits, 0 to k.
- **Moves, after each scan**, one of two rules (``rank_and_fill``):

  - 0, thresholds: fast pages with score <= ``theta_cold`` are demoted (0 by default:
    idle through all of the last k scans, kstaled's idle pages), then slow pages with score
    >= ``theta_hot`` are promoted into the free fast pages, highest score first (4 by
    default: ``MEDIAN_ACCESS_LEVEL``, half the history, which AutoTiering's header defines
    but its code does not use: AutoTiering itself ranks, as below);
  - 1, rank and fill (AutoTiering's least-accessed-page rule, ``try_demote_from_busy_node``
    and ``kdemoted``): slow pages with score >= 1 are promoted into the free fast pages,
    highest score first; then, while the hottest remaining slow page has a higher score
    than the coldest fast page, the two change places (AutoTiering's fault level must
    exceed the lowest non-empty level, ``fault_lv <= bt_lv`` fails).

  Ties: among pages of equal score, the one whose newest bit is set counts as hotter
  (AutoTiering keeps recently accessed pages at the tail of their level's list), then the
  lower page number first.

Departures, stated: AutoTiering learns of an access by a NUMA hint fault on the page and
promotes at that fault; here every page's bit is read from its page-table entry at each
scan (kstaled's way), and all moves happen after the scan, so the policy stands for the
classifier both share, not for either system's migration path.  Demotions and promotions
of one scan are one migration call each (in calls of the mechanism's batch), charged by
the fitted cost model.

Cost (an estimate, not a measurement): ``scan_pte_ns`` = 50 ns per resident page walked,
as for ``numa-balancing``'s scanner: reading and clearing each PTE's accessed bit, about
one cache miss per page for its history (a TLB flush for the cleared bits is not counted).
"""
import numpy as np

from ..._jit import njit, prefetch
from .active_shrink import (
    ACCESSED, AHEAD, FAST, F_FAST_NS, F_SLOW_NS, F_UNIT_FAST, F_UNIT_SLOW, K_BATCH_PAGES, K_FAST_CAPACITY,
    K_SLOW_CAPACITY, PRESENT, S_FAST_USED, S_SLOW_USED, S_TOUCHED, calls_cost_us,
)
from ._driver import (
    FS_NOW_NS, FS_REMAINING, SERVE_AHEAD, charge_migration, charge_overhead, end_period, allocate_first_touch,
    flush_loop_state, move_page, serve_until,
)

NAMES = ("bit-history",)

PARAMETERS = {
    "history_bits": (8.0, "ACCESS_HISTORY_SIZE (AutoTiering): scans of history kept per page (1-16)"),
    "scan_period_ms": (1000.0, "numa_balancing_scan_period_min_ms, AutoTiering's scan period"),
    "theta_hot": (4.0, "MEDIAN_ACCESS_LEVEL (AutoTiering): the score that makes a slow page hot"),
    "theta_cold": (0.0, "kstaled idle page: the score that makes a fast page cold"),
    "rank_and_fill": (0.0, "1: AutoTiering's least-accessed-page exchange instead of thresholds"),
    "scan_pte_ns": (50.0, "cost of one resident page scanned (estimate, see the module)"),
}

TIME_SCALED = ("scan_period_ms",)
COST_SCALED = ("scan_pte_ns",)

# pconfig slots
P_BITS, P_PERIOD_NS, P_HOT, P_COLD, P_RANK, P_PTE_NS = range(6)
P_SIZE = 6
PF_NEXT_SCAN = 0


def check(params):
    bits = params["history_bits"]
    if not 1 <= bits <= 16 or bits != int(bits):
        raise ValueError(f"history_bits must be a whole number 1-16, got {bits}")
    for name in ("theta_hot", "theta_cold"):
        if params[name] > bits or params[name] != int(params[name]):
            raise ValueError(f"{name} must be a whole number 0-{int(bits)} (a score: set bits of history_bits), "
                             f"got {params[name]}")
    if params["theta_cold"] >= params["theta_hot"]:
        raise ValueError(f"theta_cold ({params['theta_cold']:g}) must be under theta_hot ({params['theta_hot']:g}), "
                         "or a page could be demoted and promoted by the same scan")
    if params["rank_and_fill"] not in (0, 1):
        raise ValueError(f"rank_and_fill must be 0 (thresholds) or 1 (rank and fill), got {params['rank_and_fill']}")
    if params["scan_period_ms"] <= 0:
        raise ValueError(f"scan_period_ms must be positive, got {params['scan_period_ms']}")


def make_pconfig(policy, params, fast_capacity, slow_capacity, n_pages, page_bytes):
    p = np.zeros(P_SIZE, dtype=np.float64)
    p[P_BITS] = int(params["history_bits"])
    p[P_PERIOD_NS] = params["scan_period_ms"] * 1e6
    p[P_HOT] = int(params["theta_hot"])
    p[P_COLD] = int(params["theta_cold"])
    p[P_RANK] = params["rank_and_fill"]
    p[P_PTE_NS] = params["scan_pte_ns"]
    return p


def make_state(pconfig, config, n_pages):
    bits = int(pconfig[P_BITS])
    keys = 2 * bits + 2  # score * 2 + newest bit
    values = np.arange(1 << bits)
    score = np.zeros(1 << bits, dtype=np.int64)
    for b in range(bits):
        score += (values >> b) & 1
    # pickable[(history << 2) | (flags & (PRESENT | FAST))]: whether a rule may move the page
    # (a fast page of score <= theta_cold or a slow one of score >= theta_hot; to rank and
    # fill, any fast page and a slow one of score >= 1: one of score 0 is never promoted
    # nor exchanged, its key not above any fast page's)
    if pconfig[P_RANK] == 0:
        fast_most, slow_least = int(pconfig[P_COLD]), int(pconfig[P_HOT])
    else:
        fast_most, slow_least = bits, 1
    pickable = np.zeros(4 << bits, dtype=np.uint8)
    pickable[(values << 2) | PRESENT | FAST] = score <= fast_most
    pickable[(values << 2) | PRESENT] = score >= slow_least
    return dict(
        history=np.zeros(n_pages, dtype=np.int32),
        key_of=(2 * score + (values & 1)).astype(np.int64),  # a history's rank key
        order=np.zeros(n_pages, dtype=np.int32),
        picked=np.zeros(n_pages, dtype=np.int32),  # the pages a scan may move, in page order
        pickable=pickable,
        starts=np.zeros((2, keys + 1), dtype=np.int64),  # per node: where each key's pages start in order
        pfstate=np.array([pconfig[P_PERIOD_NS]], dtype=np.float64),
    )


@njit
def _scan(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending, history, key_of,
          order, starts, picked, pickable):
    """Shift every resident page's history (see the module), then move pages.

    Written for speed over a million pages scanned every few ms of trace (as
    ``policies.time_scaled`` runs it): the shift is one loop without a branch, vectorised;
    only the pages a rule may move (``pickable``) are then listed and counting-sorted by key,
    not every resident page.  Against sorting every page with a branch per page
    (``benchmarks/bench_policies.py --stands-for 60``'s traces, alternated in one process,
    CPU time, shared 2-core VM): zipf 32 -> 53 M accesses/s, hot set 34 -> 53, results
    identical; serving with ``SERVE_AHEAD`` then, zipf 59 -> 64, hot set 52 -> 59 (while the
    scan sorted every page, 64 had been the slower on the hot set: main 7557292); the moved
    pages' records prefetched ``AHEAD`` in their order (at random), zipf 61 -> 65, hot set
    58 -> 62, and to rank and fill 30 -> 32, 41 -> 46."""
    n_pages = flags.shape[0]
    mask = (1 << np.int64(pconfig[P_BITS])) - 1
    keys = starts.shape[1] - 1
    starts[:, :] = 0
    # the shift, in a loop without a branch, which the compiler vectorises: an absent
    # page's history and flags are 0 and stay so
    walked = 0
    for page in range(n_pages):
        f = flags[page]
        history[page] = ((history[page] << 1) | ((f >> 3) & 1)) & mask  # ACCESSED is bit 3
        flags[page] = f & ~ACCESSED
        walked += f & PRESENT
    # then the pages a rule may move, in page order (few: a branch seldom taken), and their
    # keys counted: ``pickable`` by history and node (see make_state)
    n_picked = 0
    for page in range(n_pages):
        h = history[page]
        f = flags[page]
        if pickable[(h << 2) | (f & (PRESENT | FAST))]:
            picked[n_picked] = page
            n_picked += 1
            starts[0 if f & FAST else 1, key_of[h] + 1] += 1
    charge_overhead(walked * pconfig[P_PTE_NS], walked, fstate, pending)
    if n_picked == 0:
        return
    # counting sort of the pages picked: fast pages first, then slow, each by key
    offset = 0
    for node in range(2):
        for key in range(keys):
            starts[node, key + 1] += starts[node, key]
        for key in range(keys + 1):
            starts[node, key] += offset
        offset = starts[node, keys]
    # fast pages in page order within a key; slow pages in reverse page order, so that
    # walking ``order`` down from the end takes the highest key first and, within a key,
    # the lowest page number first
    fill = starts[:, :keys].copy()
    for key in range(keys):
        fill[1, key] = starts[1, key + 1] - 1
    for i in range(n_picked):
        page = picked[i]
        k = key_of[history[page]]
        if flags[page] & FAST:
            order[fill[0, k]] = page
            fill[0, k] += 1
        else:
            order[fill[1, k]] = page
            fill[1, k] -= 1
    capacity = config[K_FAST_CAPACITY]
    slow_capacity = config[K_SLOW_CAPACITY]
    demoted = 0
    promoted = 0
    slow_end = starts[1, keys]
    j = slow_end - 1  # next slow page to promote: the hottest first
    if pconfig[P_RANK] == 0:
        cold_end = starts[0, 2 * np.int64(pconfig[P_COLD]) + 2]  # fast pages of score <= theta_cold
        for i in range(starts[0, 0], cold_end):
            if state[S_SLOW_USED] >= slow_capacity:
                break
            prefetch(pagestat, np.uint64(order[min(i + AHEAD, cold_end - 1)]))  # pages at random
            move_page(order[i], False, flags, state, pagestat, nxt, config, fconfig, pending)
            demoted += 1
        hot_start = starts[1, 2 * np.int64(pconfig[P_HOT])]  # slow pages of score >= theta_hot
        while j >= hot_start and state[S_FAST_USED] < capacity:
            prefetch(pagestat, np.uint64(order[max(j - AHEAD, hot_start)]))
            move_page(order[j], True, flags, state, pagestat, nxt, config, fconfig, pending)
            promoted += 1
            j -= 1
    else:
        touched_start = starts[1, 2]  # slow pages of score >= 1
        while j >= touched_start and state[S_FAST_USED] < capacity:
            prefetch(pagestat, np.uint64(order[max(j - AHEAD, touched_start)]))
            move_page(order[j], True, flags, state, pagestat, nxt, config, fconfig, pending)
            promoted += 1
            j -= 1
        i = starts[0, 0]
        fast_end = starts[0, keys]
        while j >= starts[1, 0] and i < fast_end:
            if key_of[history[order[j]]] // 2 <= key_of[history[order[i]]] // 2:
                break
            prefetch(pagestat, np.uint64(order[min(i + AHEAD, fast_end - 1)]))
            prefetch(pagestat, np.uint64(order[max(j - AHEAD, starts[1, 0])]))
            move_page(order[i], False, flags, state, pagestat, nxt, config, fconfig, pending)  # an exchange:
            move_page(order[j], True, flags, state, pagestat, nxt, config, fconfig, pending)  # both counts kept
            demoted += 1
            promoted += 1
            i += 1
            j -= 1
    if demoted > 0:
        charge_migration(calls_cost_us(demoted, config[K_BATCH_PAGES], migrate_cost), fstate, pending)
    if promoted > 0:
        charge_migration(calls_cost_us(promoted, config[K_BATCH_PAGES], migrate_cost), fstate, pending)


@njit
def run_policy(trace, writes, final, config, fconfig, pconfig, migrate_cost, flags, counts, touched, histogram, top,
         state, fstate, moved, pagestat, judged, nxt, pending, out, history, key_of, order, picked, pickable, starts,
         pfstate):
    """Run one chunk of the trace; the number of periods closed (rows of ``out``).  Each
    access: a first touch allocates (the fast node while it has room), the access is served,
    then the scanner runs if its time has come and the period closes if it is over.  The
    serving is :func:`memtier.simulation.policies._driver.serve_until`'s loop, which returns
    to this one at a first touch and at those events."""
    capacity = config[K_FAST_CAPACITY]
    mask = (1 << np.int64(pconfig[P_BITS])) - 1
    latency = np.array([fconfig[F_SLOW_NS], fconfig[F_FAST_NS]])
    unit = np.array([fconfig[F_UNIT_SLOW], fconfig[F_UNIT_FAST]])
    n = trace.shape[0]
    row = 0
    now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    next_scan = pfstate[PF_NEXT_SCAN]
    accesses = 0
    hits = 0
    j = 0
    while j < n:
        j, needs_policy, n_touched, accesses, hits, now, remaining = serve_until(
            trace, j, n, PRESENT, flags, counts, touched, latency, unit, next_scan, n_touched, accesses, hits,
            now, remaining, SERVE_AHEAD)
        if needs_policy:  # a first touch; then served as any access
            page = trace[j]
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            fast = state[S_FAST_USED] < capacity or state[S_SLOW_USED] >= config[K_SLOW_CAPACITY]
            allocate_first_touch(page, fast, flags, state, config)
            history[page] = mask  # reset_page_access_lv: every bit set
            continue
        last = final and j == n
        if now >= next_scan or remaining <= 0 or last:
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            if now >= next_scan:
                _scan(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending, history,
                      key_of, order, starts, picked, pickable)
                next_scan = fstate[FS_NOW_NS] + pconfig[P_PERIOD_NS]
                pfstate[PF_NEXT_SCAN] = next_scan
            if fstate[FS_REMAINING] <= 0 or last:
                end_period(row, config, fconfig, flags, counts, touched, histogram, top, state, moved, pagestat, judged,
                       nxt, fstate, pending, out)
                row += 1
            now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
    return row
