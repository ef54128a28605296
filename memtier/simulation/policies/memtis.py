"""``memtis``: MEMTIS (Lee et al., "MEMTIS: Efficient Memory Tiering with Dynamic Page
Classification and Page Size Determination", SOSP'23), the policy of its kernel
(github ``cosmoss-jigu/memtis``: ``mm/htmm_core.c``, ``mm/htmm_sampler.c``,
``mm/htmm_migrater.c``, ``mm/rmap.c``; defaults from ``mm/mempolicy.c`` and the artifact's
``scripts/run_bench.sh``, which sets the same values).

- **Sampling** (``ksamplingd``).  PEBS samples one in ``sample_period`` (199,
  ``htmm_sample_period``) LLC-miss loads, with a counter per event: loads served by the
  fast node (``DRAM_LLC_LOAD_MISS``) and by the slow node (``NVM_LLC_LOAD_MISS``) count
  apart, and one in ``inst_sample_period`` (100007, ``htmm_inst_sample_period``) stores
  (``ALL_STORES``).  The trace is what reaches memory, so every access is a candidate; a
  trace without a write flag counts every access as a load.  Each sample costs the
  application ``sample_ns``; ``ksamplingd`` and ``kmigraterd`` run on their own cores and
  are not charged.
- **Counting** (``update_base_page``).  A sampled page is first cooled if the memcg's cooling
  clock moved since it was last seen (``check_base_cooling``: its count halved once per
  step, then counted in the histogram), then its count grows by ``HPAGE_PMD_NR`` (512: base
  pages count on the huge pages' scale; with 2 MiB pages the count grows by 1,
  ``update_huge_page``).  The page's bin is ``get_idx(count)`` = floor(log2(count + 1)),
  at most 15; the memcg's 16-bin histogram follows the page from its old bin to its new
  one.  The page is hot when its bin is at least the hot threshold (``active_threshold``),
  and goes to its node's active list if hot, to the inactive list if not.
- **Cooling and adaptation** (``update_pginfo``).  Every ``cooling_period`` samples (2 M,
  ``htmm_cooling_period``), or when the memcg's usage grew by ``thres_cooling_alloc_mb``
  (10 GB, ``htmm_thres_cooling_alloc``) since the last such cooling: the histogram is reset,
  the cooling clock steps, and both nodes are marked for cooling (``__cooling``; if the last
  cooling is not done on a node, only the clock steps).  Otherwise every
  ``adaptation_period`` samples (100 K, ``htmm_adaptation_period``) the hot threshold adapts
  (``__adjust_active_threshold``): the lowest bin such that the pages in it and above fit in
  the fast node less its promotion watermark, at least ``thres_hot`` (1); it only rises,
  except after a cooling, when it may fall by one.  The warm threshold is the hot one less
  one when the hot pages fill under 75 % of that room, else the hot one; ``nowarm`` = 1
  (``htmm_nowarm``) makes them equal.
- **kmigraterd** (``htmm_migrater.c``), one thread per node.  Each pass first cools its
  node's lists if marked (``cooling_node``: each page behind the clock halved, counted, and
  put on the active list if its bin is at least the hot threshold less one, else the
  inactive) or else re-sorts them by the hot threshold (``adjusting_node``).  The fast
  node's thread, every ``demotion_period_ms`` (500 ms) or woken by an allocation, demotes
  when the fast node's free room falls under the demotion watermark (2 % of the node,
  within ``demotion_watermark_min_mb`` - ``demotion_watermark_max_mb``, 50-1000 MB), or when
  the slow node's active pages would not fit above the promotion watermark (3 %, within
  100-1500 MB): it scans its inactive list from the tail in batches of 32, with the
  kernel's priorities (``demote_lruvec``, ``DEF_PRIORITY`` 12), demoting pages under the
  warm threshold; warm pages stay.  The slow node's thread, every ``promotion_period_ms``
  (500 ms), promotes from the tail of the slow node's active list as many pages as fit
  under the promotion watermark: ``sum(n >> p for p in 12..1)`` of ``n`` candidates
  (``promote_node``; so one candidate alone is never promoted, as in the code).
- **Allocation** (``alloc_pages_vma``): the fast node while it holds fewer than its size
  less one page, else the slow node; an allocation that falls to the slow node, or leaves
  the fast node's free room under the demotion watermark, marks the fast node for direct
  demotion (``need_demotion``: its thread then frees the promotion watermark's room plus
  ``128 * 100`` pages, 50 MB, the demotion watermark's floor, taken here from
  ``demotion_watermark_min_mb``) and wakes its thread.  New pages join the inactive list
  with the count ``2 ** (hot threshold + 1)`` and skip the next cooling
  (``set_page_coolstatus``, ``htmm_skip_cooling``): a new page is hot at its first sample,
  and warm (never demoted) until halvings or a rising threshold put it under the warm bin.

Departures, stated: the sample periods are fixed (``ksamplingd`` lengthens them when its
own CPU time exceeds ``ksampled_soft_cpu_quota``, which the simulator does not measure);
simulated pages are all one size, so huge-page splitting (``htmm_thres_split``, the
skewness map) is not modelled; a woken demotion thread runs at once, and an allocation
wakes it only when it was not already marked (it retries at its period); the order of a
batch of 32 put back on a list is kept; one migration call per batch of pages, charged by
the fitted cost model.

The watermarks' limits are in MB because MEMTIS was built for fast nodes of tens of GB:
on a fast node under about 3 GB the 100 MB floor exceeds 3 % of it, and on one under
100 MB the watermark leaves no room at all (refused with a message); a scaled-down
experiment should scale the floors too (``promotion_watermark_min_mb=0``, ...).

Cost (an estimate, not a measurement): ``sample_ns`` = 250 ns per sample, the order of a
PEBS assist that writes a record to the buffer from microcode (as for ``hemem``).
"""
import numpy as np

from ..._jit import leading_zeros, njit, njit_borrow, prefetch, prefetch_each
from .active_shrink import (
    C_SCANNED, C_SCAN_US, FAST, F_FAST_NS, F_SLOW_NS, F_UNIT_FAST, F_UNIT_SLOW, K_BATCH_PAGES,
    K_FAST_CAPACITY, K_SLOW_CAPACITY, S_FAST_USED, S_SLOW_USED, S_TOUCHED, SWAP_CLUSTER_MAX, calls_cost_us,
)
from ._driver import (
    FS_NOW_NS, FS_REMAINING, charge_migration, end_period, allocate_first_touch,
    flush_loop_state, move_page, serve_sampled,
)

NAMES = ("memtis",)

PARAMETERS = {
    "sample_period": (199.0, "htmm_sample_period: one sample per this many LLC-miss loads (per node)"),
    "inst_sample_period": (100007.0, "htmm_inst_sample_period: one sample per this many stores"),
    "thres_hot": (1.0, "htmm_thres_hot: the lowest hot threshold (a histogram bin)"),
    "cooling_period": (2000000.0, "htmm_cooling_period: samples between coolings"),
    "adaptation_period": (100000.0, "htmm_adaptation_period: samples between threshold adaptations"),
    "thres_cooling_alloc_mb": (10240.0, "htmm_thres_cooling_alloc: usage growth that forces a cooling (MB)"),
    "promotion_period_ms": (500.0, "htmm_promotion_period_in_ms: the slow node's kmigraterd period"),
    "demotion_period_ms": (500.0, "htmm_demotion_period_in_ms: the fast node's kmigraterd period"),
    "nowarm": (0.0, "htmm_nowarm: 1: no warm set (the warm threshold stays at the hot one); 0: a warm set"),
    "demotion_watermark_min_mb": (50.0, "MIN_WATERMARK_LOWER_LIMIT (htmm_migrater.c), also the direct "
                                        "demotion's extra"),
    "demotion_watermark_max_mb": (1000.0, "MIN_WATERMARK_UPPER_LIMIT (htmm_migrater.c)"),
    "promotion_watermark_min_mb": (100.0, "MAX_WATERMARK_LOWER_LIMIT (htmm_migrater.c)"),
    "promotion_watermark_max_mb": (1500.0, "MAX_WATERMARK_UPPER_LIMIT (htmm_migrater.c)"),
    "sample_ns": (250.0, "cost of one PEBS sample (estimate, see the module)"),
}

#: What :func:`memtier.simulation.policies.time_scaled` scales.  The cooling and adaptation periods
#: count samples: with the sampling periods divided by the same factor, a trace that many
#: times shorter takes as many samples as the long run, so they are left alone.
TIME_SCALED = ("promotion_period_ms", "demotion_period_ms")
SAMPLE_SCALED = ("sample_period", "inst_sample_period")
COST_SCALED = ("sample_ns",)

NONE = -1
HPAGE_PMD_NR = 512
DEF_PRIORITY = 12
N_BINS = 16
# ends[lst, :]: the list's newest slot + 1 (head), oldest slot (tail), size, ring start, ring length, then
E_BINS = 5  # ends[lst, E_BINS + b]: the list's pages in bin b
E_HEAD, E_TAIL, E_SIZE, E_BASE, E_CAP = range(5)
# Lists: node * 2 + inactive (node 0 fast, 1 slow).
FAST_ACTIVE_L, FAST_INACTIVE_L, SLOW_ACTIVE_L, SLOW_INACTIVE_L = range(4)
# pconfig slots
(P_LOAD_PERIOD, P_STORE_PERIOD, P_THRES_HOT, P_COOLING, P_ADAPT, P_COOL_ALLOC, P_PROMO_NS, P_DEMO_NS, P_NOWARM,
 P_DEMO_WM, P_PROMO_WM, P_DIRECT_EXTRA, P_INCREMENT, P_SAMPLE_NS) = range(14)
P_SIZE = 14
# pstate slots (int64)
(PS_LEFT_SLOW, PS_LEFT_FAST, PS_LEFT_STORE, PS_CLOCK, PS_NR_SAMPLED, PS_ACTIVE_T, PS_WARM_T, PS_COOLED,
 PS_NEED_COOL, PS_NEED_COOL_SLOW, PS_NEED_ADJ, PS_NEED_ADJ_SLOW, PS_NEED_DEMOTION, PS_NR_ALLOC, PS_TO_COOL,
 PS_TO_ADAPT) = range(16)
PS_SIZE = 16
# pfstate slots: the two threads' next passes (ns)
PF_NEXT_DEMOTION, PF_NEXT_PROMOTION = 0, 1


def check(params):
    for name in ("sample_period", "inst_sample_period", "cooling_period", "adaptation_period"):
        if params[name] < 1 or params[name] != int(params[name]):
            raise ValueError(f"{name} must be a whole number >= 1, got {params[name]}")
    for name in ("promotion_period_ms", "demotion_period_ms"):
        if params[name] <= 0:
            raise ValueError(f"{name} must be positive, got {params[name]}")
    if params["thres_hot"] > 15 or params["thres_hot"] != int(params["thres_hot"]):
        raise ValueError(f"thres_hot must be a histogram bin, a whole number 0-15, got {params['thres_hot']}")
    if params["nowarm"] not in (0, 1):
        raise ValueError(f"nowarm must be 0 (warm set on) or 1 (off), got {params['nowarm']}")


def watermarks(fast_pages, page_bytes, params):
    """``(demotion, promotion)`` watermarks in pages (``get_memcg_demotion_watermark``: 2 %,
    ``get_memcg_promotion_watermark``: 3 %, each within its MB limits)."""
    def pages(mb):
        return int(mb * (1 << 20)) // page_bytes

    demotion = min(max(fast_pages * 2 // 100, pages(params["demotion_watermark_min_mb"])),
                   pages(params["demotion_watermark_max_mb"]))
    promotion = min(max(fast_pages * 3 // 100, pages(params["promotion_watermark_min_mb"])),
                    pages(params["promotion_watermark_max_mb"]))
    return demotion, promotion


def make_pconfig(policy, params, fast_capacity, slow_capacity, n_pages, page_bytes):
    demotion, promotion = watermarks(fast_capacity, page_bytes, params)
    if promotion >= fast_capacity:
        raise ValueError(
            f"memtis: the promotion watermark ({promotion} pages: 3 % of the fast node, at least "
            f"promotion_watermark_min_mb={params['promotion_watermark_min_mb']:g} MB) leaves no room on a fast node "
            f"of {fast_capacity} pages of {page_bytes} bytes; MEMTIS's MB limits are made for nodes of tens of GB: "
            f"for a smaller node pass promotion_watermark_min_mb=0 and demotion_watermark_min_mb=0")
    p = np.zeros(P_SIZE, dtype=np.float64)
    p[P_LOAD_PERIOD] = int(params["sample_period"])
    p[P_STORE_PERIOD] = int(params["inst_sample_period"])
    p[P_THRES_HOT] = int(params["thres_hot"])
    p[P_COOLING] = int(params["cooling_period"])
    p[P_ADAPT] = int(params["adaptation_period"])
    p[P_COOL_ALLOC] = max(1, int(params["thres_cooling_alloc_mb"] * (1 << 20)) // page_bytes)
    p[P_PROMO_NS] = params["promotion_period_ms"] * 1e6
    p[P_DEMO_NS] = params["demotion_period_ms"] * 1e6
    p[P_NOWARM] = params["nowarm"]
    p[P_DEMO_WM] = demotion
    p[P_PROMO_WM] = promotion
    p[P_DIRECT_EXTRA] = int(params["demotion_watermark_min_mb"] * (1 << 20)) // page_bytes
    p[P_INCREMENT] = HPAGE_PMD_NR if page_bytes < (2 << 20) else 1
    p[P_SAMPLE_NS] = params["sample_ns"]
    return p


def make_state(pconfig, config, n_pages):
    pstate = np.zeros(PS_SIZE, dtype=np.int64)
    pstate[PS_LEFT_SLOW] = pstate[PS_LEFT_FAST] = int(pconfig[P_LOAD_PERIOD])
    pstate[PS_LEFT_STORE] = int(pconfig[P_STORE_PERIOD])
    pstate[PS_ACTIVE_T] = pstate[PS_WARM_T] = int(pconfig[P_THRES_HOT])  # mem_cgroup_css_alloc
    pstate[PS_TO_COOL], pstate[PS_TO_ADAPT] = int(pconfig[P_COOLING]), int(pconfig[P_ADAPT])
    # Each list is a run of slots in a ring of its own, oldest to newest, a page that left it a
    # NONE hole: twice the most pages its node can hold, so that packing it when its head reaches
    # the end (_pack) frees at least half of it.
    ends = np.zeros((4, E_BINS + N_BINS), dtype=np.int64)
    base = 0
    for lst in range(4):
        node_pages = min(int(config[K_FAST_CAPACITY] if lst < 2 else config[K_SLOW_CAPACITY]), n_pages)
        ends[lst, E_BASE] = base
        ends[lst, E_CAP] = 2 * node_pages + 2
        base += ends[lst, E_CAP]
    return dict(
        total=np.zeros(n_pages, dtype=np.int64),
        page_clock=np.zeros(n_pages, dtype=np.int64),
        on_list=np.full(n_pages, NONE, dtype=np.int8),
        slot=np.full(n_pages, NONE, dtype=np.int32),
        ring=np.full(base, NONE, dtype=np.int32),
        ends=ends,
        hg=np.zeros(N_BINS, dtype=np.int64),
        batch=np.zeros(SWAP_CLUSTER_MAX, dtype=np.int32),
        pstate=pstate,
        pfstate=np.array([pconfig[P_DEMO_NS], pconfig[P_PROMO_NS]], dtype=np.float64),
    )


@njit_borrow
def _get_idx(num):
    """``get_idx``: floor(log2(num + 1)), at most 15 (the kernel's loop over the bits, in one
    instruction: it runs several times at each sample and each list move)."""
    return min(np.int64(63) - np.int64(leading_zeros(np.uint64(num + 1))), np.int64(15))


# LRU lists: the head is the newest end, isolation takes from the tail.  Each is a ring of
# slots (``ring[ends[lst, E_BASE]:][:ends[lst, E_CAP]]``) holding its pages oldest first, a page's
# slot in ``slot``, holes (NONE) where pages left.  A doubly linked list did the same with two
# links a page, but a demotion scan that demotes nothing (``_rotate_scanned``) had to walk to
# the r-th oldest page, one cache miss a page (tens of thousands a pass, a third of a
# time-scaled run); in a ring it reads the slots in order.
#: The walks over a list (``_cool_node``, ``_adjust_node``) read its slots in order and prefetch
#: the count of the page this many slots on.
WALK_AHEAD = 16


@njit_borrow
def _pack(lst, slot, ring, ends):
    """Move the list's pages to the start of its ring, in order, dropping the holes."""
    base = ends[lst, E_BASE]
    k = 0
    head = ends[lst, E_HEAD]
    for i in range(ends[lst, E_TAIL], head):
        prefetch(slot, np.uint64(max(ring[base + min(i + WALK_AHEAD, head - 1)], 0)))
        page = ring[base + i]
        if page != NONE:
            ring[base + i] = NONE
            ring[base + k] = page
            slot[page] = k
            k += 1
    ends[lst, E_TAIL] = 0
    ends[lst, E_HEAD] = k


@njit_borrow
def _enqueue(lst, page, total, on_list, slot, ring, ends):
    if ends[lst, E_HEAD] == ends[lst, E_CAP]:
        _pack(lst, slot, ring, ends)
    head = ends[lst, E_HEAD]
    ring[ends[lst, E_BASE] + head] = page
    slot[page] = head
    ends[lst, E_HEAD] = head + 1
    ends[lst, E_SIZE] += 1
    ends[lst, E_BINS + _get_idx(total[page])] += 1
    on_list[page] = lst


@njit_borrow
def _remove(page, total, on_list, slot, ring, ends):
    lst = on_list[page]
    ring[ends[lst, E_BASE] + slot[page]] = NONE
    ends[lst, E_SIZE] -= 1
    ends[lst, E_BINS + _get_idx(total[page])] -= 1
    if ends[lst, E_SIZE] == 0:  # empty: its ring starts over
        ends[lst, E_HEAD] = ends[lst, E_TAIL] = 0
    on_list[page] = NONE
    slot[page] = NONE


@njit_borrow
def _oldest(lst, ring, ends):
    """The list's oldest page (the tail moved past the holes before it), NONE if it is empty."""
    if ends[lst, E_SIZE] == 0:
        return NONE
    base = ends[lst, E_BASE]
    tail = ends[lst, E_TAIL]
    while ring[base + tail] == NONE:
        tail += 1
    ends[lst, E_TAIL] = tail
    return ring[base + tail]


@njit_borrow
def _to_list(page, lst, total, on_list, slot, ring, ends):
    if on_list[page] != lst:
        _remove(page, total, on_list, slot, ring, ends)
        _enqueue(lst, page, total, on_list, slot, ring, ends)


@njit_borrow
def _adjust_threshold(pconfig, config, hg, pstate):
    """``__adjust_active_threshold``."""
    max_pages = config[K_FAST_CAPACITY] - np.int64(pconfig[P_PROMO_WM])
    nr_active = 0
    idx_hot = 15
    while idx_hot >= 0:
        if nr_active + hg[idx_hot] > max_pages:
            break
        nr_active += hg[idx_hot]
        idx_hot -= 1
    if idx_hot != 15:
        idx_hot += 1
    need_warm = nr_active < max_pages * 75 // 100
    idx_hot = max(idx_hot, np.int64(pconfig[P_THRES_HOT]))
    if pstate[PS_COOLED] != 0:
        if idx_hot < pstate[PS_ACTIVE_T] and pstate[PS_ACTIVE_T] > 1:
            pstate[PS_ACTIVE_T] -= 1
        pstate[PS_COOLED] = 0
        pstate[PS_NEED_ADJ] = pstate[PS_NEED_ADJ_SLOW] = 1
    elif idx_hot > pstate[PS_ACTIVE_T]:
        pstate[PS_ACTIVE_T] = idx_hot
        pstate[PS_NEED_ADJ] = pstate[PS_NEED_ADJ_SLOW] = 1
    if pconfig[P_NOWARM] == 0 and need_warm:
        pstate[PS_WARM_T] = pstate[PS_ACTIVE_T] - 1
    else:
        pstate[PS_WARM_T] = pstate[PS_ACTIVE_T]


@njit_borrow
def _sample(page, pconfig, config, flags, state, total, page_clock, on_list, slot, ring, ends, hg, pstate):
    """One sample of ``page``: ``update_base_page``, then ``update_pginfo``'s cooling and
    adaptation."""
    clock = pstate[PS_CLOCK]
    lst = on_list[page]
    ends[lst, E_BINS + _get_idx(total[page])] -= 1
    if clock > page_clock[page]:  # check_base_cooling
        total[page] >>= min(clock - page_clock[page], 63)
        hg[_get_idx(total[page])] += 1
    page_clock[page] = clock
    prev_idx = _get_idx(total[page])
    total[page] += np.int64(pconfig[P_INCREMENT])
    cur_idx = _get_idx(total[page])
    ends[lst, E_BINS + cur_idx] += 1
    if prev_idx != cur_idx:
        if hg[prev_idx] > 0:
            hg[prev_idx] -= 1
        hg[cur_idx] += 1
    node = 0 if flags[page] & FAST else 1
    if cur_idx >= pstate[PS_ACTIVE_T]:
        _to_list(page, 2 * node, total, on_list, slot, ring, ends)
    elif on_list[page] == 2 * node:
        _to_list(page, 2 * node + 1, total, on_list, slot, ring, ends)
    pstate[PS_NR_SAMPLED] += 1
    # nr_sampled % htmm_cooling_period == 0 and % htmm_adaptation_period == 0, counted down
    # rather than divided: two 64-bit divisions at every sample
    pstate[PS_TO_COOL] -= 1
    cooling = pstate[PS_TO_COOL] == 0
    if cooling:
        pstate[PS_TO_COOL] = np.int64(pconfig[P_COOLING])
    pstate[PS_TO_ADAPT] -= 1
    adapt = pstate[PS_TO_ADAPT] == 0
    if adapt:
        pstate[PS_TO_ADAPT] = np.int64(pconfig[P_ADAPT])
    usage = state[S_FAST_USED] + state[S_SLOW_USED]
    if not cooling and pstate[PS_NR_ALLOC] + np.int64(pconfig[P_COOL_ALLOC]) <= usage:  # need_memcg_cooling
        pstate[PS_NR_ALLOC] = usage
        cooling = True
    if cooling:  # __cooling
        pstate[PS_CLOCK] += 1
        if pstate[PS_NEED_COOL] == 0 and pstate[PS_NEED_COOL_SLOW] == 0:
            hg[:] = 0
            pstate[PS_COOLED] = 1
            pstate[PS_NEED_COOL] = pstate[PS_NEED_COOL_SLOW] = 1
    elif adapt:
        _adjust_threshold(pconfig, config, hg, pstate)


@njit_borrow
def _scan_limit(count):
    """Pages a ``cooling_node`` / ``adjusting_node`` walk reaches: up to 12 rounds of an
    eighth of the list (all of it when shorter than 8)."""
    if count >> 3 == 0:
        return count
    return min(count, 12 * (count >> 3))


@njit_borrow
def _cool_node(node, total, page_clock, on_list, slot, ring, ends, hg, pstate):
    """``cooling_node``: the active list, then the inactive one, from the tail
    (``cooling_page``: a page behind the clock is halved, counted, and sorted by the hot
    threshold less one; a page already cooled stays where it is)."""
    clock = pstate[PS_CLOCK]
    threshold = pstate[PS_ACTIVE_T] - 1
    for inactive in range(2):
        lst = 2 * node + inactive
        base = ends[lst, E_BASE]
        i = ends[lst, E_TAIL]  # the walk adds no page to the list it walks: its ring stays put
        for _ in range(_scan_limit(ends[lst, E_SIZE])):
            while i < ends[lst, E_HEAD] and ring[base + i] == NONE:
                i += 1
            if i >= ends[lst, E_HEAD]:
                break
            page = ring[base + i]
            ahead = np.uint64(max(ring[base + min(i + WALK_AHEAD, ends[lst, E_HEAD] - 1)], 0))
            prefetch_each((total, page_clock, on_list, slot), ahead)
            i += 1
            if clock > page_clock[page]:
                ends[lst, E_BINS + _get_idx(total[page])] -= 1
                total[page] >>= min(clock - page_clock[page], 63)
                idx = _get_idx(total[page])
                ends[lst, E_BINS + idx] += 1
                hg[idx] += 1
                page_clock[page] = clock
                _to_list(page, 2 * node + (0 if idx >= threshold else 1), total, on_list, slot, ring, ends)
    pstate[PS_NEED_COOL + node] = 0


@njit_borrow
def _wrong_list(lst, threshold, ends):
    """The pages of list ``lst`` that the hot ``threshold`` puts on the node's other list: on an
    active list those under it, on an inactive one those at or above it."""
    wrong = 0
    if lst % 2 == 0:
        for b in range(min(max(threshold, 0), N_BINS)):
            wrong += ends[lst, E_BINS + b]
    else:
        for b in range(min(max(threshold, 0), N_BINS), N_BINS):
            wrong += ends[lst, E_BINS + b]
    return wrong


@njit_borrow
def _adjust_node(node, total, on_list, slot, ring, ends, pstate):
    """``adjusting_node``, active list then inactive (``need_adjusting_all`` is always set):
    each page to the list its bin and the hot threshold say (``page_check_hotness``)."""
    threshold = pstate[PS_ACTIVE_T]
    done = True
    for inactive in range(2):
        lst = 2 * node + inactive
        count = ends[lst, E_SIZE]
        limit = _scan_limit(count)
        done = done and limit >= count
        base = ends[lst, E_BASE]
        i = ends[lst, E_TAIL]  # the walk adds no page to the list it walks: its ring stays put
        for _ in range(limit):
            # the walk moves only the pages on the wrong list, whose bins the list counts: once
            # none is left, the rest of it would leave every page where it is (each is a cache
            # miss: the whole slow node's lists, 900 K pages on the benchmark, at each rise of the
            # threshold)
            if _wrong_list(lst, threshold, ends) == 0:
                break
            while i < ends[lst, E_HEAD] and ring[base + i] == NONE:
                i += 1
            if i >= ends[lst, E_HEAD]:
                break
            page = ring[base + i]
            prefetch_each((total, on_list, slot), np.uint64(max(ring[base + min(i + WALK_AHEAD, ends[lst, E_HEAD] - 1)], 0)))
            i += 1
            hot = _get_idx(total[page]) >= threshold
            _to_list(page, 2 * node + (0 if hot else 1), total, on_list, slot, ring, ends)
    if done:
        pstate[PS_NEED_ADJ + node] = 0


@njit_borrow
def _lists_work(node, total, page_clock, on_list, slot, ring, ends, hg, pstate):
    if pstate[PS_NEED_COOL + node] != 0:
        _cool_node(node, total, page_clock, on_list, slot, ring, ends, hg, pstate)
    elif pstate[PS_NEED_ADJ + node] != 0:
        _adjust_node(node, total, on_list, slot, ring, ends, pstate)


@njit_borrow
def _demote_batch(scan, lst, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending, total,
                  on_list, slot, ring, ends, batch, pstate):
    """``demote_inactive_list``: isolate ``scan`` pages from the tail, demote those under the
    warm threshold (``shrink_page_list``), put the others back at the head."""
    taken = 0
    while taken < scan and ends[lst, E_SIZE] != 0:
        page = _oldest(lst, ring, ends)
        ahead = np.uint64(max(ring[ends[lst, E_BASE] + min(ends[lst, E_TAIL] + WALK_AHEAD, ends[lst, E_CAP] - 1)], 0))
        prefetch_each((total, on_list, slot, flags, pagestat), ahead)
        _remove(page, total, on_list, slot, ring, ends)
        batch[taken] = page
        taken += 1
    demoted = 0
    for j in range(taken):
        page = batch[j]
        if _get_idx(total[page]) < pstate[PS_WARM_T] and state[S_SLOW_USED] < config[K_SLOW_CAPACITY]:
            move_page(page, False, flags, state, pagestat, nxt, config, fconfig, pending)
            _enqueue(SLOW_ACTIVE_L if lst == FAST_ACTIVE_L else SLOW_INACTIVE_L, page, total, on_list, slot, ring, ends)
            demoted += 1
        else:
            _enqueue(lst, page, total, on_list, slot, ring, ends)
    if demoted > 0:
        charge_migration(calls_cost_us(demoted, config[K_BATCH_PAGES], migrate_cost), fstate, pending)
    return demoted


@njit_borrow
def _demote_node(exceeded, shrink_active, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt,
                 pending, total, on_list, slot, ring, ends, batch, pstate):
    """``demote_node``'s loop over the priorities (``demote_lruvec``): the pages demoted."""
    reclaimed = 0
    priority = DEF_PRIORITY
    while priority > 0:
        to_reclaim = exceeded - reclaimed
        got = 0  # demote_lruvec: the inactive list, then (shrink_active) the active one
        for lst in (FAST_INACTIVE_L, FAST_ACTIVE_L):
            if lst == FAST_ACTIVE_L and not shrink_active:
                continue
            nr_to_scan = ends[lst, E_SIZE] >> priority
            if nr_to_scan < to_reclaim:
                nr_to_scan = to_reclaim * 11 // 10  # "because warm pages are not demoted"
            while nr_to_scan > 0:
                scan = min(nr_to_scan, SWAP_CLUSTER_MAX)
                got += _demote_batch(scan, lst, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt,
                                     pending, total, on_list, slot, ring, ends, batch, pstate)
                nr_to_scan -= scan
                if got >= to_reclaim:
                    break
            if got >= to_reclaim:
                break
        reclaimed += got
        if reclaimed >= exceeded:
            break
        priority -= 1
    return reclaimed


@njit_borrow
def _none_demotable(shrink_active, ends, pstate):
    """True when no page the demotion scan would reach is under the warm threshold."""
    for lst in (FAST_INACTIVE_L, FAST_ACTIVE_L):
        if lst == FAST_ACTIVE_L and not shrink_active:
            continue
        for b in range(min(max(pstate[PS_WARM_T], 0), N_BINS)):
            if ends[lst, E_BINS + b] > 0:
                return False
    return True


@njit_borrow
def _rotate_scanned(exceeded, shrink_active, on_list, slot, ring, ends):
    """What ``_demote_node`` does when it demotes nothing, in one step per list: each batch
    of ``scan`` pages taken from the tail and put back at the head rotates the list by
    ``scan`` (by nothing when it takes the whole list)."""
    for lst in (FAST_INACTIVE_L, FAST_ACTIVE_L):
        if lst == FAST_ACTIVE_L and not shrink_active:
            continue
        size = ends[lst, E_SIZE]
        if size == 0:
            continue
        rotation = 0
        for priority in range(DEF_PRIORITY, 0, -1):
            nr_to_scan = size >> priority
            if nr_to_scan < exceeded:
                nr_to_scan = exceeded * 11 // 10
            full = nr_to_scan // SWAP_CLUSTER_MAX
            if SWAP_CLUSTER_MAX < size:
                rotation += full * SWAP_CLUSTER_MAX
            last = nr_to_scan - full * SWAP_CLUSTER_MAX
            if 0 < last < size:
                rotation += last
        r = rotation % size
        if r == 0:
            continue
        base = ends[lst, E_BASE]
        if size - r < r and size - r <= ends[lst, E_TAIL]:
            # the same as the size - r newest pages, in their order, becoming the oldest: fewer
            # to move, and there is room for them below the tail
            below = ends[lst, E_TAIL]
            i = ends[lst, E_HEAD]
            for _ in range(size - r):
                i -= 1
                while ring[base + i] == NONE:
                    i -= 1
                prefetch(slot, np.uint64(max(ring[base + max(i - WALK_AHEAD, 0)], 0)))
                page = ring[base + i]
                ring[base + i] = NONE
                below -= 1
                ring[base + below] = page
                slot[page] = below
            ends[lst, E_HEAD] = i
            ends[lst, E_TAIL] = below
            continue
        # the r oldest pages, in their order, become the newest
        for _ in range(r):
            page = _oldest(lst, ring, ends)
            prefetch(slot, np.uint64(max(ring[base + min(ends[lst, E_TAIL] + WALK_AHEAD, ends[lst, E_CAP] - 1)], 0)))
            ring[base + ends[lst, E_TAIL]] = NONE
            ends[lst, E_TAIL] += 1
            if ends[lst, E_HEAD] == ends[lst, E_CAP]:
                _pack(lst, slot, ring, ends)
            head = ends[lst, E_HEAD]
            ring[base + head] = page
            slot[page] = head
            ends[lst, E_HEAD] = head + 1


@njit_borrow
def _demotion_pass(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending, total,
                   page_clock, on_list, slot, ring, ends, hg, batch, pstate):
    """One pass of the fast node's ``kmigraterd_demotion``."""
    _lists_work(0, total, page_clock, on_list, slot, ring, ends, hg, pstate)
    capacity = config[K_FAST_CAPACITY]
    used = state[S_FAST_USED]
    promo_wm = np.int64(pconfig[P_PROMO_WM])
    direct = pstate[PS_NEED_DEMOTION] != 0
    exceeded = 0
    if direct and used + promo_wm > capacity:  # need_toptier_demotion
        if used < capacity:
            exceeded = promo_wm - (capacity - used)
        else:
            exceeded = used + promo_wm - capacity
        exceeded += np.int64(pconfig[P_DIRECT_EXTRA])
    else:
        need_promoted = ends[SLOW_ACTIVE_L, E_SIZE]
        if need_promoted > 0:
            if used + need_promoted + promo_wm > capacity:
                exceeded = used + need_promoted + promo_wm - capacity
        elif used + np.int64(pconfig[P_DEMO_WM]) > capacity:
            exceeded = used + promo_wm - capacity
    if exceeded > 0:  # demote_node
        shrink_active = exceeded > ends[FAST_INACTIVE_L, E_SIZE] and direct
        if _none_demotable(shrink_active, ends, pstate):
            # every batch would put all its pages back: the scan only rotates the lists
            _rotate_scanned(exceeded, shrink_active, on_list, slot, ring, ends)
            reclaimed = 0
        else:
            reclaimed = _demote_node(exceeded, shrink_active, config, fconfig, migrate_cost, flags, state, fstate,
                                     pagestat, nxt, pending, total, on_list, slot, ring, ends, batch, pstate)
        if pconfig[P_NOWARM] == 0:
            lowertier_active = min(ends[SLOW_ACTIVE_L, E_SIZE], exceeded)
            if lowertier_active > 0 and reclaimed < lowertier_active:
                pstate[PS_WARM_T] = pstate[PS_ACTIVE_T]
    if state[S_FAST_USED] + np.int64(pconfig[P_DEMO_WM]) < capacity:
        pstate[PS_NEED_DEMOTION] = 0


@njit_borrow
def _promotion_pass(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending, total,
                    page_clock, on_list, slot, ring, ends, hg, pstate):
    """One pass of the slow node's ``kmigraterd_promotion`` (``promote_node``)."""
    _lists_work(1, total, page_clock, on_list, slot, ring, ends, hg, pstate)
    if ends[SLOW_ACTIVE_L, E_SIZE] == 0:
        return
    room = config[K_FAST_CAPACITY] - np.int64(pconfig[P_PROMO_WM]) - state[S_FAST_USED]
    if room <= 0:  # promotion_available
        return
    n = min(room, ends[SLOW_ACTIVE_L, E_SIZE])
    promoted = 0
    for priority in range(DEF_PRIORITY, 0, -1):
        nr = n >> priority
        moved = 0
        for _ in range(nr):  # promote_active_list: isolate nr from the tail, all active
            page = _oldest(SLOW_ACTIVE_L, ring, ends)
            if page == NONE or state[S_FAST_USED] >= config[K_FAST_CAPACITY]:
                break
            _remove(page, total, on_list, slot, ring, ends)
            move_page(page, True, flags, state, pagestat, nxt, config, fconfig, pending)
            _enqueue(FAST_ACTIVE_L, page, total, on_list, slot, ring, ends)
            moved += 1
        if moved > 0:
            charge_migration(calls_cost_us(moved, config[K_BATCH_PAGES], migrate_cost), fstate, pending)
        promoted += moved
        if promoted >= n:
            break


#: Samples ``serve_sampled`` takes before it returns to have them counted (:func:`_count_queued`).
SAMPLE_QUEUE = 32


@njit_borrow
def _count_queued(queue, n_queued, sample_ns, pconfig, config, flags, state, total, page_clock, on_list, slot, ring,
                  ends, hg, pstate, pending):
    """Count the samples ``serve_sampled`` queued, in their order (:func:`_sample`), and
    charge each as ``_driver.charge_overhead`` did (its time is already on the clock)."""
    for k in range(n_queued):
        _sample(queue[k], pconfig, config, flags, state, total, page_clock, on_list, slot, ring, ends, hg, pstate)
        pending[0, C_SCAN_US] += sample_ns * 1e-3
        pending[0, C_SCANNED] += 1


@njit
def run_policy(trace, writes, final, config, fconfig, pconfig, migrate_cost, flags, counts, touched, histogram, top,
         state, fstate, moved, pagestat, judged, nxt, pending, out, total, page_clock, on_list, slot, ring, ends,
         hg, batch, pstate, pfstate):
    """Run one chunk of the trace; the number of periods closed (rows of ``out``).  Each
    access: a first touch allocates (waking the demotion thread if the fast node is short),
    the access is served, the sampler counts it, then the two threads' passes run if their
    time has come and the period closes if it is over.  The serving and counting are
    ``serve_sampled``'s loop, which returns to this one at a first touch, at those events
    and with its queue of samples full; the samples are counted first."""
    capacity = config[K_FAST_CAPACITY]
    latency = np.array([fconfig[F_SLOW_NS], fconfig[F_FAST_NS]])
    unit = np.array([fconfig[F_UNIT_SLOW], fconfig[F_UNIT_FAST]])
    periods = np.array([np.int64(pconfig[P_LOAD_PERIOD]), np.int64(pconfig[P_LOAD_PERIOD]),
                        np.int64(pconfig[P_STORE_PERIOD])])
    sample_ns = pconfig[P_SAMPLE_NS]
    queue = np.empty(SAMPLE_QUEUE, dtype=np.int64)
    n_queued = 0
    has_writes = writes.shape[0] > 0
    n = trace.shape[0]
    row = 0
    now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    next_demotion, next_promotion = pfstate[PF_NEXT_DEMOTION], pfstate[PF_NEXT_PROMOTION]
    left = np.array([pstate[PS_LEFT_SLOW], pstate[PS_LEFT_FAST], pstate[PS_LEFT_STORE]])
    accesses = 0
    hits = 0
    j = 0
    # A sampled page is counted (_sample) at the next return of serve_sampled, before anything
    # else: the accesses served meanwhile touch only the flags' accessed bit, the counts of the
    # period and ``touched``, none of which it reads or writes, so every result is the same; its
    # rows, prefetched when it is sampled, have arrived by then instead of being waited for.
    while j < n:
        j, first_touch, n_queued, n_touched, accesses, hits, now, remaining = serve_sampled(
            trace, writes, has_writes, j, n, flags, counts, touched, (total, page_clock, on_list, slot),
            latency, unit, min(next_demotion, next_promotion), left, 2, 1, periods, sample_ns, queue, n_queued,
            n_touched, accesses, hits, now, remaining)
        if n_queued != 0:
            _count_queued(queue, n_queued, sample_ns, pconfig, config, flags, state, total, page_clock, on_list, slot,
                          ring, ends, hg, pstate, pending)
            n_queued = 0
        if first_touch:  # trace[j], then served as any
            page = trace[j]
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            used = state[S_FAST_USED]
            fast = used + 1 < capacity or (state[S_SLOW_USED] >= config[K_SLOW_CAPACITY] and used < capacity)
            wake = (not fast) or capacity <= used + np.int64(pconfig[P_DEMO_WM])
            allocate_first_touch(page, fast, flags, state, config)
            total[page] = 1 << (pstate[PS_ACTIVE_T] + 1)  # set_page_coolstatus
            page_clock[page] = pstate[PS_CLOCK] + 1  # htmm_skip_cooling
            _enqueue(FAST_INACTIVE_L if fast else SLOW_INACTIVE_L, page, total, on_list, slot, ring, ends)
            if wake and pstate[PS_NEED_DEMOTION] == 0:
                pstate[PS_NEED_DEMOTION] = 1
                _demotion_pass(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending,
                               total, page_clock, on_list, slot, ring, ends, hg, batch, pstate)
                next_demotion = fstate[FS_NOW_NS] + pconfig[P_DEMO_NS]
            elif wake:
                pstate[PS_NEED_DEMOTION] = 1
            now = fstate[FS_NOW_NS]
            continue
        last = final and j == n
        if now >= next_demotion or now >= next_promotion or remaining <= 0 or last:
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            if fstate[FS_NOW_NS] >= next_demotion:
                _demotion_pass(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending,
                               total, page_clock, on_list, slot, ring, ends, hg, batch, pstate)
                next_demotion = fstate[FS_NOW_NS] + pconfig[P_DEMO_NS]
            if fstate[FS_NOW_NS] >= next_promotion:
                _promotion_pass(pconfig, config, fconfig, migrate_cost, flags, state, fstate, pagestat, nxt, pending,
                                total, page_clock, on_list, slot, ring, ends, hg, pstate)
                next_promotion = fstate[FS_NOW_NS] + pconfig[P_PROMO_NS]
            if fstate[FS_REMAINING] <= 0 or last:
                end_period(row, config, fconfig, flags, counts, touched, histogram, top, state, moved, pagestat, judged,
                       nxt, fstate, pending, out)
                row += 1
            now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
    pfstate[PF_NEXT_DEMOTION], pfstate[PF_NEXT_PROMOTION] = next_demotion, next_promotion
    pstate[PS_LEFT_SLOW], pstate[PS_LEFT_FAST], pstate[PS_LEFT_STORE] = left[0], left[1], left[2]
    return row
