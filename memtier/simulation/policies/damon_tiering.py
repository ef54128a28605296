"""``damon``: DAMON-based memory tiering, as the kernel's own sample sets it up
(``samples/damon/mtier.c``, Linux 6.16+) on DAMON's core (``mm/damon/core.c``) and its
physical-address operations (``mm/damon/paddr.c``, ``mm/damon/ops-common.c``).

Two DAMON contexts, each its own kdamond, watch the physical frames of one node each:

- **Monitoring** (``kdamond_fn``).  A context splits its node's frames into regions,
  starting from one region over the node.  Every sampling interval (``sample_interval_ms``,
  5 ms) it checks one random frame of each region (``damon_pa_prepare_access_checks`` /
  ``damon_pa_check_accesses``: the page's accessed bit is cleared when the frame is chosen
  and read one interval later; a free frame reads as not accessed) and counts the region's
  accessed samples (``nr_accesses``, and the pseudo-moving sum ``nr_accesses_bp``,
  ``damon_update_region_access_rate``).  Every aggregation interval (``aggr_interval_ms``,
  100 ms) adjacent regions whose counts differ by at most a tenth of the highest count merge
  (``kdamond_merge_regions``; a region's ``age`` counts the aggregations its count stayed
  within that threshold, and merged regions may not exceed the node over
  ``min_nr_regions`` (10)), the counts are reset, and, while there are at most half of
  ``max_nr_regions`` (1000), every region is split in two (three when the number did not
  change and is under a third of the maximum) at random points between 10 % and 90 %
  (``kdamond_split_regions``).  The intervals tune themselves (``kdamond_tune_intervals``,
  mtier's goal): every 3 aggregations the sampling interval is scaled so that the regions'
  observed accesses approach 4 % (``access_bp`` 400) of the most they could show, within
  [5 ms, 10 s], the aggregation interval kept at 20 samples.
- **Schemes** (``kdamond_apply_schemes``, every ``apply_interval_ms``, 1 s).  The slow
  node's context applies ``migrate_hot`` to the fast node for regions with ``nr_accesses >=
  1``; the fast node's applies ``migrate_cold`` to the slow node for regions with
  ``nr_accesses == 0``.  Each has a quota (``damos_adjust_quota``): at most
  ``quota_sz_mb`` (200 MiB) per ``quota_reset_interval_ms`` (1 s), and less as set by a
  quota goal through DAMON's feedback loop (``damon_feed_loop_next_input``): promotion
  aims at the fast node 99.7 % used (``DAMOS_QUOTA_NODE_MEM_USED_BP`` 9970), demotion at
  0.5 % of it free (``DAMOS_QUOTA_NODE_MEM_FREE_BP`` 50).  Within the quota the hottest
  (coldest) regions go first: each region is scored from its access count and age
  (``damon_hot_score``, weights 0 for size, 100 and 100) and only regions scoring at least
  the score at which the quota is filled are acted on; a region larger than what is left of
  the quota is split, and the next window starts after the last region charged
  (``damos_skip_charged_region``).  A region acted on has its age reset.
- **Moves** (``damon_pa_migrate``).  Every page of the region passes mtier's ``young``
  filter first, which reads and clears its accessed bit (``damos_pa_filter_match``):
  promotion moves only the young pages, demotion only the old ones; the pages move in one
  ``migrate_pages`` call each region, into free frames of the other node (``GFP_NOWAIT``, no
  reclaim: it fails when the fast node is at its min watermark, or the slow node is full, and
  the page stays).
- **Frames.**  A page takes a free frame of its node when it arrives (a first touch, a
  move) and frees it when it leaves; free frames are reused last-freed first (the page
  allocator's per-CPU lists); a node starts with its frames in order.  A first touch takes
  the fast node while its free pages are above the low watermark (``ALLOC_WMARK_LOW``,
  watermarks as in :mod:`memtier.simulation.policies.numa_balancing`), else the slow one.  Nothing
  else demotes: ``demotion_enabled`` is off by default, and without swap kswapd cannot
  reclaim anonymous pages.

Departures, stated: both kdamonds step on the simulated clock, and when they fall due
together the demoting one goes first (the kernel's two threads run concurrently, in no set
order; this order lets a page just promoted, whose accessed bit the young filter cleared and
whose new frame's region has shown no accesses yet, be accessed before the demoting context
judges it, rather than be sent back at once); DAMON's ``damon_rand`` is a seeded xorshift generator (``seed``);
times are continuous, not jiffies; the young check does not reuse the previous region's
result when two regions sample the same page (only possible for large folios); pages that
pass the filter are moved in address order; a move without a free frame on the other node
fails (the kernel's allocation could fall back to another node).

Costs: kdamond and its rmap walks run on their own CPU (as HeMem's threads here) and are
not charged to the application by default; each access check and each page the young
filter reads is counted (``scanned``), and ``kdamond_ns`` charges a cost to each if given.
Moves are charged through the fitted cost model, one migration call a region.
"""
import numpy as np

from ..._jit import njit
from .active_shrink import (
    ACCESSED, F_FAST_NS, F_SLOW_NS, F_UNIT_FAST, F_UNIT_SLOW, K_BATCH_PAGES, K_FAST_CAPACITY, K_PAGE_BYTES,
    K_SLOW_CAPACITY, PRESENT, S_FAST_USED, S_SLOW_USED, S_TOUCHED, calls_cost_us,
)
from ._driver import (
    FS_NOW_NS, FS_REMAINING, charge_migration, charge_overhead, end_period, allocate_first_touch, flush_loop_state,
    move_page, serve_until,
)
from .numa_balancing import watermarks

NAMES = ("damon",)

DAMOS_MAX_SCORE = 99
DAMON_MAX_SUBSCORE = 100
DAMON_MAX_AGE_IN_LOG = 32

PARAMETERS = {
    "sample_interval_ms": (5.0, "damon_attrs.sample_interval (mtier, damon_new_ctx): 5 ms"),
    "aggr_interval_ms": (100.0, "damon_attrs.aggr_interval: 100 ms"),
    "ops_update_interval_ms": (60000.0, "damon_attrs.ops_update_interval: 60 s (region size limit recomputed)"),
    "min_nr_regions": (10.0, "damon_attrs.min_nr_regions"),
    "max_nr_regions": (1000.0, "damon_attrs.max_nr_regions"),
    "intervals_goal_bp": (400.0, "intervals_goal.access_bp (mtier): observed accesses aimed at, in 1/10000; "
                                 "0: no interval tuning"),
    "intervals_goal_aggrs": (3.0, "intervals_goal.aggrs (mtier): aggregations between tunings"),
    "min_sample_ms": (5.0, "intervals_goal.min_sample_us (mtier)"),
    "max_sample_ms": (10000.0, "intervals_goal.max_sample_us (mtier)"),
    "apply_interval_ms": (1000.0, "damos.apply_interval_us (mtier): 1 s"),
    "quota_reset_interval_ms": (1000.0, "damos_quota.reset_interval (mtier): the charge window"),
    "quota_sz_mb": (200.0, "damos_quota.sz (mtier): 200 MiB per window at most (0 with no goal: no quota)"),
    "weight_sz": (0.0, "damos_quota.weight_sz (mtier)"),
    "weight_nr_accesses": (100.0, "damos_quota.weight_nr_accesses (mtier)"),
    "weight_age": (100.0, "damos_quota.weight_age (mtier)"),
    "promote_used_bp": (9970.0, "migrate_hot's quota goal: DAMOS_QUOTA_NODE_MEM_USED_BP of the fast node (mtier); "
                                "0: no goal, the quota is quota_sz_mb"),
    "demote_free_bp": (50.0, "migrate_cold's quota goal: DAMOS_QUOTA_NODE_MEM_FREE_BP of the fast node (mtier); "
                             "0: no goal"),
    "young_filter": (1.0, "1: mtier's young filters (promote young pages only, demote old ones only); 0: none"),
    "watermark_scale_factor": (10.0, "vm.watermark_scale_factor: where first touches stop taking the fast node"),
    "min_free_kbytes": (None, "vm.min_free_kbytes (default: the kernel's int_sqrt(16 x KB of memory))"),
    "kdamond_ns": (0.0, "cost charged to the run per access check or filtered page (default 0: kdamond's CPU)"),
    "seed": (1.0, "seed of damon_rand (a region's sampled frame, split points)"),
}

TIME_SCALED = ("sample_interval_ms", "aggr_interval_ms", "ops_update_interval_ms", "min_sample_ms", "max_sample_ms",
               "apply_interval_ms", "quota_reset_interval_ms")

# pconfig slots
(P_SAMPLE_US, P_AGGR_US, P_UPDATE_US, P_MIN_REGIONS, P_MAX_REGIONS, P_GOAL_BP, P_GOAL_AGGRS, P_MIN_SAMPLE_US,
 P_MAX_SAMPLE_US, P_APPLY_US, P_RESET_MS, P_QUOTA_BYTES, P_W_SZ, P_W_NR, P_W_AGE, P_PROMOTE_BP, P_DEMOTE_BP, P_YOUNG,
 P_LOW, P_KDAMOND_NS, P_SEED, P_MIN) = range(22)
P_SIZE = 22
# per-context state (int64 ``cstate[ctx]``); times in us (the kernel's intervals) or ms
(C_PASSED, C_NEXT_AGGR, C_NEXT_UPDATE, C_NEXT_TUNE, C_SAMPLE_US, C_AGGR_US, C_AGGR_SAMPLES, C_MAX_NR, C_SZ_LIMIT,
 C_NEXT_APPLY, C_ESZ, C_ESZ_BP, C_CHARGED, C_CHARGE_FROM_SET, C_CHARGE_ADDR, C_MIN_SCORE, C_NR, C_NODE,
 C_APPLIED) = range(19)
C_SIZE = 19
# per-context floats: the next tick (ns), the charge window's start (ms)
CF_NEXT_TICK_NS, CF_CHARGED_FROM_MS = 0, 1
# region columns
R_START, R_END, R_NR, R_BP, R_LAST, R_AGE, R_SAMPLE = range(7)
R_COLUMNS = 7
# pstate: the generator, the split's shared last count (a static in kdamond_split_regions)
PS_RNG, PS_LAST_NR_REGIONS = 0, 1
PROMOTE, DEMOTE = 0, 1  # contexts; nodes: 0 fast, 1 slow


def check(params):
    for name in ("sample_interval_ms", "aggr_interval_ms", "apply_interval_ms", "quota_reset_interval_ms",
                 "ops_update_interval_ms", "min_sample_ms", "max_sample_ms"):
        if params[name] <= 0:
            raise ValueError(f"{name} must be positive, got {params[name]}")
    if params["sample_interval_ms"] > params["aggr_interval_ms"]:
        raise ValueError("sample_interval_ms must not exceed aggr_interval_ms (damon_set_attrs), got "
                         f"{params['sample_interval_ms']} and {params['aggr_interval_ms']}")
    if not 3 <= params["min_nr_regions"] <= params["max_nr_regions"]:
        raise ValueError("min_nr_regions must be at least 3 and at most max_nr_regions (damon_set_attrs), got "
                         f"{params['min_nr_regions']} and {params['max_nr_regions']}")
    if params["max_nr_regions"] > 100000:
        raise ValueError(f"max_nr_regions must be at most 100000 here, got {params['max_nr_regions']}")
    if params["intervals_goal_bp"] and not params["min_sample_ms"] <= params["sample_interval_ms"] <= \
            params["max_sample_ms"]:
        raise ValueError(f"sample_interval_ms must lie within [min_sample_ms, max_sample_ms] when intervals are "
                         f"tuned (damon_valid_intervals_goal), got {params['sample_interval_ms']} and "
                         f"[{params['min_sample_ms']}, {params['max_sample_ms']}]; change min_sample_ms with it, "
                         f"or set intervals_goal_bp=0 to turn tuning off")
    if params["young_filter"] not in (0.0, 1.0):
        raise ValueError(f"young_filter must be 0 or 1, got {params['young_filter']}")


def make_pconfig(policy, params, fast_capacity, slow_capacity, n_pages, page_bytes):
    fast_pages = min(fast_capacity, n_pages)
    slow_pages = min(slow_capacity, n_pages)
    wmark_min, low, _, _ = watermarks(fast_pages, slow_pages, page_bytes, params["watermark_scale_factor"],
                                      params["min_free_kbytes"])
    p = np.zeros(P_SIZE, dtype=np.float64)
    # the kernel's intervals are whole microseconds
    p[P_SAMPLE_US] = max(1, int(params["sample_interval_ms"] * 1000))
    p[P_AGGR_US] = max(1, int(params["aggr_interval_ms"] * 1000))
    p[P_UPDATE_US] = max(1, int(params["ops_update_interval_ms"] * 1000))
    p[P_MIN_REGIONS] = int(params["min_nr_regions"])
    p[P_MAX_REGIONS] = int(params["max_nr_regions"])
    p[P_GOAL_BP] = int(params["intervals_goal_bp"])
    p[P_GOAL_AGGRS] = int(params["intervals_goal_aggrs"]) if params["intervals_goal_bp"] else 0
    p[P_MIN_SAMPLE_US] = max(1, int(params["min_sample_ms"] * 1000))
    p[P_MAX_SAMPLE_US] = max(1, int(params["max_sample_ms"] * 1000))
    p[P_APPLY_US] = max(1, int(params["apply_interval_ms"] * 1000))
    p[P_RESET_MS] = params["quota_reset_interval_ms"]
    p[P_QUOTA_BYTES] = int(params["quota_sz_mb"] * (1 << 20))
    p[P_W_SZ] = int(params["weight_sz"])
    p[P_W_NR] = int(params["weight_nr_accesses"])
    p[P_W_AGE] = int(params["weight_age"])
    p[P_PROMOTE_BP] = int(params["promote_used_bp"])
    p[P_DEMOTE_BP] = int(params["demote_free_bp"])
    p[P_YOUNG] = params["young_filter"]
    p[P_LOW] = low
    p[P_KDAMOND_NS] = params["kdamond_ns"]
    p[P_SEED] = int(params["seed"])
    p[P_MIN] = wmark_min
    return p


def make_state(pconfig, config, n_pages):
    fast = max(1, min(int(config[K_FAST_CAPACITY]), n_pages))
    slow = max(1, min(int(config[K_SLOW_CAPACITY]), n_pages))
    length = max(fast, slow)
    frames = np.array([fast, slow], dtype=np.int64)
    free_stack = np.zeros((2, length), dtype=np.int32)
    for node in range(2):
        free_stack[node, :frames[node]] = np.arange(frames[node] - 1, -1, -1)  # frame 0 on top
    # regions: at most 1.5 x max_nr_regions after a split, two more per scheme application
    # between merges (one application per sample at most)
    capacity = 2 * int(pconfig[P_MAX_REGIONS]) + 2 * max(1, int(pconfig[P_AGGR_US] // pconfig[P_SAMPLE_US])) + 64
    regions = np.zeros((2, capacity, R_COLUMNS), dtype=np.int64)
    cstate = np.zeros((2, C_SIZE), dtype=np.int64)
    cfstate = np.zeros((2, 2), dtype=np.float64)
    sample, aggr = int(pconfig[P_SAMPLE_US]), int(pconfig[P_AGGR_US])
    for ctx, node in ((PROMOTE, 1), (DEMOTE, 0)):
        regions[ctx, 0, R_END] = frames[node]  # one region over the node (mtier)
        c = cstate[ctx]
        c[C_NR] = 1
        c[C_NODE] = node
        c[C_SAMPLE_US], c[C_AGGR_US] = sample, aggr
        c[C_AGGR_SAMPLES] = aggr // sample  # damon_set_attrs
        c[C_NEXT_AGGR] = aggr // sample  # kdamond_init_ctx
        c[C_NEXT_UPDATE] = int(pconfig[P_UPDATE_US]) // sample
        c[C_NEXT_TUNE] = c[C_NEXT_AGGR] * int(pconfig[P_GOAL_AGGRS])
        c[C_NEXT_APPLY] = int(pconfig[P_APPLY_US]) // sample
        c[C_SZ_LIMIT] = max(1, frames[node] // int(pconfig[P_MIN_REGIONS]))  # damon_region_sz_limit, in frames
    pstate = np.zeros(2, dtype=np.int64)
    pstate[PS_RNG] = (int(pconfig[P_SEED]) * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) % (1 << 63) or 1
    return dict(
        frame_of=np.full(n_pages, -1, dtype=np.int32),
        page_at=np.full((2, length), -1, dtype=np.int32),
        free_stack=free_stack,
        free_n=frames.copy(),
        regions=regions,
        cstate=cstate,
        cfstate=cfstate,
        score_histogram=np.zeros(DAMOS_MAX_SCORE + 1, dtype=np.int64),
        moving=np.zeros(max(fast, slow), dtype=np.int32),
        pstate=pstate,
        started=np.zeros(1, dtype=np.int64),
    )


@njit
def _rand_below(n, pstate):
    """A xorshift64 step; a number in [0, n) (``get_random_u32_below``)."""
    x = pstate[PS_RNG]
    x ^= (x << 13) & 0x7FFFFFFFFFFFFFFF
    x ^= x >> 7
    x ^= (x << 17) & 0x7FFFFFFFFFFFFFFF
    x &= 0x7FFFFFFFFFFFFFFF
    if x == 0:
        x = 1
    pstate[PS_RNG] = x
    return (x >> 11) % n


@njit
def _take_frame(page, node, frame_of, page_at, free_stack, free_n):
    free_n[node] -= 1
    frame = free_stack[node, free_n[node]]
    frame_of[page] = frame
    page_at[node, frame] = page


@njit
def _free_frame(page, node, frame_of, page_at, free_stack, free_n):
    frame = frame_of[page]
    page_at[node, frame] = -1
    free_stack[node, free_n[node]] = frame
    free_n[node] += 1
    frame_of[page] = -1


@njit
def _insert_after(ctx, i, regions, cstate):
    """Make room for a region at ``i + 1`` (the regions stay in address order)."""
    n = cstate[ctx, C_NR]
    for j in range(n, i + 1, -1):
        regions[ctx, j, :] = regions[ctx, j - 1, :]
    cstate[ctx, C_NR] = n + 1


@njit
def _delete(ctx, i, regions, cstate):
    n = cstate[ctx, C_NR]
    for j in range(i, n - 1):
        regions[ctx, j, :] = regions[ctx, j + 1, :]
    cstate[ctx, C_NR] = n - 1


@njit
def _split_at(ctx, i, size, regions, cstate):
    """``damon_split_region_at``: region ``i`` keeps its first ``size`` frames.  False (and
    nothing done) if the region table is full, which the table's size (``make_state``) keeps
    from happening; a guard, since numba does not check bounds."""
    if cstate[ctx, C_NR] >= regions.shape[1]:
        return False
    _insert_after(ctx, i, regions, cstate)
    regions[ctx, i + 1, :] = regions[ctx, i, :]
    regions[ctx, i + 1, R_START] = regions[ctx, i, R_START] + size
    regions[ctx, i, R_END] = regions[ctx, i + 1, R_START]
    return True


@njit
def _prepare(ctx, flags, page_at, regions, cstate, pstate):
    """``damon_pa_prepare_access_checks``: a random frame per region, its page made old."""
    node = cstate[ctx, C_NODE]
    for i in range(cstate[ctx, C_NR]):
        start = regions[ctx, i, R_START]
        frame = start + _rand_below(regions[ctx, i, R_END] - start, pstate)
        regions[ctx, i, R_SAMPLE] = frame
        page = page_at[node, frame]
        if page >= 0:
            flags[page] &= ~ACCESSED


@njit
def _check(ctx, flags, page_at, regions, cstate):
    """``damon_pa_check_accesses``; returns the highest ``nr_accesses``."""
    node = cstate[ctx, C_NODE]
    window = max(1, cstate[ctx, C_AGGR_US] // cstate[ctx, C_SAMPLE_US])  # damon_max_nr_accesses
    highest = 0
    for i in range(cstate[ctx, C_NR]):
        page = page_at[node, regions[ctx, i, R_SAMPLE]]
        accessed = page >= 0 and flags[page] & ACCESSED != 0
        regions[ctx, i, R_BP] = (regions[ctx, i, R_BP] - regions[ctx, i, R_LAST] * 10000 // window +
                                 (10000 if accessed else 0)) & 0xFFFFFFFF  # damon_moving_sum, an unsigned int
        if accessed:
            regions[ctx, i, R_NR] += 1
        highest = max(highest, regions[ctx, i, R_NR])
    return highest


@njit
def _merge(ctx, threshold, sz_limit, pconfig, regions, cstate):
    """``kdamond_merge_regions``."""
    max_threshold = cstate[ctx, C_AGGR_US] // cstate[ctx, C_SAMPLE_US]
    while True:
        i = 0
        prev = -1
        while i < cstate[ctx, C_NR]:
            r = regions[ctx, i]
            if abs(r[R_NR] - r[R_LAST]) > threshold:
                r[R_AGE] = 0
            else:
                r[R_AGE] += 1
            if prev >= 0:
                p = regions[ctx, prev]
                size_p = p[R_END] - p[R_START]
                size_r = r[R_END] - r[R_START]
                if p[R_END] == r[R_START] and abs(p[R_NR] - r[R_NR]) <= threshold and size_p + size_r <= sz_limit:
                    p[R_NR] = (p[R_NR] * size_p + r[R_NR] * size_r) // (size_p + size_r)  # damon_merge_two_regions
                    p[R_BP] = p[R_NR] * 10000
                    p[R_AGE] = (p[R_AGE] * size_p + r[R_AGE] * size_r) // (size_p + size_r)
                    p[R_END] = r[R_END]
                    _delete(ctx, i, regions, cstate)
                    continue
            prev = i
            i += 1
        threshold = max(1, threshold * 2)
        if not (cstate[ctx, C_NR] > pconfig[P_MAX_REGIONS] and threshold // 2 < max_threshold):
            break


@njit
def _split(ctx, pconfig, regions, cstate, pstate):
    """``kdamond_split_regions`` (its ``last_nr_regions`` is one static for every kdamond)."""
    n = cstate[ctx, C_NR]
    if n > pconfig[P_MAX_REGIONS] // 2:
        return
    subs = 2
    if pstate[PS_LAST_NR_REGIONS] == n and n < pconfig[P_MAX_REGIONS] // 3:
        subs = 3
    i = 0
    while i < cstate[ctx, C_NR]:
        following = i + 1  # damon_for_each_region_safe: regions split off are not visited
        size = regions[ctx, i, R_END] - regions[ctx, i, R_START]
        for _ in range(subs - 1):
            if size <= 2:
                break
            sub = (1 + _rand_below(9, pstate)) * size // 10
            if sub == 0 or sub >= size:
                continue
            if not _split_at(ctx, i, sub, regions, cstate):
                break
            following += 1
            size = sub
        i = following
    pstate[PS_LAST_NR_REGIONS] = n


@njit
def _feed_loop(last_input, score):
    """``damon_feed_loop_next_input``."""
    goal = 10000
    if score == goal:
        return last_input
    if score >= goal * 2:
        return 10000
    diff = score - goal if score > goal else goal - score
    compensation = last_input * diff // goal
    if score > goal:
        return max(last_input - compensation, 10000)
    return last_input + compensation


@njit
def _hot_score(ctx, r, pconfig, cstate):
    """``damon_hot_score``."""
    freq = r[R_NR] * DAMON_MAX_SUBSCORE // max(1, cstate[ctx, C_AGGR_US] // cstate[ctx, C_SAMPLE_US])
    age_in_sec = r[R_AGE] * cstate[ctx, C_AGGR_US] // 1000000
    age_in_log = 0
    while age_in_log < DAMON_MAX_AGE_IN_LOG and age_in_sec:
        age_in_log += 1
        age_in_sec >>= 1
    if freq == 0:
        age_in_log = -age_in_log
    age_in_log += DAMON_MAX_AGE_IN_LOG
    age_sub = age_in_log * DAMON_MAX_SUBSCORE // DAMON_MAX_AGE_IN_LOG // 2
    w_nr = np.int64(pconfig[P_W_NR])
    w_age = np.int64(pconfig[P_W_AGE])
    hotness = w_nr * freq + w_age * age_sub
    if w_nr + w_age:
        hotness //= w_nr + w_age
    return hotness * DAMOS_MAX_SCORE // DAMON_MAX_SUBSCORE


@njit
def _score(ctx, r, pconfig, cstate):
    hot = _hot_score(ctx, r, pconfig, cstate)
    return hot if ctx == PROMOTE else DAMOS_MAX_SCORE - hot


@njit
def _valid(ctx, r, cstate):
    """``__damos_valid_target`` with mtier's patterns: sizes and ages any; promotion needs
    ``nr_accesses >= 1``, demotion ``nr_accesses == 0`` (from the moving sum)."""
    nr = r[R_BP] // 10000
    return nr >= 1 if ctx == PROMOTE else nr == 0


@njit
def _migrate_region(ctx, i, pconfig, config, fconfig, migrate_cost, flags, frame_of, page_at, free_stack, free_n,
                    regions, cstate, moving, state, fstate, pagestat, nxt, pending):
    """``damon_pa_migrate``: the young filter, then one migration of the pages that pass."""
    node = cstate[ctx, C_NODE]
    target = 1 - node
    n = 0
    read = 0
    for frame in range(regions[ctx, i, R_START], regions[ctx, i, R_END]):
        page = page_at[node, frame]
        if page < 0:
            continue
        if pconfig[P_YOUNG] != 0:
            read += 1
            young = flags[page] & ACCESSED != 0
            if young:
                flags[page] &= ~ACCESSED  # damon_folio_mkold
            if young != (ctx == PROMOTE):
                continue
        moving[n] = page
        n += 1
    if read > 0:
        charge_overhead(read * pconfig[P_KDAMOND_NS], read, fstate, pending)
    moved = 0
    for j in range(n):
        page = moving[j]
        if target == 0:
            room = config[K_FAST_CAPACITY] - state[S_FAST_USED] > pconfig[P_MIN]
        else:
            room = state[S_SLOW_USED] < config[K_SLOW_CAPACITY]
        if not room:
            continue  # GFP_NOWAIT fails at the min watermark (the slow node: when full); the page stays
        _free_frame(page, node, frame_of, page_at, free_stack, free_n)
        move_page(page, target == 0, flags, state, pagestat, nxt, config, fconfig, pending)
        _take_frame(page, target, frame_of, page_at, free_stack, free_n)
        moved += 1
    if moved > 0:
        charge_migration(calls_cost_us(moved, config[K_BATCH_PAGES], migrate_cost), fstate, pending)
    cstate[ctx, C_APPLIED] += moved


@njit
def _adjust_quota(ctx, now_ms, goal, quota, pconfig, config, regions, cstate, cfstate, histogram, state):
    """``damos_adjust_quota``: a new charge window (``damos_set_effective_quota``), then
    the lowest score that the quota reaches, hottest (coldest) regions first."""
    c = cstate[ctx]
    if now_ms >= cfstate[ctx, CF_CHARGED_FROM_MS] + pconfig[P_RESET_MS]:
        cfstate[ctx, CF_CHARGED_FROM_MS] = now_ms
        c[C_CHARGED] = 0
        if goal == 0:
            c[C_ESZ] = quota
        else:
            capacity = config[K_FAST_CAPACITY]
            if ctx == PROMOTE:  # DAMOS_QUOTA_NODE_MEM_USED_BP of the fast node
                current = state[S_FAST_USED] * 10000 // capacity
            else:  # DAMOS_QUOTA_NODE_MEM_FREE_BP
                current = (capacity - state[S_FAST_USED]) * 10000 // capacity
            c[C_ESZ_BP] = _feed_loop(max(c[C_ESZ_BP], 10000), current * 10000 // goal)
            esz = c[C_ESZ_BP] // 10000
            if quota and quota < esz:
                esz = quota
            c[C_ESZ] = esz
    page_bytes = config[K_PAGE_BYTES]
    histogram[:] = 0
    top = 0
    for i in range(c[C_NR]):
        r = regions[ctx, i]
        if not _valid(ctx, r, cstate):
            continue
        s = _score(ctx, r, pconfig, cstate)
        histogram[s] += (r[R_END] - r[R_START]) * page_bytes
        top = max(top, s)
    cumulated = 0
    score = top
    while True:
        cumulated += histogram[score]
        if cumulated >= c[C_ESZ] or score == 0:
            break
        score -= 1
    c[C_MIN_SCORE] = score


@njit
def _apply_schemes(ctx, now_ms, pconfig, config, fconfig, migrate_cost, flags, frame_of, page_at, free_stack, free_n,
                   regions, cstate, cfstate, histogram, moving, state, fstate, pagestat, nxt, pending):
    """``kdamond_apply_schemes`` for the context's one scheme."""
    c = cstate[ctx]
    if c[C_PASSED] < c[C_NEXT_APPLY]:
        return
    page_bytes = config[K_PAGE_BYTES]
    goal = np.int64(pconfig[P_PROMOTE_BP] if ctx == PROMOTE else pconfig[P_DEMOTE_BP])
    quota = np.int64(pconfig[P_QUOTA_BYTES])
    if goal != 0 or quota != 0:  # damos_adjust_quota (nothing to adjust without a size or a goal)
        _adjust_quota(ctx, now_ms, goal, quota, pconfig, config, regions, cstate, cfstate, histogram, state)
    # damon_do_apply_schemes over the regions, in address order
    i = 0
    while i < c[C_NR]:
        following = i + 1
        if c[C_ESZ] and c[C_CHARGED] >= c[C_ESZ]:
            i = following
            continue
        # damos_skip_charged_region (charge_addr_from is the last charged frame's end, plus a byte)
        if c[C_CHARGE_FROM_SET]:
            if i == c[C_NR] - 1:
                c[C_CHARGE_FROM_SET] = 0
                c[C_CHARGE_ADDR] = 0
                i = following
                continue
            edge = c[C_CHARGE_ADDR]
            if regions[ctx, i, R_END] <= edge:
                i = following
                continue
            if regions[ctx, i, R_START] <= edge:
                skip = edge - regions[ctx, i, R_START]
                if skip == 0:
                    if regions[ctx, i, R_END] - regions[ctx, i, R_START] <= 1:
                        i = following
                        continue
                    skip = 1
                if _split_at(ctx, i, skip, regions, cstate):
                    i += 1
                    following = i + 1
            c[C_CHARGE_FROM_SET] = 0
            c[C_CHARGE_ADDR] = 0
        r = regions[ctx, i]
        if not _valid(ctx, r, cstate):
            i = following
            continue
        if c[C_ESZ] and _score(ctx, r, pconfig, cstate) < c[C_MIN_SCORE]:
            i = following
            continue
        # damos_apply_scheme
        size = (r[R_END] - r[R_START]) * page_bytes
        if c[C_ESZ] and c[C_CHARGED] + size > c[C_ESZ]:
            size = (c[C_ESZ] - c[C_CHARGED]) // page_bytes * page_bytes
            if size == 0:
                i = following
                continue
            if _split_at(ctx, i, size // page_bytes, regions, cstate):
                following += 1  # the rest was split off after the walk's next region was taken
        _migrate_region(ctx, i, pconfig, config, fconfig, migrate_cost, flags, frame_of, page_at, free_stack, free_n,
                        regions, cstate, moving, state, fstate, pagestat, nxt, pending)
        c[C_CHARGED] += size
        if c[C_ESZ] and c[C_CHARGED] >= c[C_ESZ]:
            c[C_CHARGE_FROM_SET] = 1
            c[C_CHARGE_ADDR] = regions[ctx, i, R_END]
        regions[ctx, i, R_AGE] = 0
        i = following
    c[C_NEXT_APPLY] = c[C_PASSED] + np.int64(pconfig[P_APPLY_US]) // c[C_SAMPLE_US]


@njit
def _tune(ctx, pconfig, page_bytes, regions, cstate):
    """``kdamond_tune_intervals`` and what ``damon_set_attrs`` then updates."""
    c = cstate[ctx]
    most = 0
    seen = 0
    for i in range(c[C_NR]):
        size = (regions[ctx, i, R_END] - regions[ctx, i, R_START]) * page_bytes
        most += size * c[C_AGGR_SAMPLES]
        seen += size * regions[ctx, i, R_NR]
    target = most * np.int64(pconfig[P_GOAL_BP]) // 10000
    if target == 0:
        target = 1
    score = seen * 10000 // target
    adaptation = _feed_loop(100000000, score) // 10000
    if adaptation <= 10000:
        adaptation = 5000 + adaptation // 2
    if adaptation == 10000:
        return
    sample = min(np.int64(pconfig[P_MAX_SAMPLE_US]), c[C_SAMPLE_US] * adaptation // 10000)
    sample = max(np.int64(pconfig[P_MIN_SAMPLE_US]), sample)
    aggr = sample * c[C_AGGR_SAMPLES]
    for i in range(c[C_NR]):  # damon_update_monitoring_result, not aggregating: counts kept, ages rescaled
        regions[ctx, i, R_BP] = regions[ctx, i, R_NR] * 10000
        regions[ctx, i, R_AGE] = regions[ctx, i, R_AGE] * c[C_AGGR_US] // aggr
    c[C_NEXT_UPDATE] = c[C_PASSED] + np.int64(pconfig[P_UPDATE_US]) // sample
    c[C_NEXT_APPLY] = c[C_PASSED] + np.int64(pconfig[P_APPLY_US]) // sample
    c[C_SAMPLE_US] = sample
    c[C_AGGR_US] = aggr


@njit
def _tick(ctx, now_ms, pconfig, config, fconfig, migrate_cost, flags, frame_of, page_at, free_stack, free_n, regions,
          cstate, cfstate, histogram, moving, state, fstate, pstate, pagestat, nxt, pending):
    """One pass of ``kdamond_fn``'s loop after its sleep: check, aggregate, apply, split,
    then prepare the next sample."""
    c = cstate[ctx]
    c[C_PASSED] += 1
    next_aggr = c[C_NEXT_AGGR]
    next_update = c[C_NEXT_UPDATE]
    checks = c[C_NR]
    c[C_MAX_NR] = _check(ctx, flags, page_at, regions, cstate)
    if c[C_PASSED] >= next_aggr:
        _merge(ctx, c[C_MAX_NR] // 10, c[C_SZ_LIMIT], pconfig, regions, cstate)
    _apply_schemes(ctx, now_ms, pconfig, config, fconfig, migrate_cost, flags, frame_of, page_at, free_stack, free_n,
                   regions, cstate, cfstate, histogram, moving, state, fstate, pagestat, nxt, pending)
    if c[C_PASSED] >= next_aggr:
        if pconfig[P_GOAL_AGGRS] != 0 and c[C_PASSED] >= c[C_NEXT_TUNE]:
            c[C_NEXT_TUNE] += c[C_AGGR_SAMPLES] * np.int64(pconfig[P_GOAL_AGGRS])
            _tune(ctx, pconfig, config[K_PAGE_BYTES], regions, cstate)
        c[C_NEXT_AGGR] = next_aggr + c[C_AGGR_US] // c[C_SAMPLE_US]
        for i in range(c[C_NR]):  # kdamond_reset_aggregated
            regions[ctx, i, R_LAST] = regions[ctx, i, R_NR]
            regions[ctx, i, R_NR] = 0
        _split(ctx, pconfig, regions, cstate, pstate)
    if c[C_PASSED] >= next_update:
        c[C_NEXT_UPDATE] = next_update + np.int64(pconfig[P_UPDATE_US]) // c[C_SAMPLE_US]
        total = 0
        for i in range(c[C_NR]):
            total += regions[ctx, i, R_END] - regions[ctx, i, R_START]
        c[C_SZ_LIMIT] = max(1, total // np.int64(pconfig[P_MIN_REGIONS]))
    _prepare(ctx, flags, page_at, regions, cstate, pstate)
    checks += c[C_NR]  # the check just made and the page made old for the next one
    charge_overhead(checks * pconfig[P_KDAMOND_NS], checks, fstate, pending)
    cfstate[ctx, CF_NEXT_TICK_NS] = fstate[FS_NOW_NS] + c[C_SAMPLE_US] * 1e3


@njit
def run_policy(trace, writes, final, config, fconfig, pconfig, migrate_cost, flags, counts, touched, histogram_, top,
         state, fstate, moved, pagestat, judged, nxt, pending, out, frame_of, page_at, free_stack, free_n, regions,
         cstate, cfstate, histogram, moving, pstate, started):
    # ``histogram_`` is the metrics' (shared); ``histogram`` the schemes' score histogram
    """Run one chunk of the trace; the number of periods closed (rows of ``out``).  Each
    access: a first touch allocates a frame, the access is served, then each kdamond whose
    sample is due takes its turn, and the period closes if it is over.  The serving is
    :func:`memtier.simulation.policies._driver.serve_until`'s loop, which returns to this one
    at a first touch and at those events."""
    capacity = config[K_FAST_CAPACITY]
    low = pconfig[P_LOW]
    latency = np.array([fconfig[F_SLOW_NS], fconfig[F_FAST_NS]])
    unit = np.array([fconfig[F_UNIT_SLOW], fconfig[F_UNIT_FAST]])
    n = trace.shape[0]
    row = 0
    if started[0] == 0:  # both kdamonds prepare their first sample at time 0
        started[0] = 1
        for k in range(2):
            ctx = DEMOTE - k  # the demoting kdamond first (see the module)
            _prepare(ctx, flags, page_at, regions, cstate, pstate)
            cfstate[ctx, CF_NEXT_TICK_NS] = fstate[FS_NOW_NS] + cstate[ctx, C_SAMPLE_US] * 1e3
    now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    next_event = min(cfstate[0, CF_NEXT_TICK_NS], cfstate[1, CF_NEXT_TICK_NS])
    accesses = 0
    hits = 0
    j = 0
    while j < n:
        j, needs_policy, n_touched, accesses, hits, now, remaining = serve_until(
            trace, j, n, PRESENT, flags, counts, touched, latency, unit, next_event, n_touched, accesses, hits,
            now, remaining)
        if needs_policy:  # a first touch; then served as any access
            page = trace[j]
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            fast = capacity - state[S_FAST_USED] > low or state[S_SLOW_USED] >= config[K_SLOW_CAPACITY]
            allocate_first_touch(page, fast, flags, state, config)
            _take_frame(page, 0 if fast else 1, frame_of, page_at, free_stack, free_n)
            continue
        last = final and j == n
        if now >= next_event or remaining <= 0 or last:
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            for k in range(2):
                ctx = DEMOTE - k  # the demoting kdamond first (see the module)
                if fstate[FS_NOW_NS] >= cfstate[ctx, CF_NEXT_TICK_NS]:
                    _tick(ctx, fstate[FS_NOW_NS] * 1e-6, pconfig, config, fconfig, migrate_cost, flags, frame_of,
                          page_at, free_stack, free_n, regions, cstate, cfstate, histogram, moving, state, fstate,
                          pstate, pagestat, nxt, pending)
            next_event = min(cfstate[0, CF_NEXT_TICK_NS], cfstate[1, CF_NEXT_TICK_NS])
            if fstate[FS_REMAINING] <= 0 or last:
                end_period(row, config, fconfig, flags, counts, touched, histogram_, top, state, moved, pagestat, judged,
                       nxt, fstate, pending, out)
                row += 1
            now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
    return row
