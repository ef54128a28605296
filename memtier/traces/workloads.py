"""Page-access traces: deterministic generators and ``.npy`` files read in chunks.

A trace is a one-dimensional numpy array of page numbers ``0 .. n_pages - 1``: entry ``i`` is
the page the ``i``-th memory access touches.  Every generator is deterministic in its
``seed`` (numpy's PCG64 through :func:`numpy.random.default_rng`), and draws its random
numbers in fixed-size blocks, so the same seed gives the same trace on every machine and
the temporary memory stays bounded however long the trace.

Traces too large for memory are saved with :func:`save_trace` and opened with
:func:`load_trace`, which memory-maps the file: the simulator then reads it chunk by chunk
and never loads it whole.

The generators, after the workloads tiered-memory papers use (see
``docs/tiering-systems.md``):

- :func:`uniform`: every page equally likely (no locality: the worst case for any policy).
- :func:`zipf`: page popularity ``∝ 1 / rank**alpha`` (skewed key-value stores, web caches).
- :func:`hot_set`: GUPS-like; a hot subset gets most accesses and moves at phase changes
  (HeMem, MEMTIS and Colloid evaluate on GUPS with a hot set).
- :func:`scan`: a sequential sweep, over and over (the pattern LRU handles worst).
- :func:`mix`: several traces interleaved at random, each on its own pages (co-located
  applications sharing one memcg).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Random numbers are drawn in blocks of this many accesses (fixed, so that traces do not
#: depend on memory size) to keep temporaries to a few tens of MB.
_BLOCK = 1 << 22


def positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _fraction(value, name: str, *, open_low: bool = True) -> float:
    value = float(value)
    if not np.isfinite(value) or value > 1 or value < 0 or (open_low and value == 0):
        bounds = "(0, 1]" if open_low else "[0, 1]"
        raise ValueError(f"{name} must be in {bounds}, got {value}")
    return value


def _page_dtype(n_pages: int):
    return np.int32 if n_pages <= np.iinfo(np.int32).max else np.int64


def _blocks(n_accesses: int):
    for start in range(0, n_accesses, _BLOCK):
        yield start, min(n_accesses, start + _BLOCK)


def uniform(n_pages: int, n_accesses: int, *, seed: int = 0) -> np.ndarray:
    """Every access touches a page drawn uniformly from ``n_pages``.

    Parameters
    ----------
    n_pages : int
        Pages in the address space.
    n_accesses : int
        Length of the trace.
    seed : int
        Seed of the generator; the same seed gives the same trace.

    Returns
    -------
    numpy.ndarray, shape (n_accesses,), int32 (int64 beyond 2**31 pages)
    """
    n_pages = positive_int(n_pages, "n_pages")
    n_accesses = positive_int(n_accesses, "n_accesses")
    check_generator_memory("uniform", n_pages, n_accesses)
    rng = np.random.default_rng(seed)
    trace = np.empty(n_accesses, dtype=_page_dtype(n_pages))
    for start, stop in _blocks(n_accesses):
        trace[start:stop] = rng.integers(0, n_pages, stop - start)
    return trace


def zipf(n_pages: int, n_accesses: int, *, alpha: float = 1.0, seed: int = 0) -> np.ndarray:
    """Page popularity follows a bounded Zipf law: the page of rank ``r`` (1-based) is
    touched with probability ``∝ r**-alpha``.

    Ranks are assigned to pages by a seeded random permutation, so the hottest pages are
    scattered over the address space (not pages 0, 1, 2 ...).  The law is bounded (finite
    ``n_pages``) and sampled exactly by inverting its cumulative distribution, unlike
    ``numpy.random.zipf``, which is unbounded and needs ``alpha > 1``.

    Parameters
    ----------
    n_pages, n_accesses, seed
        As in :func:`uniform`.
    alpha : float
        Skew, ``>= 0``; 0 is uniform, 1 the classic Zipf law, larger is more skewed.
    """
    n_pages = positive_int(n_pages, "n_pages")
    n_accesses = positive_int(n_accesses, "n_accesses")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    check_generator_memory("zipf", n_pages, n_accesses)
    rng = np.random.default_rng(seed)
    weights = np.arange(1, n_pages + 1, dtype=np.float64) ** -alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0  # rounding must not leave a u in [cdf[-1], 1) without a rank
    page_of_rank = rng.permutation(n_pages).astype(_page_dtype(n_pages))
    trace = np.empty(n_accesses, dtype=page_of_rank.dtype)
    for start, stop in _blocks(n_accesses):
        ranks = np.searchsorted(cdf, rng.random(stop - start), side="right")
        trace[start:stop] = page_of_rank[ranks]
    return trace


def hot_set(
    n_pages: int,
    n_accesses: int,
    *,
    hot_fraction: float = 0.1,
    hot_probability: float = 0.9,
    phases: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """GUPS-like: a hot set of pages receives most accesses, and moves at phase changes.

    The trace is cut into ``phases`` equal phases.  Each phase draws its own hot set, a
    random ``hot_fraction`` of the pages; an access goes to a uniformly chosen hot page
    with probability ``hot_probability`` and to a uniformly chosen page of the whole
    address space otherwise (HeMem's GUPS variant: 90 % of updates to a hot set).

    Parameters
    ----------
    n_pages, n_accesses, seed
        As in :func:`uniform`.
    hot_fraction : float
        Share of the pages in each phase's hot set, in (0, 1].
    hot_probability : float
        Probability that an access goes to the hot set, in [0, 1].
    phases : int
        Number of phases; the hot set is redrawn at the start of each.
    """
    n_pages = positive_int(n_pages, "n_pages")
    n_accesses = positive_int(n_accesses, "n_accesses")
    hot_fraction = _fraction(hot_fraction, "hot_fraction")
    hot_probability = _fraction(hot_probability, "hot_probability", open_low=False)
    phases = positive_int(phases, "phases")
    if phases > n_accesses:
        raise ValueError(f"phases ({phases}) cannot exceed n_accesses ({n_accesses})")
    check_generator_memory("hot_set", n_pages, n_accesses)
    rng = np.random.default_rng(seed)
    n_hot = max(1, int(round(hot_fraction * n_pages)))
    dtype = _page_dtype(n_pages)
    trace = np.empty(n_accesses, dtype=dtype)
    bounds = np.linspace(0, n_accesses, phases + 1).round().astype(np.int64)
    for phase_start, phase_stop in zip(bounds[:-1], bounds[1:]):
        hot_pages = rng.choice(n_pages, n_hot, replace=False).astype(dtype)
        for start in range(phase_start, phase_stop, _BLOCK):
            stop = min(phase_stop, start + _BLOCK)
            size = stop - start
            to_hot = rng.random(size) < hot_probability
            block = rng.integers(0, n_pages, size, dtype=dtype)
            block[to_hot] = hot_pages[rng.integers(0, n_hot, int(to_hot.sum()))]
            trace[start:stop] = block
    return trace


def scan(n_pages: int, n_accesses: int, *, start: int = 0) -> np.ndarray:
    """A sequential sweep ``start, start + 1, ..., n_pages - 1, 0, 1, ...``.

    Deterministic without a seed.  A scan over more pages than the fast tier holds makes an
    LRU fast tier miss on every access after the first sweep.
    """
    n_pages = positive_int(n_pages, "n_pages")
    n_accesses = positive_int(n_accesses, "n_accesses")
    start = positive_int(start, "start", minimum=0)
    if start >= n_pages:
        raise ValueError(f"start ({start}) must be a page number below n_pages ({n_pages})")
    check_generator_memory("scan", n_pages, n_accesses)
    dtype = _page_dtype(n_pages)
    trace = np.empty(n_accesses, dtype=dtype)
    for block_start, block_stop in _blocks(n_accesses):
        trace[block_start:block_stop] = (
            np.arange(block_start + start, block_stop + start, dtype=np.int64) % n_pages
        )
    return trace


def mix(*traces, seed: int = 0) -> np.ndarray:
    """Interleave several traces at random, each keeping its own order and its own pages.

    Trace ``j``'s pages are shifted past those of traces ``0 .. j-1`` (by the sum of their
    ``max + 1``), so the parts share no page, as separate applications in one memcg.
    Each position of the result is drawn from the parts in proportion to their remaining
    lengths (a seeded random interleaving), so a part of twice the length is touched about
    twice as often throughout.

    Parameters
    ----------
    *traces : array_like of int
        At least one trace; their lengths add up to the result's length.
    seed : int
        Seed of the interleaving.

    Returns
    -------
    numpy.ndarray, shape (sum of lengths,)
    """
    if not traces:
        raise ValueError("mix needs at least one trace, e.g. mix(zipf(...), scan(...))")
    parts = [check_trace(trace, name=f"trace {j}") for j, trace in enumerate(traces)]
    for j, part in enumerate(parts):
        if int(part.min()) < 0:
            raise ValueError(f"trace {j} holds a negative page number ({int(part.min())}); page numbers start at 0")
    sizes = [int(part.max()) + 1 for part in parts]
    total_length = sum(len(p) for p in parts)
    from ..limits import check_memory

    check_memory(total_length * (4 + 8 + 8 + 8), f"mixing {len(parts)} traces of {total_length:,} accesses")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    total_pages = int(sum(sizes))
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(parts), dtype=np.int32), [len(p) for p in parts])
    rng.shuffle(labels)
    result = np.empty(len(labels), dtype=_page_dtype(total_pages))
    for j, (part, offset) in enumerate(zip(parts, offsets)):
        result[labels == j] = np.asarray(part, dtype=np.int64) + offset
    return result


def write_flags(n_accesses: int, write_share: float, *, seed: int = 0) -> np.ndarray:
    """Which accesses write: each one independently with probability ``write_share``.

    A workload's reads and writes (for policies that treat writes apart, as HeMem does).
    Deterministic in ``seed``, drawn in the same fixed blocks as the traces, with its own
    stream (``default_rng([seed, 1])``), so adding writes does not change a trace.

    Returns
    -------
    numpy.ndarray of bool, shape (n_accesses,)
    """
    n_accesses = positive_int(n_accesses, "n_accesses")
    write_share = _fraction(write_share, "write_share", open_low=False)
    rng = np.random.default_rng([seed, 1])
    flags = np.empty(n_accesses, dtype=bool)
    for start, stop in _blocks(n_accesses):
        flags[start:stop] = rng.random(stop - start) < write_share
    return flags


def writes_path(path) -> Path:
    """The file holding a trace's write flags: ``prog.npy`` -> ``prog.writes.npy``."""
    path = Path(path)
    return path.with_name(path.stem + ".writes.npy")


def check_trace(trace, *, name: str = "trace") -> np.ndarray:
    """Return ``trace`` as a one-dimensional integer array, or raise a clear ``ValueError``.

    Checks the shape, the dtype and that the trace is not empty; page ranges are checked
    by the simulator, chunk by chunk, so a memory-mapped trace is never loaded whole here.
    """
    if isinstance(trace, (str, os.PathLike)):
        raise ValueError(f"{name} is a path; open it with memtier.workloads.load_trace({str(trace)!r})")
    array = trace if isinstance(trace, np.ndarray) else np.asarray(trace)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one page number per access), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; a trace needs at least one access")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer page numbers, got dtype {array.dtype}")
    return array


def save_trace(trace, path, *, force: bool = False) -> Path:
    """Write a trace to a ``.npy`` file atomically (refusing to overwrite unless ``force``)."""
    from ..outputs import atomic_write

    trace = check_trace(trace)
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"{path}: a trace file must end in .npy")
    with atomic_write(path, force=force, binary=True) as handle:
        np.save(handle, trace)
    return path


def load_trace(path) -> np.ndarray:
    """Open a ``.npy`` trace memory-mapped (read-only): nothing is read until used."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trace file {path} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"trace file {path} is a folder; give a .npy file")
    with open(path, "rb") as handle:
        start = handle.read(6)
    if start and start != b"\x93NUMPY":  # numpy's own error spoke of pickles and allow_pickle=
        raise ValueError(f"{path} is not a numpy .npy trace (it starts {start!r}, not numpy's "
                         "b'\\x93NUMPY'); make one from a lackey log with 'memtier trace convert LOG --out "
                         "TRACE.npy', or from an array with memtier.workloads.save_trace")
    try:
        trace = np.load(path, mmap_mode="r", allow_pickle=False)
    except EOFError:
        raise ValueError(f"{path} is empty, not a numpy .npy trace; save one with memtier.workloads.save_trace "
                         "or memtier trace convert") from None
    except (ValueError, OSError) as error:
        raise ValueError(f"{path} is not a numpy .npy array file ({' '.join(str(error).split())})") from None
    if not isinstance(trace, np.ndarray):
        raise ValueError(f"{path} is not a numpy .npy array file (an .npz archive?)")
    return check_trace(trace, name=str(path))


#: Bytes per page and per access each generator allocates (the trace, random numbers and
#: index temporaries of one block of :data:`_BLOCK` accesses, the per-page tables of zipf and
#: hot_set), for :func:`check_generator_memory`.
_GENERATOR_BYTES = {
    "uniform": (0, 8),
    "zipf": (8 + 8 + 8 + 8, 8),       # weights, cdf, permutation (int64, then cast)
    "hot_set": (8 + 8, 8),            # rng.choice's permutation of all pages
    "scan": (0, 8),
}


def check_generator_memory(name: str, n_pages: int, n_accesses: int, words=None) -> None:
    """Refuse, before allocating, a generated trace that would not fit in memory.

    ``words`` renames the arguments in the message (the command line passes
    ``{"n_pages": "--pages", "n_accesses": "--accesses"}``).
    """
    from ..limits import check_memory

    words = words or {}
    per_page, per_access = _GENERATOR_BYTES.get(name, (8, 8))
    block = min(int(n_accesses), _BLOCK) * 32
    needed = int(n_pages) * per_page + int(n_accesses) * per_access + block
    check_memory(needed, f"{name} with {words.get('n_pages', 'n_pages')} {int(n_pages):,} and "
                 f"{words.get('n_accesses', 'n_accesses')} {int(n_accesses):,}",
                 f"use fewer {words.get('n_pages', 'n_pages')} or {words.get('n_accesses', 'n_accesses')}")


#: Generators the command line and the notebooks can name.
GENERATORS = {"uniform": uniform, "zipf": zipf, "hot_set": hot_set, "scan": scan}
