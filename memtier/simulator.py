"""Simulate one memcg on a fast and a slow node: which pages are fast, and what it costs.

The second half of the RFC (patches 18-25) on a page-access trace.  The model:

- **Nodes and limits.**  One memcg; the fast node holds at most ``fast_capacity`` of its
  pages, the slow node ``slow_capacity``.  A page is allocated at its first access, on the
  fast node while under its limit, else on the slow node (``MPOL_PREFERRED`` with
  ``MPOL_F_MEMCG``, patches 18-19).
- **Lists** (``static``, ``reclaim``, ``active-shrink``), per node, with the kernel's rules
  for anonymous pages (``docs/linux-lru.md``): new pages join the active list;
  every access sets the page's accessed bit; a scan of the inactive list activates a page
  whose bit is set (clearing it) and leaves an unreferenced page inactive, *cold*; a scan of
  the active list moves every page to the inactive list, clearing its bit; the active list
  is scanned only while ``inactive * int_sqrt(10 * GB) < active``.  Pages classified *hot*
  are those on an active list.
- **Policies.**  ``static``: first-touch placement, never scanned, never moved.
  ``reclaim`` (Linux default): lists are scanned only when an allocation finds the fast node
  at its limit; reclaim demotes up to 32 cold pages (``SWAP_CLUSTER_MAX``) to make room, and
  nothing is ever promoted.  ``active-shrink`` (the RFC): at the end of every period,
  ``mm_manage`` shrinks half of each list, slow node then fast node, then promotes the slow
  node's active pages, oldest first (from the list's tail, as the kernel isolates pages),
  demoting (or, with the ``exchange`` mechanisms, exchanging) the fast node's cold pages
  when the fast node is full.  Cold pages are those the fast node's inactive-list scan found
  unreferenced (``docs/linux-lru.md``: ``PAGEREF_RECLAIM``, a cold page, a candidate for
  demotion); ``mm_manage`` isolates them for migration and puts back those it did not move.
  Migrated pages keep ``PG_active`` and start with the accessed bit clear (the kernel makes
  their new page-table entry old).  ``lru``: the fast node is an exact LRU cache of the slow
  one.  ``oracle``: in each period, the ``fast_capacity`` pages that period touches most are
  fast (the bound for a placement that changes once a period).
- **Time.**  An access costs ``fast_access_ns`` or ``slow_access_ns`` (defaults 82 ns and
  1000 ns, the figures of HeMem's simulator, SOSP'21).  Moving pages costs what the cost
  model (:func:`memtier.model.call_time_us`, scope ``migrate``) gives for the mechanism, call
  by call, in batches of ``batch_pages``.  Migration time is added to the run time (the
  application is charged as if it waited: pages being moved are unmapped and the copy
  competes for memory bandwidth; this makes speedups conservative).
- **Budget.**  ``mm_manage`` may spend at most ``migration_share`` of the period's access
  time migrating (default 0.1: a manager that takes more than a tenth of the run is the CPU
  competition the RFC's cover letter worries about).  When a whole batch no longer fits, it
  makes the largest call that does, then stops; so a faster mechanism moves more pages per
  period.  Without exchange, a demotion call and a promotion call move each pair.  ``max_migrate_pages``
  caps the pages promoted per period (``mm_manage``'s ``nr_pages``).  Reclaim's demotions and
  the LRU's moves are not budgeted (they must happen); the oracle's moves cost nothing.

Where the simulation simplifies the kernel: one memcg and anonymous pages only (no file
pages, so no ``PG_referenced`` second chance and no ``mark_page_accessed``); one mapping per
page; pages are base pages or THPs throughout, never split; a period is a count of accesses,
not seconds; accessed bits are set by every access in the trace (the trace is what reaches
memory); migration never fails; reclaim runs synchronously at allocation (no kswapd
watermarks).

The per-period results and their metrics are documented in
:class:`memtier.sim_result.SimulationResult`.
"""
from __future__ import annotations

import difflib
import math

import numpy as np
from tqdm.auto import tqdm

from . import baselines, lists, pagespace
from .mechanisms import Mechanism, as_mechanism
from .sim_result import SimulationResult
from .workloads import _positive_int, check_trace

POLICIES = {
    "static": lists.STATIC,
    "reclaim": lists.RECLAIM,
    "active-shrink": lists.ACTIVE_SHRINK,
    "lru": lists.LRU,
    "oracle": lists.ORACLE,
}

#: Accesses handed to a kernel at once (rounded to whole periods); bounds the memory a
#: memory-mapped trace occupies while it is read.
CHUNK_ACCESSES = 1 << 22

_MAX_PAGES = np.iinfo(np.int32).max

#: Bins of the per-period access-count histogram that finds the true hot set (counts
#: beyond it are sorted exactly; they are rare, a period holds few pages that hot).
HISTOGRAM_BINS = 1 << 16


def _whole(value, name: str, minimum: int, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    return _positive_int(value, name, minimum)


def _positive_float(value, name: str, *, allow_zero: bool = False, allow_inf: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(value) or (math.isinf(value) and not allow_inf) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value}")
    return value


def _policy_code(policy) -> int:
    if policy not in POLICIES:
        close = difflib.get_close_matches(str(policy).replace("_", "-"), POLICIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown policy {policy!r}{hint}; choose one of {', '.join(POLICIES)}")
    return POLICIES[policy]


def _chunks(trace, chunk):
    for start in range(0, len(trace), chunk):
        yield start, np.ascontiguousarray(np.asarray(trace[start:start + chunk]))


def _page_range(trace, chunk) -> tuple[int, int]:
    """Smallest and largest page number, read chunk by chunk (memory-mapped traces too)."""
    low, high = None, None
    for _, part in _chunks(trace, chunk):
        part_low, part_high = int(part.min()), int(part.max())  # numpy's SIMD reductions
        low = part_low if low is None else min(low, part_low)
        high = part_high if high is None else max(high, part_high)
    return low, high


def _cost_params(fit):
    if fit is None:
        from .fitting import default_fit

        return default_fit().params
    from .model import ModelParams

    params = getattr(fit, "params", fit)
    if not isinstance(params, ModelParams):
        raise ValueError("fit must be a memtier Fit (memtier.fitting.fit / load_fit) or ModelParams, "
                         f"got {type(fit).__name__}")
    return params


def simulate(
    trace,
    policy: str,
    fast_capacity: int,
    *,
    slow_capacity: int | None = None,
    n_pages: int | None = None,
    period: int | None = None,
    mechanism: str | Mechanism = "linux",
    fit=None,
    migration_share: float = 0.1,
    max_migrate_pages: int | None = None,
    fast_access_ns: float = 82.0,
    slow_access_ns: float = 1000.0,
    progress: bool = False,
    chunk_accesses: int = CHUNK_ACCESSES,
) -> SimulationResult:
    """Simulate a tiering policy on a page-access trace.

    Parameters
    ----------
    trace : numpy.ndarray of int, shape (n_accesses,)
        Page numbers, one per access (a memory-mapped array from
        :func:`memtier.workloads.load_trace` is read chunk by chunk).
    policy : {"static", "reclaim", "active-shrink", "lru", "oracle"}
        See the module documentation.
    fast_capacity : int
        The memcg's page limit on the fast node (pages).
    slow_capacity : int, optional
        Its limit on the slow node; by default ``n_pages`` (room for every page).
    n_pages : int, optional
        Pages in the address space; by default the largest page number + 1.
        ``fast_capacity + slow_capacity`` must hold them all.
    period : int, optional
        Accesses between two ``mm_manage`` calls (and between result rows);
        by default a hundredth of the trace.
    mechanism : str or Mechanism
        How pages move: a name from :data:`memtier.mechanisms.MECHANISMS` or a Mechanism.
    fit : Fit or ModelParams, optional
        Cost model; by default the one fitted to the RFC's machine (``default_fit()``).
    migration_share : float
        Share of a period's access time ``mm_manage`` may spend migrating (``inf``: no limit).
    max_migrate_pages : int, optional
        At most this many pages promoted per period (``mm_manage``'s ``nr_pages``).
    fast_access_ns, slow_access_ns : float
        Time of one access served by the fast or the slow node (ns).
    progress : bool
        Show a progress bar (tqdm).
    chunk_accesses : int
        Accesses read and simulated at once.

    Returns
    -------
    SimulationResult
        A trace whose page numbers are sparse (more pages in their range than accesses) is
        renumbered densely in first-touch order (:mod:`memtier.pagespace`); then
        ``result.page_numbers[i]`` is the trace's page number of page ``i`` (``final_node[i]``);
        otherwise ``page_numbers`` is None.
    """
    code = _policy_code(policy)
    trace = check_trace(trace)
    n_accesses = len(trace)
    fast_capacity = _whole(fast_capacity, "fast_capacity", 1)
    n_pages = _whole(n_pages, "n_pages", 1, allow_none=True)
    slow_capacity = _whole(slow_capacity, "slow_capacity", 0, allow_none=True)
    period = _whole(period, "period", 1, allow_none=True) or max(1, n_accesses // 100)
    chunk_accesses = _whole(chunk_accesses, "chunk_accesses", 1)
    mechanism = as_mechanism(mechanism)
    migration_share = _positive_float(migration_share, "migration_share", allow_zero=True, allow_inf=True)
    max_migrate_pages = _whole(max_migrate_pages, "max_migrate_pages", 0, allow_none=True)
    fast_access_ns = _positive_float(fast_access_ns, "fast_access_ns")
    slow_access_ns = _positive_float(slow_access_ns, "slow_access_ns")

    chunk = period * max(1, chunk_accesses // period)
    low, high = _page_range(trace, chunk)
    if low < 0:
        raise ValueError(f"trace holds a negative page number ({low}); page numbers start at 0")
    trace, n_pages, high, page_numbers = pagespace.prepare(trace, low, high, n_pages, chunk)  # sparse: renumbered
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
    pagespace.check_run(n_pages, n_accesses, fast_capacity=fast_capacity, slow_capacity=slow_capacity,
                        period=period, chunk=chunk, batch_pages=mechanism.batch_pages,
                        max_migrate_pages=max_migrate_pages, trace_itemsize=trace.dtype.itemsize)
    migrate_cost, exchange_cost = mechanism.call_costs_us(_cost_params(fit))

    config = np.zeros(lists.CONFIG_SIZE, dtype=np.int64)
    config[lists.K_POLICY] = code
    config[lists.K_FAST_CAPACITY] = fast_capacity
    config[lists.K_SLOW_CAPACITY] = slow_capacity
    config[lists.K_PAGE_BYTES] = mechanism.page_bytes
    config[lists.K_BATCH_PAGES] = mechanism.batch_pages
    config[lists.K_MAX_PAGES] = -1 if max_migrate_pages is None else max_migrate_pages
    config[lists.K_EXCHANGE] = int(mechanism.exchange)
    config[lists.K_PERIOD] = period
    fconfig = np.array([fast_access_ns, slow_access_ns, migration_share], dtype=np.float64)
    rows, storage = _run(trace, code, config, fconfig, migrate_cost, exchange_cost, n_pages, chunk,
                         progress)
    flags = storage["flags"]
    if "pages" in storage:  # the LRU's records: on the fast node when in its queue
        cached = storage["pages"][:, baselines.SLOT] >= 0
        flags = np.where(cached, flags | lists.FAST, flags & (0xFF ^ lists.FAST))
    final_node = np.where(flags & lists.PRESENT == 0, -1, np.where(flags & lists.FAST, 0, 1)).astype(np.int8)
    result = SimulationResult(
        rows, final_node=final_node, policy=policy, mechanism=mechanism, fast_capacity=fast_capacity,
        slow_capacity=slow_capacity, n_pages=n_pages, period=period,
        fast_access_ns=fast_access_ns, slow_access_ns=slow_access_ns,
        migration_share=migration_share, max_migrate_pages=max_migrate_pages,
    )
    result._storage = storage  # the kernels' final state, for the tests' invariant checks
    result.page_numbers = page_numbers  # pagespace: trace page of each dense page (None: not renumbered)
    return result


def _lists_storage(fast_length: int, slow_length: int):
    """Ring buffers of the four lists, each as long as its node's limit."""
    lengths = np.array([fast_length, fast_length, slow_length, slow_length], dtype=np.int64)
    meta = np.zeros((4, 4), dtype=np.int64)
    meta[:, lists.M_START] = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    meta[:, lists.M_LENGTH] = np.maximum(lengths, 1)
    return np.zeros(int(lengths.sum()) + 1, dtype=np.int32), meta


def _run(trace, code, config, fconfig, migrate_cost, exchange_cost, n_pages, chunk, progress):
    """Feed the validated trace to the policy's kernel chunk by chunk; per-period rows."""
    period = int(config[lists.K_PERIOD])
    fast_capacity = int(config[lists.K_FAST_CAPACITY])
    touched = np.zeros(min(period, n_pages) + 1, dtype=np.int32)  # + 1: see _run_lists
    histogram = np.zeros(min(period, len(trace), HISTOGRAM_BINS) + 2, dtype=np.int32)
    state = np.zeros(lists.STATE_SIZE, dtype=np.int64)
    storage = {"touched": touched, "histogram": histogram, "state": state}
    flags = np.zeros(n_pages, dtype=np.uint8)
    storage["flags"] = flags
    if code == lists.LRU:
        pages = np.zeros((n_pages, 2), dtype=np.int32)
        pages[:, baselines.SLOT] = baselines.UNTOUCHED
        queue = np.zeros(baselines.lru_queue_slots(fast_capacity, n_pages), dtype=np.int32)
        storage.update(pages=pages, queue=queue)
    else:
        counts = np.zeros(n_pages, dtype=np.int32)
        storage["counts"] = counts
    if code == lists.ORACLE:
        fast_pages = np.zeros(min(fast_capacity, n_pages), dtype=np.int32)
        storage["fast_pages"] = fast_pages
    elif code != lists.LRU:
        ring, meta = _lists_storage(min(fast_capacity, n_pages), min(int(config[lists.K_SLOW_CAPACITY]), n_pages))
        cold = np.zeros(min(fast_capacity, n_pages), dtype=np.int32)
        storage.update(ring=ring, meta=meta, cold=cold)
    results = []
    with tqdm(total=len(trace), disable=not progress, unit="access", unit_scale=True,
              desc="simulating", leave=False) as bar:
        for _, part in _chunks(trace, chunk):
            part = part.astype(np.int32, copy=False)
            out = np.zeros((-(-len(part) // period), lists.N_COLUMNS), dtype=np.float64)
            if code == lists.LRU:
                n = baselines._run_lru(part, config, migrate_cost, pages, flags, queue, touched, histogram,
                                        state, out)
            elif code == lists.ORACLE:
                n = baselines._run_oracle(part, config, flags, fast_pages, counts, touched, histogram,
                                          state, out)
            else:
                n = lists._run_lists(part, config, fconfig, migrate_cost, exchange_cost, flags, ring, meta,
                                     cold, counts, touched, histogram, state, out)
            results.append(out[:n])
            bar.update(len(part))
    return np.concatenate(results), storage
