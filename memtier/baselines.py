"""Numba kernels of the two reference policies: the fast node as an exact LRU cache, and the
oracle.  Private, like :mod:`memtier.lists`, whose flags, state slots and output columns they
share; the public entry point is :func:`memtier.simulate`.

The LRU is a queue of accesses with lazy deletion (see :func:`_run_lru`); the test suite
checks its decisions against libCacheSim's LRU and a pure-Python reference.
"""
import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import njit
from .lists import (
    C_ACCESSES, C_CLASSIFIED, C_DEMOTED, C_FAST_HITS, C_FAST_USED, C_MIGRATION_US, C_PROMOTED,
    C_SLOW_USED, C_STATIC_HITS, C_TRUE_HOT, C_TRUE_POSITIVE, FAST, IN_TRUE_SET, K_BATCH_PAGES,
    K_FAST_CAPACITY, K_PERIOD, PRESENT, S_DISTINCT, S_FAST_USED, S_LRU_HEAD, S_LRU_TAIL,
    S_TOUCHED, STATIC_FAST, _batches_cost_us,
)
from .hotset import _score, _true_hot_set

#: Fields of the LRU's per-page records, and the ``[SLOT]`` of a page not on the fast node
#: (``UNTOUCHED``: never accessed yet; ``NOT_CACHED``: accessed, now on the slow node).
SLOT, COUNT = range(2)
UNTOUCHED, NOT_CACHED = -2, -1
#: A queue entry whose page was accessed again later (its newer entry is the live one).
HOLE = -1
#: Accesses ahead whose page record is prefetched: enough to cover a cache miss (about
#: 100 ns at ~10 ns an access); 8 to 64 measured within 3 % of each other.
PREFETCH_DISTANCE = 16


def lru_queue_slots(fast_capacity: int, n_pages: int) -> int:
    """Length of the LRU's queue: a power of two (slots are ``position & (length - 1)``) of
    at least twice the pages the fast node can hold, so that a compaction, which keeps at
    most that many, frees at least half the queue."""
    return 1 << max(1, 2 * min(fast_capacity, n_pages) - 1).bit_length()


# The prefetch intrinsic is overloaded on its pointer type: LLVM 17 and later have only opaque
# pointers ("p0"); llvmlite builds on older LLVM use typed ones ("p0i8").
_PREFETCH = "llvm.prefetch.p0" if llvm_version_info[0] >= 17 else "llvm.prefetch.p0i8"


@intrinsic
def _prefetch_row(typingctx, array, index):
    """Ask the CPU to start loading (for writing) the cache line of ``array[index, 0]``: a
    hint, never a fault, and no effect on results."""
    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        row = context.cast(builder, args[1], signature.args[1], types.intp)
        pointer = cgutils.get_item_pointer2(
            context, builder, data=view.data, shape=cgutils.unpack_tuple(builder, view.shape),
            strides=cgutils.unpack_tuple(builder, view.strides), layout=array_type.layout,
            inds=[row, context.get_constant(types.intp, 0)])
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), _PREFETCH)
        # (address, 1 = for writing, 3 = keep in all cache levels, 1 = data)
        builder.call(prefetch, [builder.bitcast(pointer, byte_pointer), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(array, index), codegen


@njit
def _close_lru_period(row, config, migrate_cost, flags, counts, touched, histogram, state, out):
    """Charge the period's moves (in calls of ``batch_pages``) and measure how well the
    cached set matches the period's true hot set."""
    batch = config[K_BATCH_PAGES]
    out[row, C_MIGRATION_US] = (_batches_cost_us(np.int64(out[row, C_PROMOTED]), batch, migrate_cost)
                                + _batches_cost_us(np.int64(out[row, C_DEMOTED]), batch, migrate_cost))
    true_positive, true_hot, static_hits = _score(config[K_FAST_CAPACITY], FAST, counts, touched,
                                                  state[S_TOUCHED], flags, histogram)
    state[S_TOUCHED] = 0
    out[row, C_STATIC_HITS] = static_hits
    out[row, C_CLASSIFIED] = state[S_FAST_USED]
    out[row, C_TRUE_HOT] = true_hot
    out[row, C_TRUE_POSITIVE] = true_positive
    out[row, C_FAST_USED] = state[S_FAST_USED]
    out[row, C_SLOW_USED] = state[S_DISTINCT] - state[S_FAST_USED]


@njit
def _run_lru(trace, config, migrate_cost, pages, flags, queue, touched, histogram, state, out):
    """The fast node as an LRU cache of the slow one: an access to a page not on the fast
    node (its first access included: pages start on the slow node) is served slow, then the
    page is promoted and, the fast node full, the least recently used page demoted.
    ``trace`` holds whole periods (the trace's last may be shorter).

    Recency order is a queue of accesses with holes.  Every access appends its page at the
    queue's tail; the page's earlier entry, found through ``pages[page, SLOT]``, becomes a
    ``HOLE``.  So the live entries are the cached pages from least to most recently used,
    and the least recently used page is the first live entry from the head: eviction skips
    holes (sequential reads) and takes it.  Queue positions grow without end (``state``
    keeps head and tail, int64); a position's slot is ``position & mask``.  When the tail
    catches up with the head, :func:`_compact_lru` packs the live entries (at most
    ``capacity``, at most half the queue: :func:`lru_queue_slots`) towards the head.

    ``pages[page]`` is the page's record, 8 bytes: its queue slot (``[SLOT]``;
    ``NOT_CACHED`` off the fast node, ``UNTOUCHED`` before its first access) and its
    accesses in the period (``[COUNT]``).  ``flags`` (``PRESENT``, ``STATIC_FAST``) are
    written at first touch only; the ``FAST`` bit is brought up to date at the end of a
    period, from ``[SLOT]``.

    Why this rather than a doubly linked list: an access to a cached page reads and writes
    only its own record, plus one queue slot, where unlinking a list node also writes both
    neighbours' records, two more cache misses on a trace larger than the cache.  Holes,
    rather than checking at eviction whether an entry is still its page's newest, keep
    eviction from reading the records of long-gone entries.  The record of the page
    ``PREFETCH_DISTANCE`` accesses ahead is prefetched, so its miss overlaps the work on
    this one (the hit-or-miss branch is unpredictable; without the hint the processor
    cannot run far ahead of a load).  Measured, kernel alone, on the first 30 M accesses of
    ``benchmarks/bench_simulator.py``'s trace (2-core x86 VM, accesses/s): this kernel
    93-95 M; with a queue compacted back to position 0 whenever its end is reached (4 slots
    a fast page, no wrap-around) 79 M, without the prefetch 62 M, and 48 M
    when also checking entries at eviction instead of leaving holes; a prefetched second look-up of the queue slot ahead 68 M.
    Through :func:`memtier.simulate`, the whole benchmark: 80-82 M, the linked list 50-54 M.
    """
    capacity = config[K_FAST_CAPACITY]
    period = config[K_PERIOD]
    head = state[S_LRU_HEAD]
    tail = state[S_LRU_TAIL]
    size = queue.shape[0]
    mask = size - 1
    fast_used = state[S_FAST_USED]
    distinct = state[S_DISTINCT]
    n = trace.shape[0]
    row = 0
    for start in range(0, n, period):
        stop = min(n, start + period)
        n_touched = 0
        hits = 0
        promoted = 0
        demoted = 0
        for i in range(start, stop):
            if i + PREFETCH_DISTANCE < n:
                _prefetch_row(pages, trace[i + PREFETCH_DISTANCE])
            page = trace[i]
            slot = pages[page, SLOT]
            if slot >= 0:
                hits += 1
                queue[slot] = HOLE
            else:
                if slot == UNTOUCHED:
                    distinct += 1
                    flags[page] = PRESENT | (STATIC_FAST if distinct <= capacity else 0)
                if fast_used == capacity:
                    victim = queue[head & mask]
                    while victim == HOLE:
                        head += 1
                        victim = queue[head & mask]
                    head += 1
                    pages[victim, SLOT] = NOT_CACHED
                    demoted += 1
                else:
                    fast_used += 1
                promoted += 1
            if tail - head == size:
                tail = _compact_lru(pages, queue, head, tail)
            slot = tail & mask
            pages[page, SLOT] = slot
            queue[slot] = page
            tail += 1
            c = pages[page, COUNT]
            if c == 0:
                touched[n_touched] = page
                n_touched += 1
            pages[page, COUNT] = c + 1
        out[row, C_ACCESSES] = stop - start
        out[row, C_FAST_HITS] = hits
        out[row, C_PROMOTED] = promoted
        out[row, C_DEMOTED] = demoted
        state[S_FAST_USED] = fast_used
        state[S_DISTINCT] = distinct
        state[S_TOUCHED] = n_touched
        _mark_cached(pages, flags, touched, n_touched)
        _close_lru_period(row, config, migrate_cost, flags, pages[:, COUNT], touched, histogram, state, out)
        row += 1
    state[S_LRU_HEAD] = head
    state[S_LRU_TAIL] = tail
    return row


@njit
def _compact_lru(pages, queue, head, tail):
    """Move the live entries between positions ``head`` and ``tail`` next to each other
    from ``head`` on, in order, and point their pages' records at their new slots; the new
    tail."""
    mask = queue.shape[0] - 1
    to = head
    for position in range(head, tail):
        page = queue[position & mask]
        if page != HOLE:
            queue[to & mask] = page
            pages[page, SLOT] = to & mask
            to += 1
    return to


@njit
def _mark_cached(pages, flags, touched, n_touched):
    """Bring the ``FAST`` flag of the period's pages up to date (pages not touched in the
    period cannot be in its true hot set, so the metrics need no others)."""
    for i in range(n_touched):
        page = touched[i]
        if pages[page, SLOT] >= 0:
            flags[page] |= FAST
        else:
            flags[page] &= ~FAST


@njit
def _run_oracle(trace, config, flags, fast_pages, counts, touched, histogram, state, out):
    """Each period, the ``fast_capacity`` pages the period will touch most (ties: first
    touch) are on the fast node for the whole period: the best placement that changes only
    at period boundaries.  Moves are counted but cost no time (the policy is a bound)."""
    capacity = config[K_FAST_CAPACITY]
    period = config[K_PERIOD]
    n = trace.shape[0]
    row = 0
    for start in range(0, n, period):
        stop = min(n, start + period)
        n_touched = 0
        static_hits = 0
        distinct = state[S_DISTINCT]
        for i in range(start, stop):
            page = trace[i]
            f = flags[page]
            if f == 0:
                distinct += 1
                f = PRESENT | (STATIC_FAST if distinct <= capacity else 0)
                flags[page] = f
            static_hits += (f >> 4) & 1
            c = counts[page]
            if c == 0:
                touched[n_touched] = page
                n_touched += 1
            counts[page] = c + 1
        state[S_DISTINCT] = distinct
        chosen = _true_hot_set(capacity, counts, touched, n_touched, flags, histogram)
        # pages leaving the fast node
        demoted = 0
        kept = 0
        for j in range(state[S_FAST_USED]):
            page = fast_pages[j]
            if flags[page] & IN_TRUE_SET:
                fast_pages[kept] = page
                kept += 1
            else:
                flags[page] &= ~FAST
                demoted += 1
        promoted = 0
        hits = 0
        for j in range(n_touched):
            page = touched[j]
            f = flags[page]
            if f & IN_TRUE_SET:
                hits += counts[page]
                if not f & FAST:
                    f |= FAST
                    fast_pages[kept] = page
                    kept += 1
                    promoted += 1
            flags[page] = f & ~IN_TRUE_SET
            counts[page] = 0
        state[S_FAST_USED] = kept
        out[row, C_ACCESSES] = stop - start
        out[row, C_FAST_HITS] = hits
        out[row, C_STATIC_HITS] = static_hits
        out[row, C_PROMOTED] = promoted
        out[row, C_DEMOTED] = demoted
        out[row, C_CLASSIFIED] = chosen
        out[row, C_TRUE_HOT] = chosen
        out[row, C_TRUE_POSITIVE] = chosen
        out[row, C_FAST_USED] = kept
        out[row, C_SLOW_USED] = distinct - kept
        row += 1
    return row
