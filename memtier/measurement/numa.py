"""Where memory lives: NUMA nodes, memory policy and page moves through the C library.

Python has no binding for ``mbind(2)`` or ``move_pages(2)`` and libnuma is often not
installed, so memtier calls the system calls itself through ``syscall(3)`` from the C
library with :mod:`ctypes`.  The system call numbers differ per architecture; they are
taken from the kernel's ``asm/unistd*.h`` and only architectures listed in
:data:`SYSCALLS` are supported (others get a clear error, never a wrong call).

What the kernel says is checked, not trusted blindly: a ``-EBUSY`` in ``move_pages``'s status
array is asked again (:func:`settle_busy`: Linux 6.1 reports it for a subpage of a THP that did
move), and :class:`pin_threads` keeps every thread of a measurement on one node's CPUs (a
CPU-less node, as persistent and CXL memory appear, has none to offer).  Both were run on a
real two-node kernel in a QEMU guest (tests/test_numa_vm.py).

Everything a user can get wrong (a node that does not exist, a node without memory, no
permission to move pages, no THP) raises :class:`NumaError` with a one-line message that
says what to do.  The machine itself is described by :func:`describe_machine` from
``/proc/cpuinfo``, ``/sys/devices/system/node`` and ``/sys/kernel/mm/transparent_hugepage``.
"""
from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: (mbind, set_mempolicy, move_pages) system call numbers, from the kernel headers:
#: arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h (arm64,
#: riscv64, loongarch64), arch/powerpc/kernel/syscalls/syscall.tbl.
SYSCALLS = {
    "x86_64": (237, 238, 279),
    "aarch64": (235, 237, 239),
    "riscv64": (235, 237, 239),
    "loongarch64": (235, 237, 239),
    "ppc64le": (259, 261, 301),
    "ppc64": (259, 261, 301),
}

MPOL_DEFAULT = 0
MPOL_BIND = 2
MPOL_MF_STRICT = 1 << 0
MPOL_MF_MOVE = 1 << 1

NODE_ROOT = Path("/sys/devices/system/node")
THP_ROOT = Path("/sys/kernel/mm/transparent_hugepage")
HUGE_PAGE_BYTES = 2 << 20


class NumaError(RuntimeError):
    """A NUMA operation the machine or the user's choice does not allow (one-line message)."""


class ThpNotObtained(NumaError):
    """The kernel backed a region asked to be huge with base pages (THP off, or no free 2 MiB)."""


@dataclass(frozen=True)
class Node:
    """One NUMA node: its number, CPUs and memory (bytes)."""

    node: int
    cpus: tuple[int, ...]
    memory_bytes: int


# --- discovery --------------------------------------------------------------------------------


def _parse_cpulist(text: str) -> tuple[int, ...]:
    """``"0-3,8,10-11"`` -> ``(0, 1, 2, 3, 8, 10, 11)``, the kernel's cpulist format."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return tuple(cpus)


def nodes(root: Path = NODE_ROOT) -> list[Node]:
    """The machine's online NUMA nodes, read from ``/sys/devices/system/node``.

    A kernel without NUMA support has no such folder; it is described as one node 0 holding
    all CPUs and memory, which is what it is.
    """
    root = Path(root)
    found = []
    for path in sorted(root.glob("node[0-9]*"), key=lambda p: int(p.name[4:])):
        cpus = _parse_cpulist((path / "cpulist").read_text()) if (path / "cpulist").exists() else ()
        memory = 0
        meminfo = path / "meminfo"
        if meminfo.exists():
            match = re.search(r"MemTotal:\s+(\d+)\s*kB", meminfo.read_text())
            memory = int(match.group(1)) * 1024 if match else 0
        found.append(Node(int(path.name[4:]), cpus, memory))
    if not found:
        found.append(Node(0, tuple(sorted(os.sched_getaffinity(0))), os.sysconf("SC_PHYS_PAGES") * mmap.PAGESIZE))
    return found


def _describe_nodes(found: list[Node]) -> str:
    return ", ".join(f"{n.node} ({n.memory_bytes / 2**30:.1f} GiB)" for n in found)


def check_node(node: int, found: list[Node] | None = None) -> Node:
    """The :class:`Node` numbered ``node``, or a :class:`NumaError` naming the nodes there are."""
    found = nodes() if found is None else found
    for candidate in found:
        if candidate.node == node:
            if candidate.memory_bytes <= 0:
                raise NumaError(
                    f"NUMA node {node} has no memory (CPUs only); pick one of the nodes with memory: "
                    + _describe_nodes([n for n in found if n.memory_bytes > 0])
                )
            return candidate
    raise NumaError(f"NUMA node {node} does not exist; this machine has node(s) {_describe_nodes(found)}")


def thp_setting(root: Path = THP_ROOT) -> str:
    """The THP mode in force (``always``, ``madvise`` or ``never``), ``unsupported`` without THP."""
    path = Path(root) / "enabled"
    if not path.exists():
        return "unsupported"
    match = re.search(r"\[(\w+)\]", path.read_text())
    return match.group(1) if match else "unsupported"


def base_page_bytes() -> int:
    """The kernel's base page size (4 KiB on x86-64; 4 or 64 KiB on arm64 and Power)."""
    return mmap.PAGESIZE


def thp_bytes(root: Path = THP_ROOT) -> int:
    """Size of a transparent huge page (``hpage_pmd_size``; 2 MiB where the kernel does not say)."""
    path = Path(root) / "hpage_pmd_size"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return HUGE_PAGE_BYTES


def thp_available(root: Path = THP_ROOT) -> bool:
    """True when an ``madvise(MADV_HUGEPAGE)`` region may be backed by 2 MiB pages."""
    return thp_setting(root) in ("always", "madvise") and hasattr(mmap, "MADV_HUGEPAGE")


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    for key in ("model name", "Model", "cpu", "uarch"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return " ".join(match.group(1).split())
    return platform.machine()


def last_level_cache_bytes(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Bytes of the largest CPU cache (0 when the kernel does not say)."""
    largest = 0
    for size in Path(root).glob("index*/size"):
        match = re.match(r"(\d+)([KMG]?)", size.read_text().strip())
        if match:
            largest = max(largest, int(match.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2)])
    return largest


def describe_machine() -> dict:
    """What the measurements were taken on: CPU, cores, nodes, memory per node, kernel, THP."""
    found = nodes()
    return {
        "cpu_model": _cpu_model(),
        "architecture": platform.machine(),
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)),
        "numa_nodes": [
            {"node": n.node, "cpus": list(n.cpus), "memory_bytes": n.memory_bytes} for n in found
        ],
        "last_level_cache_bytes": last_level_cache_bytes(),
        "kernel": platform.release(),
        "thp": thp_setting(),
    }


def machine_summary(description: dict) -> str:
    """The short description stored in each row's ``machine`` column."""
    count = len(description["numa_nodes"])
    return (
        f"{description['cpu_model']}, {description['cores']} cores, {count} NUMA node"
        f"{'s' if count != 1 else ''}, Linux {description['kernel']}, THP {description['thp']}"
    )


def usable_cpus(node: Node) -> tuple[int, ...]:
    """The CPUs of ``node`` this process may run on (its cpuset and affinity allowing)."""
    allowed = os.sched_getaffinity(0)
    return tuple(cpu for cpu in node.cpus if cpu in allowed)


def _threads(task_root: Path = Path("/proc/self/task")) -> list[int]:
    return sorted(int(task.name) for task in task_root.iterdir() if task.name.isdigit())


class pin_threads:
    """Run every thread of this process on ``cpus`` inside a ``with`` block, then restore.

    Each thread's affinity is set (``sched_setaffinity(2)`` on its thread id, from
    ``/proc/self/task``), so threads that already exist, numba's copy threads included, move
    too; a thread started inside the block inherits the mask from the thread that starts it.
    On exit each thread gets back the mask it had, and a thread started inside the block
    gets the mask the process had before.
    """

    def __init__(self, cpus):
        self.cpus = frozenset(int(cpu) for cpu in cpus)
        if not self.cpus:
            raise ValueError("pin_threads needs at least one CPU")
        self._before: dict[int, set[int]] = {}

    def __enter__(self):
        self._default = os.sched_getaffinity(0)
        for tid in _threads():
            try:
                self._before[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, self.cpus)
            except ProcessLookupError:  # the thread ended meanwhile
                self._before.pop(tid, None)
            except OSError as error:
                self.__exit__()
                raise NumaError(f"cannot run on CPUs {sorted(self.cpus)} ({error.strerror}); "
                                "check the cgroup's cpuset.cpus") from None
        return self

    def __exit__(self, *exc):
        for tid in _threads():
            try:
                os.sched_setaffinity(tid, self._before.get(tid, self._default))
            except OSError:  # ended meanwhile
                pass
        self._before.clear()


# --- system calls -------------------------------------------------------------------------------


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _numbers() -> tuple[int, int, int]:
    arch = platform.machine()
    if arch not in SYSCALLS:
        raise NumaError(
            f"memtier does not know the NUMA system call numbers of {arch!r}; "
            f"supported: {', '.join(SYSCALLS)}"
        )
    return SYSCALLS[arch]


_ERRORS = {
    errno.EPERM: "permission denied (EPERM): the kernel or a container's seccomp profile forbids "
    "{call}; run outside the container or grant CAP_SYS_NICE",
    errno.EACCES: "{call}: a target node outside this process's cpuset (EACCES); "
    "check the cgroup's cpuset.mems",
    errno.ENOSYS: "the kernel has no {call} (ENOSYS): it was built without NUMA support (CONFIG_NUMA)",
    errno.ENODEV: "{call}: the target node has no memory or is offline (ENODEV)",
    errno.EINVAL: "{call} refused its arguments (EINVAL): a node outside the machine or outside "
    "this process's cpuset (cpuset.mems)",
    errno.ENOMEM: "{call}: the node has no free memory left (ENOMEM)",
    errno.EFAULT: "{call}: an address outside the process (EFAULT)",
}


def _raise_errno(call: str) -> None:
    code = ctypes.get_errno()
    template = _ERRORS.get(code, f"{{call}} failed: {os.strerror(code)} ({errno.errorcode.get(code, code)})")
    raise NumaError(template.format(call=call))


def _nodemask(node: int) -> tuple[ctypes.Array, int]:
    words = node // 64 + 1
    mask = (ctypes.c_ulong * words)()
    mask[node // 64] = 1 << (node % 64)
    # maxnode counts bits and the kernel reads maxnode - 1 of them.
    return mask, words * 64 + 1


def bind(address: int, length: int, node: int | None) -> None:
    """``mbind(2)`` the page-aligned range to ``node`` (``None``: back to the default policy).

    Only pages touched afterwards are placed by the policy; pages already present stay where
    they are (no ``MPOL_MF_MOVE``), which is what a measurement that moves them itself wants.
    """
    if node is None:
        mode, mask, maxnode = MPOL_DEFAULT, None, 0
    else:
        mode, (mask, maxnode) = MPOL_BIND, _nodemask(node)
    # syscall(3) is variadic: every argument is passed as a full machine word.
    result = _libc().syscall(ctypes.c_long(_numbers()[0]), ctypes.c_void_p(address), ctypes.c_ulong(length),
                             ctypes.c_long(mode), mask, ctypes.c_ulong(maxnode), ctypes.c_ulong(0))
    if result != 0:
        _raise_errno("mbind")


class PageMover:
    """One prepared ``move_pages(2)`` call: arrays and arguments are built once, so timing
    :meth:`move` times the system call and not the preparation."""

    def __init__(self, addresses: np.ndarray, node: int | None):
        self.pages = np.ascontiguousarray(addresses, dtype=np.uint64)
        self.status = np.empty(self.pages.size, dtype=np.int32)
        self.targets = None if node is None else np.full(self.pages.size, node, dtype=np.int32)
        self._syscall = _libc().syscall
        self._args = (  # full machine words: syscall(3) is variadic
            ctypes.c_long(_numbers()[2]), ctypes.c_long(0), ctypes.c_ulong(self.pages.size),
            ctypes.c_void_p(self.pages.ctypes.data),
            ctypes.c_void_p(None if self.targets is None else self.targets.ctypes.data),
            ctypes.c_void_p(self.status.ctypes.data), ctypes.c_long(MPOL_MF_MOVE),
        )

    def move(self) -> np.ndarray:
        """Make the call; returns the status array (see :func:`move_pages`)."""
        self.status.fill(-errno.ENOENT)
        if self._syscall(*self._args) < 0:
            _raise_errno("move_pages")
        return self.status


def move_pages(addresses: np.ndarray, node: int | None) -> np.ndarray:
    """Move the pages holding ``addresses`` to ``node`` with one ``move_pages(2)`` call.

    With ``node=None`` nothing moves and the kernel reports where each page is.

    Returns
    -------
    numpy.ndarray of int32, shape (n,)
        Per page, as the kernel's status array: the node the page is on after the call, or a
        negative errno (``-ENOENT``: page not present, ``-EBUSY``: page busy, ``-EFAULT``:
        not mapped, ``-ENOMEM``: target node full, ``-EACCES``: page shared by several
        processes).
    """
    return PageMover(addresses, node).move().copy()


def settle_busy(addresses: np.ndarray, status: np.ndarray, node: int, *, query=None) -> tuple[np.ndarray, int]:
    """The status array of a ``move_pages`` call to ``node``, with ``-EBUSY`` entries re-queried.

    When the addresses passed include several 4 KiB subpages of one transparent huge page,
    the kernel moves the whole THP for the first of them, and a later subpage of the same THP
    can be reported ``-EBUSY`` although the THP did move: in Linux 6.1, ``do_pages_move()``
    (mm/migrate.c) queues the THP's head page for the first subpage and flushes the queue
    only when the next entry cannot join it; ``add_page_for_migration()`` for the second
    subpage finds the page still on the source node, its head already isolated, and
    ``isolate_lru_page()`` fails with ``-EBUSY``, which is stored for that subpage before the
    queue is flushed and the THP moves.  The call itself returns 0.  Seen in a two-node
    QEMU guest (Debian's 6.1 kernel): one ``-EBUSY`` subpage per THP, every page on the target
    when asked again.  ``-EBUSY`` is also what a page pinned by someone else gives; a second
    query tells the two apart.

    Parameters
    ----------
    addresses : numpy.ndarray of uint64, shape (n,)
        The addresses the call was given.
    status : numpy.ndarray of int32, shape (n,)
        The call's status array.
    node : int
        The node the pages were moved to.
    query : callable, optional
        ``query(addresses) -> status`` saying where pages are (default: ``move_pages`` with
        no target, which moves nothing).

    Returns
    -------
    status : numpy.ndarray of int32, shape (n,)
        A copy, each ``-EBUSY`` replaced by where the page is now (``node`` when it moved).
    moved_after_busy : int
        How many ``-EBUSY`` pages were found on ``node``.
    """
    status = np.array(status, dtype=np.int32, copy=True)
    busy = np.flatnonzero(status == -errno.EBUSY)
    if busy.size == 0:
        return status, 0
    query = (lambda pages: move_pages(pages, None)) if query is None else query
    where = np.asarray(query(np.ascontiguousarray(np.asarray(addresses, dtype=np.uint64)[busy])), dtype=np.int32)
    # A page still busy when asked again (pinned, or under migration) stays -EBUSY.
    status[busy] = np.where(where >= 0, where, -errno.EBUSY)
    return status, int(np.count_nonzero(where == node))


def describe_status(status: np.ndarray, node: int) -> str:
    """``""`` when every page is on ``node``, else e.g. ``"3 of 512 pages did not move (EBUSY x3)"``."""
    status = np.asarray(status)
    wrong = status[status != node]
    if wrong.size == 0:
        return ""
    kinds = []
    for value, count in zip(*np.unique(wrong, return_counts=True)):
        name = f"on node {value}" if value >= 0 else errno.errorcode.get(-int(value), str(int(value)))
        kinds.append(f"{name} x{count}")
    return f"{wrong.size} of {status.size} pages did not move ({', '.join(kinds)})"


# --- memory regions -----------------------------------------------------------------------------


class Region:
    """Anonymous memory aligned to ``align`` bytes, optionally bound to a node and THP-advised.

    ``huge=True`` asks for transparent huge pages (``MADV_HUGEPAGE``), ``huge=False`` for
    base pages only (``MADV_NOHUGEPAGE``), ``huge=None`` leaves it to the kernel's setting.
    Use as a context manager: the mapping is unmapped on exit, so buffers are freed even
    when a measurement is interrupted.  :attr:`array` is a ``uint8`` view of the region.
    """

    def __init__(self, nbytes: int, *, node: int | None = None, huge: bool | None = False,
                 align: int = HUGE_PAGE_BYTES):
        if nbytes <= 0 or nbytes % mmap.PAGESIZE:
            raise ValueError(f"region size {nbytes} must be a positive multiple of {mmap.PAGESIZE} bytes")
        self._map = mmap.mmap(-1, nbytes + align, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        whole = np.frombuffer(self._map, dtype=np.uint8)
        offset = (-whole.ctypes.data) % align
        self.array = whole[offset:offset + nbytes]
        del whole
        self.address = self.array.ctypes.data
        self.nbytes = nbytes
        if huge and hasattr(mmap, "MADV_HUGEPAGE"):
            self._map.madvise(mmap.MADV_HUGEPAGE, offset, nbytes)
        elif huge is False and hasattr(mmap, "MADV_NOHUGEPAGE"):
            # With THP "always" (Debian's default) an aligned anonymous region is backed by
            # 2 MiB pages unless told otherwise: base-page measurements would move THPs.
            self._map.madvise(mmap.MADV_NOHUGEPAGE, offset, nbytes)
        if node is not None:
            bind(self.address, nbytes, node)

    def touch(self, value: int = 1) -> None:
        """Write every page so the kernel allocates it (on the bound node)."""
        self.array[:] = value

    def huge_bytes(self) -> int:
        """Bytes of the region backed by transparent huge pages (``AnonHugePages`` in smaps)."""
        return anon_huge_bytes(self.address, self.nbytes)

    def close(self) -> None:
        """Unmap the region.  Where a view of it is still alive (the frames of a traceback
        being handled hold the arrays a kernel was copying), the mapping is unmapped when the
        last view goes instead: unmapping under a live view would let it crash the process."""
        if self._map is not None:
            self.array = None
            try:
                self._map.close()
            except BufferError:
                pass
            self._map = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def anon_huge_bytes(address: int, length: int, smaps: Path = Path("/proc/self/smaps")) -> int:
    """Bytes of THP-backed memory in the mappings overlapping ``[address, address+length)``.

    A mapping partly outside the range is counted whole; the regions memtier measures are
    each a mapping of their own, so the count is exact for them.
    """
    total, inside = 0, False
    header = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s")
    for line in smaps.read_text().splitlines():
        match = header.match(line)
        if match:
            start, end = int(match.group(1), 16), int(match.group(2), 16)
            inside = start < address + length and address < end
        elif inside and line.startswith("AnonHugePages:"):
            total += int(line.split()[1]) * 1024
    return total
