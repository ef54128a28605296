"""Hot/cold classifiers since 2019, one module per policy, over one shared driver.

Each module holds one policy's numba kernel (``run_policy``), its state, its parameters with
their defaults and sources (``PARAMETERS``), and a docstring that cites what it models:

- :mod:`memtier.simulation.policies.numa_balancing`: ``numa-balancing`` (Linux memory tiering,
  ``numa_balancing=2``, 5.18-6.1) and its ``tpp`` variant (Meta's TPP, ASPLOS'23);
- :mod:`memtier.simulation.policies.hemem`: ``hemem`` (HeMem, SOSP'21);
- :mod:`memtier.simulation.policies.memtis`: ``memtis`` (MEMTIS, SOSP'23);
- :mod:`memtier.simulation.policies.bit_history`: ``bit-history`` (accessed-bit histories: kstaled,
  AutoTiering, ATC'21);
- :mod:`memtier.simulation.policies.mglru`: ``mglru`` (the multi-generational LRU, Linux 6.1, demoting;
  promotion by the klruscand RFC's MGLRU scans of the slow node);
- :mod:`memtier.simulation.policies.damon_tiering`: ``damon`` (DAMON's regions and DAMOS
  ``migrate_hot`` / ``migrate_cold`` with quotas, as the kernel's ``samples/damon/mtier.c``).

:mod:`memtier.simulation.policies._driver` owns what they share: placing pages, serving accesses on
the simulated clock, moving pages and charging the moves through the fitted cost model,
closing and scoring periods with the simulator's metrics.  Adding a policy is one new
module and one line in :data:`MODULES`; :func:`memtier.simulate` accepts it by name, its
parameters as keyword arguments.
"""
from __future__ import annotations

import difflib
import math

import numpy as np

from . import _driver
from . import bit_history
from . import damon_tiering
from . import hemem
from . import memtis
from . import mglru
from . import numa_balancing

#: Policy name -> its module.
MODULES = {name: module for module in (numa_balancing, hemem, memtis, bit_history, mglru, damon_tiering)
           for name in module.NAMES}
#: Codes after memtier.simulation.policies.active_shrink' (0-6), for memtier.simulation.simulator.POLICIES.
CODES = {name: 100 + i for i, name in enumerate(MODULES)}


def parameters(policy: str) -> dict:
    """The parameters ``policy`` accepts: ``{name: (default, source)}``."""
    return dict(MODULES[policy].PARAMETERS)


def time_scaled(policy: str, factor: float, **params) -> dict:
    """Parameters for a trace ``factor`` times shorter than the run it stands for.

    The policies' defaults are made for programs that run for minutes on gigabytes: a
    scan period of a second, a sample in 5003 accesses.  A generated trace of a few million
    accesses lasts a second or two of simulated time and gives each page a few hundred
    accesses, so at the defaults the timers barely fire and the samplers barely sample.
    Scaling every time constant down (``TIME_SCALED``: periods, intervals, thresholds in
    time), every rate up (``RATE_SCALED``) and every sampling period down
    (``SAMPLE_SCALED``, at least 1) by the same ``factor`` keeps each policy's decisions per
    page access what they would be in the longer run.  The events this makes ``factor``
    times more frequent per access (scans, hint faults, samples) have their cost divided by
    ``factor`` (``COST_SCALED``), so that management overhead keeps its share of the run.
    Migrations are not scaled: a move is amortised over fewer accesses than in the long
    run, which makes every moving policy's overhead look larger alike.  This is a change of
    the experiment's time scale, not a tuning: every ratio between the policy's own
    constants is kept, and count thresholds are left alone.  ``params`` are taken as given,
    then scaled.
    """
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor!r}")
    module = MODULES[policy]
    chosen = check_params(policy, params)
    for name in getattr(module, "TIME_SCALED", ()):
        chosen[name] = chosen[name] / factor
    for name in getattr(module, "RATE_SCALED", ()):
        chosen[name] = chosen[name] * factor
    for name in getattr(module, "COST_SCALED", ()):
        chosen[name] = chosen[name] / factor
    for name in getattr(module, "SAMPLE_SCALED", ()):
        chosen[name] = float(max(1, round(chosen[name] / factor)))
    return chosen


def _is_switch(description: str) -> bool:
    """A parameter is a switch (1 or 0, nothing else) when its description begins by saying what
    1 does: ``"1: ..."``, or ``"<policy>: 1: ..."`` for one that only some policies read."""
    head = description.split(": ", 1)
    return description.startswith("1: ") or (len(head) == 2 and head[1].startswith("1: "))


def check_params(policy: str, params: dict) -> dict:
    """Defaults filled in, names and values checked (one clear line for a bad one)."""
    known = MODULES[policy].PARAMETERS if policy in MODULES else {}
    chosen = {}
    for name, value in params.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            accepted = ", ".join(known) if known else "none"
            raise TypeError(f"simulate() got parameter {name!r}{hint}, which policy {policy!r} does not take; "
                            f"its parameters: {accepted}")
        if value is None and known[name][0] is None:
            chosen[name] = None
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if math.isnan(number) or math.isinf(number) or number < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
        if _is_switch(known[name][1]) and number not in (0.0, 1.0):
            raise ValueError(f"{name} must be 0 or 1 (a switch; {known[name][1]}), got {value!r}")
        chosen[name] = number
    for name, (default, _) in known.items():
        chosen.setdefault(name, default)
    if policy in MODULES and hasattr(MODULES[policy], "check"):
        MODULES[policy].check(chosen)
    return chosen


def counters(policy: str, storage) -> dict:
    """The kernel's event counters a policy keeps (its module's ``counters``, e.g.
    :data:`memtier.simulation.policies.numa_balancing.COUNTERS`) from a run's state; ``{}`` for a
    policy that keeps none."""
    module = MODULES.get(policy)
    return module.counters(storage) if module is not None and hasattr(module, "counters") else {}


def run(trace, writes, policy, params, config, fconfig, migrate_cost, n_pages, plan, progress, rows_bound, snapshot):
    """Feed the validated trace to the policy's kernel piece by piece: ``(rows, storage)``.
    ``plan`` and ``snapshot`` as :func:`memtier.simulation.simulator.drive` takes them."""
    from ..simulator import drive
    from .active_shrink import F_PERIOD, F_UNIT_SLOW, K_FAST_CAPACITY, K_PAGE_BYTES, K_SLOW_CAPACITY, N_COLUMNS

    module = MODULES[policy]
    period_accesses = len(trace) if fconfig[F_UNIT_SLOW] != 1.0 else int(fconfig[F_PERIOD])
    shared = _driver.shared_storage(n_pages, int(config[K_FAST_CAPACITY]), min(period_accesses, len(trace)),
                                    fconfig)
    pconfig = module.make_pconfig(policy, params, int(config[K_FAST_CAPACITY]), int(config[K_SLOW_CAPACITY]),
                                  n_pages, int(config[K_PAGE_BYTES]))
    own = module.make_state(pconfig, config, n_pages)
    shared_names, own_names = tuple(shared), tuple(own)
    storage = dict(shared)
    storage.update(own)
    no_writes = np.zeros(0, dtype=np.uint8)

    def step(st, part, final, start):
        part_writes = no_writes if writes is None else np.asarray(writes[start:start + len(part)])
        if part_writes.dtype == np.bool_ and part_writes.flags.c_contiguous:
            part_writes = part_writes.view(np.uint8)  # the same 0/1 bytes, not copied
        else:
            part_writes = np.ascontiguousarray(part_writes, dtype=np.uint8)
        out = np.zeros((rows_bound(len(part), fconfig), N_COLUMNS), dtype=np.float64)
        rows = module.run_policy(part, part_writes, final, config, fconfig, pconfig, migrate_cost,
                                 *(st[name] for name in shared_names), out, *(st[name] for name in own_names))
        return out[:rows]

    rows = drive(trace, plan, storage, step, progress, snapshot)
    storage["pconfig"] = pconfig
    return rows, storage
