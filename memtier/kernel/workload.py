"""The workload kernel-check runs, and its accesses as memtier sees them.

:class:`Workload` is one run of the guest's program (``kernel_workload.c``): its kind (``hot_set``,
``phase``, ``zipf``, or a recorded ``trace`` replayed after the fill), its size and hot set, its
rate and its checkpoints.  :func:`access_stream` gives every page the program accesses, in order,
made here as the program makes it (its ``splitmix64``, zipf's shuffle and weights, the trace round
and round), :func:`stream_digests` the program's digest of them (the guest's rows carry it at every
checkpoint), :func:`hot_mask` the pages the program counts as hot at a checkpoint,
:func:`trace_file_bytes` the file the program's trace build reads, and :func:`workload_record` the
workload as a run's ``guest.json`` keeps it.  :class:`KernelCheckError`, the error of all of
kernel-check, lives here: every other module of :mod:`memtier.kernel` imports this one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

WORKLOADS = ("hot_set", "phase", "zipf", "trace")
#: A replayed trace's accesses at most: the guest's program holds them in node 0's memory (4 bytes
#: each, 16 MB here, read before its start and counted as its own pages,
#: :func:`memtier.kernel.settings.own_pages`), and the initramfs carries the file.
MAX_TRACE_ACCESSES = 1 << 22
PAGE = 4096
_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
_FNV = 0x100000001B3
_M64 = (1 << 64) - 1


class KernelCheckError(ValueError):
    """A bad argument or a guest result that cannot be compared (one-line message)."""


@dataclasses.dataclass(frozen=True)
class Workload:
    """One run of the workload program: what it accesses and how fast."""

    kind: str = "hot_set"
    total_mb: int = 1000
    hot_mb: int = 128
    seconds: float = 60.0
    rate: int = 200_000  # accesses a second of guest time
    slot_us: int = 1000
    checkpoint_ms: int = 1000
    seed: int = 1
    alpha: float = 1.0
    trace: str | None = None  # kind "trace": a .npy trace of page numbers (memtier.workloads.save_trace)

    def __post_init__(self):
        if self.kind not in WORKLOADS:
            raise KernelCheckError(f"--workload {self.kind!r} is not one of {', '.join(WORKLOADS)}")
        if (self.kind == "trace") != (self.trace is not None):
            raise KernelCheckError("--trace FILE.npy goes with --workload trace, and --workload trace needs it "
                                   f"(got --workload {self.kind} and --trace {self.trace})")
        for name in ("total_mb", "hot_mb", "rate", "slot_us", "checkpoint_ms"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise KernelCheckError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.hot_mb > self.total_mb:
            raise KernelCheckError(f"--hot-mb {self.hot_mb} is more than --total-mb {self.total_mb}; "
                                   "the hot set is part of the memory")
        if self.total_mb > 1400:
            raise KernelCheckError(f"--total-mb {self.total_mb} does not fit the guest (node 0: 512 MB, "
                                   "node 1: 1152 MB, and the guest's own); give at most 1400")
        if not (isinstance(self.seconds, (int, float)) and math.isfinite(self.seconds) and self.seconds > 0):
            raise KernelCheckError(f"--seconds must be a positive number, got {self.seconds!r}")
        if (self.checkpoint_ms * 1000) % self.slot_us:
            raise KernelCheckError(f"the checkpoint ({self.checkpoint_ms} ms) must be a whole number of slots "
                                   f"({self.slot_us} us)")
        if self.per_slot < 1:
            raise KernelCheckError(f"--rate {self.rate} gives no access in a slot of {self.slot_us} us")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise KernelCheckError(f"alpha must be a positive number, got {self.alpha!r}")
        if not 0 <= self.seed < 1 << 63:
            raise KernelCheckError(f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}")
        if self.checkpoints < 1:
            raise KernelCheckError(f"--seconds {self.seconds} is shorter than one checkpoint ({self.checkpoint_ms} ms)")
        if self.n_accesses <= self.total_pages:
            raise KernelCheckError(f"{self.seconds} s at {self.rate} accesses/s do not even fill "
                                   f"{self.total_mb} MB; run longer or faster")
        if self.kind == "trace":
            pages, hot = _read_trace(self)
            object.__setattr__(self, "_trace_pages", pages)
            object.__setattr__(self, "_trace_hot", hot)

    @property
    def trace_pages(self) -> np.ndarray:
        """kind ``"trace"``: the trace's page numbers (int32), as the program replays them."""
        return self._trace_pages

    @property
    def total_pages(self) -> int:
        return self.total_mb * (1 << 20) // PAGE

    @property
    def hot_pages(self) -> int:
        return self.hot_mb * (1 << 20) // PAGE

    @property
    def per_slot(self) -> int:
        return int(round(self.rate * self.slot_us * 1e-6))

    @property
    def slots(self) -> int:
        return int(round(self.seconds * 1e6 / self.slot_us))

    @property
    def slots_per_checkpoint(self) -> int:
        return self.checkpoint_ms * 1000 // self.slot_us

    @property
    def checkpoints(self) -> int:
        return self.slots // self.slots_per_checkpoint

    @property
    def n_accesses(self) -> int:
        return self.slots * self.per_slot

    @property
    def access_ns(self) -> float:
        """Nominal guest time of one access."""
        return self.slot_us * 1e3 / self.per_slot

    @property
    def switch_at(self) -> int:
        """``phase``: the access number from which the hot set is pages 0 .. hot - 1."""
        return (self.slots // 2) * self.per_slot

    def arguments(self, out: str, trace_file: str | None = None) -> list[str]:
        """The workload program's command line (kind ``"trace"``: the program built with
        ``trace=True``, :func:`memtier.kernel.check.build_workload`, and ``trace_file`` where it finds
        :func:`trace_file_bytes`)."""
        if (self.kind == "trace") != (trace_file is not None):
            raise KernelCheckError("the program's trace file goes with kind 'trace' only")
        return [self.kind, str(self.total_pages), str(self.hot_pages), repr(float(self.seconds)), str(self.rate),
                str(self.slot_us), str(self.checkpoint_ms), str(self.seed), repr(float(self.alpha)), out] + (
                    [trace_file] if trace_file is not None else [])


def _read_trace(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    """``w.trace`` read and checked (one line naming what to change if not): its pages (int32)
    and the hot set, the ``w.hot_pages`` pages it accesses most (ties: the lower page number)."""
    from ..traces.workloads import load_trace

    try:
        pages = load_trace(w.trace)
    except (OSError, ValueError) as error:
        raise KernelCheckError(f"--trace: {' '.join(str(error).split())}") from None
    if pages.size > MAX_TRACE_ACCESSES:
        raise KernelCheckError(f"--trace {w.trace} has {pages.size} accesses; the guest's program holds at most "
                               f"{MAX_TRACE_ACCESSES} (16 MB of node 0): save a part of it, or every "
                               f"{-(-pages.size // MAX_TRACE_ACCESSES)}th access, with memtier.workloads.save_trace("
                               f"trace[:{MAX_TRACE_ACCESSES}] or trace[::{-(-pages.size // MAX_TRACE_ACCESSES)}], "
                               "...); it is replayed round and round")
    low, high = int(pages.min()), int(pages.max())
    if low < 0:
        raise KernelCheckError(f"--trace {w.trace} has a negative page number ({low}); pages are 0 and up")
    if high >= w.total_pages:
        raise KernelCheckError(f"--trace {w.trace} accesses page {high}, beyond the {w.total_pages} pages of "
                               f"--total-mb {w.total_mb}; give --total-mb {-(-(high + 1) * PAGE // (1 << 20))} or "
                               "more (pages beyond the trace's are filled and stay cold)")
    pages = np.asarray(pages, dtype=np.int32)
    counts = np.bincount(pages, minlength=w.total_pages)
    touched = int((counts > 0).sum())
    if w.hot_pages > touched:
        raise KernelCheckError(f"--hot-mb {w.hot_mb} ({w.hot_pages} pages) is more than the {touched} pages "
                               f"--trace {w.trace} accesses; give --hot-mb {touched * PAGE // (1 << 20)} or less")
    order = np.lexsort((np.arange(w.total_pages), -counts))  # most accessed first, then lower page numbers
    hot = np.zeros(w.total_pages, dtype=bool)
    hot[order[:w.hot_pages]] = True
    return pages, hot


def trace_file_bytes(w: Workload) -> bytes:
    """The file the program's trace build reads (``read_trace`` in ``kernel_workload.c``):
    ``b"MTTRACE1"``, the trace's length and the mapping's pages (little-endian uint64), the
    pages (uint32) and one byte a page of the mapping, 1 for the hot set."""
    head = np.array([w.trace_pages.size, w.total_pages], dtype="<u8").tobytes()
    return (b"MTTRACE1" + head + w.trace_pages.astype("<u4").tobytes()
            + w._trace_hot.astype(np.uint8).tobytes())


# --- the access stream, as the program makes it -------------------------------------------------


def _splitmix64(seed: int, first: int, count: int) -> np.ndarray:
    """Outputs ``first + 1 .. first + count`` of splitmix64 from ``seed`` (the program's
    ``splitmix64``: the k-th output mixes ``seed + k x 0x9E37...``)."""
    with np.errstate(over="ignore"):
        k = np.arange(first + 1, first + count + 1, dtype=np.uint64)
        z = np.uint64(seed) + k * np.uint64(_MIX[0])
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX[1])
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX[2])
        return z ^ (z >> np.uint64(31))


def _zipf_tables(w: Workload):
    """``(page_of_rank, cdf, outputs used)``: the program's shuffle and cumulative weights,
    read-only, made once per Workload (0.16 s at 600 MB: the stream and every checkpoint's hot
    mask ask for them)."""
    made = w.__dict__.get("_zipf")
    if made is None:
        made = _make_zipf_tables(w)
        for table in made[:2]:
            table.flags.writeable = False
        object.__setattr__(w, "_zipf", made)
    return made


def _make_zipf_tables(w: Workload):
    n = w.total_pages
    draws = _splitmix64(w.seed, 0, n - 1)
    page_of_rank = np.arange(n, dtype=np.int64)
    for step, i in enumerate(range(n - 1, 0, -1)):  # Fisher-Yates from the end, as the program
        j = int(draws[step]) % (i + 1)
        page_of_rank[i], page_of_rank[j] = page_of_rank[j], page_of_rank[i]
    cdf = np.cumsum(1.0 / np.power(np.arange(1, n + 1, dtype=np.float64), w.alpha))
    return page_of_rank, cdf, n - 1


def access_stream(w: Workload) -> np.ndarray:
    """Every page number the workload program accesses, in order (int32)."""
    n, hot = w.total_pages, w.hot_pages
    j = np.arange(n, w.n_accesses, dtype=np.int64)
    if w.kind == "zipf":
        page_of_rank, cdf, used = _zipf_tables(w)
        u = (_splitmix64(w.seed, used, j.size) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 * cdf[-1]
        after = page_of_rank[np.searchsorted(cdf, u, side="right")]
    elif w.kind == "trace":  # after the fill, the trace round and round
        after = w.trace_pages[(j - n) % w.trace_pages.size]
    else:
        after = n - hot + (j - n) % hot
        if w.kind == "phase":
            moved = j >= w.switch_at
            after[moved] = (j[moved] - w.switch_at) % hot
    return np.concatenate([np.arange(n), after]).astype(np.int32)


def hot_mask(w: Workload, checkpoint: int) -> np.ndarray:
    """The hot pages at the end of checkpoint ``checkpoint`` (1-based), as the program counts them."""
    mask = np.zeros(w.total_pages, dtype=bool)
    if w.kind == "zipf":
        mask[_zipf_tables(w)[0][:w.hot_pages]] = True
    elif w.kind == "trace":
        mask[w._trace_hot] = True
    elif w.kind == "phase" and checkpoint * w.slots_per_checkpoint * w.per_slot > w.switch_at:
        mask[:w.hot_pages] = True
    else:
        mask[w.total_pages - w.hot_pages:] = True
    return mask


def stream_digests(stream: np.ndarray, ends) -> list[int]:
    """The program's digest (``d = d x 0x100000001B3 + page + 1`` mod 2**64) after each of ``ends`` accesses."""
    digests, d, start = [], 0, 0
    chunk = 1 << 20
    with np.errstate(over="ignore"):
        for end in ends:
            for lo in range(start, end, chunk):
                part = stream[lo:min(end, lo + chunk)].astype(np.uint64) + np.uint64(1)
                powers = np.cumprod(np.full(part.size, _FNV, dtype=np.uint64))[::-1]  # FNV^(len-i)
                # d x FNV^len + sum part_i x FNV^(len-1-i)
                tail = int(np.sum(part[:-1] * powers[1:], dtype=np.uint64)) + int(part[-1])
                d = (d * int(powers[0]) + tail) & _M64
            digests.append(d)
            start = end
    return digests


def trace_digest(w: Workload) -> str:
    """sha256 of a trace workload's pages as int32 (its provenance in the outputs)."""
    return hashlib.sha256(np.ascontiguousarray(w.trace_pages, dtype="<i4").tobytes()).hexdigest()


def workload_record(w: Workload) -> dict:
    """The workload as a run's ``guest.json`` keeps it (``"workload"``): its fields, a trace by its
    copy beside ``guest.json`` (``"trace.npy"``) and that copy's :func:`trace_digest`
    (``"trace_sha256"``), so that :func:`memtier.kernel.saved.load_run` finds it and checks it."""
    record = dataclasses.asdict(w)
    if w.kind == "trace":
        record["trace"] = "trace.npy"
        record["trace_sha256"] = trace_digest(w)
    return record
