"""Copy kernels for the bandwidth measurement: page-sized blocks, one or many threads.

The kernels copy the way the RFC's multi-threaded page copy does (mm/copy_page.c of the
patches): a call copies a list of pages; with several threads each thread takes a
contiguous share of the list, and when the list has fewer pages than threads the pages are
cut into equal cache-line-aligned pieces, as ``copy_page_multithread`` cuts one THP.

How the bytes are moved, and why:

* Stores are non-temporal (streaming): a migrated page is not read back soon, and ordinary
  stores first read each destination line into the cache (write-allocate), so a third of
  the memory traffic would be reads nobody asked for.  glibc's ``memcpy`` (and so numpy)
  switches to the same stores for copies larger than the cache; measured on a 2-core Xeon
  VM, ordinary stores reached 7.0 GB/s where numpy's whole-array copy reached 11.7 GB/s.
* Inside a block of 16 KiB or more, four 4 KiB pieces are copied in turn 256 bytes at a
  time, as glibc's ``large_memcpy_4x`` does: interleaving four streams keeps more DRAM
  pages open (9.6 GB/s with one stream against 12.4 GB/s with four, same VM).
* Each thread's share ends with a store fence, so the copy is complete and visible when
  the call returns.

Kernels take contiguous ``uint8`` arrays whose offsets and lengths :func:`copy_pages`
has checked; nothing here checks bounds.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from .._jit import load_kernel, njit, njit_parallel

LINE = 64  # bytes moved by one vector load and one streaming store
PIECE = 4096  # bytes of each of the four interleaved streams
STRIDE = 256  # bytes taken from one stream before moving to the next


@intrinsic
def _stream_lines(typingctx, dst, dst_start, src, src_start, lines):
    """Copy ``lines`` 64-byte lines from ``src[src_start:]`` to ``dst[dst_start:]``, streaming."""
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        dst_value, dst_offset, src_value, src_offset, count = args
        dst_data = context.make_array(signature.args[0])(context, builder, dst_value).data
        src_data = context.make_array(signature.args[2])(context, builder, src_value).data
        vector = ir.VectorType(ir.IntType(64), LINE // 8).as_pointer()
        dst_lines = builder.bitcast(cgutils.gep(builder, dst_data, dst_offset), vector)
        src_lines = builder.bitcast(cgutils.gep(builder, src_data, src_offset), vector)
        nontemporal = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
        with cgutils.for_range(builder, count) as loop:
            line = builder.load(builder.gep(src_lines, [loop.index]), align=LINE)
            store = builder.store(line, builder.gep(dst_lines, [loop.index]), align=LINE)
            store.set_metadata("nontemporal", nontemporal)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _store_fence(typingctx):
    """Order every earlier store, streaming ones included, before any later memory access."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return sig, codegen


@njit
def _copy_block(src, dst, start, nbytes):
    """Copy one block; four interleaved streams for blocks of 16 KiB and more."""
    done = 0
    while done + 4 * PIECE <= nbytes:
        base = start + done
        for offset in range(0, PIECE, STRIDE):
            for stream in range(4):
                at = base + stream * PIECE + offset
                _stream_lines(dst, at, src, at, STRIDE // LINE)
        done += 4 * PIECE
    if done < nbytes:
        _stream_lines(dst, start + done, src, start + done, (nbytes - done) // LINE)


@njit
def _copy_share(src, dst, low, high, block_bytes):
    """Copy ``[low, high)`` block by block, then fence."""
    at = low
    while at < high:
        nbytes = min(block_bytes, high - at)
        _copy_block(src, dst, at, nbytes)
        at += nbytes
    _store_fence()


@njit
def _share(call_start, page_bytes, pages_per_call, threads, thread):
    """Byte range ``[low, high)`` that ``thread`` copies in the call starting at ``call_start``."""
    if pages_per_call >= threads:
        low = call_start + (thread * pages_per_call // threads) * page_bytes
        high = call_start + ((thread + 1) * pages_per_call // threads) * page_bytes
    else:
        lines = pages_per_call * page_bytes // LINE
        low = call_start + (thread * lines // threads) * LINE
        high = call_start + ((thread + 1) * lines // threads) * LINE
    return low, high


@njit
def _copy_calls(src, dst, page_bytes, pages_per_call, calls):
    """One thread: ``calls`` consecutive calls of ``pages_per_call`` pages each."""
    call_bytes = page_bytes * pages_per_call
    for call in range(calls):
        _copy_share(src, dst, call * call_bytes, (call + 1) * call_bytes, page_bytes)


@njit_parallel
def _copy_calls_threaded(src, dst, page_bytes, pages_per_call, calls, threads):
    """``threads`` threads per call, each copying its share; the calls run one after another."""
    call_bytes = page_bytes * pages_per_call
    for call in range(calls):
        for thread in prange(threads):
            low, high = _share(call * call_bytes, page_bytes, pages_per_call, threads, thread)
            _copy_share(src, dst, low, high, page_bytes)


#: The argument types :func:`copy_pages` passes its kernels: the buffers (writable, contiguous
#: uint8), then whole numbers.
_BUFFER = types.Array(types.uint8, 1, "C")
_COPY_CALLS = (_BUFFER, _BUFFER, types.int64, types.int64, types.int64)


def load_copy_kernels(threaded: bool) -> None:
    """Make the copy kernels ready before the first timed call: loaded from numba's cache, or
    compiled on a first run (seconds on an idle machine, minutes on a loaded one), so that a
    caller can say so first (:func:`memtier._jit.when_compiling`).  ``threaded``: the
    several-thread kernel too."""
    load_kernel(_copy_calls, _COPY_CALLS)
    if threaded:
        load_kernel(_copy_calls_threaded, _COPY_CALLS + (types.int64,))


def max_threads() -> int:
    """The most copy threads this process can run (numba's thread pool size)."""
    return numba.config.NUMBA_NUM_THREADS


def copy_pages(src: np.ndarray, dst: np.ndarray, page_bytes: int, pages_per_call: int,
               threads: int = 1, calls: int | None = None) -> int:
    """Copy ``src`` into ``dst`` in calls of ``pages_per_call`` pages of ``page_bytes`` bytes.

    Parameters
    ----------
    src, dst : numpy.ndarray
        One-dimensional, C-contiguous ``uint8`` arrays of equal length, starting on a 64-byte
        boundary (memtier's :class:`memtier.measurement.numa.Region` gives such arrays).
    page_bytes : int
        Bytes of one page: a power of two of at least 4096.
    pages_per_call : int
        Pages copied by one call; the threads share each call's pages.
    threads : int
        Copy threads, from 1 to :func:`max_threads`.
    calls : int, optional
        Calls to make (default: as many as fit in the buffers).

    Returns
    -------
    int
        Bytes copied.
    """
    for name, array in (("src", src), ("dst", dst)):
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 1:
            raise TypeError(f"{name} must be a one-dimensional numpy array of uint8")
        if not array.flags.c_contiguous:
            raise ValueError(f"{name} must be contiguous; pass np.ascontiguousarray({name})")
        if array.ctypes.data % LINE:
            raise ValueError(f"{name} must start on a {LINE}-byte boundary; allocate it with memtier.measurement.numa.Region")
    if src.size != dst.size:
        raise ValueError(f"src and dst differ in size ({src.size} and {dst.size} bytes)")
    if not dst.flags.writeable:
        raise ValueError("dst is read-only")
    page_bytes, pages_per_call, threads = int(page_bytes), int(pages_per_call), int(threads)
    if page_bytes < 4096 or page_bytes & (page_bytes - 1):
        raise ValueError(f"page_bytes={page_bytes} must be a power of two of at least 4096")
    if pages_per_call < 1:
        raise ValueError(f"pages_per_call={pages_per_call} must be at least 1")
    if not 1 <= threads <= max_threads():
        raise ValueError(f"threads={threads} must be from 1 to {max_threads()} (the cores numba may use)")
    call_bytes = page_bytes * pages_per_call
    fit = src.size // call_bytes
    calls = fit if calls is None else int(calls)
    if calls < 1 or calls > fit:
        raise ValueError(
            f"the buffers ({src.size} bytes) hold {fit} call(s) of {pages_per_call} x {page_bytes} bytes; "
            f"calls={calls} is out of range"
        )
    if threads == 1:
        _copy_calls(src, dst, page_bytes, pages_per_call, calls)
    else:
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            _copy_calls_threaded(src, dst, page_bytes, pages_per_call, calls, threads)
        finally:
            numba.set_num_threads(before)
    return calls * call_bytes
