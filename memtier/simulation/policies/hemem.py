"""``hemem``: HeMem (Raybuck et al., "HeMem: Scalable Tiered Memory Management for Big Data
Applications and Real NVM", SOSP'21), the policy of its ``pebs.c`` / ``pebs.h``.

- **Sampling.**  PEBS samples one in ``sample_period`` (5003, ``SAMPLE_PERIOD``) loads that
  miss to memory, and, with their own counter, one in ``sample_period`` stores
  (``MEM_INST_RETIRED.ALL_STORES``).  The trace is what reaches memory, so every access is
  a candidate; a trace without a write flag counts every access as a load.  Each sample
  costs the application ``sample_ns`` (the PEBS assist); HeMem's threads run on their own
  cores and are not charged.
- **Counting and cooling** (``pebs_scan_thread``).  A sampled page's read or write count is
  incremented; the page is then classified *with the counts before cooling*: hot when
  writes >= ``hot_write_threshold`` (4) or reads >= ``hot_read_threshold`` (8), else cold,
  and moved to the hot or cold list of its node if it is not on it (``make_hot`` /
  ``make_cold``).  Then its counts are cooled lazily: halved once per step of the global
  clock since it was last sampled (``accesses >>= global_clock - local_clock``), and when
  the sampled count exceeds ``cooling_threshold`` (18) the global clock steps and both
  nodes' hot lists are marked for cooling.
- **Migration** (``pebs_policy_thread``, every ``kswapd_interval_us``, 10 ms,
  ``PEBS_KSWAPD_INTERVAL``).  Up to ``migrate_rate_mb`` (10 GB, ``PEBS_KSWAPD_MIGRATE_RATE``)
  a pass: take the slow node's oldest hot page; if its counts fell under the thresholds, put
  it on the cold list; else promote it into a free fast page, or, the fast node full, first
  demote the fast node's oldest cold page; if the fast node has no cold page, put the hot
  page back and end the pass.  Then cooling: up to ``cooling_pages`` (8192) pages of each
  hot list marked for cooling, oldest first, move to the cold list if their cooled counts
  are under the thresholds; a list's cooling ends when its walk reaches the newest page.
- **Allocation** (``pebs_allocate_page``): the fast node while it has a free page, else the
  slow node; a new page joins its node's cold list.

Departures, stated: classification requests (``hot_ring`` / ``cold_ring``) take effect at
once rather than at the policy thread's next pass; cooling shifts all of a page's counts
(the code shifts only the sampled type's, leaving the others uncooled, which looks
unintended); the cooling walk is a cursor from oldest to newest (the code's
``partial_cool_peek_and_move`` start-page bookkeeping is racy).  Moves are one page per
migration call (HeMem copies page by page), charged by the fitted cost model.

Cost (an estimate, not a measurement): ``sample_ns`` = 250 ns per sample, the order of a
PEBS assist that writes a record to the buffer from microcode.
"""
import numpy as np

from ..._jit import njit, njit_borrow
from .active_shrink import (
    F_FAST_NS, F_SLOW_NS, F_UNIT_FAST, F_UNIT_SLOW, K_FAST_CAPACITY, K_SLOW_CAPACITY, S_FAST_USED,
    S_SLOW_USED, S_TOUCHED,
)
from ._driver import (
    FS_NOW_NS, FS_REMAINING, charge_migration, charge_overhead, end_period, allocate_first_touch, flush_loop_state,
    move_page, serve_sampled,
)

NAMES = ("hemem",)

PARAMETERS = {
    "sample_period": (5003.0, "SAMPLE_PERIOD: one sample per this many loads (and, apart, stores)"),
    "hot_read_threshold": (8.0, "HOT_READ_THRESHOLD: sampled reads that make a page hot"),
    "hot_write_threshold": (4.0, "HOT_WRITE_THRESHOLD: sampled writes that make a page hot"),
    "cooling_threshold": (18.0, "PEBS_COOLING_THRESHOLD: a count above it steps the cooling clock"),
    "kswapd_interval_us": (10000.0, "PEBS_KSWAPD_INTERVAL: the migration thread's period (us)"),
    "migrate_rate_mb": (10240.0, "PEBS_KSWAPD_MIGRATE_RATE: most promoted per pass (MB)"),
    "cooling_pages": (8192.0, "COOLING_PAGES: hot-list pages a pass cools at most"),
    "sample_ns": (250.0, "cost of one PEBS sample (estimate, see the module)"),
}

#: What :func:`memtier.simulation.policies.time_scaled` divides: the pass interval and the sampling period.
TIME_SCALED = ("kswapd_interval_us",)
SAMPLE_SCALED = ("sample_period",)
COST_SCALED = ("sample_ns",)

# Lists: hot and cold, per node.
DRAM_HOT, DRAM_COLD, NVM_HOT, NVM_COLD = range(4)
NONE = -1
# pconfig slots
P_PERIOD, P_READ_HOT, P_WRITE_HOT, P_COOL, P_INTERVAL_NS, P_QUOTA, P_COOLING_PAGES, P_SAMPLE_NS = range(8)
P_SIZE = 8
# pstate slots (int64): the samplers' countdowns, the global clock, cooling marks and cursors
(PS_READ_LEFT, PS_WRITE_LEFT, PS_CLOCK, PS_COOL_DRAM, PS_COOL_NVM, PS_CURSOR_DRAM, PS_CURSOR_NVM, PS_SAMPLES) = range(8)
PS_SIZE = 8
PF_NEXT_PASS_NS = 0


def check(params):
    if params["sample_period"] < 1 or params["sample_period"] != int(params["sample_period"]):
        raise ValueError(f"sample_period must be a whole number >= 1, got {params['sample_period']}")
    if params["kswapd_interval_us"] <= 0:
        raise ValueError(f"kswapd_interval_us must be positive, got {params['kswapd_interval_us']}")


def make_pconfig(policy, params, fast_capacity, slow_capacity, n_pages, page_bytes):
    p = np.zeros(P_SIZE, dtype=np.float64)
    p[P_PERIOD] = int(params["sample_period"])
    p[P_READ_HOT] = int(params["hot_read_threshold"])
    p[P_WRITE_HOT] = int(params["hot_write_threshold"])
    p[P_COOL] = int(params["cooling_threshold"])
    p[P_INTERVAL_NS] = params["kswapd_interval_us"] * 1e3
    p[P_QUOTA] = max(1, int(params["migrate_rate_mb"] * (1 << 20)) // page_bytes)
    p[P_COOLING_PAGES] = int(params["cooling_pages"])
    p[P_SAMPLE_NS] = params["sample_ns"]
    return p


def make_state(pconfig, config, n_pages):
    pstate = np.zeros(PS_SIZE, dtype=np.int64)
    pstate[PS_READ_LEFT] = pstate[PS_WRITE_LEFT] = int(pconfig[P_PERIOD])
    pstate[PS_CURSOR_DRAM] = pstate[PS_CURSOR_NVM] = NONE
    ends = np.full((4, 3), NONE, dtype=np.int64)  # per list: newest, oldest, size
    ends[:, 2] = 0
    return dict(
        reads=np.zeros(n_pages, dtype=np.int32),
        writes_count=np.zeros(n_pages, dtype=np.int32),
        local_clock=np.zeros(n_pages, dtype=np.int64),
        on_list=np.full(n_pages, NONE, dtype=np.int8),
        newer=np.full(n_pages, NONE, dtype=np.int32),
        older=np.full(n_pages, NONE, dtype=np.int32),
        ends=ends,
        pstate=pstate,
        pfstate=np.array([pconfig[P_INTERVAL_NS]], dtype=np.float64),
    )


# Doubly linked FIFO lists (HeMem's fifo.c): enqueue at the newest end, dequeue the oldest.
@njit_borrow
def _enqueue(lst, page, on_list, newer, older, ends):
    head = ends[lst, 0]
    older[page] = head
    newer[page] = NONE
    if head != NONE:
        newer[head] = page
    else:
        ends[lst, 1] = page
    ends[lst, 0] = page
    ends[lst, 2] += 1
    on_list[page] = lst


@njit_borrow
def _remove(page, on_list, newer, older, ends, pstate):
    """Take ``page`` off its list; a cooling cursor on it moves to the next newer page
    (``update_current_cool_page``)."""
    lst = on_list[page]
    if pstate[PS_CURSOR_DRAM] == page:
        pstate[PS_CURSOR_DRAM] = newer[page]
    if pstate[PS_CURSOR_NVM] == page:
        pstate[PS_CURSOR_NVM] = newer[page]
    a, b = newer[page], older[page]
    if a != NONE:
        older[a] = b
    else:
        ends[lst, 0] = b
    if b != NONE:
        newer[b] = a
    else:
        ends[lst, 1] = a
    ends[lst, 2] -= 1
    on_list[page] = NONE
    newer[page] = NONE
    older[page] = NONE


@njit_borrow
def _dequeue(lst, on_list, newer, older, ends, pstate):
    page = ends[lst, 1]
    if page != NONE:
        _remove(page, on_list, newer, older, ends, pstate)
    return page


@njit_borrow
def _is_hot(page, pconfig, reads, writes_count):
    return writes_count[page] >= pconfig[P_WRITE_HOT] or reads[page] >= pconfig[P_READ_HOT]


@njit_borrow
def _sample(page, is_write, pconfig, flags, reads, writes_count, local_clock, on_list, newer, older, ends, pstate):
    """One PEBS sample of ``page`` (``pebs_scan_thread``)."""
    pstate[PS_SAMPLES] += 1
    if is_write:
        writes_count[page] += 1
    else:
        reads[page] += 1
    lst = on_list[page]
    dram = lst == DRAM_HOT or lst == DRAM_COLD
    hot = lst == DRAM_HOT or lst == NVM_HOT
    if _is_hot(page, pconfig, reads, writes_count):
        if not hot:  # make_hot
            _remove(page, on_list, newer, older, ends, pstate)
            _enqueue(DRAM_HOT if dram else NVM_HOT, page, on_list, newer, older, ends)
    elif hot:  # make_cold
        _remove(page, on_list, newer, older, ends, pstate)
        _enqueue(DRAM_COLD if dram else NVM_COLD, page, on_list, newer, older, ends)
    shift = min(pstate[PS_CLOCK] - local_clock[page], 31)
    reads[page] >>= shift
    writes_count[page] >>= shift
    local_clock[page] = pstate[PS_CLOCK]
    count = writes_count[page] if is_write else reads[page]
    if count > pconfig[P_COOL]:
        pstate[PS_CLOCK] += 1
        pstate[PS_COOL_DRAM] = 1
        pstate[PS_COOL_NVM] = 1


@njit_borrow
def _cool(hot_list, cold_list, cursor_slot, flag_slot, pconfig, reads, writes_count, local_clock, on_list, newer,
          older, ends, pstate):
    """Cool up to ``cooling_pages`` pages of ``hot_list`` from the cursor (oldest first)."""
    if pstate[flag_slot] == 0:
        return
    page = pstate[cursor_slot]
    if page == NONE:
        page = ends[hot_list, 1]
    for _ in range(np.int64(pconfig[P_COOLING_PAGES])):
        if page == NONE:
            break
        following = newer[page]
        shift = min(pstate[PS_CLOCK] - local_clock[page], 31)
        if (writes_count[page] >> shift) < pconfig[P_WRITE_HOT] and (reads[page] >> shift) < pconfig[P_READ_HOT]:
            _remove(page, on_list, newer, older, ends, pstate)
            _enqueue(cold_list, page, on_list, newer, older, ends)
        page = following
    if page == NONE:
        pstate[flag_slot] = 0
    pstate[cursor_slot] = page


@njit_borrow
def _policy_pass(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending,
                 reads, writes_count, local_clock, on_list, newer, older, ends, pstate):
    """One pass of the policy thread: promotions (demoting cold pages for room), cooling."""
    capacity = config[K_FAST_CAPACITY]
    slow_capacity = config[K_SLOW_CAPACITY]
    quota = np.int64(pconfig[P_QUOTA])
    migrated = 0
    while migrated < quota:
        page = _dequeue(NVM_HOT, on_list, newer, older, ends, pstate)
        if page == NONE:
            break
        if not _is_hot(page, pconfig, reads, writes_count):  # cooled meanwhile
            _enqueue(NVM_COLD, page, on_list, newer, older, ends)
            continue
        if state[S_FAST_USED] >= capacity:
            if ends[DRAM_COLD, 1] == NONE or state[S_SLOW_USED] >= slow_capacity:
                # every fast page hot (or no slow room): put it back, end the pass (goto out)
                _enqueue(NVM_HOT, page, on_list, newer, older, ends)
                return
            victim = _dequeue(DRAM_COLD, on_list, newer, older, ends, pstate)
            move_page(victim, False, flags, state, pagestat, nxt, config, fconfig, pending)
            _enqueue(NVM_COLD, victim, on_list, newer, older, ends)
            charge_migration(migrate_cost[1], fstate, pending)
        move_page(page, True, flags, state, pagestat, nxt, config, fconfig, pending)
        _enqueue(DRAM_HOT, page, on_list, newer, older, ends)
        charge_migration(migrate_cost[1], fstate, pending)
        migrated += 1
    _cool(DRAM_HOT, DRAM_COLD, PS_CURSOR_DRAM, PS_COOL_DRAM, pconfig, reads, writes_count, local_clock, on_list,
          newer, older, ends, pstate)
    _cool(NVM_HOT, NVM_COLD, PS_CURSOR_NVM, PS_COOL_NVM, pconfig, reads, writes_count, local_clock, on_list,
          newer, older, ends, pstate)


@njit
def run_policy(trace, writes, final, config, fconfig, pconfig, migrate_cost, flags, counts, touched, histogram, top,
         state, fstate, moved, pagestat, judged, nxt, pending, out, reads, writes_count, local_clock,
         on_list, newer, older, ends, pstate, pfstate):
    """Run one chunk of the trace; the number of periods closed (rows of ``out``).  Each
    access: a first touch allocates, the access is served, the sampler counts it (a sample
    when its counter runs out), then the policy thread's pass runs if its time has come
    and the period closes if it is over.  The serving and counting are
    :func:`serve_sampled`'s loop, which returns to this one at those events."""
    capacity = config[K_FAST_CAPACITY]
    period = np.int64(pconfig[P_PERIOD])
    latency = np.array([fconfig[F_SLOW_NS], fconfig[F_FAST_NS]])
    unit = np.array([fconfig[F_UNIT_SLOW], fconfig[F_UNIT_FAST]])
    has_writes = writes.shape[0] > 0
    n = trace.shape[0]
    row = 0
    now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    next_pass = pfstate[PF_NEXT_PASS_NS]
    left = np.array([pstate[PS_READ_LEFT], pstate[PS_WRITE_LEFT]])  # samplers' countdowns: loads, stores
    no_queue = np.empty(0, dtype=np.int64)  # each sample returns here (serve_sampled)
    accesses = 0
    hits = 0
    j = 0
    while j < n:
        j, first_touch, _, n_touched, accesses, hits, now, remaining = serve_sampled(
            trace, writes, has_writes, j, n, flags, counts, touched, (on_list, newer, older), latency, unit, next_pass,
            left, 1, 0, left, 0.0, no_queue, 0, n_touched, accesses, hits, now, remaining)
        if first_touch:  # trace[j], then served as any
            page = trace[j]
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            fast = state[S_FAST_USED] < capacity
            allocate_first_touch(page, fast, flags, state, config)
            _enqueue(DRAM_COLD if fast else NVM_COLD, page, on_list, newer, older, ends)
            continue
        page = trace[j - 1]  # the access served last
        is_write = np.int64(has_writes and writes[j - 1] != 0)
        sampled = left[is_write] == 0
        last = final and j == n
        if sampled or now >= next_pass or remaining <= 0 or last:
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            if sampled:
                left[is_write] = period
                charge_overhead(pconfig[P_SAMPLE_NS], 1, fstate, pending)
                _sample(page, is_write != 0, pconfig, flags, reads, writes_count, local_clock, on_list, newer, older,
                        ends, pstate)
            if fstate[FS_NOW_NS] >= next_pass:
                _policy_pass(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt,
                             pending, reads, writes_count, local_clock, on_list, newer, older, ends, pstate)
                next_pass = fstate[FS_NOW_NS] + pconfig[P_INTERVAL_NS]
                pfstate[PF_NEXT_PASS_NS] = next_pass
            if fstate[FS_REMAINING] <= 0 or last:
                end_period(row, config, fconfig, flags, counts, touched, histogram, top, state, moved, pagestat, judged,
                       nxt, fstate, pending, out)
                row += 1
            now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
    pstate[PS_READ_LEFT], pstate[PS_WRITE_LEFT] = left[0], left[1]
    return row
