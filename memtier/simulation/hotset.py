"""A period's top pages: its ``k`` most accessed, found without sorting.

Numba kernels shared by :mod:`memtier.simulation.policies.active_shrink` and :mod:`memtier.simulation.policies.baselines` (private, like
them).  The top pages of a period are its ``k`` most accessed pages (``k`` is the fast
node's limit), ties broken by first touch in the period; they are found from a histogram of
the period's access counts in time linear in the pages touched, without sorting them.  The
metrics built on them are computed in :func:`memtier.simulation.policies.active_shrink.score_period`.

``touched`` holds the period's pages in first-touch order, each stored as ``~page`` (negative)
when the page was on the fast node at that first access: ``page ^ (page >> 31)`` reads it.
"""
import numpy as np

from .._jit import njit, prefetch

#: Pages ahead in ``touched`` whose entries the passes over a period's pages prefetch
#: (:func:`memtier._jit.prefetch`): their reads are at random, and a hint lets the processor
#: fetch them before the loop needs them.  On a uniform trace's period (667 000 pages of a
#: million), :func:`gather_counts` took 3.7 ms without it, 2.4 ms with it.
AHEAD = 16

# Page flags these kernels read or set (the others are in memtier.simulation.policies.active_shrink).
STATIC_FAST = 16   # where first-touch placement (the static policy) puts the page
IN_TRUE_SET = 32   # scratch: in the period's true hot set


@njit
def _hot_threshold(k, counts, touched, n_touched, histogram):
    """The period's true hot set: its ``k`` most accessed pages, ties broken by first touch.

    Returns ``(k, threshold, ties)``: a page is in the set when its count exceeds
    ``threshold``, or equals it and is among the first ``ties`` such pages in ``touched``.
    Counts are histogrammed (the last bin gathers every count beyond it, and is resolved
    exactly by sorting when the threshold falls there); ``histogram`` is left zeroed."""
    k = min(k, n_touched)
    if k == 0:
        return 0, 0, 0
    top = histogram.shape[0] - 1
    most = 0
    for i in range(n_touched):
        page = touched[i]
        c = min(counts[page ^ (page >> 31)], top)
        histogram[c] += 1
        most = max(most, c)
    return hot_count_threshold(k, histogram, most, counts, touched, n_touched, True)


@njit
def gather_counts(counts, touched, n_touched, histogram, gathered, flags, static_mask):
    """The histogram pass of :func:`_hot_threshold`, which also moves the period's counts
    out of ``counts`` (left zeroed for the next period) into ``gathered``, in ``touched``'s
    order, so that a later pass over the touched pages reads them sequentially instead of
    missing the cache on ``counts`` a second time.  Returns the largest count histogrammed,
    for :func:`hot_count_threshold` (``by_page`` false, ``gathered`` as the counts), and, with
    ``static_mask`` other than 0, the accesses to pages whose ``flags`` have a bit of it
    (``STATIC_FAST``: what first-touch placement serves fast; 0: ``flags`` not read)."""
    top = histogram.shape[0] - 1
    most = 0
    static_hits = 0
    last = n_touched - 1
    for i in range(n_touched):
        ahead = touched[min(i + AHEAD, last)]
        ahead ^= ahead >> 31
        prefetch(counts, np.uint64(ahead))
        if static_mask != 0:
            prefetch(flags, np.uint64(ahead))
        page = touched[i]
        page ^= page >> 31
        c = counts[page]
        counts[page] = 0
        gathered[i] = c
        if static_mask != 0 and flags[page] & static_mask:
            static_hits += c
        c = min(c, top)
        histogram[c] += 1
        most = max(most, c)
    return most, static_hits


@njit
def hot_count_threshold(k, histogram, most, counts, touched, n_touched, by_page):
    """``(k, threshold, ties)`` from the period's histogram (see :func:`_hot_threshold`),
    ``k`` at most ``n_touched``.  ``counts`` is indexed by page (``by_page``) or holds the
    counts in ``touched``'s order (:func:`gather_counts`)."""
    k, threshold, ties, _ = threshold_pool(k, histogram, most, counts, touched, n_touched, by_page)
    return k, threshold, ties


@njit
def threshold_pool(k, histogram, most, counts, touched, n_touched, by_page):
    """:func:`hot_count_threshold`, and the number of pages whose count equals the threshold (the
    pool the ``ties`` are taken from, in first-touch order)."""
    k = min(k, n_touched)
    if k == 0:
        histogram[:most + 1] = 0
        return 0, 0, 0, 0
    top = histogram.shape[0] - 1
    above = 0
    threshold = most
    while above + histogram[threshold] < k:
        above += histogram[threshold]
        threshold -= 1
    pool = histogram[threshold]
    if threshold == top:  # above == 0 here: the k-th largest count is among the pages >= top
        big = np.empty(histogram[top], dtype=np.int64)
        j = 0
        for i in range(n_touched):
            if by_page:
                page = touched[i]
                c = counts[page ^ (page >> 31)]
            else:
                c = counts[i]
            if c >= top:
                big[j] = c
                j += 1
        big.sort()
        threshold = big[big.shape[0] - k]
        pool = 0
        for j in range(big.shape[0]):
            if big[j] > threshold:
                above += 1
            elif big[j] == threshold:
                pool += 1
    histogram[:most + 1] = 0
    return k, threshold, k - above, pool


@njit
def true_hot_set(k, counts, touched, n_touched, flags, histogram):
    """Mark the true hot set (see :func:`_hot_threshold`) with ``IN_TRUE_SET``; its size."""
    k, threshold, ties = _hot_threshold(k, counts, touched, n_touched, histogram)
    if k == 0:
        return 0
    for i in range(n_touched):
        page = touched[i]
        page ^= page >> 31
        c = counts[page]
        if c > threshold or (c == threshold and ties > 0):
            if c == threshold:
                ties -= 1
            flags[page] |= IN_TRUE_SET
    return k
