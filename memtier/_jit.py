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


#: For a helper called once per page or event inside a kernel's loop, with many arrays:
#: inlined into its caller by numba itself, so that the call does not take and release a
#: reference to each array it is passed (NRT_incref/NRT_decref, an atomic operation each):
#: measured at 15 arrays a call on numa-balancing's hint faults and 9 a moved page.
njit_inline = numba.njit(cache=True, nogil=True, inline="always")


def njit_parallel(function):
    """Compile an outer driver over independent work (configurations, seeds) with ``prange``."""
    return numba.njit(cache=True, nogil=True, parallel=True)(function)
