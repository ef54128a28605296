"""Set-up of the worker processes of the local Dask cluster that :func:`memtier.sweep` starts.

Given to that cluster's workers as a Dask preload (``dask_setup`` when a worker starts,
``dask_teardown`` when it closes: https://distributed.dask.org/en/stable/plugins.html#preload-scripts).
A cluster given by ``client=`` keeps its own set-up.

- Ctrl-C in a terminal reaches every process of its group, the workers too: a worker ignores
  it, and the sweep's own process, which receives it as well, stops the cluster.
- The module that runs the cells (:mod:`memtier.simulation.sweeps`, and with it the
  simulator, numba and pandas: about half a second of CPU time) is imported while the cluster
  starts, when the sweep's own process is still reading the traces and checking the
  arguments, rather than when the first cell arrives.
- When its worker has closed, the process leaves without the cyclic garbage collector's last
  passes: the interpreter's final collections over every object numba, pandas and Dask made
  took 0.6-0.8 s of CPU time a process, and the cluster's ``close()`` waits for them
  (measured on this project's VM; benchmarks/bench_sweep_idle.py).  ``gc.freeze()`` (Python's
  own API) moves the objects alive at that point out of the collector's sight; they are
  still released with the process, and every exit handler still runs.
"""
from __future__ import annotations

import gc
import signal


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload signature
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from . import sweeps  # noqa: F401 - imported now for the cells to come


def dask_teardown(worker) -> None:  # noqa: ARG001 - Dask's preload signature
    gc.freeze()
