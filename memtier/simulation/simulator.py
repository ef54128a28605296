"""Simulate one memcg on a fast and a slow node: which pages are fast, and what it costs.

The second half of the RFC (patches 18-25) on a page-access trace.  The model:

- **Nodes and limits.**  One memcg; the fast node holds at most ``fast_capacity`` of its
  pages, the slow node ``slow_capacity``.  A page is allocated at its first access, on the
  fast node while under its limit, else on the slow node (``MPOL_PREFERRED`` with
  ``MPOL_F_MEMCG``, patches 18-19).
- **Lists** (list policies), per node, with the kernel's rules for anonymous pages
  (``docs/linux-lru.md``): new pages join the active list; every access sets the
  page's accessed bit; a scan of the inactive list activates a page whose bit is set
  (clearing it) and leaves an unreferenced page inactive; a scan of the active list moves
  every page to the inactive list, clearing its bit.
- **Policies.**

  - ``static``: first-touch placement, never scanned, never moved.
  - ``reclaim-no-demotion``: the 2019 default kernel.  At its fast-node limit an allocation
    falls back to the slow node (patch 19); reclaim would swap, and without swap it does not
    age anonymous pages at all (``get_scan_count`` scans file pages only), so nothing is
    scanned or moved: the same placement as ``static``, listed so that comparisons say so.
  - ``reclaim-demotion``: Linux 5.15 and later (demotion on reclaim): an allocation that
    finds the fast node at its limit reclaims, demoting up to 32 cold pages
    (``SWAP_CLUSTER_MAX``) to the slow node; nothing is ever promoted.  (``reclaim`` is
    accepted as its former name.)
  - ``active-shrink``: the RFC.  At the end of every period ``mm_manage`` shrinks half of
    each list, slow node then fast node (patch 22), then isolates hot slow pages and cold
    fast pages, demotes (or exchanges THPs), trims the promotions to the room made and
    promotes (patches 23-25); every rule, with the patch and function it follows, is in
    :func:`memtier.simulation.policies.active_shrink._shrink_lists_node` and :func:`memtier.simulation.policies.active_shrink._mm_manage`.
    ``variants=`` switches on today's alternatives (:data:`VARIANTS`).
  - ``lru``: the fast node is an exact LRU cache of the slow one (every miss promotes).
  - ``oracle``: clairvoyant; in each period, the ``fast_capacity`` pages that period touches
    most are fast, moves free.  It bounds the *fast hits* of a placement that changes once a
    period, not of every policy: ``lru`` moves pages at every miss and can beat it.
  - ``reactive-oracle``: the top pages of period ``t`` are fast during ``t + 1``, moves
    charged: what a once-a-period policy that knew the last period exactly would do.

- **Time.**  A simulated clock: an access costs ``fast_access_ns`` or ``slow_access_ns``
  (defaults 82 ns and 1000 ns, the figures of HeMem's simulator, SOSP'21); moving pages
  costs what the cost model (:func:`memtier.model.cost.call_time_us`, scope ``migrate``) gives,
  call by call; every page a list scan looks at costs an rmap walk (``rmap_ns``, see
  :data:`RMAP_WALK_NS`).  The run's time is the sum of all three (the application is charged
  as if it waited: pages being moved are unmapped and the copy competes for memory
  bandwidth, so speedups are conservative).
- **Periods.**  ``mm_manage`` runs at the end of each period (the RFC's launcher calls it
  from a timer every 1-5 s).  ``period_s`` gives the period in seconds of the accesses'
  simulated time (the launcher sleeps that long between calls, so the time spent inside
  ``mm_manage`` and in synchronous reclaim does not shorten a period); ``period`` in
  accesses.  The last period may be shorter.
- **Budget.**  The RFC has none (``mm_manage`` moves what it isolated); ``migration_share``
  caps the pages a period may promote to what, each with a demotion, fits in that share of
  the period's access time (a user-space launcher choosing ``nr_pages``).
  ``max_migrate_pages`` is ``mm_manage``'s ``nr_pages``.

Where the simulation simplifies the kernel: one memcg and anonymous pages only (no file
pages, so no ``PG_referenced`` second chance); one mapping per page; pages are base pages or
THPs (any page size above 4 KiB is treated as a THP) throughout, never split; accessed bits
are set by every access in the trace (the trace is what reaches memory); migration never
fails; reclaim runs synchronously at allocation (no kswapd watermarks).

The per-period results and their metrics are documented in
:class:`memtier.simulation.result.SimulationResult`.
"""
from __future__ import annotations

import difflib
import math

import numpy as np

from .policies import baselines
from .policies import active_shrink as lists
from . import pagespace
from . import policies
from .mechanisms import Mechanism, as_mechanism
from .result import SimulationResult
from ..outputs import progress_bar
from ..traces.workloads import positive_int, check_trace

POLICIES = {
    "static": lists.STATIC,
    "reclaim-no-demotion": lists.RECLAIM_NO_DEMOTION,
    "reclaim-demotion": lists.RECLAIM_DEMOTION,
    "active-shrink": lists.ACTIVE_SHRINK,
    "lru": lists.LRU,
    "oracle": lists.ORACLE,
    "reactive-oracle": lists.REACTIVE_ORACLE,
}
#: Every policy :func:`simulate` accepts: the above, and the classifiers of
#: :mod:`memtier.simulation.policies` (each with its own parameters).
ALL_POLICIES = {**POLICIES, **policies.CODES}
#: Former names still accepted.
POLICY_ALIASES = {"reclaim": "reclaim-demotion"}

#: Named variants of ``active-shrink``: what the simulator did before it followed the
#: posted patches, and what a kernel developer would try next.  Each replaces one rule.
VARIANTS = {
    "inactive-ratio-gate": "shrink the active list only while inactive_list_is_low() (as shrink_list() "
                           "would; patch 22 calls shrink_active_list() directly)",
    "halves-first": "read both halves (inactive, active) before either scan (patch 22 reads the active "
                    "list's size after the inactive scan)",
    "referenced-cold": "demote only pages this period's inactive scan found unreferenced (patch 23 "
                       "isolates the inactive tail with no reference check)",
    "mt-base-pages": "copy 4 KiB pages with the mechanism's threads (patch 23 clears MIGRATE_MT for "
                     "base pages)",
    "batch-every-mechanism": "split every mechanism's moves into migration_batch_size calls (patch 24 "
                             "splits only concurrent migration)",
    "exchange-base-pages": "exchange 4 KiB pages too, as a kernel without THP migration would (patch 25 "
                           "exchanges only THPs where THP migration is supported, as on x86-64)",
}

#: Default cost of one rmap walk (``page_referenced()`` on an anonymous page mapped once),
#: in ns.  An estimate, not a measurement: the walk follows about five dependent pointers
#: that usually miss the caches on a large memcg (struct page -> anon_vma -> the VMA's
#: interval tree -> PMD -> PTE), at ~100 ns each on a 2019 two-socket server, and clears the
#: accessed bit without a TLB flush (x86's ``ptep_clear_flush_young``).  The multi-gen LRU
#: series (Yu Zhao, "mm: multi-gen LRU: exploit locality in rmap", 2022) measured rmap walks
#: (``page_vma_mapped_walk``) at 18 % of kswapd's profile, the largest overhead.  Pass
#: ``rmap_ns=`` to use a measured value.
RMAP_WALK_NS = 500.0

#: Accesses handed to a kernel at once; bounds the memory a memory-mapped trace occupies
#: while it is read (a period may span chunks).
CHUNK_ACCESSES = 1 << 22

_MAX_PAGES = np.iinfo(np.int32).max

#: Bins of the per-period access-count histogram that finds the top pages (counts beyond
#: it are sorted exactly; they are rare, a period holds few pages that hot).
HISTOGRAM_BINS = 1 << 16

#: The list policies score a period in page order, over the whole per-page arrays, when it
#: touched at least this share of the pages, and in first-touch order otherwise: the same
#: results, whichever is faster (memtier.simulation.policies.active_shrink._score_lists).  The
#: page-order passes cost about 1.5-2 ns a page for a policy that decides nothing, plus the
#: pages it moved for one that decides; the first-touch ones 7-10 and 15-30 ns a touched page.
#: Measured on 1 s periods of benchmarks/bench_simulator.py's traces (1 M pages, CPU time,
#: shared 2-core VM), first-touch -> page order: static at 19-20 % touched 2.1 -> 2.0 (hot
#: set) and 1.5 -> 2.1 ms (zipf 1.2); active-shrink at 8 % 3.7 -> 3.5 ms (zipf 1.2),
#: reclaim-demotion at 12 % 5.2 -> 3.8 ms (zipf 1.2).
DENSE_METRICS_SHARE = 0.25
#: The same for the policies that decide (reclaim-demotion, active-shrink).
DENSE_METRICS_SHARE_DECIDING = 0.05
#: The classifier policies score a period in page order (memtier.simulation.policies._driver.
#: score_in_page_order) when the pages it touched and the moves whose marks turn over at its end
#: (the last period's and its own) add up to this share of the pages.  First-touch order costs
#: about 25 ns a touched page and a move when the per-page arrays miss the caches, and little
#: when the pages touched are few enough for their rows to stay cached (a policy that moves
#: nothing, on a small hot set); page order costs 2-3 ms a period over a million pages.  Measured
#: with each order forced, alternating in one process (CPU time, shared 2-core VM): ``mglru``
#: time-scaled on the hot-set trace of benchmarks/bench_policies.py (10 M accesses) at 0.1 s
#: periods (11 % of the pages touched) 351 ms in first-touch order, 344 in page order, at 0.05 s
#: (8 %) 327 against 386; ``hemem`` (no moves) at 0.3 s (12 %) 131 against 142, at 1 s (19-38 %)
#: 113 against 108.
DENSE_METRICS_SHARE_CLASSIFIERS = 0.2


def _whole(value, name: str, minimum: int, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    return positive_int(value, name, minimum)


def _positive_float(value, name: str, *, allow_zero: bool = False, allow_inf: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(value) or (math.isinf(value) and not allow_inf) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value}")
    return value


def _policy_name(policy) -> str:
    if policy in POLICY_ALIASES:
        return POLICY_ALIASES[policy]
    if policy not in ALL_POLICIES:
        close = difflib.get_close_matches(str(policy).replace("_", "-"), list(ALL_POLICIES) + list(POLICY_ALIASES),
                                          n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown policy {policy!r}{hint}; choose one of {', '.join(ALL_POLICIES)}")
    return policy


def _variants(variants) -> tuple[str, ...]:
    if variants is None:
        return ()
    if isinstance(variants, str):
        variants = [v for v in variants.split(",") if v.strip()]
    chosen = []
    for variant in variants:
        variant = str(variant).strip()
        if variant not in VARIANTS:
            close = difflib.get_close_matches(variant, VARIANTS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown variant {variant!r}{hint}; choose from {', '.join(VARIANTS)}")
        chosen.append(variant)
    return tuple(dict.fromkeys(chosen))


def _plan(n_accesses: int, chunk: int, snapshots) -> list[tuple[int, int, bool]]:
    """The pieces a driver feeds its kernel: ``(start, stop, snapshot)``, chunks of at most
    ``chunk`` accesses, also cut so that each snapshot's count of accesses ends a piece one
    access long (``snapshot`` True there).  The driver runs that one access twice: on a copy
    of the state as the last access of the trace (``final``: the open period closed, as a run
    of the trace cut there closes it), which is the snapshot, and on the state itself as any
    other.  The kernels carry their whole state from piece to piece, so any cut gives the same
    run (``test_chunks_do_not_change_results``)."""
    cuts = set(range(0, n_accesses, chunk)) | {n_accesses}
    for count in snapshots:
        cuts.update((count - 1, count))
    cuts = sorted(cuts)
    wanted = set(snapshots)
    return [(a, b, b in wanted) for a, b in zip(cuts[:-1], cuts[1:])]


def _snapshot_counts(snapshots, n_accesses: int, code: int) -> tuple[int, ...]:
    """``snapshots`` checked: increasing whole counts of accesses, 1 to the trace's length."""
    if snapshots is None:
        return ()
    counts = np.asarray(snapshots)
    if counts.ndim != 1 or not (np.issubdtype(counts.dtype, np.integer) or counts.size == 0):
        raise ValueError(f"snapshots must be a list of whole access counts, got {snapshots!r}")
    if counts.size and (counts[0] < 1 or counts[-1] > n_accesses or np.any(np.diff(counts) <= 0)):
        raise ValueError(f"snapshots must be increasing access counts from 1 to the trace's {n_accesses:,} "
                         f"accesses, got {counts.tolist()[:8]}{' ...' if counts.size > 8 else ''}")
    if counts.size and code == lists.ORACLE:
        raise ValueError("the clairvoyant oracle has no snapshots: its placement after an access depends on the "
                         "accesses that follow it, so a run cut there is not the same run; use "
                         "policy='reactive-oracle'")
    return tuple(int(c) for c in counts)


def _page_range(trace, chunk) -> tuple[int, int]:
    """Smallest and largest page number, read chunk by chunk (memory-mapped traces too)."""
    return pagespace.page_range(trace, chunk)


def _cost_params(fit):
    if fit is None:
        from ..model.fitting import default_fit

        return default_fit().params
    from ..model.cost import ModelParams

    params = getattr(fit, "params", fit)
    if not isinstance(params, ModelParams):
        raise ValueError("fit must be a memtier Fit (memtier.model.fitting.fit / load_fit) or ModelParams, "
                         f"got {type(fit).__name__}")
    return params


def _cost_arrays(mechanism: Mechanism, params, largest_call: int, single_thread_base: bool):
    """Microseconds of one call moving ``k`` pages (or exchanging ``k`` pairs), ``k = 0 ..
    largest_call``.  With ``single_thread_base``, 4 KiB pages are copied by one thread
    (patch 23: ``mode & ~MIGRATE_MT`` for base pages; DMA is kept).  Cached: a sweep asks
    for the same arrays run after run (copies are returned)."""
    key = (mechanism, tuple(params.to_array().tolist()), largest_call, single_thread_base)
    if key not in _COSTS:
        if len(_COSTS) > 64:
            _COSTS.clear()
        _COSTS[key] = _compute_cost_arrays(mechanism, params, largest_call, single_thread_base)
    migrate, exchange = _COSTS[key]
    return migrate.copy(), exchange.copy()


_COSTS: dict = {}


def _compute_cost_arrays(mechanism: Mechanism, params, largest_call: int, single_thread_base: bool):
    from ..model.cost import call_time_us

    workers = mechanism.workers
    if single_thread_base and mechanism.page_bytes == 4096 and not mechanism.dma:
        workers = 1
    sizes = np.arange(1, largest_call + 1)
    common = dict(dma=mechanism.dma, workers=workers, batched=mechanism.batched, scope="migrate")
    migrate = np.zeros(largest_call + 1)
    migrate[1:] = call_time_us(params, mechanism.page_bytes, sizes, exchange=False, **common)
    exchange = np.zeros(largest_call + 1)
    if mechanism.exchange:
        exchange[1:] = call_time_us(params, mechanism.page_bytes, 2 * sizes, exchange=True, **common)
    return migrate, exchange


def simulate(
    trace,
    policy: str,
    fast_capacity: int,
    *,
    slow_capacity: int | None = None,
    n_pages: int | None = None,
    period: int | None = None,
    period_s: float | None = None,
    mechanism: str | Mechanism = "linux",
    fit=None,
    variants=None,
    migration_share: float | None = None,
    max_migrate_pages: int | None = None,
    fast_access_ns: float = 82.0,
    slow_access_ns: float = 1000.0,
    rmap_ns: float = RMAP_WALK_NS,
    pingpong_periods: int = 2,
    writes=None,
    progress: bool = False,
    chunk_accesses: int = CHUNK_ACCESSES,
    snapshots=None,
    **policy_params,
) -> SimulationResult:
    """Simulate a tiering policy on a page-access trace.

    Parameters
    ----------
    trace : numpy.ndarray of int, shape (n_accesses,)
        Page numbers, one per access (a memory-mapped array from
        :func:`memtier.workloads.load_trace` is read chunk by chunk).
    policy : {"static", "reclaim-no-demotion", "reclaim-demotion", "active-shrink", "lru", \
"oracle", "reactive-oracle"}
        See the module documentation.
    fast_capacity : int
        The memcg's page limit on the fast node (pages).
    slow_capacity : int, optional
        Its limit on the slow node; by default ``n_pages`` (room for every page).
    n_pages : int, optional
        Pages in the address space; by default the largest page number + 1.
        ``fast_capacity + slow_capacity`` must hold them all.
    period : int, optional
        Accesses between two ``mm_manage`` calls (and between result rows); by default a
        hundredth of the trace.
    period_s : float, optional
        The period in seconds of simulated access time instead (``mm_manage``'s timer; the
        RFC's launcher uses 1-5 s).  Not with ``oracle``, whose period lengths in time would
        depend on the placement chosen for them.
    mechanism : str or Mechanism
        How pages move: a name from :data:`memtier.simulation.mechanisms.MECHANISMS` or a Mechanism.
    fit : Fit or ModelParams, optional
        Cost model; by default the one fitted to the RFC's machine (``default_fit()``).
    variants : str or iterable of str, optional
        ``active-shrink`` variants, names from :data:`VARIANTS` (comma-separated in a string).
    migration_share : float, optional
        Share of a period's access time ``mm_manage`` may spend migrating; by default no
        budget (the RFC has none).
    max_migrate_pages : int, optional
        ``mm_manage``'s ``nr_pages``: at most this many slow pages isolated per period.
    fast_access_ns, slow_access_ns : float
        Time of one access served by the fast or the slow node (ns).
    rmap_ns : float
        Time of one rmap walk, charged per page a list scan looks at (ns); default
        :data:`RMAP_WALK_NS`.
    pingpong_periods : int
        A promotion counts as ping-pong when the page was demoted at most this many periods
        before.
    writes : array of bool, shape (n_accesses,), optional
        Which accesses write (a trace file's ``.writes.npy``); reported per period as
        ``writes``; ``hemem`` samples loads and stores apart.
    progress : bool
        Show a progress bar (tqdm) on stderr, where stderr is a terminal.
    chunk_accesses : int
        Accesses read and simulated at once.
    snapshots : sequence of int, optional
        Increasing counts of accesses (1 to the trace's length).  ``result.snapshots[k]`` is
        then the SimulationResult that ``simulate(trace[:snapshots[k]], ..., n_pages=n_pages)``
        returns (its ``periods`` and ``final_node``; the open period closed at the cut), taken
        during this one run: a timeline of placements in one pass instead of one run per
        point.  Its pages are this run's (``n_pages``, ``page_numbers``).  Each keeps its
        ``final_node`` (a byte a page) and its periods so far, so memory grows with snapshots
        times pages and periods.  Not with ``oracle``, whose placement depends on the accesses
        after the cut.
    **policy_params
        Parameters of a policy of :mod:`memtier.simulation.policies` (``numa-balancing``, ``tpp``,
        ``hemem``), named after the kernel's or the paper's own, e.g.
        ``hot_threshold_ms=500``; :func:`memtier.simulation.policies.parameters` lists them with their
        defaults and sources.

    Returns
    -------
    SimulationResult
        ``result.snapshots``: the snapshots' results (an empty list without ``snapshots``).
        A trace whose page numbers are sparse (more pages in their range than accesses) is
        renumbered densely in first-touch order (:mod:`memtier.simulation.pagespace`); then
        ``result.page_numbers[i]`` is the trace's page number of page ``i`` (``final_node[i]``);
        otherwise ``page_numbers`` is None.
    """
    policy = _policy_name(policy)
    code = ALL_POLICIES[policy]
    policy_params = policies.check_params(policy, policy_params)
    trace = check_trace(trace)
    n_accesses = len(trace)
    for name, value in (("fast_capacity", fast_capacity), ("slow_capacity", slow_capacity)):
        if isinstance(value, str) and value.strip().endswith("%"):  # what the command line takes
            raise ValueError(f"{name} {value!r}: simulate() takes a page count; for a share of the pages "
                             f"give e.g. int(0.10 * n_pages) ('memtier simulate --{name.replace('_', '-')}' "
                             "and memtier.sweep take '10%')")
    fast_capacity = _whole(fast_capacity, "fast_capacity", 1)
    n_pages = _whole(n_pages, "n_pages", 1, allow_none=True)
    slow_capacity = _whole(slow_capacity, "slow_capacity", 0, allow_none=True)
    if period is not None and period_s is not None:
        raise ValueError("give the period either in accesses (period=) or in seconds (period_s=), not both")
    period = _whole(period, "period", 1, allow_none=True)
    if period_s is not None:
        period_s = _positive_float(period_s, "period_s")
        if code == lists.ORACLE:
            raise ValueError("the clairvoyant oracle needs its period in accesses (period=): in simulated "
                             "time a period's length would depend on the placement chosen for it; use "
                             "period=, or policy='reactive-oracle'")
    elif period is None:
        period = max(1, n_accesses // 100)
    chunk_accesses = _whole(chunk_accesses, "chunk_accesses", 1)
    snapshots = _snapshot_counts(snapshots, n_accesses, code)
    mechanism = as_mechanism(mechanism)
    chosen_variants = _variants(variants)
    if chosen_variants and code != lists.ACTIVE_SHRINK:
        raise ValueError(f"variants apply to policy 'active-shrink' only, not {policy!r}")
    if migration_share is not None:
        migration_share = _positive_float(migration_share, "migration_share", allow_zero=True, allow_inf=True)
        if math.isinf(migration_share):
            migration_share = None
    max_migrate_pages = _whole(max_migrate_pages, "max_migrate_pages", 0, allow_none=True)
    fast_access_ns = _positive_float(fast_access_ns, "fast_access_ns")
    slow_access_ns = _positive_float(slow_access_ns, "slow_access_ns")
    rmap_ns = _positive_float(rmap_ns, "rmap_ns", allow_zero=True)
    pingpong_periods = _whole(pingpong_periods, "pingpong_periods", 0)
    if writes is not None:
        writes = np.asarray(writes)
        if writes.shape != (n_accesses,) or not (writes.dtype == np.bool_ or np.issubdtype(writes.dtype, np.integer)):
            raise ValueError(f"writes must be a boolean array with one entry per access ({n_accesses}), got "
                             f"{writes.dtype} of shape {writes.shape}")

    # The kernels count a page's accesses of one period in 32 bits (lru: 31, its record's
    # lowest bit holds the page's first-touch placement), so a period must not be able to hold
    # more accesses than that: the longest is the period in accesses, or a period in seconds
    # served all fast, or the whole trace.
    longest = min(n_accesses, period or math.ceil(period_s * 1e9 / min(fast_access_ns, slow_access_ns)))
    most_counted = (1 << 30) - 1 if code == lists.LRU else (1 << 31) - 1
    if longest > most_counted:
        raise ValueError(f"a period may hold up to {longest:,} accesses, more than the {most_counted:,} "
                         f"accesses of one page that {policy!r} counts in a period; give a shorter period "
                         "(period= in accesses or period_s=) or split the trace")
    low, high = _page_range(trace, chunk_accesses)
    if low < 0:
        raise ValueError(f"trace holds a negative page number ({low}); page numbers start at 0")
    trace, n_pages, high, page_numbers = pagespace.prepare(trace, low, high, n_pages, chunk_accesses)  # sparse
    if n_pages is None:
        n_pages = high + 1
    elif high >= n_pages:
        raise ValueError(f"trace touches page {high}, outside n_pages={n_pages}; pass n_pages > {high}")
    if n_pages > _MAX_PAGES:
        raise ValueError(f"n_pages={n_pages} is too large; the simulator handles up to {_MAX_PAGES} pages")
    if slow_capacity is None:
        slow_capacity = n_pages
    if fast_capacity + slow_capacity < n_pages:
        raise ValueError(
            f"limits smaller than needed: fast_capacity + slow_capacity = {fast_capacity + slow_capacity} "
            f"pages cannot hold all n_pages = {n_pages} pages the trace may touch; raise slow_capacity "
            "(or fast_capacity)")

    # Calls: mm_manage splits a list into migration_batch_size calls only when migrating
    # concurrently (patch 24); otherwise one call moves the whole list.
    huge = mechanism.page_bytes > 4096
    concurrent = mechanism.batched or "batch-every-mechanism" in chosen_variants
    most_moved = min(fast_capacity, n_pages)
    call_pages = mechanism.batch_pages if concurrent else most_moved
    if code not in (lists.ACTIVE_SHRINK, lists.REACTIVE_ORACLE):  # their moves are charged per batch
        call_pages = mechanism.batch_pages
    single_thread_base = code == lists.ACTIVE_SHRINK and "mt-base-pages" not in chosen_variants
    # a period in seconds holds at least this many accesses (all of them slow)
    shortest = period or max(1, int(period_s * 1e9 / max(fast_access_ns, slow_access_ns)))
    pagespace.check_run(n_pages, n_accesses, fast_capacity=fast_capacity, slow_capacity=slow_capacity,
                        period=shortest, chunk=chunk_accesses, batch_pages=max(call_pages, mechanism.batch_pages),
                        max_migrate_pages=max_migrate_pages, trace_itemsize=trace.dtype.itemsize)
    migrate_cost, exchange_cost = _cost_arrays(mechanism, _cost_params(fit),
                                               max(call_pages, mechanism.batch_pages), single_thread_base)
    exchange = mechanism.exchange and (huge or "exchange-base-pages" in chosen_variants)
    move_us = migrate_cost[mechanism.batch_pages] / mechanism.batch_pages
    gain_us = (slow_access_ns - fast_access_ns) * 1e-3
    worth_min = move_us / gain_us if gain_us > 0 else math.inf

    config = np.zeros(lists.CONFIG_SIZE, dtype=np.int64)
    config[lists.K_POLICY] = code
    config[lists.K_FAST_CAPACITY] = fast_capacity
    config[lists.K_SLOW_CAPACITY] = slow_capacity
    config[lists.K_HUGE] = int(huge)
    config[lists.K_BATCH_PAGES] = mechanism.batch_pages
    config[lists.K_CALL_PAGES] = call_pages
    config[lists.K_MAX_PAGES] = -1 if max_migrate_pages is None else max_migrate_pages
    config[lists.K_EXCHANGE] = int(exchange)
    config[lists.K_RATIO_GATE] = int("inactive-ratio-gate" in chosen_variants)
    config[lists.K_HALVES_FIRST] = int("halves-first" in chosen_variants)
    config[lists.K_COLD_CHECK] = int("referenced-cold" in chosen_variants)
    config[lists.K_PAGE_BYTES] = mechanism.page_bytes
    config[lists.K_PINGPONG_PERIODS] = pingpong_periods
    config[lists.K_BUDGETED] = int(migration_share is not None)
    deciding = code in (lists.ACTIVE_SHRINK, lists.RECLAIM_DEMOTION)
    share = (DENSE_METRICS_SHARE_CLASSIFIERS if policy in policies.MODULES else
             DENSE_METRICS_SHARE_DECIDING if deciding else DENSE_METRICS_SHARE)
    config[lists.K_DENSE_TOUCHED] = math.ceil(share * n_pages)
    fconfig = np.zeros(lists.FCONFIG_SIZE, dtype=np.float64)
    fconfig[lists.F_FAST_NS] = fast_access_ns
    fconfig[lists.F_SLOW_NS] = slow_access_ns
    fconfig[lists.F_MIGRATION_SHARE] = 0.0 if migration_share is None else migration_share
    if period_s is not None:
        fconfig[lists.F_PERIOD] = period_s * 1e9
        fconfig[lists.F_UNIT_FAST], fconfig[lists.F_UNIT_SLOW] = fast_access_ns, slow_access_ns
    else:
        fconfig[lists.F_PERIOD] = period
        fconfig[lists.F_UNIT_FAST] = fconfig[lists.F_UNIT_SLOW] = 1.0
    fconfig[lists.F_RMAP_NS] = rmap_ns
    fconfig[lists.F_WORTH_MIN] = worth_min
    plan = _plan(n_accesses, chunk_accesses, snapshots)
    settings = dict(policy=policy, mechanism=mechanism, fast_capacity=fast_capacity,
                    slow_capacity=slow_capacity, n_pages=n_pages, period=period, period_s=period_s,
                    fast_access_ns=fast_access_ns, slow_access_ns=slow_access_ns, rmap_ns=rmap_ns,
                    migration_share=migration_share, max_migrate_pages=max_migrate_pages,
                    variants=chosen_variants, move_us=move_us, pingpong_periods=pingpong_periods,
                    policy_params=policy_params)
    taken = []

    def snapshot(count, rows, storage):  # the state after the first ``count`` accesses, as a result
        part_writes = None if writes is None else writes[:count]
        taken.append(_result(rows, storage, part_writes, worth_min, settings, page_numbers))

    if policy in policies.MODULES:
        rows, storage = policies.run(trace, writes, policy, policy_params, config, fconfig, migrate_cost, n_pages,
                                     plan, progress, _rows_bound, snapshot)
    else:
        rows, storage = _run(trace, code, config, fconfig, migrate_cost, exchange_cost, n_pages, plan, progress,
                             snapshot)
    result = _result(rows, storage, writes, worth_min, settings, page_numbers)
    result.snapshots = taken
    # the kernels' final state and inputs, for the tests' invariant checks and the twin
    storage.update(migrate_cost=migrate_cost, exchange_cost=exchange_cost, config=config, fconfig=fconfig)
    result._storage = storage
    return result


def _result(rows, storage, writes, worth_min: float, settings: dict, page_numbers) -> SimulationResult:
    """The SimulationResult of a run's rows and its kernels' state at the end (or at a snapshot)."""
    flags = storage["flags"]
    if "pages" in storage:  # the LRU's records: on the fast node when in its queue
        on_fast = storage["pages"][:, baselines.SLOT] >= 0
    else:
        on_fast = (flags & lists.FAST) != 0
    # 0 fast, 1 slow, -1 never touched, computed in int8 (PRESENT is bit 0): np.where's int64
    # temporaries took 10-15 ms on a million pages
    final_node = (flags & lists.PRESENT).view(np.int8) * (2 - on_fast.view(np.int8)) - np.int8(1)
    # stays still open at the end of the run: judged with the accesses they had (a mask of the
    # whole column: the rows picked by a boolean index of the strided column took 2.5 ms, this 0.7)
    pagestat = storage["pagestat"]
    open_stays = (pagestat[:, lists.P_MARKS] & lists.IN_STAY) != 0
    write_counts = None
    if writes is not None:
        bounds = np.concatenate([[0], np.cumsum(rows[:, lists.C_ACCESSES])[:-1]]).astype(np.int64)
        write_counts = _reduceat_sum(writes, bounds)
    result = SimulationResult(
        rows, final_node=final_node, writes=write_counts,
        open_stays=(int(np.count_nonzero(open_stays)),
                    int(np.count_nonzero((pagestat[:, lists.P_STAY] > worth_min) & open_stays))),
        **settings)
    result.snapshots = []
    result.counters = policies.counters(settings["policy"], storage)
    result.page_numbers = page_numbers  # pagespace: trace page of each dense page (None: not renumbered)
    return result


def _reduceat_sum(values, bounds) -> np.ndarray:
    """``np.add.reduceat(np.asarray(values, dtype=np.int64), bounds)``: the same sums, but
    for a run of few periods summed period by period, without first casting the whole
    trace's write flags to int64 (eight bytes of fresh memory per access: a sixth of the
    ``static`` policy's run time on a 20 M-access trace)."""
    if len(bounds) > 4096 or not np.all(bounds[1:] > bounds[:-1]):  # many periods, or reduceat's quirks
        return np.add.reduceat(np.asarray(values, dtype=np.int64), bounds)
    ends = np.append(bounds[1:], len(values))
    if values.dtype == np.bool_:
        return np.array([np.count_nonzero(values[a:b]) for a, b in zip(bounds, ends)], dtype=np.int64)
    return np.array([values[a:b].sum(dtype=np.int64) for a, b in zip(bounds, ends)], dtype=np.int64)


def _lists_storage(fast_length: int, slow_length: int):
    """Ring buffers of the four lists, each as long as its node's limit."""
    lengths = np.array([fast_length, fast_length, slow_length, slow_length], dtype=np.int64)
    meta = np.zeros((4, 4), dtype=np.int64)
    meta[:, lists.M_START] = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    meta[:, lists.M_LENGTH] = np.maximum(lengths, 1)
    return np.zeros(int(lengths.sum()) + 1, dtype=np.int32), meta


def _run(trace, code, config, fconfig, migrate_cost, exchange_cost, n_pages, plan, progress, snapshot):
    """Feed the validated trace to the policy's kernel piece by piece (``_plan``); per-period rows."""
    fast_capacity = int(config[lists.K_FAST_CAPACITY])
    fast_length = min(fast_capacity, n_pages)
    period_accesses = len(trace) if fconfig[lists.F_UNIT_SLOW] != 1.0 else int(fconfig[lists.F_PERIOD])
    storage = dict(
        touched=np.zeros(n_pages + 1, dtype=np.int32),  # + 1: see run_lists
        histogram=np.zeros(min(period_accesses, len(trace), HISTOGRAM_BINS) + 2, dtype=np.int32),
        state=np.zeros(lists.STATE_SIZE, dtype=np.int64),
        fstate=np.array([fconfig[lists.F_PERIOD]], dtype=np.float64),
        pending=np.zeros((1, lists.N_COLUMNS), dtype=np.float64),
        flags=np.zeros(n_pages, dtype=np.uint8),
        top=np.zeros(fast_length + 1, dtype=np.int32),
        moved=np.zeros(n_pages + 1, dtype=np.int32))
    if code in (lists.LRU, lists.ORACLE):
        # no per-page metrics row: these two judge no decision, so _score never reads it (and
        # filling 12 bytes a page cost a few ms a run)
        storage["pagestat"] = np.zeros((0, 3), dtype=np.int32)
    else:
        pagestat = np.zeros((n_pages, 3), dtype=np.int32)
        pagestat[:, lists.P_LAST_DEMOTED] = -(1 << 30)
        storage["pagestat"] = pagestat
    if code == lists.LRU:
        pages = np.zeros((n_pages, 2), dtype=np.int32)
        pages[:, baselines.SLOT] = baselines.UNTOUCHED
        storage.update(pages=pages, queue=np.zeros(baselines.lru_queue_slots(fast_capacity, n_pages), dtype=np.int32))
    else:
        storage["counts"] = np.zeros(n_pages, dtype=np.int32)
    if code in (lists.ORACLE, lists.REACTIVE_ORACLE):
        storage["fast_pages"] = np.zeros(fast_length + 1, dtype=np.int32)
    elif code != lists.LRU:
        ring, meta = _lists_storage(fast_length, min(int(config[lists.K_SLOW_CAPACITY]), n_pages))
        storage.update(
            ring=ring, meta=meta,
            cold=np.zeros(fast_length + 1, dtype=np.int32),
            iso_slow=np.zeros(fast_length + 1, dtype=np.int32),
            iso_fast=np.zeros(fast_length + 1, dtype=np.int32),
            first_flags=np.zeros(n_pages + 1, dtype=np.uint8),  # beside touched: active_shrink._score_lists
            scratch=np.zeros(n_pages + 1, dtype=np.int32),  # active_shrink._score_lists
            # active_shrink._close_period: the pages a decision moves, a bit each
            moving=np.zeros((n_pages >> 3) + 1 if code == lists.ACTIVE_SHRINK else 1, dtype=np.uint8))

    def step(st, part, final, start):
        """One piece through the policy's kernel on the state ``st``: its rows."""
        # at most one row per access of the piece, plus the period a piece may close
        out = np.zeros((_rows_bound(len(part), fconfig), lists.N_COLUMNS), dtype=np.float64)
        common = (st["touched"], st["histogram"], st["top"], st["state"], st["fstate"], st["moved"], st["pagestat"],
                  st["pending"], out)
        if code == lists.LRU:
            # the records flat, the trace unsigned (pages are >= 0): baselines._serve_lru
            rows = baselines.run_lru(part.view(np.uint32), final, config, fconfig, migrate_cost,
                                      st["pages"].reshape(-1), st["flags"], st["queue"], *common)
        elif code == lists.ORACLE:
            rows = baselines.run_oracle(part, final, config, fconfig, st["flags"], st["fast_pages"], st["counts"],
                                         *common)
        elif code == lists.REACTIVE_ORACLE:
            rows = baselines.run_reactive(part, final, config, fconfig, migrate_cost, st["flags"], st["fast_pages"],
                                           st["counts"], *common)
        else:
            rows = lists.run_lists(part, final, config, fconfig, migrate_cost, exchange_cost, st["flags"], st["ring"],
                                    st["meta"], st["cold"], st["iso_slow"], st["iso_fast"], st["counts"],
                                    st["touched"], st["first_flags"], st["histogram"], st["top"], st["state"],
                                    st["fstate"], st["moved"], st["pagestat"], st["scratch"], st["moving"],
                                    st["pending"], out)
        return out[:rows]

    return drive(trace, plan, storage, step, progress, snapshot), storage


def drive(trace, plan, storage, step, progress, snapshot):
    """Run ``step(state, piece, final, start)`` over the plan's pieces (:func:`_plan`) on the
    kernels' state ``storage``, returning their rows; at a snapshot's piece, first on a copy of
    the state as the trace's last access, handed to ``snapshot(count, rows, state)``."""
    results = []
    n = len(trace)
    with progress_bar(progress, total=n, unit="access", unit_scale=True, desc="simulating", leave=False) as bar:
        for start, stop, wanted in plan:
            part = np.ascontiguousarray(np.asarray(trace[start:stop])).astype(np.int32, copy=False)
            final = stop >= n
            if wanted and not final:
                copy = {name: array.copy() for name, array in storage.items()}
                snapshot(stop, np.concatenate(results + [step(copy, part, True, start)]), copy)
            results.append(step(storage, part, final, start))
            if wanted and final:
                snapshot(stop, np.concatenate(results), storage)
            bar.update(len(part))
    return np.concatenate(results)


def _rows_bound(n_part: int, fconfig) -> int:
    """The most periods a chunk of ``n_part`` accesses can close: each takes at least
    ``period / unit_slow`` accesses (rounded down, at least 1)."""
    per_period = max(1, int(fconfig[lists.F_PERIOD] // fconfig[lists.F_UNIT_SLOW]))
    return n_part // per_period + 2
