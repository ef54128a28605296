"""``mglru``: the multi-generational LRU (Linux 6.1) on a tiered machine, demoting instead
of evicting, with promotion by MGLRU page-table scans of the slow node (``klruscand``).

Sources: ``mm/vmscan.c`` and ``include/linux/mm_inline.h`` of Linux 6.1 (read at 6.1.166,
the LTS branch), ``Documentation/mm/multigen_lru.rst``; for promotion, the RFC series
"mm: Hot page tracking and promotion infrastructure" (Bharata B Rao, v2, 2025-09-10), which
carries Kinsey Ho's "mm: klruscand: use mglru scanning for page promotion" (first posted as
"[RFC PATCH v1 0/2] mm: multi-gen LRU scanning for page promotion", 2025-03-24) and the
``pghot`` / ``kpromoted`` engine (``mm/pghot.c``, ``include/linux/pghot.h``).

The fast node's anonymous pages (the trace's pages are all anonymous, reached through page
tables; tiers, which count accesses through file descriptors, never apply):

- **Generations.**  Each page on the fast node carries the sequence number of its
  generation; ``min_seq`` is the oldest, ``max_seq`` the youngest, and between
  ``MIN_NR_GENS`` (2) and ``MAX_NR_GENS`` (4) generations exist (the sliding window of
  ``lru_gen_folio``).  Each generation is a list; a page faulted in is active and joins
  the youngest (``folio_add_lru`` sets it active in a fault, ``lru_gen_add_folio`` puts an
  active page at ``max_seq``), at the head.  A page promoted from the slow node joins the
  youngest too: klruscand's walk moved it to the slow node's youngest generation, so
  ``lru_gen_del_folio`` marks it active and migration carries the flag.
- **Aging** (``try_to_inc_max_seq``).  Reclaim runs it when ``should_run_aging`` says so:
  two generations only (out of cold pages), or three with the youngest above half the
  pages or the oldest under a quarter (``young * MIN_NR_GENS > total``, ``old *
  (MIN_NR_GENS + 2) < total``).  The page-table walk (``walk_pte_range``) visits every PTE
  table (512 PTEs, a PMD) that the Bloom filter of ``max_seq`` holds (all of them at the
  first aging, the filter not yet allocated: ``test_bloom_filter`` returns true); every
  young PTE of a fast page is cleared and its page's generation set to ``max_seq``
  (``folio_update_gen``: the counter only; the page stays on its old list); a table whose
  young PTEs are at least an eighth of its PTEs (``suitable_to_scan``: one per cache line
  of 8 PTEs) goes into the filter of ``max_seq + 1``, which was cleared when the walk began
  (``reset_bloom_filter``).  Then ``inc_max_seq``: ``max_seq + 1``, a new empty youngest
  generation.
- **Eviction** (``evict_folios`` -> ``scan_folios``, ``sort_folio``, ``isolate_folio``).  From
  the oldest generation's tail: a page whose counter the aging moved goes to the head of
  its generation's list (sorted); the others are isolated, until 64 are
  (``MIN_LRU_BATCH``) or 4096 were scanned (``MAX_LRU_BATCH``); nothing is scanned with two
  generations left.  ``try_to_inc_min_seq`` then drops empty oldest generations (never
  below two).  Each isolated page costs an rmap walk (``folio_referenced``, the
  simulator's ``rmap_ns``); if its PTE is young, ``lru_gen_look_around`` scans the 64 PTEs
  around it within its PTE table (``MIN_LRU_BATCH``, clipped as the kernel clips it),
  clears every young one of a fast page and sets the generation of those still on a list
  to ``max_seq``, and puts the table into ``max_seq``'s filter if suitable; the page itself
  is referenced and activated (``folio_check_references``: ``FOLIOREF_ACTIVATE``) into the
  youngest generation.  An unreferenced page is demoted (``demote_folio_list``, one
  migration call per batch); with the slow node full it is activated instead (no swap:
  ``activate_locked``).  A young neighbour that was isolated in the same batch has its
  bit cleared by the look-around before its own check, so it is demoted (anon pages ignore
  ``PG_referenced`` alone), as in the kernel.
- **kswapd and watermarks.**  As in :mod:`memtier.simulation.policies.numa_balancing`: a first touch
  below the fast node's low watermark wakes kswapd, which ages and evicts until the free
  pages exceed the high watermark, or the promotion watermark when promotion is on (6.1's
  ``pgdat_balanced`` in NUMA-balancing tiering mode, which ``kpromoted``'s
  ``migrate_misplaced_folio_prepare`` needs to wake kswapd at all).

Promotion.  Linux 6.1's MGLRU never moves a page up: the slow node is the last tier and,
without swap, is never reclaimed, so it is never aged.  The tiering work built on MGLRU is
the klruscand RFC (not merged): every ``KLRUSCAND_INTERVAL`` (500 ms) it walks the page
tables for the slow node's lruvec (``lru_gen_scan_lruvec``, the same walk without a new
generation; that lruvec never ages, so its filter is never allocated and every table is
walked), clears each young PTE of a slow page and reports it to ``pghot_record_access``:
a page's frequency restarts at 1 when its last report is older than
``KPROMOTED_FREQ_WINDOW`` (5 s), else grows by one, and a page at ``KPROMOTED_FREQ_THRESHOLD``
(2) or more is a promotion candidate.  Every ``KPROMOTE_DELAY`` (20 ms) ``kpromoted``
promotes up to ``KPROMOTED_MIGRATE_BATCH`` (1024) candidates, most frequent first, in one
migration batch; a candidate for which the fast node is not above its high watermark
(``migrate_balanced_pgdat``) is dropped and wakes kswapd (which runs once a pass here).  A
record is keyed by page frame, so a page's record ends when it moves.  ``klruscand=0``
leaves promotion out: Linux 6.1 as merged.

Departures, stated: kswapd runs at once when woken, and its priority loop is not modelled
(it ages whenever ``should_run_aging`` says so, as below ``DEF_PRIORITY``, and evicts in
``evict_folios`` batches until the node is balanced or has scanned twice its pages); the
Bloom filter is exact (the kernel's has false positives, which only add walks); the
non-leaf PMD accessed bit (``pmd_young``) that lets the walk skip idle tables is left out,
which changes no page's fate, only the walk's cost (charged for every walked table); the
address space is one VMA of the trace's pages in order (a sparse trace is renumbered in
first-touch order, :mod:`memtier.simulation.pagespace`, and tables group the renumbered pages);
pghot's frequency saturates at 7 (its 3-bit field: the RFC's ``< PGHOT_FREQ_MAX`` (8) test
would wrap it to 0, which looks unintended), report times are continuous rather than
whole jiffies (time-scaled runs would otherwise round their short windows away), the heap
of candidates holds at most a quarter of half the slow node's pages as pghot's does
(``PGHOT_HASH_PCT`` 50, ``PGHOT_HEAP_PCT`` 25: a candidate that finds it full waits for its
next report), and candidates of equal frequency go in the order they became candidates (a
heap's order among equals is arbitrary); kpromoted checks the watermark per page as it
promotes rather than for the whole batch before it migrates.

Costs (estimates, not measurements; pass measured values):

- ``walk_pte_ns`` = 5 ns per present PTE read by the aging's walk or a look-around: PTEs
  are read in order, eight to a cache line;
- ``young_pte_ns`` = 50 ns per young PTE found: the page's ``struct page`` (a cache miss)
  and an atomic clear of the accessed bit;
- ``scan_pte_ns`` = 5 ns and ``scan_young_ns`` = 50 ns, the same for klruscand's walks
  (apart because they are periodic, so :func:`memtier.simulation.policies.time_scaled` scales them);
- the rmap walk per isolated page is the simulator's ``rmap_ns``, as for every reclaim.
"""
import numpy as np

from ..._jit import njit, njit_borrow, njit_inline, prefetch, trailing_zeros
from .active_shrink import (
    ACCESSED, ACTIVE, AHEAD, FAST, F_FAST_NS, F_RMAP_NS, F_SLOW_NS, F_UNIT_FAST, F_UNIT_SLOW, K_BATCH_PAGES,
    K_FAST_CAPACITY, K_SLOW_CAPACITY, MARKED, P_MARKS, PRESENT, S_DISTINCT, S_FAST_USED, S_SLOW_USED, S_TOUCHED,
    calls_cost_us,
)
from ._driver import (
    FS_NOW_NS, FS_REMAINING, SERVE_AHEAD, charge_migration, charge_overhead, end_period, allocate_first_touch,
    flush_loop_state, move_page, serve_until,
)
from .numa_balancing import watermarks

NAMES = ("mglru",)

#: Fixed by the kernel (``include/linux/mmzone.h``, ``mm/vmscan.c``), not tunables.
MIN_NR_GENS, MAX_NR_GENS = 2, 4
MIN_LRU_BATCH = 64            # BITS_PER_LONG
MAX_LRU_BATCH = MIN_LRU_BATCH * 64
PTRS_PER_PTE = 512            # pages under one PMD: the unit of the walk and of the Bloom filter
PTES_PER_LINE = 8             # suitable_to_scan: cache_line_size() / sizeof(pte_t), clamped to [2, 8]
PGHOT_FREQ_TOP = 7            # pghot's 3-bit frequency field
# Two page flags of mglru's own (bits the list policies use, free here): a page's pghot
# record (``record``, see below) is its frequency (0: none) and last report, and
# whether it is a candidate in kpromoted's heap, ``IN_HEAP``.  A record ends when its page
# moves (a new frame) or is taken from the heap: ``RECORD_ENDED`` says so, and the next
# report starts a new one.  In the flags, eviction ends a demoted page's record and takes
# it from the heap without reading its record (a cache miss a page, at random).
RECORD_ENDED = ACTIVE
IN_HEAP = MARKED
PGHOT_HASH_PCT, PGHOT_HEAP_PCT = 50, 25  # include/linux/pghot.h: the heap's size
# kpromoted's heap (``heap``) is an array of entries in the order their pages became
# candidates, each ``page << 3 | frequency`` (the frequency of the page's last report, kept
# there as well as in its record) or ``DEAD``: a candidate's entry dies where it leaves the
# heap (a report under the threshold, kpromoted taking it, its page moving), found by
# ``heap_pos``, so the live entries are exactly the candidates, once each.  Making kpromoted's
# order then reads the entries alone, in sequence (it read each candidate's flags, position
# and record at random), and the dead ones are dropped only when they outnumber the live
# (:func:`_compact`): on the hot-set trace of ``benchmarks/bench_policies.py`` time-scaled,
# 0.08-0.18 -> 0.02-0.06 G cycles for making the orders, x1.03 for the run (CPU time,
# median of thirteen rounds alternated with the code before, range 0.94-1.13, shared VM).
DEAD = -1

PARAMETERS = {
    "watermark_scale_factor": (10.0, "vm.watermark_scale_factor, in 1/10000 of the node"),
    "min_free_kbytes": (None, "vm.min_free_kbytes (default: the kernel's int_sqrt(16 x KB of memory))"),
    "bloom_filter": (1.0, "1: the aging walks only the PTE tables its Bloom filter holds (6.1); "
                          "0: every table at every aging (as force_scan)"),
    "look_around": (1.0, "1: lru_gen_look_around at a young page found by eviction (6.1); 0: without it"),
    "klruscand": (1.0, "1: promote by klruscand's page-table scans of the slow node and pghot "
                       "(RFC, 2025); 0: no promotion (Linux 6.1 as merged)"),
    "klruscand_interval_ms": (500.0, "KLRUSCAND_INTERVAL: the slow node's page tables walked this often"),
    "kpromote_delay_ms": (20.0, "KPROMOTE_DELAY: kpromoted's wake-up interval"),
    "freq_window_ms": (5000.0, "KPROMOTED_FREQ_WINDOW (vm.pghot_promote_freq_window_ms): a report "
                               "older than this restarts a page's frequency"),
    "freq_threshold": (2.0, "KPROMOTED_FREQ_THRESHOLD: reports within the window that make a candidate"),
    "migrate_batch": (1024.0, "KPROMOTED_MIGRATE_BATCH: most pages promoted per kpromoted pass"),
    "walk_pte_ns": (5.0, "cost of one PTE read by the aging's walk or a look-around (estimate, see the module)"),
    "young_pte_ns": (50.0, "cost of one young PTE found and cleared (estimate, see the module)"),
    "scan_pte_ns": (5.0, "klruscand: cost of one PTE read (estimate, see the module)"),
    "scan_young_ns": (50.0, "klruscand: cost of one young PTE found and reported (estimate, see the module)"),
}

#: What :func:`memtier.simulation.policies.time_scaled` divides: the timers and the window; klruscand's
#: walk costs (its walks are periodic; aging and eviction run under memory pressure).
TIME_SCALED = ("klruscand_interval_ms", "kpromote_delay_ms", "freq_window_ms")
COST_SCALED = ("scan_pte_ns", "scan_young_ns")

# pconfig slots
(P_MIN, P_LOW, P_HIGH, P_TARGET, P_BLOOM, P_LOOK, P_KLRU, P_SCAN_NS, P_PROMOTE_NS, P_WINDOW_MS, P_THRESHOLD,
 P_BATCH, P_WALK_NS, P_YOUNG_NS, P_SCAN_PTE_NS, P_SCAN_YOUNG_NS, P_HEAP_LIMIT) = range(17)
P_SIZE = 17
# pstate slots (int64)
(PS_MAX_SEQ, PS_MIN_SEQ, PS_FILTER0, PS_FILTER1, PS_HEAP_N, PS_AGINGS, PS_EVICT_CALLS, PS_TAKEN,
 PS_WALKED, PS_HEAP_LIVE, PS_ORDER_N, PS_CURSOR, PS_DIRTY, PS_WALKS, PS_WINDOW_START) = range(15)
PS_SIZE = 15
# A report happens only at a klruscand walk, so a record's last report is kept as the walk's
# number, and a record is one uint32, ``walk << 3 | frequency`` (one random miss a report, of
# half the bytes of a time; walk numbers to 2**29, a run of 2**29 walks: years of time at the
# default interval, months at notebook 10's scaled one), and the walks' times in a ring (``walk_ms``) as long as the most walks one window can hold
# (walks are at least ``klruscand_interval_ms`` apart) plus a margin.  ``PS_WINDOW_START`` is
# the first walk not older than the window at the last walk: a report is older than the
# window exactly when its walk's number is below it (the walks' times only grow), the same
# test ``now_ms - last_ms > window`` on the same floats.
MAX_WINDOW_WALKS = 1 << 20
MAX_WALKS = 1 << 29  # walk numbers a record can hold (checked at each walk: a clear error, not a wrap)
#: klruscand lists a word's young pages this many at a time, without a branch on each
#: (see :func:`_klruscand`); ``order`` has this many slots of room past the pages.
LIST_GROUP = 4
# pfstate slots (float64): klruscand's next walk, kpromoted's next pass (ns)
PF_NEXT_SCAN_NS, PF_NEXT_PROMOTE_NS = 0, 1
# A page's generation is kept as its sequence number modulo 128 (``SEQ_MASK``), in one byte:
# a page on a list is in one of the at most MAX_NR_GENS generations from min_seq to max_seq,
# which the low bits tell apart, and a byte a page keeps the look-around's 64 generations
# in one cache line (sixteen int32s to a line, four lines before).  NONE: on no fast list.
SEQ_MASK = 127
NONE = 255


def check(params):
    for name in ("bloom_filter", "look_around", "klruscand"):
        if params[name] not in (0.0, 1.0):
            raise ValueError(f"{name} must be 0 or 1, got {params[name]}")
    if not 1 <= params["freq_threshold"] <= PGHOT_FREQ_TOP or params["freq_threshold"] != int(params["freq_threshold"]):
        raise ValueError(f"freq_threshold must be a whole number from 1 to {PGHOT_FREQ_TOP} (pghot's 3-bit "
                         f"frequency), got {params['freq_threshold']}")
    if params["migrate_batch"] < 1 or params["migrate_batch"] != int(params["migrate_batch"]):
        raise ValueError(f"migrate_batch must be a whole number >= 1, got {params['migrate_batch']}")
    for name in ("klruscand_interval_ms", "kpromote_delay_ms"):
        if params[name] <= 0:
            raise ValueError(f"{name} must be positive, got {params[name]}")
    if not params["freq_window_ms"] / params["klruscand_interval_ms"] < MAX_WINDOW_WALKS:
        raise ValueError(f"freq_window_ms / klruscand_interval_ms must be under {MAX_WINDOW_WALKS} (the walks one "
                         f"window holds), got {params['freq_window_ms']} / {params['klruscand_interval_ms']}; "
                         f"shorten the window or lengthen the interval")


def make_pconfig(policy, params, fast_capacity, slow_capacity, n_pages, page_bytes):
    """Validated parameters -> the kernel's float64 ``pconfig``."""
    fast_pages = min(fast_capacity, n_pages)
    slow_pages = min(slow_capacity, n_pages)
    wmin, low, high, promo = watermarks(fast_pages, slow_pages, page_bytes, params["watermark_scale_factor"],
                                        params["min_free_kbytes"])
    p = np.zeros(P_SIZE, dtype=np.float64)
    p[P_MIN], p[P_LOW], p[P_HIGH] = wmin, low, high
    p[P_TARGET] = promo if params["klruscand"] else high
    p[P_BLOOM] = params["bloom_filter"]
    p[P_LOOK] = params["look_around"]
    p[P_KLRU] = params["klruscand"]
    p[P_SCAN_NS] = params["klruscand_interval_ms"] * 1e6
    p[P_PROMOTE_NS] = params["kpromote_delay_ms"] * 1e6
    p[P_WINDOW_MS] = params["freq_window_ms"]
    p[P_THRESHOLD] = int(params["freq_threshold"])
    p[P_BATCH] = int(params["migrate_batch"])
    p[P_WALK_NS] = params["walk_pte_ns"]
    p[P_YOUNG_NS] = params["young_pte_ns"]
    p[P_SCAN_PTE_NS] = params["scan_pte_ns"]
    p[P_SCAN_YOUNG_NS] = params["scan_young_ns"]
    p[P_HEAP_LIMIT] = max(1, slow_pages * PGHOT_HASH_PCT // 100 * PGHOT_HEAP_PCT // 100)  # pghot_init
    return p


def make_state(pconfig, config, n_pages):
    """The policy's own arrays, in ``run_policy``'s argument order after the shared ones."""
    n_tables = (n_pages + PTRS_PER_PTE - 1) // PTRS_PER_PTE
    pstate = np.zeros(PS_SIZE, dtype=np.int64)
    pstate[PS_MAX_SEQ] = MIN_NR_GENS + 1  # lru_gen_init_lruvec: generations 0 to 3, empty; min_seq 0
    length = max(1, min(int(config[K_FAST_CAPACITY]), n_pages))
    return dict(
        seq_of=np.full(n_pages, NONE, dtype=np.uint8),      # the generation counter, modulo 128 (SEQ_MASK)
        ring=np.zeros((MAX_NR_GENS, length), dtype=np.int32),
        ends=np.zeros((MAX_NR_GENS, 2), dtype=np.int64),    # per generation: the tail's position, the size
        gen_size=np.zeros(MAX_NR_GENS, dtype=np.int64),     # pages per generation, by counter (nr_pages)
        filters=np.zeros((2, max(n_tables, 1)), dtype=np.uint8),
        isolated=np.zeros(MIN_LRU_BATCH, dtype=np.int32),
        record=np.zeros(n_pages, dtype=np.uint32),            # pghot: walk << 3 | frequency (0: no record)
        walk_ms=np.zeros(max(0, int(pconfig[P_WINDOW_MS] * 1e6 / pconfig[P_SCAN_NS])) + 4, dtype=np.float64),
        heap=np.zeros(max(n_pages, 1), dtype=np.int64),      # candidates' entries, oldest first, and DEAD ones
        heap_pos=np.zeros(n_pages, dtype=np.int32),          # where a candidate's entry is
        order=np.zeros(max(n_pages, 1) + LIST_GROUP, dtype=np.int32),  # kpromoted's order (entries' positions); scratch
        young_bits=np.zeros((n_pages // 8 + 7) // 8, dtype=np.uint64),  # klruscand's: a bit a page (see there)
        pstate=pstate,
        pfstate=np.array([pconfig[P_SCAN_NS], pconfig[P_PROMOTE_NS]], dtype=np.float64),
    )


# Generation lists.  A generation's list only gains pages at its head (list_add) and loses
# them at its tail (lru_to_folio), except inc_min_seq's list_move_tail: a queue, kept as a
# ring buffer per generation (``ring[gen]``, as long as the fast node; ``ends[gen]`` holds
# the tail's position and the size), read in order as the kernel's list walk is.
@njit_borrow
def _push_head(gen, page, ring, ends):
    length = ring.shape[1]
    position = ends[gen, 0] + ends[gen, 1]
    if position >= length:
        position -= length
    ring[gen, position] = page
    ends[gen, 1] += 1


@njit_borrow
def _push_tail(gen, page, ring, ends):
    tail = ends[gen, 0] - 1
    if tail < 0:
        tail += ring.shape[1]
    ring[gen, tail] = page
    ends[gen, 0] = tail
    ends[gen, 1] += 1


@njit_borrow
def _pop_tail(gen, ring, ends):
    tail = ends[gen, 0]
    page = ring[gen, tail]
    tail += 1
    ends[gen, 0] = 0 if tail == ring.shape[1] else tail
    ends[gen, 1] -= 1
    return page


@njit_borrow
def _join_youngest(page, seq_of, ring, ends, gen_size, pstate):
    """``lru_gen_add_folio`` of an active page: the youngest generation, at its head."""
    seq = pstate[PS_MAX_SEQ]
    gen = seq % MAX_NR_GENS
    seq_of[page] = seq & SEQ_MASK
    gen_size[gen] += 1
    _push_head(gen, page, ring, ends)


@njit_borrow
def _update_gen(page, seq_of, gen_size, pstate):
    """``folio_update_gen``: the counter to ``max_seq`` (the page stays on its list)."""
    old = seq_of[page]
    if old != NONE:
        seq = pstate[PS_MAX_SEQ]
        gen_size[old % MAX_NR_GENS] -= 1  # (128 is a multiple of MAX_NR_GENS)
        gen_size[seq % MAX_NR_GENS] += 1
        seq_of[page] = seq & SEQ_MASK


# The walks read flags eight at a time (one uint64 word, a byte a page): every present page
# has PRESENT (bit 0), so a byte's bit 0 after shifting a flag's bit down says whether that
# page has the flag, for the eight at once.
assert PRESENT == 1
BYTE_ONES = np.uint64(0x0101010101010101)
FAST_SHIFT = np.uint64(FAST.bit_length() - 1)
ACCESSED_SHIFT = np.uint64(ACCESSED.bit_length() - 1)
BYTE_SUM_SHIFT = np.uint64(56)
#: Times a word of eight 0/1 bytes: their bits gathered in its top byte, byte i at bit 56 + i
#: (each byte's bit lands at a bit of its own, and no two sums carry into the top byte).
GATHER_BYTES = np.uint64(0x0102040810204080)


@njit_borrow
def _byte_count(bits):
    """How many bytes of ``bits`` are 1 (each byte 0 or 1): their sum lands in the top byte."""
    return np.int64((bits * BYTE_ONES) >> BYTE_SUM_SHIFT)


#: A generation byte's top bit, shifted to its bit 0: set for ``NONE`` (255), clear for a
#: sequence number modulo 128 (``SEQ_MASK``), a page on a list.
SEQ_TOP_SHIFT = np.uint64(7)
BYTE_FF = np.uint64(0xFF)
assert MAX_NR_GENS == 4  # a generation is two bits of its byte (see _clear_young_fast)


@njit_borrow
def _clear_young_fast(flags, start, end, seq_of, gen_size, pstate):
    """The aging's walk of ``flags[start:end]`` (a PTE table, or a look-around's window):
    every young PTE of a fast page cleared and its page's generation set to ``max_seq``
    (:func:`_update_gen`); returns ``(present, young)``, the PTEs read and the young ones.

    Eight flags a word, tested at once; only a word holding a young fast page is visited.
    Most words hold none: the walks read 512 PTEs a table, the look-around 64, and page by
    page the look-around alone took more than half of eviction's time (zipf trace of
    ``benchmarks/bench_policies.py``).  The generations are a byte a page too, so a word's
    eight are one uint64 as well: the young pages on a list (a generation byte other than
    ``NONE``, whose top bit is set) have theirs set to ``max_seq`` at once, and the pages
    each generation loses are counted from the bits of the old ones (a generation is its
    byte's two low bits, 128 being a multiple of ``MAX_NR_GENS``), summed over the walk and
    taken from ``gen_size`` at its end (the walk reads no generation's size).  Page by
    page, the young pages of a word were visited lowest first, each with a branch on its
    generation and two updates of ``gen_size``: this function's perf samples 913-938 ->
    367-384 in a process of three runs (hot-set trace of ``benchmarks/bench_policies.py``
    time-scaled, alternated with the code before; numba now vectorises the loop).  The same
    pages end in the same generations, with the same sizes."""
    present = 0
    young = 0
    n_words = (end - start) >> 3
    words = flags[start:start + 8 * n_words].view(np.uint64)
    gens = seq_of[start:start + 8 * n_words].view(np.uint64)
    max_seq = pstate[PS_MAX_SEQ]
    new_gens = np.uint64(max_seq & SEQ_MASK) * BYTE_ONES
    moved = 0        # young pages on a list: each leaves its generation for max_seq's
    low_bit = 0      # ... of them, those whose old generation has bit 0 set
    high_bit = 0     # ... bit 1 set
    both_bits = 0    # ... both
    for k in range(n_words):
        w = words[k]
        present += _byte_count(w & BYTE_ONES)
        hit = (w >> FAST_SHIFT) & (w >> ACCESSED_SHIFT) & BYTE_ONES
        if hit != 0:
            words[k] = w & ~(hit << ACCESSED_SHIFT)
            young += _byte_count(hit)
            g = gens[k]
            listed = hit & ~(g >> SEQ_TOP_SHIFT)  # young and on a list (an isolated page is on none)
            low = g & listed
            high = (g >> np.uint64(1)) & listed
            moved += _byte_count(listed)
            low_bit += _byte_count(low)
            high_bit += _byte_count(high)
            both_bits += _byte_count(low & high)
            mask = listed * BYTE_FF
            gens[k] = (g & ~mask) | (new_gens & mask)
    gen_size[0] -= moved - low_bit - high_bit + both_bits
    gen_size[1] -= low_bit - both_bits
    gen_size[2] -= high_bit - both_bits
    gen_size[3] -= both_bits
    gen_size[max_seq % MAX_NR_GENS] += moved
    for page in range(start + 8 * n_words, end):
        f = flags[page]
        if f == 0:
            continue
        present += 1
        if f & FAST and f & ACCESSED:
            flags[page] = f & ~ACCESSED
            young += 1
            _update_gen(page, seq_of, gen_size, pstate)
    return present, young


@njit_borrow
def _forget(page, flags, heap, heap_pos, pstate):
    """A page that moves gets a new frame: pghot's record of the old one ends."""
    f = flags[page]
    if f & IN_HEAP:
        pstate[PS_HEAP_LIVE] -= 1
        heap[heap_pos[page]] = DEAD
    flags[page] = (f & ~IN_HEAP) | RECORD_ENDED


@njit_borrow
def _should_run_aging(gen_size, pstate):
    """``should_run_aging`` (anon only, swappiness irrelevant: demotion makes anon evictable)."""
    max_seq = pstate[PS_MAX_SEQ]
    min_seq = pstate[PS_MIN_SEQ]
    if min_seq + MIN_NR_GENS > max_seq:
        return True
    if min_seq + MIN_NR_GENS < max_seq:
        return False
    total = 0
    for seq in range(min_seq, max_seq + 1):
        total += max(gen_size[seq % MAX_NR_GENS], 0)
    young = gen_size[max_seq % MAX_NR_GENS]
    old = gen_size[min_seq % MAX_NR_GENS]
    return young * MIN_NR_GENS > total or old * (MIN_NR_GENS + 2) < total


@njit_borrow
def _age(pconfig, flags, seq_of, ring, ends, gen_size, filters, pstate, fstate, pending):
    """``try_to_inc_max_seq``: the page-table walk, then ``inc_max_seq``."""
    n_pages = flags.shape[0]
    max_seq = pstate[PS_MAX_SEQ]
    this = max_seq % 2
    following = (max_seq + 1) % 2
    use_filter = pconfig[P_BLOOM] != 0 and pstate[PS_FILTER0 + this] != 0
    filters[following, :] = 0  # reset_bloom_filter(max_seq + 1): allocated and cleared
    pstate[PS_FILTER0 + following] = 1
    walked = 0
    found = 0
    for table in range(filters.shape[1]):
        if use_filter and filters[this, table] == 0:
            continue
        start = table * PTRS_PER_PTE
        end = min(start + PTRS_PER_PTE, n_pages)
        present, young = _clear_young_fast(flags, start, end, seq_of, gen_size, pstate)
        walked += present
        found += young
        if young * PTES_PER_LINE >= end - start:  # suitable_to_scan: carry over to the next generation
            filters[following, table] = 1
    charge_overhead(walked * pconfig[P_WALK_NS] + found * pconfig[P_YOUNG_NS], 0, fstate, pending)
    pstate[PS_WALKED] += walked
    # inc_max_seq: with MAX_NR_GENS generations the oldest is folded into the next (inc_min_seq);
    # should_run_aging never asks for an aging then, so this is the kernel's guard only
    if max_seq - pstate[PS_MIN_SEQ] + 1 >= MAX_NR_GENS:
        old_gen = pstate[PS_MIN_SEQ] % MAX_NR_GENS
        new_seq = pstate[PS_MIN_SEQ] + 1
        while ends[old_gen, 1] > 0:
            page = _pop_tail(old_gen, ring, ends)
            if seq_of[page] == (pstate[PS_MIN_SEQ] & SEQ_MASK):  # folio_inc_gen (a page the aging moved keeps its own)
                gen_size[old_gen] -= 1
                gen_size[new_seq % MAX_NR_GENS] += 1
                seq_of[page] = new_seq & SEQ_MASK
            _push_tail(seq_of[page] % MAX_NR_GENS, page, ring, ends)
        pstate[PS_MIN_SEQ] = new_seq
    pstate[PS_MAX_SEQ] = max_seq + 1
    pstate[PS_AGINGS] += 1


@njit_borrow
def _look_around(page, pconfig, flags, seq_of, gen_size, filters, pstate, fstate, pending):
    """``lru_gen_look_around`` at ``page``, whose PTE is young (see the module)."""
    n_pages = flags.shape[0]
    table = page // PTRS_PER_PTE
    start = table * PTRS_PER_PTE
    end = min(start + PTRS_PER_PTE, n_pages)
    half = MIN_LRU_BATCH // 2
    if end - start > MIN_LRU_BATCH:
        if page - start < half:
            end = start + MIN_LRU_BATCH
        elif end - page < half:
            start = end - MIN_LRU_BATCH
        else:
            start = page - half
            end = page + half
    # _update_gen is a no-op for isolated pages (PG_referenced only)
    present, young = _clear_young_fast(flags, start, end, seq_of, gen_size, pstate)
    charge_overhead(present * pconfig[P_WALK_NS] + young * pconfig[P_YOUNG_NS], 0, fstate, pending)
    max_seq = pstate[PS_MAX_SEQ]
    if young * PTES_PER_LINE >= end - start and pstate[PS_FILTER0 + max_seq % 2] != 0:
        filters[max_seq % 2, table] = 1  # update_bloom_filter(max_seq); a filter not allocated is left alone


@njit_borrow
def _prefetch_check(page, flags, marks):
    """Start loading what checking and demoting an isolated page reads (its flags and marks,
    at random over the pages), so that a batch's misses overlap.  The marks word itself, the
    first load of a demotion (:func:`memtier.simulation.policies._driver.move_page`): a 12-byte row
    starts in the line before it one time in eight."""
    page = np.uint64(page)
    prefetch(flags, page)
    prefetch(marks, page)


#: Isolated pages ahead of the one being checked whose look-around window is prefetched.
LOOK_AHEAD = 2


@njit_borrow
def _prefetch_window(page, flags, seq_of):
    """If ``page`` is young (its flags are in cache: :func:`_prefetch_check` asked for them
    when it was isolated), start loading the flags and generations its look-around will
    read: 64 flags and 64 generations around it, at random over the pages (the look-arounds
    took 60-75 % of the batches' checks, timed on the traces of ``benchmarks/bench_policies.py``)."""
    if not flags[page] & ACCESSED:
        return
    last = flags.shape[0] - 1
    low = max(page - MIN_LRU_BATCH // 2, 0)
    high = min(page + MIN_LRU_BATCH // 2, last)
    prefetch(flags, np.uint64(low))
    prefetch(flags, np.uint64(high))
    prefetch(seq_of, np.uint64(low))  # a byte a page: the window's generations are one or two lines
    prefetch(seq_of, np.uint64(high))


@njit_borrow
def _evict(pconfig, config, fconfig, migrate_cost, flags, seq_of, ring, ends, gen_size, filters,
           isolated, heap, heap_pos, state, fstate, pstate, pagestat, nxt, pending):
    """``evict_folios``: isolate a batch from the oldest generation, then check and demote it.
    Returns the pages taken off the oldest generation's list (0: none to take)."""
    pstate[PS_EVICT_CALLS] += 1
    min_seq = pstate[PS_MIN_SEQ]
    if pstate[PS_MAX_SEQ] - min_seq + 1 <= MIN_NR_GENS:
        return 0
    gen = min_seq % MAX_NR_GENS
    remaining = MAX_LRU_BATCH
    scanned = 0
    n_isolated = 0
    marks = pagestat[:, P_MARKS]
    length = ring.shape[1]
    while ends[gen, 1] > 0:
        ahead = ends[gen, 0] + AHEAD  # the list is read in order, its pages' records at random
        # (min: a ring shorter than AHEAD, a few pages, prefetches its last slot)
        prefetch(seq_of, np.uint64(ring[gen, min(ahead - length if ahead >= length else ahead, length - 1)]))
        page = _pop_tail(gen, ring, ends)
        scanned += 1
        if seq_of[page] != (min_seq & SEQ_MASK):  # sort_folio: promoted by the aging
            _push_head(seq_of[page] % MAX_NR_GENS, page, ring, ends)
        else:  # isolate_folio
            gen_size[gen] -= 1
            seq_of[page] = NONE
            isolated[n_isolated] = page
            n_isolated += 1
            _prefetch_check(page, flags, marks)
        remaining -= 1
        if remaining == 0 or n_isolated >= MIN_LRU_BATCH:
            break
    pstate[PS_TAKEN] += scanned
    # try_to_inc_min_seq
    while pstate[PS_MIN_SEQ] + MIN_NR_GENS <= pstate[PS_MAX_SEQ] and ends[pstate[PS_MIN_SEQ] % MAX_NR_GENS, 1] == 0:
        pstate[PS_MIN_SEQ] += 1
    # shrink_folio_list
    charge_overhead(n_isolated * fconfig[F_RMAP_NS], n_isolated, fstate, pending)
    demoted = 0
    look = pconfig[P_LOOK] != 0
    for j in range(n_isolated):
        if look and j + LOOK_AHEAD < n_isolated:
            _prefetch_window(isolated[j + LOOK_AHEAD], flags, seq_of)
        page = isolated[j]
        if flags[page] & ACCESSED:  # young PTE: look around, referenced, activated
            if look:
                _look_around(page, pconfig, flags, seq_of, gen_size, filters, pstate, fstate, pending)
            flags[page] &= ~ACCESSED
            isolated[j] = -1 - page  # activated
        elif state[S_SLOW_USED] < config[K_SLOW_CAPACITY]:
            move_page(page, False, flags, state, pagestat, nxt, config, fconfig, pending)
            _forget(page, flags, heap, heap_pos, pstate)
            demoted += 1
        else:
            isolated[j] = -1 - page  # no room below and no swap: activate_locked
    if demoted > 0:
        charge_migration(calls_cost_us(demoted, config[K_BATCH_PAGES], migrate_cost), fstate, pending)
    for j in range(n_isolated):  # move_folios_to_lru, in isolation order
        if isolated[j] < 0:
            _join_youngest(-1 - isolated[j], seq_of, ring, ends, gen_size, pstate)
    return scanned


@njit_borrow
def _kswapd(pconfig, config, fconfig, migrate_cost, flags, seq_of, ring, ends, gen_size, filters,
            isolated, heap, heap_pos, state, fstate, pstate, pagestat, nxt, pending):
    """kswapd: age and evict until the fast node's free pages exceed ``P_TARGET``."""
    capacity = config[K_FAST_CAPACITY]
    target = pconfig[P_TARGET]
    limit = 2 * state[S_FAST_USED] + MIN_LRU_BATCH  # pages taken off lists, at most
    scanned = 0
    idle = 0
    while capacity - state[S_FAST_USED] <= target and scanned < limit and idle <= MAX_NR_GENS:
        if _should_run_aging(gen_size, pstate):
            _age(pconfig, flags, seq_of, ring, ends, gen_size, filters, pstate, fstate, pending)
        n = _evict(pconfig, config, fconfig, migrate_cost, flags, seq_of, ring, ends, gen_size, filters,
                   isolated, heap, heap_pos, state, fstate, pstate, pagestat, nxt, pending)
        scanned += n
        idle = idle + 1 if n == 0 else 0


@njit_inline
def _record(page, walk, pconfig, flags, record, heap, heap_pos, pstate):
    """``pghot_record_access`` and ``phi_heap_add_or_adjust``, at klruscand's walk ``walk``."""
    fl = flags[page]
    r = np.int64(record[page])
    f = 0 if fl & RECORD_ENDED else r & PGHOT_FREQ_TOP
    if f == 0:  # a new record: frequency 1, not a candidate yet (a candidate has one)
        record[page] = walk << 3 | 1
        flags[page] = fl & ~RECORD_ENDED
        return
    if r >> 3 < pstate[PS_WINDOW_START]:  # older than the window
        f = 1
    elif f < PGHOT_FREQ_TOP:
        f += 1
    record[page] = walk << 3 | f
    if fl & IN_HEAP:
        if f < pconfig[P_THRESHOLD]:
            flags[page] = fl & ~IN_HEAP
            pstate[PS_HEAP_LIVE] -= 1
            heap[heap_pos[page]] = DEAD
        else:
            heap[heap_pos[page]] = np.int64(page) << 3 | f
    elif f >= pconfig[P_THRESHOLD] and pstate[PS_HEAP_LIVE] < pconfig[P_HEAP_LIMIT]:
        if pstate[PS_HEAP_N] == heap.shape[0]:
            _compact(heap, heap_pos, pstate)
        heap[pstate[PS_HEAP_N]] = np.int64(page) << 3 | f
        heap_pos[page] = pstate[PS_HEAP_N]
        pstate[PS_HEAP_N] += 1
        flags[page] = fl | IN_HEAP
        pstate[PS_HEAP_LIVE] += 1


@njit_borrow
def _compact(heap, heap_pos, pstate):
    """Drop the heap array's dead entries, the live ones kept in order (their positions
    written where they move)."""
    n = 0
    for j in range(pstate[PS_HEAP_N]):
        e = heap[j]
        if e != DEAD:
            if n != j:
                heap[n] = e
                heap_pos[e >> 3] = n
            n += 1
    pstate[PS_HEAP_N] = n


@njit_borrow
def _klruscand(pconfig, flags, record, walk_ms, heap, heap_pos, order, young_bits, state, fstate, pstate, pending):
    """klruscand's walk of the slow node's pages: clear and report every young one.

    Two passes: the walk lists the young slow pages (in ``order``, kpromoted's scratch: a
    walk that lists any sets ``PS_DIRTY``, so kpromoted makes its order again before it
    reads it), then reports them in the same order with their records prefetched
    ``AHEAD``.  Reported at once, page by page as the walk found them, each report waited
    for its page's record (a miss).  The walk's number and its time in the ring come
    first, and the window's start moves up to the first walk not older than the window.

    The listing is itself two loops: one without a branch over the flags, eight to a word,
    that clears the young bits and gathers them into a bit a page (``young_bits``, a byte a
    word, so a word of bits is 64 pages on a little-endian machine: numba's x86-64, AArch64, ppc64le;
    :data:`GATHER_BYTES`; numba vectorises it), then one over those bits, lowest first,
    :data:`LIST_GROUP` at a time without a branch on each (with a branch on each bit, the
    loop's end was a misprediction a word: perf samples of the walks 1030-1061 -> 911-942 a
    three-run process, hot set time-scaled, alternated with the code before).
    With a branch per word of flags (a quarter of the words hold a young page on the
    hot-set trace, a twelfth on zipf, at random) it took 3-5 cycles a word, and the
    time-scaled runs walk the million pages 130 (hot set) to 270 (zipf) times: on the
    final flags of ``benchmarks/bench_policies.py``'s time-scaled runs, with the pages of 50,000
    accesses young, 390 -> 145 us a walk (hot set, 37,000 young) and 166 -> 105 (zipf,
    11,000 young); the same pages in the same order."""
    now_ms = fstate[FS_NOW_NS] * 1e-6  # continuous, not whole jiffies (see the module)
    walk = pstate[PS_WALKS]
    if walk >= MAX_WALKS:  # a record holds the walk's number in 29 bits (see record's layout above)
        raise OverflowError("mglru: more than 2**29 klruscand walks in one run; lengthen "
                            "klruscand_interval_ms or simulate the trace in parts")
    pstate[PS_WALKS] = walk + 1
    ring = walk_ms.shape[0]
    walk_ms[walk % ring] = now_ms
    start = pstate[PS_WINDOW_START]
    while start < walk and now_ms - walk_ms[start % ring] > pconfig[P_WINDOW_MS]:
        start += 1
    pstate[PS_WINDOW_START] = start
    young = 0
    n_pages = flags.shape[0]
    n_words = n_pages >> 3
    words = flags[:8 * n_words].view(np.uint64)
    masks = young_bits.view(np.uint8)
    for k in range(n_words):  # eight at a time, no branch: a byte of young_bits a word
        w = words[k]
        hit = w & ~(w >> FAST_SHIFT) & (w >> ACCESSED_SHIFT) & BYTE_ONES  # present, slow, young
        words[k] = w & ~(hit << ACCESSED_SHIFT)
        masks[k] = np.uint8((hit * GATHER_BYTES) >> BYTE_SUM_SHIFT)
    one = np.uint64(1)
    for g in range(young_bits.shape[0]):  # the young pages, 64 a word, lowest first
        bits = young_bits[g]
        base = 64 * g
        while bits != 0:  # LIST_GROUP at a time: a slot past the word's last is overwritten next
            for _ in range(LIST_GROUP):
                order[young] = base + np.int64(trailing_zeros(bits))
                young += np.int64(bits != 0)
                bits &= bits - one
    for page in range(8 * n_words, n_pages):
        f = flags[page]
        if f != 0 and not f & FAST and f & ACCESSED:
            flags[page] = f & ~ACCESSED
            order[young] = page
            young += 1
    last = young - 1
    for j in range(young):
        ahead = np.uint64(order[min(j + AHEAD, last)])
        prefetch(record, ahead)
        _record(order[j], walk, pconfig, flags, record, heap, heap_pos, pstate)
    charge_overhead(state[S_DISTINCT] * pconfig[P_SCAN_PTE_NS] + young * pconfig[P_SCAN_YOUNG_NS], young,
                     fstate, pending)
    if young > 0:
        pstate[PS_DIRTY] = 1  # kpromoted's order must be made again


@njit
def _kpromoted(pconfig, config, fconfig, migrate_cost, flags, seq_of, ring, ends, gen_size, filters,
               isolated, record, heap, heap_pos, order, state, fstate, pstate, pagestat, nxt, pending):
    """``kpromoted_migrate``: up to ``migrate_batch`` candidates, most frequent first, oldest
    candidates first among equals.  The order (a stable counting sort of the heap array) is
    made again only after a klruscand walk, the one thing that adds candidates or changes
    their frequencies; between walks candidates only leave, and are skipped."""
    if pstate[PS_DIRTY]:
        pstate[PS_DIRTY] = 0
        if pstate[PS_HEAP_N] > 2 * pstate[PS_HEAP_LIVE]:  # more dead entries than live
            _compact(heap, heap_pos, pstate)
        n = pstate[PS_HEAP_N]
        starts = np.zeros(PGHOT_FREQ_TOP + 3, dtype=np.int64)  # by frequency, highest first; dead last
        for j in range(n):
            e = heap[j]
            starts[(PGHOT_FREQ_TOP - (e & PGHOT_FREQ_TOP) + 1) if e != DEAD else PGHOT_FREQ_TOP + 2] += 1
        for k in range(1, PGHOT_FREQ_TOP + 3):
            starts[k] += starts[k - 1]
        live = starts[PGHOT_FREQ_TOP + 1]
        for j in range(n):
            e = heap[j]
            if e != DEAD:
                k = PGHOT_FREQ_TOP - (e & PGHOT_FREQ_TOP)
                order[starts[k]] = j
                starts[k] += 1
        pstate[PS_ORDER_N] = live
        pstate[PS_CURSOR] = 0
    capacity = config[K_FAST_CAPACITY]
    batch = np.int64(pconfig[P_BATCH])
    marks = pagestat[:, P_MARKS]
    promoted = 0
    taken = 0
    woken = False
    last = pstate[PS_ORDER_N] - 1
    while taken < batch and pstate[PS_CURSOR] < pstate[PS_ORDER_N]:
        ahead = np.uint64(max(heap[order[min(pstate[PS_CURSOR] + AHEAD, last)]], 0) >> 3)  # at random
        prefetch(flags, ahead)
        # what a promotion reads first (move_page); without it, half of kpromoted's time waited on
        # that load (perf, hot-set trace time-scaled).  Once kswapd has run and left the node at or
        # under its high watermark, the pass promotes nothing more (only promotions change the
        # free pages here): its candidates are dropped, their flags all that is read (kpromoted's
        # perf samples 308-318 against 339-359 prefetching both for every candidate, three
        # processes alternated, hot-set trace time-scaled).
        if not woken or capacity - state[S_FAST_USED] > pconfig[P_HIGH] + 1:
            prefetch(marks, ahead)
            prefetch(seq_of, ahead)
        at = order[pstate[PS_CURSOR]]
        pstate[PS_CURSOR] += 1
        e = heap[at]
        if e == DEAD:  # left the heap since the order was made
            continue
        page = e >> 3
        fl = flags[page]
        taken += 1
        pstate[PS_HEAP_LIVE] -= 1
        heap[at] = DEAD
        flags[page] = (fl & ~IN_HEAP) | RECORD_ENDED  # phi_free: the record ends with its extraction
        if fl & FAST:
            continue
        if capacity - state[S_FAST_USED] > pconfig[P_HIGH] + 1:  # migrate_balanced_pgdat
            move_page(page, True, flags, state, pagestat, nxt, config, fconfig, pending)
            _join_youngest(page, seq_of, ring, ends, gen_size, pstate)
            promoted += 1
        elif not woken:  # wakeup_kswapd, once a pass; the candidate is dropped
            woken = True
            _kswapd(pconfig, config, fconfig, migrate_cost, flags, seq_of, ring, ends, gen_size, filters,
                    isolated, heap, heap_pos, state, fstate, pstate, pagestat, nxt, pending)
    if promoted > 0:
        charge_migration(calls_cost_us(promoted, config[K_BATCH_PAGES], migrate_cost), fstate, pending)


@njit
def run_policy(trace, writes, final, config, fconfig, pconfig, migrate_cost, flags, counts, touched, histogram, top,
         state, fstate, moved, pagestat, judged, nxt, pending, out, seq_of, ring, ends, gen_size, filters,
         isolated, record, walk_ms, heap, heap_pos, order, young_bits, pstate, pfstate):
    """Run one chunk of the trace; the number of periods closed (rows of ``out``).  Each
    access: a first touch allocates (waking kswapd below the low watermark), the access is
    served, then klruscand and kpromoted run if their time has come and the period closes
    if it is over."""
    capacity = config[K_FAST_CAPACITY]
    wake = pconfig[P_LOW]
    wmark_min = pconfig[P_MIN]
    promote = pconfig[P_KLRU] != 0
    latency = np.array([fconfig[F_SLOW_NS], fconfig[F_FAST_NS]])
    unit = np.array([fconfig[F_UNIT_SLOW], fconfig[F_UNIT_FAST]])
    n = trace.shape[0]
    row = 0
    now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    next_event = min(pfstate[PF_NEXT_SCAN_NS], pfstate[PF_NEXT_PROMOTE_NS]) if promote else np.inf
    accesses = 0
    hits = 0
    j = 0
    while j < n:
        j, needs_policy, n_touched, accesses, hits, now, remaining = serve_until(
            trace, j, n, PRESENT, flags, counts, touched, latency, unit, next_event, n_touched, accesses, hits,
            now, remaining, SERVE_AHEAD)
        if needs_policy:  # a first touch; then served as any access
            page = trace[j]
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            if capacity - state[S_FAST_USED] <= wake:  # below the low watermark
                _kswapd(pconfig, config, fconfig, migrate_cost, flags, seq_of, ring, ends, gen_size,
                        filters, isolated, heap, heap_pos, state, fstate, pstate, pagestat, nxt, pending)
            fast = capacity - state[S_FAST_USED] > wmark_min or state[S_SLOW_USED] >= config[K_SLOW_CAPACITY]
            allocate_first_touch(page, fast, flags, state, config)
            if fast:
                _join_youngest(page, seq_of, ring, ends, gen_size, pstate)  # faulted in: active
            now = fstate[FS_NOW_NS]
            continue
        last = final and j == n
        if now >= next_event or remaining <= 0 or last:
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            if promote and fstate[FS_NOW_NS] >= pfstate[PF_NEXT_SCAN_NS]:
                _klruscand(pconfig, flags, record, walk_ms, heap, heap_pos, order, young_bits, state, fstate,
                           pstate, pending)
                pfstate[PF_NEXT_SCAN_NS] = fstate[FS_NOW_NS] + pconfig[P_SCAN_NS]
            if promote and fstate[FS_NOW_NS] >= pfstate[PF_NEXT_PROMOTE_NS]:
                _kpromoted(pconfig, config, fconfig, migrate_cost, flags, seq_of, ring, ends, gen_size,
                           filters, isolated, record, heap, heap_pos, order, state, fstate, pstate,
                           pagestat, nxt, pending)
                pfstate[PF_NEXT_PROMOTE_NS] = fstate[FS_NOW_NS] + pconfig[P_PROMOTE_NS]
            if promote:
                next_event = min(pfstate[PF_NEXT_SCAN_NS], pfstate[PF_NEXT_PROMOTE_NS])
            if fstate[FS_REMAINING] <= 0 or last:
                end_period(row, config, fconfig, flags, counts, touched, histogram, top, state, moved, pagestat, judged,
                       nxt, fstate, pending, out)
                row += 1
            now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
    return row
