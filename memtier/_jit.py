"""The one place where memtier's numba options live.

Every kernel is decorated with :func:`njit` from here, so caching and fast-math choices
are made once for the whole package.  Kernels are private (``_name``) and receive only
contiguous arrays and scalars that a public wrapper has already validated: numba does not
check bounds, so a bad index would corrupt memory instead of raising.
"""
import contextlib
import hashlib
import os
from pathlib import Path

import numba
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

try:  # numba's cache machinery (public names since 0.59; CacheImpl was _CacheImpl before 0.63)
    from numba.core import caching as _caching

    _CacheImpl = getattr(_caching, "CacheImpl", None) or getattr(_caching, "_CacheImpl")
    InTreeCacheLocator = _caching.InTreeCacheLocator
    UserProvidedCacheLocator = _caching.UserProvidedCacheLocator
except (ImportError, AttributeError):  # pragma: no cover - another numba: its per-file invalidation
    _CacheImpl = None

PACKAGE = Path(__file__).resolve().parent


def _source_digest(folder: Path) -> bytes:
    """One digest of every ``.py`` file under ``folder`` (contents, not times)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.digest()


_DIGESTS: dict = {}


def subpackage_digest(source: str) -> bytes:
    """The digest of the memtier subpackage (``memtier/simulation``, ...) that ``source`` lies in,
    and of this file: what a kernel defined there may have inlined from its neighbours.

    numba keeps a kernel's cache while its own file is unchanged, but a helper inlined into
    it (:data:`njit_inline`) from another file is compiled into its machine code: after an
    edit of ``simulation/policies/_driver.py`` alone, every policy's kernel would still run
    the old helper from its cache, silently.  Stamping each cache with its whole subpackage
    makes any edit there recompile the subpackage's kernels instead.  Computed once per
    subpackage and process (editing the files of a running process changes nothing in it).
    """
    relative = Path(source).resolve().relative_to(PACKAGE)
    folder = PACKAGE / relative.parts[0] if len(relative.parts) > 1 else None
    key = str(folder)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(
            (_source_digest(folder) if folder else b"") + Path(__file__).read_bytes()).digest()
    return _DIGESTS[key]


def _in_package(py_file) -> bool:
    try:
        Path(py_file).resolve().relative_to(PACKAGE)
    except (ValueError, OSError):
        return False
    return True


if _CacheImpl is not None:
    class _SubpackageStamp:
        """A cache locator whose stamp is the kernel's file and its whole subpackage."""

        def get_source_stamp(self):
            return (super().get_source_stamp(), subpackage_digest(self._py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _in_package(py_file):
                return None
            return super().from_function(py_func, py_file)

    class UserDirSubpackageLocator(_SubpackageStamp, UserProvidedCacheLocator):
        """``NUMBA_CACHE_DIR`` given: caches there, stamped by subpackage."""

    class InTreeSubpackageLocator(_SubpackageStamp, InTreeCacheLocator):
        """Caches in ``__pycache__`` beside the source, stamped by subpackage."""

    # Tried first; for any file outside memtier they decline and numba's own locators follow.
    for _locator in (InTreeSubpackageLocator, UserDirSubpackageLocator):
        if _locator not in _CacheImpl._locator_classes:
            _CacheImpl._locator_classes.insert(0, _locator)

#: Compile once per machine and keep the machine code next to the module.
#: ``fastmath`` stays off: the cost model is compared digit for digit with its pure-Python
#: reference in the tests, and reassociation would make that comparison approximate.
njit = numba.njit(cache=True, nogil=True)


#: For a small helper called once per page or event inside a kernel's loop: inlined into
#: its caller by numba itself.  Inlining saves the call, but not the reference counting of
#: the arrays it is passed where the helper branches (see :data:`njit_borrow`).
njit_inline = numba.njit(cache=True, nogil=True, inline="always")


#: For a helper that takes arrays and allocates none, called per page or event inside a
#: kernel's loop: compiled without numba's reference counting, so that a call takes and
#: releases no reference to the arrays it is passed (NRT_incref/NRT_decref, an atomic
#: operation each).  numba removes such pairs itself only where an array's last use is the
#: same on every path through the function; a helper that branches (most do) paid them at
#: every call, inlined by :data:`njit_inline` or not: 15 pairs at each of numa-balancing's
#: hint faults, 6 at each page a policy moves (``_driver.move_page``: 47 ns a call against 6 ns
#: without them, measured on a six-array helper).  Such a helper cannot create arrays
#: (numba refuses to compile one that does) and must not keep the ones it is passed.
njit_borrow = numba.njit(cache=True, nogil=True, _nrt=False)


def njit_parallel(function):
    """Compile an outer driver over independent work (configurations, seeds) with ``prange``."""
    return numba.njit(cache=True, nogil=True, parallel=True)(function)


try:  # what loading machine code from the cache needs, and nothing more (checked with numba 0.68)
    from numba.core.caching import FunctionCache as _FunctionCache
    from numba.core.runtime import rtsys as _rtsys

    _QUICK_LOAD = all(hasattr(_FunctionCache, name)
                      for name in ("_load_overload", "_guard_against_spurious_io_errors"))
except ImportError:  # pragma: no cover - another numba: its own loading, slower to start
    _QUICK_LOAD = False

if _QUICK_LOAD:
    class _MachineCodeCache(_FunctionCache):
        """numba's cache of one kernel, read without first making numba's whole target ready.

        numba's ``FunctionCache.load_overload`` calls ``target_context.refresh()`` before it
        reads the cache: that imports and installs every typing and lowering registry numba
        has (``numba.np.arraymath``, ``linalg``, typed containers, ``cffi``...), which only
        *compiling* needs.  It was 0.3 s of the 0.8 s ``memtier trace convert`` took to start
        (cProfile: ``BaseContext.refresh``, 0.30 of the first call's 0.33 s).  Machine code
        from the cache needs only numba's runtime (NRT), whose functions it calls, which
        ``rtsys.initialize`` compiles and registers as ``refresh`` would.  On a miss (first use,
        an edited source, another numba or CPU) nothing is loaded and the dispatcher compiles
        as usual; numba's compiler refreshes the whole target itself first
        (``numba.core.compiler.CompilerBase.__init__``).
        """

        def load_overload(self, sig, target_context):
            _rtsys.initialize(target_context)
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)


def njit_quick_load(function):
    """:data:`njit`, with the machine code loaded from numba's cache without making numba's
    whole target ready first (:class:`_MachineCodeCache`): for a kernel on a command's path
    whose start-up counts (``memtier trace convert``).  Only for kernels of plain arrays and
    scalars (no ``parallel``, no typed containers, no objects): their cached code calls
    nothing but numba's runtime."""
    if not _QUICK_LOAD:
        return njit(function)
    dispatcher = numba.njit(nogil=True)(function)  # what cache=True does, with the cache below
    dispatcher._cache = _MachineCodeCache(dispatcher.py_func)
    return dispatcher


def load_kernel(dispatcher, *signatures) -> None:
    """Make ``dispatcher`` ready for calls with exactly these argument types (tuples of numba
    types), from the cache if it holds them, compiling them otherwise.

    A first call of a kernel works out its argument types in Python and starts numba's
    compilation chain (``typeof`` of each argument, the scan of installed packages for numba
    extensions): 0.05-0.1 s.  Loading the code for the types the caller will pass goes
    straight to the cache, and the calls then find the code by the arguments' types in C.  A
    call with other types still works: it is compiled (or loaded) then, as usual.
    """
    for signature in signatures:
        dispatcher.compile(tuple(signature))


try:  # numba's event API (numba.core.event, since 0.53): "numba:compile" starts on a cache miss only
    from numba.core import event as _event
except ImportError:  # pragma: no cover - another numba: no notice, the compile is as silent as before
    _event = None


@contextlib.contextmanager
def when_compiling(say):
    """Within the block, call ``say()`` once, as numba starts compiling a kernel, before it does.

    A command's first run compiles its kernels: from a few seconds to minutes on a loaded
    machine, with nothing printed.  ``say`` tells the user why.  It is called only for a real
    compile: numba's ``Dispatcher.compile`` loads the machine code from its cache first and
    starts the ``numba:compile`` event only when the cache did not hold it (a first run, an
    edited source, another numba or CPU), so a warm run says nothing.  Checked with numba 0.68.
    """
    if _event is None:
        yield
        return
    listener = _FirstCompile(say)
    with _event.install_listener("numba:compile", listener):
        yield


if _event is not None:
    class _FirstCompile(_event.Listener):
        """Calls ``say()`` at the start of the first compile it hears of, and never again."""

        def __init__(self, say):
            self.say, self.said = say, False

        def on_start(self, event):
            if not self.said:
                self.said = True
                self.say()

        def on_end(self, event):
            pass


# The prefetch intrinsic is overloaded on its pointer type: LLVM 17 and later have only opaque
# pointers ("p0"); llvmlite builds on older LLVM use typed ones ("p0i8").
_PREFETCH = "llvm.prefetch.p0" if llvm_version_info[0] >= 17 else "llvm.prefetch.p0i8"


def _emit_prefetch(context, builder, array_type, array, index, index_type):
    """The code of :func:`prefetch` for one array."""
    view = context.make_array(array_type)(context, builder, array)
    row = context.cast(builder, index, index_type, types.intp)
    zero = context.get_constant(types.intp, 0)
    pointer = cgutils.get_item_pointer2(
        context, builder, data=view.data, shape=cgutils.unpack_tuple(builder, view.shape),
        strides=cgutils.unpack_tuple(builder, view.strides), layout=array_type.layout,
        inds=[row] + [zero] * (array_type.ndim - 1))
    byte_pointer = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), _PREFETCH)
    # (address, 1 = for writing, 3 = keep in all cache levels, 1 = data)
    builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(1), i32(3), i32(1)])


@intrinsic
def prefetch(typingctx, array, index):
    """Inside a kernel: ask the CPU to start loading (for writing) the cache line of
    ``array[index]`` (of ``array[index, 0]`` for a 2-D array; strided views too), so that a
    load a few iterations later does not wait for memory.  A hint: it never faults, even out
    of bounds, and changes no result."""
    def codegen(context, builder, signature, args):
        _emit_prefetch(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        return context.get_dummy_value()
    return types.void(array, index), codegen


@intrinsic
def prefetch_each(typingctx, arrays, index):
    """:func:`prefetch` of ``array[index]`` for each array of the tuple ``arrays`` (any
    number, any types, the empty tuple too): for a loop shared by kernels that each read
    their own arrays at the same index."""
    if not isinstance(arrays, types.BaseTuple) or not all(isinstance(a, types.Array) for a in arrays):
        return None

    def codegen(context, builder, signature, args):
        for k, array_type in enumerate(signature.args[0]):
            _emit_prefetch(context, builder, array_type, builder.extract_value(args[0], k), args[1],
                           signature.args[1])
        return context.get_dummy_value()
    return types.void(arrays, index), codegen


def _count_zeros_codegen(llvm_name):
    """The code of :func:`trailing_zeros` or :func:`leading_zeros`: one call of the LLVM
    intrinsic ``llvm_name`` on a 64-bit value, defined at 0 (the ``is_zero_poison`` flag off)."""
    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i64, [i64, ir.IntType(1)]), llvm_name)
        return builder.call(function, [args[0], ir.IntType(1)(0)])
    return codegen


@intrinsic
def trailing_zeros(typingctx, value):
    """Inside a kernel: the number of zero bits below the lowest set bit of a 64-bit unsigned
    ``value`` (64 for 0), one instruction (``llvm.cttz``): a walk over the set bits of a
    word visits only those, with no branch per bit to mispredict."""
    if value != types.uint64:
        return None
    return types.uint64(value), _count_zeros_codegen("llvm.cttz.i64")


@intrinsic
def leading_zeros(typingctx, value):
    """Inside a kernel: the number of zero bits above the highest set bit of a 64-bit unsigned
    ``value`` (64 for 0), one instruction (``llvm.ctlz``): ``63 - leading_zeros(v)`` is
    floor(log2(v)) for v > 0, without a loop over the bits."""
    if value != types.uint64:
        return None
    return types.uint64(value), _count_zeros_codegen("llvm.ctlz.i64")
