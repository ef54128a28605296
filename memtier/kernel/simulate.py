"""memtier's side of kernel-check: the guest's workload through memtier's ``numa-balancing``.

:func:`simulate_timeline` runs the workload's accesses (:func:`memtier.kernel.workload.access_stream`)
through the simulator with the settings read from the guest (:mod:`memtier.kernel.settings`), each
access taking its share of a slot on both nodes, so that the simulator's clock is the guest's
nominal clock (:mod:`memtier.kernel.check`, "The simulation"), and gives memtier's rows of the
timeline at every checkpoint; :func:`free_moves` is the cost model it runs with.  A new run
(:func:`memtier.kernel.check.kernel_check`) and a saved one (:func:`memtier.kernel.saved.resimulate`)
both use them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .workload import Workload, access_stream, hot_mask


def free_moves():
    """A cost model whose page moves take (nearly) no time: the guest pays its moves out of the
    slack of its slots, so on the nominal clock they take none.  Every per-call and per-page
    cost is 0 and every bandwidth at its largest allowed value (a 4 KiB page: 0.04 us)."""
    from ..model.cost import ModelParams

    values = {}
    for field in dataclasses.fields(ModelParams):
        bounds = field.metadata.get("bounds")
        unit = field.metadata.get("unit")
        if bounds is None:
            continue
        if unit in ("us", "ns"):
            values[field.name] = 0.0
        elif unit == "GB/s":
            values[field.name] = bounds[1]
    return ModelParams(**values)


def simulate_timeline(w: Workload, guest: dict, stream=None, progress=None, up_to: int | None = None,
                      nodes: bool = False) -> pd.DataFrame:
    """memtier's rows of the timeline: ``numa-balancing`` with the guest's settings, one run
    of the stream up to the last checkpoint, with a snapshot at each (``simulate``'s
    ``snapshots``: at each, what a run of the stream cut there gives).  Its ``attrs["counters"]``:
    the kernel's event counters memtier kept at each checkpoint (``time_s`` and
    :data:`memtier.kernel.compare.COUNTERS`), which :func:`memtier.kernel.compare.compare_counters`
    sets beside the kernel's.  ``nodes``: also ``attrs["nodes"]``, each page's node at each
    checkpoint (int8, checkpoints x pages: 0 fast, 1 slow, -1 not yet touched), as
    :func:`memtier.kernel.compare.read_node_map` gives the kernel's."""
    from ..simulation.simulator import simulate

    stream = access_stream(w) if stream is None else stream
    params = dict(guest["params"])
    if params.get("scan_cost_charged", 1.0) != 0:  # settings of an earlier run: scans cost nothing
        params["scan_pte_ns"] = 0.0
    per_checkpoint = w.slots_per_checkpoint * w.per_slot
    last = w.checkpoints if up_to is None else min(int(up_to), w.checkpoints)
    if last < 1:
        table = pd.DataFrame(columns=["time_s", "source", "fast_hot_pages", "fast_cold_pages", "promoted", "demoted"])
        table.attrs["counters"] = pd.DataFrame(columns=["time_s"])
        return table
    if progress:
        progress(f"simulating {last} checkpoints in one run")
    result = simulate(stream[:last * per_checkpoint], "numa-balancing", guest["fast_capacity"],
                      slow_capacity=guest["slow_capacity"], n_pages=w.total_pages, period_s=w.checkpoint_ms / 1e3,
                      fit=free_moves(), fast_access_ns=w.access_ns, slow_access_ns=w.access_ns, rmap_ns=0.0,
                      snapshots=[c * per_checkpoint for c in range(1, last + 1)], progress=bool(progress), **params)
    rows, counted = [], []
    for c, snap in enumerate(result.snapshots, start=1):
        counted.append({"time_s": c * w.checkpoint_ms / 1e3, **snap.counters})
        on_fast = snap.final_node == 0
        hot = hot_mask(w, c)
        rows.append({"time_s": c * w.checkpoint_ms / 1e3, "source": "memtier",
                     "fast_hot_pages": int((on_fast & hot).sum()), "fast_cold_pages": int((on_fast & ~hot).sum()),
                     "promoted": int(snap.periods["promoted"].sum()),
                     "demoted": int(snap.periods["demoted"].sum())})
    table = pd.DataFrame(rows)
    # the kernel's event counters memtier kept (SimulationResult.counters), a row per checkpoint,
    # beside the timeline rather than in it: kernel-check's timeline.csv has the columns
    table.attrs["counters"] = pd.DataFrame(counted)
    if nodes:
        table.attrs["nodes"] = np.stack([snap.final_node for snap in result.snapshots])
    return table
