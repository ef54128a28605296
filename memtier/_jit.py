"""The one place where memtier's numba options live.

Every kernel is decorated with :func:`njit` from here, so caching and fast-math choices
are made once for the whole package.  Kernels are private (``_name``) and receive only
contiguous arrays and scalars that a public wrapper has already validated: numba does not
check bounds, so a bad index would corrupt memory instead of raising.
"""
import numba

#: Compile once per machine and keep the machine code next to the module.
#: ``fastmath`` stays off: the cost model is compared digit for digit with its pure-Python
#: reference in the tests, and reassociation would make that comparison approximate.
njit = numba.njit(cache=True, nogil=True)


def njit_parallel(function):
    """Compile an outer driver over independent work (configurations, seeds) with ``prange``."""
    return numba.njit(cache=True, nogil=True, parallel=True)(function)
