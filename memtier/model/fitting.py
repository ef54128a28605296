"""Fitting the cost model to measurements, with uncertainties, and predicting from it.

Least squares in relative error of throughput (``model / measured - 1``): the measurements
span 0.04 to 14 GB/s, and an absolute error would let the fastest rows decide everything.
Parameters stay inside the physical bounds of :class:`~memtier.model.cost.ModelParams`.

Which parameters to fit, decided at the solution
    A parameter is fitted only if the data constrain it.  memtier takes the sensitivity of
    every row's log-throughput to every log-parameter, and adds parameters in order of
    influence while the sensitivity matrix keeps full rank (smallest singular value above
    1e-3 of the largest).  Sensitivities depend on where they are taken, and a starting point
    (the RFC's machine, say) can be far from the machine being fitted, where a parameter that
    matters looks idle.  So each start first fits every parameter that moves any row by 2%
    (the prior holds the directions the data leave open), takes the choice *there*, fits the
    chosen set, and chooses again at that solution until the set no longer changes (at most
    :data:`MAX_ROUNDS` rounds; the round of lowest cost is kept).  A parameter that measures a
    contrast (:data:`CONTRASTS`: what batching saves, what exchange saves or gains) is a
    candidate only when the rows hold both sides of it.  A parameter the data leave *open*
    keeps its stated value (``base``'s) and the report says so; ``free=`` overrides the choice,
    and then the others are reported *fixed*.

Parameters the solution cannot see: a probe
    The check at a point only sees what moves rows there: a term stated so small that it
    moves no row by 2% (the PTDMA descriptor's channel time, stated at 0.1 us, stayed open on
    the AMD rows; stated at 0.5 us it is found, at 8 us), or one that enters through a
    ``max()`` whose branch is inactive (the shared DMA path stated at 0 or 0.5 us: zero
    sensitivity however clearly the rows show it), is not seen, and which parameters were
    fitted depended on the stated values.  So at the best fit every candidate without
    influence is *probed* (:func:`_probe`): fitted from where it starts to move a row and
    from points further into the range where it acts, and kept when Akaike's criterion
    falls by at least 4; and the terms that depart from the cited code (:data:`DEPARTURES`:
    the shared path, the overlap of serial work with other channels' copies, which
    dcbm's ``folios_copy_dma()`` does not do, and a soft DMA ceiling, which no source states)
    must pay the same 4 against their absence (at 0) whenever they are chosen, also when a
    stated value made them visible.  All four are stated at 0, absent unless the data show it
    (the overlap was stated at 0.8, an estimate, which kept it present wherever the rows
    left it open).  Whether a term pays depends on the others fitted beside it, so a
    departure that does not pay is left out only until another term joins the fitted set,
    and is then asked again: over AMD's 1-4 channel rows the overlap, asked before the shared
    path was found, lowered the AIC by 0.8, and after it by 10.  On AMD's rows the shared
    path's per-descriptor time is found from any stated value (0, 0.5, 1 or 2 us; AIC 25
    lower) and its per-entry time is open from 0, 0.05 and 0.1 us (1.1 lower from 0); at
    0.2 us the DMA ceiling's softness pays exactly 4 and is fitted (2.9 lower from the
    others: open, the ceiling a hard minimum).  The overlap pays for itself over all rows (AIC
    21 lower than at 0), where a lone channel's own bandwidth (``dma_queue_gbps``, stated
    absent) is probed and left open (AIC 1.1 higher with it); over the 1-4 channel rows both
    pay (overlap 10, the lone channel 11) and predict 8 and 16 channels at median 8.6%,
    largest 18.9% (with the overlap stated at 0.8 and kept there unpaid: 7.8%, 30.3%; stated
    at 0 and asked once: 14.3%, 25.9%).
    Each outcome is in ``Fit.structure["probed"]``.  The layouts are compared before the
    probe (probing every layout would cost each layout's fit again).

Several starts
    The fit starts from the RFC's machine (or ``start=``, by default ``base``), from a neutral machine
    (:func:`neutral_params`: 10 GB/s, 1 us, 100 ns, shares of one half) and from
    :data:`SPREAD_STARTS` points spread around each of the two (log-normal, seeded), and
    keeps the best.  A result that the data determine does not depend on where it started;
    spread points around the first start only were not enough on the AMD rows, whose fits
    from the RFC's machine and from the neutral one ended at two different local minima
    (median 2.8% and 4.0%: the v4 posting's faster small folios read as more overlap or as a
    smaller source factor).

Sources that measured the same configurations (``source_effect``)
    Published series are often several postings of one machine, each on its own kernel
    build; AMD's three (7.0-rc2, the v4 series' 7.0-rc, 7.1-rc1) measured the same DMA
    configurations and disagree by more than their spreads on small folios (the v4 posting
    8-18% faster at 1-4 channels).  A standard study effect takes that up: each source gets
    a factor on the serial work of its DMA rows per folio and per page-table entry (the
    kernel's ``page_us`` and ``pte_us``, the copy's CPU work ``dma_descriptor_us`` and
    ``dma_map_entry_us``; the offload path is what changed between the postings, while their
    vanilla CPU-copy rows agree within 8% with no common sign), the source with the most DMA
    rows is the reference (factor 1), and the factors share the weak prior, pulled towards 1
    (a random effect).  The kernel's work per 4 KiB (``subpage_ns``) is left out of the
    factor: where the postings differ, the difference goes with folios and entries, not with
    bytes.  At one channel the v4 posting moves 4 KiB folios 22% faster than the v5 reply,
    16 KiB 13%, 64 KiB 5%, 256 KiB 4% (0.34, 0.74, 1.1 and 2.3 us less per folio: more with
    more entries per folio), while the 2 MiB THP, one entry and 512 times 4 KiB, moves at the
    same speed in all three postings (12.64, 12.65, 12.68-12.71 GB/s; at four channels 27.16
    against 26.89-27.13): a factor on the per-4-KiB work would have made the v4 posting's THPs
    faster too.  It is on by default when two sources measured a DMA configuration in common
    (:func:`source_effect_sources`); ``source_effect=False`` turns it off.  On AMD's rows:
    the v4 posting's factor is 0.82, the v5 reply's 1.02; with the factor on the whole
    serial per-folio work (an earlier version, per-4-KiB work included) the fit was 0.85 and
    1.03, median error 2.8%, largest 16.9%, now 2.5% and 16.5%.  With the source effect the
    largest in-sample error fell from 22.6% to 20.8% (16.9% with the shared DMA path), and
    the 8- and 16-channel rows held out were predicted at median 12.6% instead of 23.7%
    (10.3% with the shared path): the v4 posting's two-channel rows, read with its own
    factor, tell the dcbm_sg posting's trend (that posting alone predicts them at 17.2%,
    largest 42%).
    ``Fit.predict`` gives a row of a known source its factor; any other configuration is
    the reference source's.

The DMA structure
    How a driver uses the channels (``ModelParams.dma_structure``: ``split`` pages across
    channels, or hand out whole folios: ``folio``) is fitted both ways when the DMA rows have at
    least two channel counts, and so are the number of channels that share one engine
    (``dma_channels_per_engine``: 1, 2 or 4) and, for folios, the batch limit
    (``migrate_batch_pages``: mainline's 512 base pages or the copy-offload series' testing
    1 GiB).  Each layout is first fitted from the stated and the neutral start
    (:data:`SCREEN_NFEV`); every layout whose AIC is then within 10 of the best is fitted
    again from every start, so that layouts are compared at their best fits (fitting AMD's
    1-4 channels, the first look preferred one channel per engine, "likely", to two, whose
    best fit turned out as good); the one with the lowest AIC is kept if the next best's is
    higher by at least 4 ("likely"; 10: "clear"); closer than that the data cannot tell and
    ``base``'s layout is kept.  Structure, channels per engine and batch limit are decided in
    that order, each at the best of the others.  ``structure=``, ``channels_per_engine=``
    and ``batch_pages=`` set them.  A rule from the
    direction of the channel trend (small folios gaining with channels "cannot" be split) was
    considered and not adopted: under ``split`` the per-entry and byte terms fall with
    channels too, so a rising trend is evidence to weigh, not a proof, and the AIC already
    weighs it.  With the per-descriptor channel time in the model, AMD's 1-4-channel rows
    alone choose ``folio`` clearly (AIC 108 higher for ``split``); before it they could not
    tell (2.3).  AMD's rows choose the testing batch limit clearly (AIC 134 higher for
    mainline's): with mainline's a THP is a batch of its own and gets one channel.

A weak prior
    Every fitted parameter is pulled gently (:data:`PRIOR_WEIGHT`) towards ``base``'s value
    (by default the RFC's machine) in log space: a maximum a posteriori fit with a broad
    log-normal prior.  All starts share this centre, so their results compare.  What the data
    determine is unaffected.

Row weights and contradicted rows
    Every row weighs the same in relative error: published spreads (``gbps_sd``) are 0.1-10%
    while the model's own misfit is of the same order, so weighting by the spread would let a
    few rows with a small printed spread decide everything.  A spread printed as ``0.00`` is
    a rounding, not a perfect measurement: it is read as half the last printed digit
    (0.005 GB/s) wherever a spread is used.  Spreads are used to find *contradicted* rows
    (:func:`contradicted_rows`): a row whose configuration was measured at least three times
    by at least two sources, and which lies further from the others' median than twice the
    combined spread plus twice the typical disagreement between sources.  Such a row is left
    out of the fit and reported beside it, in units of its spread, instead of bending the
    fit.

"""
from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from ..measurement.schema import load_measurements
from .cost import (ARRAY_SIZE, BATCH_PAGES, CHANNELS_PER_ENGINE, DMA_STRUCTURES, ModelParams, PreparedTable, prepare_table,
                    prepared_gbps, table_gbps)

FORMAT_VERSION = 7
CONFIG_COLUMNS = ["page_size", "n_pages", "copy", "workers", "batched", "exchange"]
#: Weight of the prior that pulls each fitted parameter towards ``base``: moving a parameter
#: by a factor e costs as much as a 3% misfit of one row.
PRIOR_WEIGHT = 0.03
#: Rounds of "choose what to fit, fit, choose again at the solution".
MAX_ROUNDS = 4
#: Starts spread around the first start, besides it and the neutral machine.  Four: with three,
#: AMD's rows stated with the shared DMA path at 0.5 / 0.05 us ended in a second minimum
#: (median error 4.0% against 2.3%: little overlap, 26 ns per 4 KiB of kernel work, the v4
#: posting's factor 0.65) once the source factor left the per-4-KiB work alone; the fourth
#: point of the same seeded sequence finds the first.
SPREAD_STARTS = 4
#: How much higher the next best DMA layout's AIC must be for the best to be "clear" / "likely".
AIC_CLEAR, AIC_LIKELY = 10.0, 4.0
#: Evaluations one solve of the first look at a layout may take (a full solve: 600).  A look
#: only has to tell the layouts that cannot win from those that may; those are refitted in full
#: from every start before the verdict.  Layouts that fit badly are also the slowest to solve.
SCREEN_NFEV = 200
#: Channels per engine the fit tries when the data have several channel counts.
ENGINE_CHOICES = (1, 2, 4)
#: A spread printed as 0.00 GB/s is read as half the last printed digit.
ROUNDED_SD_GBPS = 0.005
#: The ``notes`` of rows timed within one node (``memtier measure --same-node``): no data
#: moved, so they are not migrations and are not fitted.
SAME_NODE_NOTE = "same-node"
#: A probe of a parameter without influence at the solution (:func:`_probe`) fits it from
#: the value where it starts to move a row, and from that value times these factors further
#: into the range where it acts, each solve taking at most PROBE_NFEV evaluations.
PROBE_STEPS = (1.0, 4.0, 16.0)
PROBE_NFEV = SCREEN_NFEV
#: Terms that depart from the code the model cites (named as departures where they are
#: defined, in cost.py): the data must pay for them against their absence (:func:`_probe`).
DEPARTURES = ("dma_shared_descriptor_us", "dma_shared_entry_us", "dma_overlap", "dma_ceiling_softness")
#: Points of the log-spaced grid on which a probe seeks where a parameter starts to act.
PROBE_GRID = 49
#: The array slots after the numeric parameters (ModelParams.to_array): never fitted.
_LAYOUT = ["dma_structure", "dma_channels_per_engine", "migrate_batch_pages"]
#: Range of a source's factor on the serial work of its DMA rows (``source_effect``).
SOURCE_FACTOR_BOUNDS = (0.25, 4.0)
#: Names of the source factors in a fit's parameter vector: after the model's array.
_FACTOR = "source factor "


@dataclass(frozen=True)
class _Rows(PreparedTable):
    """A prepared table whose DMA rows carry their source: ``source_index`` 0 is the
    reference source (factor 1; also sources without DMA rows), ``k`` the k-th factor."""

    source_index: np.ndarray = None
    n_factors: int = 0


def _factor_names(prepared) -> list[str]:
    return [f"{_FACTOR}{k}" for k in range(1, getattr(prepared, "n_factors", 0) + 1)]


def _extend(values: np.ndarray, prepared) -> np.ndarray:
    """The model's array followed by a factor of 1 for every source factor."""
    return np.concatenate([values[:ARRAY_SIZE], np.ones(getattr(prepared, "n_factors", 0))])


def _gbps(values: np.ndarray, prepared) -> np.ndarray:
    """Modelled GB/s of the prepared rows for a parameter vector: the model's array, then
    (with the source effect) each non-reference source's factor."""
    if values.shape[0] == ARRAY_SIZE:
        return prepared_gbps(values, prepared)
    factors = np.concatenate([[1.0], values[ARRAY_SIZE:]])
    return prepared_gbps(values[:ARRAY_SIZE], dataclasses.replace(prepared, serial_scale=factors[prepared.source_index]))


def source_effect_sources(table: pd.DataFrame) -> list[str]:
    """The sources that would get a factor on their DMA rows' serial work, the reference
    first; empty where the rule (:func:`fit`'s ``source_effect``) does not apply: fewer than
    two sources with DMA rows, or no DMA configuration measured by two of them.

    The reference is the source with the most DMA rows (the first in the table on a tie):
    its factor is 1, and predictions of configurations without a known source are its."""
    dma = table[table["copy"] == "dma"]
    counts = dma["source"].astype(str).value_counts(sort=False)
    if len(counts) < 2:
        return []
    shared = dma.groupby(CONFIG_COLUMNS + ["scope"])["source"].nunique()
    if not (shared >= 2).any():
        return []
    order = list(dict.fromkeys(dma["source"].astype(str)))
    reference = max(order, key=lambda name: (counts[name], -order.index(name)))
    return [reference] + [name for name in order if name != reference]


def _sourced(prepared: PreparedTable, table: pd.DataFrame, sources: list[str]):
    """``prepared`` with each row's source index (0: the reference or no factor)."""
    if not sources:
        return prepared
    index = {name: k for k, name in enumerate(sources)}
    rows = np.array([index.get(str(s), 0) for s in table["source"]], dtype=np.int64)
    return _Rows(**{f.name: getattr(prepared, f.name) for f in dataclasses.fields(PreparedTable)},
                 source_index=rows, n_factors=len(sources) - 1)


def as_params(base) -> ModelParams:
    if base is None:
        return ModelParams()
    if isinstance(base, ModelParams):
        return base
    if isinstance(base, Fit):
        return base.params
    if isinstance(base, dict):
        unknown = set(base) - set(ModelParams.names()) - set(_LAYOUT)
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(ModelParams.names() + tuple(_LAYOUT))}")
        return ModelParams(**base)
    raise TypeError("base must be a Fit, a ModelParams or a dict of parameter values")


def neutral_params() -> ModelParams:
    """A machine that favours nothing: bandwidths 10 GB/s, times 1 us (100 ns per subpage),
    shares one half, gains and sharpness at the geometric middle of their ranges.  One of
    the fit's starting points."""
    values = {}
    for name, (low, high) in ModelParams.bounds().items():
        unit = ModelParams.units()[name]
        if unit == "GB/s":
            value = 10.0
        elif unit == "us":
            value = 1.0
        elif unit == "ns":
            value = 100.0
        elif low == 0.0:
            value = 0.5 * (low + high)
        else:
            value = float(np.sqrt(low * high))
        values[name] = float(np.clip(value, low, high))
    return ModelParams(**values)


def same_node_rows(table: pd.DataFrame) -> np.ndarray:
    """Rows timed within one node (``notes`` starting ``same-node``): nothing moved."""
    return table["notes"].astype(str).str.strip().str.startswith(SAME_NODE_NOTE).to_numpy()


def contradicted_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows that the other measurements of their configuration contradict.

    A configuration (page size, pages, engine, workers, batched, exchange, scope) measured at
    least three times, by at least two sources, gives each row a check: its distance from the
    median of the others, ``|ln(gbps / median)|``, against twice the combined relative spread
    (its own ``gbps_sd`` and the others' median; ``0.00`` read as 0.005 GB/s, a missing spread
    as the typical one) plus twice the typical disagreement between sources over every
    configuration measured more than once.

    Returns
    -------
    pandas.DataFrame
        One row per measurement: ``contradicted`` (bool), ``others_gbps`` (the others'
        median, NaN where not checked) and ``distance_sd`` (the distance in units of the
        combined spread).
    """
    table = load_measurements(table)
    gbps = table["gbps"].to_numpy(np.float64)
    sd = table["gbps_sd"].to_numpy(np.float64)
    relative_sd = np.where(np.isnan(sd), np.nan, np.maximum(sd, ROUNDED_SD_GBPS)) / gbps
    typical_sd = float(np.nanmedian(relative_sd)) if np.isfinite(relative_sd).any() else 0.1
    relative_sd = np.where(np.isnan(relative_sd), typical_sd, relative_sd)
    groups = table.groupby(CONFIG_COLUMNS + ["scope"], sort=False).indices
    spread_between = []
    for rows in groups.values():
        if len(rows) >= 2 and table["source"].iloc[rows].nunique() >= 2:
            middle = np.median(gbps[rows])
            spread_between.extend(np.abs(np.log(gbps[rows] / middle)))
    typical_between = float(np.median(spread_between)) if spread_between else 0.0
    out = pd.DataFrame({"contradicted": np.zeros(len(table), bool), "others_gbps": np.nan,
                        "distance_sd": np.nan})
    for rows in groups.values():
        if len(rows) < 3 or table["source"].iloc[rows].nunique() < 2:
            continue
        for i in rows:
            others = rows[rows != i]
            middle = float(np.median(gbps[others]))
            distance = abs(np.log(gbps[i] / middle))
            spread = float(np.hypot(relative_sd[i], np.median(relative_sd[others])))
            out.loc[i, "others_gbps"] = middle
            out.loc[i, "distance_sd"] = distance / spread
            out.loc[i, "contradicted"] = distance > 2 * spread + 2 * typical_between
    return out


def _sensitivity(values: np.ndarray, prepared: PreparedTable, names) -> np.ndarray:
    """d log(gbps) / d log(param) for every row and named parameter (central differences)."""
    index = {n: i for i, n in enumerate(ModelParams.names())}
    bounds = ModelParams.bounds()
    columns = []
    for name in names:
        i = index[name]
        low, high = bounds[name]
        # 5% of the value, or (at 0) a thousandth of the range.  A solver can leave a parameter
        # a few denormals above a bound of 0 (seen on a measured copy table: dispatch_us at
        # 5e-324), where 5% of it underflows to 0 and the quotient below would be 0 / 0: such a
        # value is taken as 0.
        step = 0.05 * values[i]
        if not step > 0:
            step = 1e-3 * (high - low)
        up, down = values.copy(), values.copy()
        up[i] = min(values[i] + step, high)
        down[i] = max(values[i] - step, low)
        delta = np.log(_gbps(up, prepared)) - np.log(_gbps(down, prepared))
        scale = (up[i] - down[i]) / max(values[i], 1e-12)
        columns.append(delta / scale)
    return np.column_stack(columns)


def _identifiable(prepared: PreparedTable, values: np.ndarray, names, tolerance=1e-3,
                  min_influence=0.02) -> list[str]:
    jac = _sensitivity(values, prepared, names)
    order = np.argsort(-np.linalg.norm(jac, axis=0))
    kept: list[int] = []
    for j in order:
        # A column the model cannot evaluate around this point (not finite) says nothing the
        # data could pin: the parameter is left to its stated value, as one without influence.
        if not np.all(np.isfinite(jac[:, j])) or np.max(np.abs(jac[:, j])) < min_influence:
            continue
        singular = np.linalg.svd(jac[:, kept + [j]], compute_uv=False)
        if len(kept) + 1 <= len(prepared) and singular[-1] > tolerance * singular[0]:
            kept.append(j)
    return [names[j] for j in kept]


def identifiable(table: pd.DataFrame, base=None, candidates=None, tolerance: float = 1e-3,
                 min_influence: float = 0.02) -> list[str]:
    """Parameters the measurements constrain at ``base``, most influential first.

    Greedy: parameters are taken in order of their total influence on the rows and kept while
    the sensitivity matrix of those kept stays of full rank (the smallest singular value is
    above ``tolerance`` times the largest).  A parameter that moves no row's throughput by
    more than ``min_influence`` (2%) when it doubles is left out: such a row set cannot pin it.
    :func:`fit` calls this again at each solution, not only at the start.
    """
    params = as_params(base)
    table = load_measurements(table)
    names = list(candidates or ModelParams.names())
    return _identifiable(prepare_table(table), params.to_array(), names, tolerance, min_influence)


def _solve(prepared: PreparedTable, start: np.ndarray, free, target_gbps, centre: np.ndarray,
           prior_weight: float = PRIOR_WEIGHT, max_nfev: int = 2000, tolerance: float = 1e-10):
    """Least squares over ``free`` from the array ``start``; returns (values, cost).  Source
    factors (``source factor k``) sit after the model's array and share the prior: a random
    effect, pulled towards 1."""
    names = list(ModelParams.names())
    bounds = dict(ModelParams.bounds())
    defaults = list(ModelParams().to_array())
    for k, name in enumerate(_factor_names(prepared)):
        bounds[name] = SOURCE_FACTOR_BOUNDS
    position = {n: i for i, n in enumerate(names)}
    position.update({n: ARRAY_SIZE + k for k, n in enumerate(_factor_names(prepared))})
    index = [position[n] for n in free]
    low = np.array([bounds[n][0] for n in free])
    high = np.array([bounds[n][1] for n in free])
    full = start.copy()
    x0 = np.clip(full[index], low, high)
    scale = np.maximum(np.abs(x0), 1e-3 * (high - low))
    middle = centre[index]
    # The floor keeps the log finite for parameters that may be zero (a dispatch cost).
    floor = 0.01 * np.array([defaults[i] if i < ARRAY_SIZE else 1.0 for i in index]) + 1e-9

    # A parameter stated at 0 is absent unless the data show it: a log-normal prior has no
    # centre there (towards 0 it would cost as much as a 67% misfit of one row to reach 5 us), so the
    # data alone decide it; :func:`_probe` asks that they pay for it by Akaike's criterion.
    weight = prior_weight * (middle > 0)

    def residuals(x):
        values = full.copy()
        values[index] = x
        misfit = _gbps(values, prepared) / target_gbps - 1.0
        return np.concatenate([misfit, weight * np.log((x + floor) / (middle + floor))])

    solution = least_squares(residuals, x0, bounds=(low, high), x_scale=scale, method="trf",
                             xtol=tolerance, ftol=tolerance, max_nfev=max_nfev)
    values = full.copy()
    values[index] = solution.x
    return values, float(solution.cost)


def _misfit(values, prepared, target) -> float:
    return float(np.sum((_gbps(values, prepared) / target - 1.0) ** 2))


def _fit_from(prepared, start: ModelParams, stated: ModelParams, target, free=None, max_nfev=600,
              candidates=None):
    """One start: choose what to fit, fit, choose again at the solution, until stable.
    Parameters that leave the free set go back to their stated value; the round with the
    lowest cost is kept (the set can cycle between two choices).  Source factors, where the
    rows carry them, are fitted in every solve; the returned set does not name them."""
    centre = _extend(stated.to_array(), prepared)
    values = _extend(start.to_array(), prepared)
    names = list(ModelParams.names())
    factors = _factor_names(prepared)
    slots = names + _LAYOUT + factors
    if free is not None:
        values = np.where(np.isin(slots, list(free) + factors), values, centre)
        values, cost = _solve(prepared, values, list(free) + factors, target, centre, max_nfev=max_nfev)
        return values, cost, list(free)
    candidates = list(candidates or names)
    # First every parameter that moves a row is fitted, the prior holding the directions the
    # data leave open, to come near the solution; what the data constrain is decided there.
    influential = _identifiable(prepared, values, candidates, tolerance=0.0)
    values = np.where(np.isin(slots, influential + factors), values, centre)
    if influential:
        values, _ = _solve(prepared, values, influential + factors, target, centre, max_nfev=max_nfev)
    chosen = _identifiable(prepared, values, candidates)
    values = np.where(np.isin(slots, chosen + factors), values, centre)
    return _settle(prepared, values, chosen, centre, target, candidates, max_nfev)


def _settle(prepared, values, chosen, centre, target, candidates, max_nfev=600):
    """Fit ``chosen`` from ``values``, choose again at the solution, until the set is stable
    (at most :data:`MAX_ROUNDS` rounds); returns the round of lowest cost as (values, cost,
    chosen).  A parameter that leaves the set goes back to its stated value."""
    names = list(ModelParams.names())
    factors = _factor_names(prepared)
    best = (values, np.inf, chosen)
    seen = []
    for _ in range(MAX_ROUNDS):
        if not chosen or set(chosen) in seen:
            break
        seen.append(set(chosen))
        values, cost = _solve(prepared, values, chosen + factors, target, centre, max_nfev=max_nfev)
        if cost < best[1]:
            best = (values, cost, chosen)
        again = _identifiable(prepared, values, candidates)
        if set(again) == set(chosen):
            break
        values = values.copy()
        for name in set(chosen) - set(again):
            values[names.index(name)] = centre[names.index(name)]
        chosen = again
    return best


def _onset(prepared, values: np.ndarray, name: str, min_influence: float):
    """Where a parameter without influence at ``values`` starts to move some row by
    ``min_influence``: the grid point (:data:`PROBE_GRID` points from a millionth of its upper
    bound, or its lower bound, to the upper bound, log-spaced) nearest its value in log, and
    the direction from its value (+1 up, -1 down); None where no value in its range moves a
    row (no row measures it)."""
    i = ModelParams.names().index(name)
    low, high = ModelParams.bounds()[name]
    grid = np.geomspace(max(low, high * 1e-6), high, PROBE_GRID)
    here = np.log(_gbps(values, prepared))
    trial = values.copy()
    moved = np.empty(len(grid))
    for j, value in enumerate(grid):
        trial[i] = value
        moved[j] = np.max(np.abs(np.log(_gbps(trial, prepared)) - here))
    active = np.flatnonzero(np.isfinite(moved) & (moved >= min_influence))
    if not len(active):
        return None
    current = max(values[i], grid[0])
    nearest = active[np.argmin(np.abs(np.log(grid[active] / current)))]
    return float(grid[nearest]), (1.0 if grid[nearest] >= current else -1.0)


def _aic_gain(with_misfit: float, without_misfit: float, n_rows: int) -> float:
    """How much lower Akaike's criterion is with one more parameter than without it:
    ``n ln(RSS_without / RSS_with) - 2``."""
    return n_rows * np.log(max(without_misfit, 1e-300) / max(with_misfit, 1e-300)) - 2.0


def _probe(prepared, best, centre, target, candidates, max_nfev=600, min_influence=0.02):
    """Probe the parameters that have no influence at the solution ``best`` (values, cost,
    chosen), and test the :data:`DEPARTURES` against their absence; returns the settled best
    and what each test found (parameter -> one line).

    A term that enters through a ``max()`` or a ceiling has no local sensitivity while its
    branch is inactive, so the check at the solution cannot see it: at a stated value of 0 a
    shared path that bounds the copy from below is invisible, however clearly the rows show
    it (the AMD rows: stated at 1 us / 0.1 us it was found, at 0.5 us / 0.05 us or 0 it was
    not).  Which parameters are fitted would then depend on the stated values.  So every
    candidate that moves no row by ``min_influence`` at the solution, and that some value in
    its range would make move a row (:func:`_onset`), is fitted together with the chosen set
    from :data:`PROBE_STEPS` points spread from that onset into the range where it acts: a
    scale the data set, not the stated value.  The probe that lowers Akaike's criterion most
    (``AIC = n ln(RSS / n) + 2 k`` on the relative residuals, the prior left out; Burnham and
    Anderson, 2002, sec. 2.2) is kept if it lowers it by at least :data:`AIC_LIKELY` (4: the
    fit without it has "considerably less support"; for one added parameter a
    likelihood-ratio statistic of 6, p = 0.014 for Gaussian residuals), stricter than AIC's
    bare 0 because several parameters from several starts are tried and the best is taken.

    The other way round, a stated value that makes a departure's branch active lets the
    rank check at the solution choose it though the data may not pay for it (AMD's
    per-entry shared time: fitted when stated at 0.05 us or more, at most 2 lower in AIC than
    without it).  So each chosen departure is also fitted without it (at 0, its absence) and
    kept only if it lowers the AIC by :data:`AIC_LIKELY` against that; the same question as
    the probe's, asked from the other side, so that the answer does not depend on where the
    term was stated.  A parameter that does not pay is open at its stated value and is not
    chosen again by the rank check, nor probed, until another term joins the fitted set:
    then it is asked again, since what a term explains depends on what is fitted beside it
    (over AMD's 1-4 channel rows the overlap paid 0.8 before the shared path was found and
    10 after; asked once, the outcome depended on the order of the probes).  After each change the fit settles (:func:`_settle`:
    what the data constrain is chosen again there), until nothing changes; the outcomes are
    reported (``Fit.structure["probed"]``)."""
    names = list(ModelParams.names())
    factors = _factor_names(prepared)
    units = ModelParams.units()
    n_rows = len(target)
    values, cost, chosen = best
    # A departure that did not pay is left out while the chosen set is the one it was
    # rejected beside; once another term joins the set it is asked again (below).
    found, rejected = {}, {}
    for _ in range(2 * len(candidates)):
        allowed = [n for n in candidates if n not in rejected or set(chosen) - rejected[n]]
        misfit = _misfit(values, prepared, target)
        # Departures chosen at the solution must pay against their absence.
        tests = {}
        for name in [n for n in chosen if n in DEPARTURES]:
            without = values.copy()
            without[names.index(name)] = 0.0
            trial, _ = _solve(prepared, without, [n for n in chosen if n != name] + factors, target, centre,
                              max_nfev=PROBE_NFEV)
            tests[name] = _aic_gain(misfit, _misfit(trial, prepared, target), n_rows)
        weakest = min(tests, key=tests.get, default=None)
        for name, gain in tests.items():
            if gain >= AIC_LIKELY:
                found[name] = f"fitted: AIC {gain:.0f} lower than without it (at 0)"
        if weakest is not None and tests[weakest] < AIC_LIKELY:
            gain = tests[weakest]
            found[weakest] = ("open: the stated value kept; fitted, the AIC is " +
                              (f"only {gain:.1f} lower" if gain > 0 else f"{-gain:.1f} higher") +
                              " than without it (at 0)")
            values = values.copy()
            values[names.index(weakest)] = centre[names.index(weakest)]
            values, cost, chosen = _settle(prepared, values, [n for n in chosen if n != weakest], centre, target,
                                           [n for n in allowed if n != weakest], max_nfev)
            rejected[weakest] = set(chosen)
            continue
        # Parameters without influence here are probed from where they start to act.
        idle = [n for n in allowed if n not in chosen]
        influence = np.max(np.abs(_sensitivity(values, prepared, idle)), axis=0) if idle else []
        trials = {}
        for name, moved in zip(idle, influence):
            if np.isfinite(moved) and moved >= min_influence:
                continue  # it moves rows here: left open by the rank check, not for want of sensitivity
            onset = _onset(prepared, values, name, min_influence)
            if onset is None:
                continue
            at, direction = onset
            low, high = ModelParams.bounds()[name]
            for step in PROBE_STEPS:
                start = values.copy()
                start[names.index(name)] = float(np.clip(at * step ** direction, low, high))
                trial, _ = _solve(prepared, start, chosen + [name] + factors, target, centre, max_nfev=PROBE_NFEV)
                gain = _aic_gain(_misfit(trial, prepared, target), misfit, n_rows)
                if name not in trials or gain > trials[name][1]:
                    trials[name] = (trial, gain, at)
        for name, (_, gain, at) in trials.items():
            found[name] = (f"open: probed from {at:.3g} {units[name]} (where it starts to move a row) on, "
                           "the AIC " + (f"only {gain:.1f} lower" if gain > 0 else f"{-gain:.1f} higher"))
        name = max(trials, key=lambda n: trials[n][1], default=None)
        if name is None or trials[name][1] < AIC_LIKELY:
            break
        trial, gain, at = trials[name]
        found[name] = f"fitted: probed from {at:.3g} {units[name]}, the AIC {gain:.0f} lower than open"
        values, cost, chosen = _settle(prepared, trial, chosen + [name], centre, target, allowed, max_nfev)
    for name in [n for n in found if n not in chosen and found[n].startswith("fitted")]:
        found[name] = "open: fitted once, then not constrained at a later solution"
    for name in [n for n in chosen if n in found and found[n].startswith("open")]:
        found[name] = "fitted: constrained at a later solution"
    return (values, cost, chosen), found


def _starts(first: ModelParams, seed: int, start: ModelParams | None = None) -> list[ModelParams]:
    """``start`` (by default ``first``: the RFC's machine, or ``base``), the neutral machine
    (or, when ``start`` is the neutral machine, ``first``), then :data:`SPREAD_STARTS` points
    spread around each of the two; all with ``first``'s DMA layout.  Starting from the stated
    or the neutral machine thus tries the same points: with the AMD rows, spreading around
    the first start only left two fits at different local minima (the v4 posting's faster
    small folios read as a smaller source factor or as more overlap)."""
    layout = {name: getattr(first, name) for name in _LAYOUT}
    stated, first = first, first if start is None else start.replace(**layout)
    neutral = neutral_params().replace(**layout)
    starts = [first, neutral if first != neutral else stated]
    bounds = ModelParams.bounds()
    for centre in sorted(starts[:2], key=lambda params: params != stated):
        rng = np.random.default_rng(seed)
        for _ in range(SPREAD_STARTS):
            values = centre.to_array()
            for i, name in enumerate(ModelParams.names()):
                low, high = bounds[name]
                if high <= 1.0:  # shares: anywhere in their range
                    values[i] = rng.uniform(low, high)
                else:
                    values[i] = np.clip(values[i] * np.exp(rng.normal(0.0, 0.7)), low, high)
            starts.append(ModelParams.from_array(values))
    return starts


def _layouts_to_try(used, stated, structure, channels_per_engine, batch_pages=None):
    """Which DMA structures, channels per engine and batch limits to fit, and why only those."""
    dma = (used["copy"] == "dma").any()
    several = _channel_counts_seen(used) >= 2
    reason = None if several else ("no DMA rows" if not dma else "cannot tell: one channel count")
    if structure is not None:
        kinds, how = [structure], "set"
    else:
        kinds, how = (list(DMA_STRUCTURES), None) if several else ([stated.dma_structure], reason)
    if channels_per_engine is not None:
        engines, engine_how = [channels_per_engine], "set"
    else:
        # The stated layout is tried too: a machine whose engines hold more queues than
        # ENGINE_CHOICES (an AE4DMA: 16 on one device) says so in base=.
        engines, engine_how = (sorted({*ENGINE_CHOICES, stated.dma_channels_per_engine}), None) if several else (
            [stated.dma_channels_per_engine], reason)
    # The batch limit matters to the folio structure only, and only where batches differ:
    # DMA rows of folios whose batch would hold fewer folios than the call moves.
    if batch_pages is not None:
        batches, batch_how = [batch_pages], "set"
    else:
        batches, batch_how = (list(BATCH_PAGES), None) if several else ([stated.migrate_batch_pages], reason)
    return kinds, engines, batches, how, engine_how, batch_how


def _layout_label(layout) -> str:
    kind, per_engine, batch = layout
    label = f"{kind}, {per_engine} per engine"
    return label + (f", batches of {batch}" if kind == "folio" else "")


def _verdict(misfit: dict, n_free: dict, n_rows: int, stated, how):
    """The choice the data support, and how clearly, by Akaike's criterion for least squares
    (Burnham and Anderson, *Model Selection and Multimodel Inference*, 2002, sec. 2.2 and
    2.6): ``AIC = n ln(RSS / n) + 2 k``.  The best choice is kept if the next best's AIC is
    larger by at least :data:`AIC_LIKELY` (4: "considerably less support") and called
    clear from :data:`AIC_CLEAR` (10: "essentially none"); closer than that the data cannot
    tell and ``stated`` is kept."""
    if how is not None:
        return next(iter(misfit)), how
    aic = {k: n_rows * np.log(max(v, 1e-300) / n_rows) + 2 * n_free[k] for k, v in misfit.items()}
    ordered = sorted(aic, key=aic.get)
    gap = aic[ordered[1]] - aic[ordered[0]]
    if gap >= AIC_CLEAR:
        return ordered[0], f"clear: the next best's AIC is {gap:.0f} higher"
    if gap >= AIC_LIKELY:
        return ordered[0], f"likely: the next best's AIC is {gap:.1f} higher"
    return stated, f"cannot tell (AIC within {gap:.1f}): the stated value kept"


#: Parameters that measure a contrast: only data holding both sides of it can fit them
#: (``batch_saving`` needs batched and unbatched rows; all-batched rows see only the product
#: of per-page work and ``1 - batch_saving``).
CONTRASTS = {"batch_saving": "batched", "exchange_saving": "exchange", "exchange_gain": "exchange"}


def _candidates(table) -> list[str]:
    """The parameters a fit may free: all but contrasts the rows do not hold both sides of."""
    return [n for n in ModelParams.names()
            if n not in CONTRASTS or table[CONTRASTS[n]].nunique() == 2]


def _channel_counts_seen(table) -> int:
    return table.loc[table["copy"] == "dma", "workers"].nunique()


@dataclass
class Fit:
    """A cost model fitted to measurements.

    Attributes
    ----------
    params : ModelParams
        Best-fit parameters (the DMA structure included).
    free : list of str
        The parameters that were fitted.
    measurements : pandas.DataFrame
        The validated measurements the fit was given (contradicted rows included).
    samples : numpy.ndarray, shape (n_bootstrap, ARRAY_SIZE)
        Parameter arrays of the bootstrap replicates (``ModelParams.to_array`` order).
    confidence : float
        Coverage of the intervals (0.95).
    open : list of str
        Parameters the data leave open: kept at their stated value (``base``'s).  Empty when
        the caller named ``free``: then every other parameter is *fixed*.
    structure : dict
        How the DMA structure was decided: ``chosen``, ``how`` (``clear``, ``likely``,
        ``cannot tell``, ``set`` by the caller, or ``no DMA rows``) and ``misfit`` per
        structure tried (sum of squared relative errors).
    excluded : list of int
        Rows of ``measurements`` left out of the fit as contradicted by other sources.
    sources : dict
        The source effect (empty when off): ``reference`` (factor 1), ``factors`` (source ->
        factor on the serial per-folio and per-entry work of its DMA rows), ``intervals`` (source -> [low,
        high], 95% bootstrap) and ``how`` it was turned on.
    """

    params: ModelParams
    free: list
    measurements: pd.DataFrame
    samples: np.ndarray = field(repr=False)
    confidence: float = 0.95
    open: list = field(default_factory=list)
    structure: dict = field(default_factory=dict)
    excluded: list = field(default_factory=list)
    sources: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        # one line: the dataclass repr printed every parameter and the whole table
        return (f"<Fit: {len(self.free)} of {len(self.params.bounds())} parameters "
                f"fitted to {len(self.measurements)} measurements, median error "
                f"{self.median_error:.1%}, largest {self.max_error:.1%}, {len(self.samples)} "
                "bootstrap rounds; .report() for the parameters>")

    # --- prediction ---
    def predict(self, configurations) -> np.ndarray:
        """Modelled GB/s for each row of a table of configurations (throughput columns, if
        any, are ignored).  With a source effect, a row whose ``source`` the fit knows gets
        that source's factor; any other row is the reference source's."""
        table = _configurations(configurations)
        return prepared_gbps(self.params, self._prepared(table))

    def _prepared(self, table: pd.DataFrame) -> PreparedTable:
        prepared = prepare_table(table)
        factors = self.sources.get("factors", {})
        if not factors:
            return prepared
        scale = np.array([factors.get(str(s), 1.0) for s in table["source"]], dtype=np.float64)
        return dataclasses.replace(prepared, serial_scale=scale)

    def predict_interval(self, configurations):
        """Lower and upper GB/s of the bootstrap interval, for each configuration."""
        table = _configurations(configurations)
        if len(self.samples) == 0:
            value = self.predict(table)
            return value, value
        prepared = self._prepared(table)
        draws = np.array([prepared_gbps(s, prepared) for s in self.samples])
        tail = (1 - self.confidence) / 2 * 100
        return np.percentile(draws, tail, axis=0), np.percentile(draws, 100 - tail, axis=0)

    def time_us(self, page_bytes, n_pages, **config):
        """Microseconds per call; see :func:`memtier.model.cost.call_time_us`."""
        from .cost import call_time_us

        return call_time_us(self.params, page_bytes, n_pages, **config)

    # --- how good it is ---
    def residuals(self) -> pd.DataFrame:
        """The measurements with ``modelled_gbps``, ``relative_error`` (model/measured - 1)
        and ``excluded`` (left out of the fit as contradicted)."""
        table = self.measurements.copy()
        table["modelled_gbps"] = self.predict(table)
        table["relative_error"] = table["modelled_gbps"] / table["gbps"] - 1.0
        table["excluded"] = np.isin(np.arange(len(table)), self.excluded)
        return table

    def _fitted_errors(self) -> np.ndarray:
        table = self.residuals()
        return np.abs(table.loc[~table["excluded"], "relative_error"].to_numpy())

    @property
    def median_error(self) -> float:
        """Median |relative error| over the rows fitted (contradicted rows left out)."""
        return float(np.median(self._fitted_errors()))

    @property
    def max_error(self) -> float:
        """Largest |relative error| over the rows fitted (contradicted rows left out)."""
        return float(np.max(self._fitted_errors()))

    def status(self, name: str) -> str:
        """``fitted``, ``open`` (the data leave it: stated value kept) or ``fixed`` (by the
        caller's ``free=``)."""
        if name in self.free:
            return "fitted"
        return "open" if name in self.open else "fixed"

    def intervals(self) -> pd.DataFrame:
        """One row per parameter: value, unit, status (fitted, open or fixed), interval."""
        names = ModelParams.names()
        units, docs = ModelParams.units(), ModelParams.docs()
        tail = (1 - self.confidence) / 2 * 100
        rows = []
        for i, name in enumerate(names):
            status = self.status(name)
            if status == "fitted" and len(self.samples):
                low, high = np.percentile(self.samples[:, i], [tail, 100 - tail])
            else:
                low = high = np.nan
            rows.append({"parameter": name, "value": getattr(self.params, name), "unit": units[name],
                         "status": status, "low": low, "high": high, "meaning": docs[name]})
        return pd.DataFrame(rows)

    def structure_line(self) -> str:
        """One line: which DMA structure and channels per engine, and how clearly the data
        chose them."""
        info = self.structure or {"how": "not recorded"}
        line = (f"DMA structure: {self.params.dma_structure} ({info['how']}); "
                f"{self.params.dma_channels_per_engine} channel(s) per engine ({info.get('engine_how', info['how'])})")
        if self.params.dma_structure == "folio":
            line += (f"; batches of {self.params.migrate_batch_pages} base pages "
                     f"({info.get('batch_how', 'not recorded')})")
        misfit = info.get("misfit", {})
        if len(misfit) > 1:
            line += "; misfit " + ", ".join(f"{k}: {v:.3g}" for k, v in sorted(misfit.items(), key=lambda kv: kv[1]))
        return line

    def sources_line(self) -> str:
        """One line: the source effect's factors (or that it is off)."""
        if not self.sources:
            return "Source effect: off"
        intervals = self.sources.get("intervals", {})
        parts = []
        for name, factor in self.sources["factors"].items():
            if name == self.sources["reference"]:
                continue
            low_high = intervals.get(name)
            parts.append(f"{name} x{factor:.3g}" + (f" ({low_high[0]:.3g}-{low_high[1]:.3g})" if low_high else ""))
        return (f"Source effect ({self.sources.get('how', 'on')}): serial per-folio and per-entry work of DMA rows, "
                f"{self.sources['reference']} x1 (reference); " + ", ".join(parts))

    def report(self) -> str:
        """A readable report: structure, parameters (fitted, open or fixed) with intervals,
        then every row measured and modelled, contradicted rows marked."""
        from ..measurement.schema import format_page_size

        n_open = sum(self.status(n) == "open" for n in ModelParams.names())
        n_fixed = sum(self.status(n) == "fixed" for n in ModelParams.names())
        lines = [f"memtier fit: {len(self.measurements) - len(self.excluded)} measurements fitted"
                 + (f" ({len(self.excluded)} contradicted, left out)" if self.excluded else "")
                 + f", {len(self.free)} parameters fitted, {n_open} open, {n_fixed} fixed; "
                 f"median |error| {self.median_error:.1%}, largest {self.max_error:.1%}",
                 self.structure_line()]
        if self.sources:
            lines.append(self.sources_line())
        probed = (self.structure or {}).get("probed", {})
        if probed:
            fitted = [n for n, what in probed.items() if what.startswith("fitted")]
            lines.append("Probed (no influence at the fit, or departures from the cited code; kept when the AIC "
                         f"falls by {AIC_LIKELY:g}): fitted " + (", ".join(fitted) or "none") + "; open "
                         + (", ".join(n for n in probed if n not in fitted) or "none")
                         + " (Fit.structure['probed'] says why)")
        lines.append("")
        lines.append(f"{'parameter':<24}{'value':>11}  {'unit':<5} {'95% interval':>22}")
        outside = 0
        for row in self.intervals().itertuples():
            interval = (f"{row.low:10.4g} - {row.high:<10.4g}" if row.status == "fitted"
                        and np.isfinite(row.low) else row.status if row.status != "fitted" else "")
            # a percentile interval can miss the value itself when the refits of resampled
            # rows land elsewhere (a value at a bound, or one the rows barely determine)
            mark = "  *" if np.isfinite(row.low) and not row.low <= row.value <= row.high else ""
            outside += bool(mark)
            lines.append(f"{row.parameter:<24}{row.value:>11.4g}  {row.unit:<5} {interval:>22}{mark}")
        if outside:
            lines.append("* the fitted value lies outside its bootstrap interval: the refits of resampled rows "
                         "put it elsewhere (these rows determine it poorly)")
        lines += ["", f"{'page':>5} {'pages':>6} {'copy':>4} {'wk':>3} {'bat':>3} {'xchg':>4} "
                      f"{'scope':<8}{'measured':>9}{'modelled':>9}{'error':>8}"]
        for i, row in enumerate(self.residuals().itertuples()):
            lines.append(
                f"{format_page_size(row.page_size):>5} {row.n_pages:>6} {row.copy:>4} {row.workers:>3} "
                f"{'y' if row.batched else 'n':>3} {'y' if row.exchange else 'n':>4} {row.scope:<8}"
                f"{row.gbps:>9.3f}{row.modelled_gbps:>9.3f}{row.relative_error:>+8.1%}"
                + ("  contradicted, not fitted" if row.excluded else ""))
        if self.excluded:
            check = contradicted_rows(self.measurements)
            lines += ["", "Contradicted rows (left out of the fit), against the other measurements "
                          "of the same configuration:"]
            for i in self.excluded:
                row = self.measurements.iloc[i]
                lines.append(f"  row {i + 1} ({row['source'] or 'no source'}): {row['gbps']:.3g} GB/s, "
                             f"the others' median {check['others_gbps'].iloc[i]:.3g} GB/s: "
                             f"{check['distance_sd'].iloc[i]:.1f} times the combined spread away")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Measured against modelled GB/s, one point per row, with the 1:1 line and +-15%."""
        from ..plots import plot_fit

        return plot_fit(self, ax=ax)

    # --- persistence ---
    def to_dict(self) -> dict:
        measured = self.measurements
        params = {n: getattr(self.params, n) for n in ModelParams.names()}
        params["dma_structure"] = self.params.dma_structure
        params["dma_channels_per_engine"] = self.params.dma_channels_per_engine
        params["migrate_batch_pages"] = self.params.migrate_batch_pages
        return {
            "memtier_fit": FORMAT_VERSION,
            "params": params,
            "free": list(self.free),
            "open": list(self.open),
            "structure": self.structure,
            "excluded": [int(i) for i in self.excluded],
            "sources": self.sources,
            "confidence": self.confidence,
            "samples": self.samples.tolist(),
            "measurements": [
                {k: (None if isinstance(v, float) and np.isnan(v) else v.item() if hasattr(v, "item") else v)
                 for k, v in record.items()}
                for record in measured.to_dict("records")
            ],
        }

    def save(self, path, *, force: bool = False) -> Path:
        """Write the fit as JSON; an existing file is kept unless ``force`` is true."""
        from ..outputs import write_text

        return write_text(path, json.dumps(self.to_dict(), indent=1), force=force)


def _configurations(configurations) -> pd.DataFrame:
    return load_measurements(pd.DataFrame(configurations), name="configurations", throughput=False)


#: Largest fit file read (a fit with 200 bootstrap rounds is about 60 kB).
MAX_FIT_BYTES = 64 << 20


def load_fit(path) -> Fit:
    """Read a fit written by :meth:`Fit.save`; the round trip is lossless.

    The file is checked against its schema before anything uses it (:func:`check_fit_data`).
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ValueError(f"{path}: is a folder, not a memtier fit")
        if path.stat().st_size > MAX_FIT_BYTES:
            raise ValueError(f"{path}: {path.stat().st_size:,} bytes is too large for a memtier fit "
                             f"(at most {MAX_FIT_BYTES:,})")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a memtier fit (not JSON: {error})") from None
    except RecursionError:
        raise ValueError(f"{path}: not a memtier fit (JSON nested too deeply)") from None
    parts = check_fit_data(data, str(path))
    return Fit(parts["params"], parts["free"], parts["measurements"], parts["samples"], parts["confidence"],
               open=parts["open"], structure=parts["structure"], excluded=parts["excluded"],
               sources=parts["sources"])


def _fit_problem(name: str, what: str) -> ValueError:
    return ValueError(f"{name}: not a valid memtier fit: {what}; save it again with Fit.save / memtier fit --out")


def _real(value) -> bool:
    """A JSON number (not a boolean) that is finite as a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:
        return False


def _names_list(value, key: str, name: str) -> list:
    names = ModelParams.names()
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise _fit_problem(name, f"'{key}' must be a list of parameter names")
    wrong = [n for n in value if n not in names]
    if wrong or len(set(value)) != len(value):
        raise _fit_problem(name, f"'{key}' names {', '.join(wrong) or 'a parameter twice'}")
    return list(value)


def check_fit_data(data, name: str = "fit") -> dict:
    """Check a decoded fit file against its schema; return its parts.

    The schema (``Fit.to_dict``): ``memtier_fit``, the format version (1 to 7); ``params``,
    every parameter of :class:`~memtier.model.cost.ModelParams` as a number inside its bounds (an
    older file may lack the DMA terms added since: they take their stated values, except the
    DMA ceiling's softness, added in version 7, which takes ``1 / ceiling_sharpness``: before
    it the one sharpness served both ceilings, the model such a file was fitted with), and no
    other, plus ``dma_structure`` (one of ``DMA_STRUCTURES``), ``dma_channels_per_engine``
    (one of ``CHANNELS_PER_ENGINE``) and ``migrate_batch_pages`` (one of ``BATCH_PAGES``;
    absent before version 4: mainline's 512); ``free`` and ``open``, lists of distinct
    parameter names; ``confidence``, a number in (0, 1); ``samples``, a list of bootstrap
    parameter sets, each a list of ``ARRAY_SIZE`` finite numbers inside the parameters'
    bounds (one fewer in version 6, two in version 5, four in version 4, five in version 3,
    six in version 2, ignored in version 1, whose samples had fewer terms); ``structure``, how the DMA layout was chosen;
    ``excluded``, indices of measurement rows; ``sources`` (version 5, optional), the source
    effect (:attr:`Fit.sources`); ``measurements``, rows in the measurement schema.

    Returns
    -------
    dict
        ``params``, ``free``, ``open``, ``confidence``, ``samples``, ``structure``,
        ``excluded``, ``sources``, ``measurements``: ready for :class:`Fit`.

    Raises
    ------
    ValueError
        Naming the key and what it should hold.
    """
    version = data.get("memtier_fit") if isinstance(data, dict) else None
    if type(version) is not int or version not in (1, 2, 3, 4, 5, 6, FORMAT_VERSION):
        raise ValueError(f"{name}: not a memtier fit (written by Fit.save / memtier fit --out)")
    missing = [key for key in ("params", "free", "confidence", "samples", "measurements") if key not in data]
    if missing:
        raise _fit_problem(name, f"key(s) {', '.join(missing)} missing")
    names = ModelParams.names()
    bounds = ModelParams.bounds()
    params = data["params"]
    if not isinstance(params, dict):
        raise _fit_problem(name, "'params' must map each parameter name to its value")
    unknown = sorted(set(params) - set(names) - set(_LAYOUT))
    if unknown:
        raise _fit_problem(name, f"unknown parameter(s) {', '.join(map(str, unknown))} in 'params'")
    absent = [n for n in names if n not in params]
    if absent and version == FORMAT_VERSION:
        raise _fit_problem(name, f"parameter(s) {', '.join(absent)} missing from 'params'")
    for key in names:
        if key not in params:
            continue
        value = params[key]
        low, high = bounds[key]
        if not _real(value) or not low <= value <= high:
            raise _fit_problem(name, f"'params' {key} is {value!r}; expected a number in [{low}, {high}]")
    layout = {}
    if "dma_structure" in params:
        if params["dma_structure"] not in DMA_STRUCTURES:
            raise _fit_problem(name, f"'params' dma_structure is {params['dma_structure']!r}; expected one of "
                                     f"{', '.join(DMA_STRUCTURES)}")
        layout["dma_structure"] = params["dma_structure"]
    if "dma_channels_per_engine" in params:
        value = params["dma_channels_per_engine"]
        if type(value) is not int or value not in CHANNELS_PER_ENGINE:
            raise _fit_problem(name, f"'params' dma_channels_per_engine is {value!r}; expected one of "
                                     f"{', '.join(map(str, CHANNELS_PER_ENGINE))}")
        layout["dma_channels_per_engine"] = value
    if "migrate_batch_pages" in params:
        value = params["migrate_batch_pages"]
        if type(value) is not int or value not in BATCH_PAGES:
            raise _fit_problem(name, f"'params' migrate_batch_pages is {value!r}; expected one of "
                                     f"{', '.join(map(str, BATCH_PAGES))}")
        layout["migrate_batch_pages"] = value
    free = _names_list(data["free"], "free", name)
    open_ = _names_list(data.get("open", []), "open", name)
    confidence = data["confidence"]
    if not _real(confidence) or not 0 < confidence < 1:
        raise _fit_problem(name, f"'confidence' is {confidence!r}; expected a number between 0 and 1 "
                                 "(0.95 for 95% intervals)")
    samples = data["samples"]
    # Version 6 had no DMA ceiling softness (one number fewer per replicate), version 5 no
    # queue bandwidth either, version 4 no shared DMA path (two more), version 3 no batch
    # limit, version 2 nor the per-descriptor channel time.
    width = {FORMAT_VERSION: ARRAY_SIZE, 6: ARRAY_SIZE - 1, 5: ARRAY_SIZE - 2, 4: ARRAY_SIZE - 4,
             3: ARRAY_SIZE - 5, 2: ARRAY_SIZE - 6}.get(version)
    if not isinstance(samples, list) or not all(
            isinstance(row, list) and (width is None or len(row) == width) and all(_real(v) for v in row)
            for row in samples):
        raise _fit_problem(name, f"'samples' must be a list of bootstrap parameter sets, each a list of "
                                 f"{width or ARRAY_SIZE} finite numbers (ModelParams.to_array())")
    if version != 1:
        samples = np.array(samples, dtype=np.float64).reshape(-1, width)
        if version == 2:  # the new parameter at its stated value in every replicate
            stated = float(params.get("dma_channel_descriptor_us", ModelParams().dma_channel_descriptor_us))
            samples = np.insert(samples, names.index("dma_channel_descriptor_us"), stated, axis=1)
        if version in (2, 3, 4):  # the shared path's two terms as stated (0 by default: the model they had)
            for term in ("dma_shared_descriptor_us", "dma_shared_entry_us"):
                stated = float(params.get(term, getattr(ModelParams(), term)))
                samples = np.insert(samples, names.index(term), stated, axis=1)
        if version in (2, 3, 4, 5):  # a queue's own bandwidth as stated (by default none: the model they had)
            stated = float(params.get("dma_queue_gbps", ModelParams().dma_queue_gbps))
            samples = np.insert(samples, names.index("dma_queue_gbps"), stated, axis=1)
        if version < FORMAT_VERSION:  # the DMA ceiling as it was: as soft as the CPU link's
            sharpness = samples[:, names.index("ceiling_sharpness")]
            samples = np.insert(samples, names.index("dma_ceiling_softness"), 1.0 / sharpness, axis=1)
        if version in (2, 3):  # the batch limit, the file's or mainline's, in every replicate
            batch = layout.get("migrate_batch_pages", ModelParams().migrate_batch_pages)
            samples = np.column_stack([samples, np.full(len(samples), float(batch))])
        low = np.array([bounds[n][0] for n in names] + [0, min(CHANNELS_PER_ENGINE), min(BATCH_PAGES)],
                       dtype=np.float64)
        high = np.array([bounds[n][1] for n in names]
                        + [len(DMA_STRUCTURES) - 1, max(CHANNELS_PER_ENGINE), max(BATCH_PAGES)], dtype=np.float64)
        columns = list(names) + _LAYOUT
        outside = ~((samples >= low) & (samples <= high))
        if outside.any():
            row, column = np.argwhere(outside)[0]
            raise _fit_problem(name, f"'samples' row {row + 1} has {columns[column]}={samples[row, column]!r}, "
                                     f"outside [{low[column]:g}, {high[column]:g}] "
                                     f"({int(outside.sum())} value(s) outside)")
    else:
        # Version 1 had no structure and fewer DMA terms: the old parameters, the new ones stated.
        samples = np.zeros((0, ARRAY_SIZE))
    structure = data.get("structure", {})
    if not isinstance(structure, dict) or (structure and not isinstance(structure.get("how"), str)) or not all(
            isinstance(structure.get(k, ""), str) for k in ("engine_how", "chosen", "batch_how")) or not (
            isinstance(structure.get("misfit", {}), dict)
            and all(_real(v) for v in structure.get("misfit", {}).values())):
        raise _fit_problem(name, "'structure' must say how the DMA layout was chosen ('how', text; 'misfit', "
                                 "numbers by layout)")
    measurements = data["measurements"]
    if not isinstance(measurements, list) or not measurements or not all(isinstance(r, dict) for r in measurements):
        raise _fit_problem(name, "'measurements' must be a non-empty list of rows (objects)")
    sources = data.get("sources", {})
    if not isinstance(sources, dict) or (sources and not (
            isinstance(sources.get("reference"), str) and isinstance(sources.get("factors"), dict)
            and all(isinstance(k, str) and _real(v) and SOURCE_FACTOR_BOUNDS[0] <= v <= SOURCE_FACTOR_BOUNDS[1]
                    for k, v in sources["factors"].items())
            and isinstance(sources.get("intervals", {}), dict)
            and all(isinstance(v, list) and len(v) == 2 and all(_real(x) for x in v)
                    for v in sources.get("intervals", {}).values()))):
        raise _fit_problem(name, "'sources' must be the source effect ('reference', a source name; 'factors', "
                                 f"numbers from {SOURCE_FACTOR_BOUNDS[0]} to {SOURCE_FACTOR_BOUNDS[1]} by source; "
                                 "'intervals', [low, high] by source) or {}")
    excluded = data.get("excluded", [])
    if not isinstance(excluded, list) or not all(type(i) is int and 0 <= i < len(measurements) for i in excluded):
        raise _fit_problem(name, f"'excluded' must list row numbers from 0 to {len(measurements) - 1}")
    table = load_measurements(pd.DataFrame(measurements), name=f"{name} 'measurements'")
    if version < FORMAT_VERSION:
        # Before version 7 the DMA channels met the engines' ceiling as softly as the CPU's
        # threads met the link (one sharpness for both): the model such a fit was made with.
        params = dict(params, dma_ceiling_softness=1.0 / float(params.get(
            "ceiling_sharpness", ModelParams().ceiling_sharpness)))
    return {
        "params": ModelParams(**{n: float(params[n]) for n in names if n in params}, **layout),
        "free": free, "open": open_, "confidence": float(confidence), "samples": samples,
        "structure": structure, "excluded": list(excluded), "measurements": table, "sources": sources,
    }


def room_for_the_data(table: pd.DataFrame, start: ModelParams) -> ModelParams:
    """Raise a starting ceiling that lies below what the data already reach.

    A machine faster than the RFC's 2014 Xeon measured against the RFC's 12.7 GB/s copy
    ceiling would start where the fit can only explain the data by pinning everything to that
    ceiling (and the prior would hold it there).  Each ceiling (CPU copy, exchange, DMA) below
    1.5 times its rows' fastest throughput starts at twice that throughput instead.
    """
    cpu = table["copy"] == "cpu"
    changes = {}
    for name, rows in (("link_gbps", cpu & ~table["exchange"]), ("exchange_ceiling_gbps", cpu & table["exchange"]),
                       ("dma_ceiling_gbps", table["copy"] == "dma")):
        if rows.any():
            peak = float(table.loc[rows, "gbps"].max())
            if getattr(start, name) < 1.5 * peak:
                changes[name] = min(2 * peak, ModelParams.bounds()[name][1])
    return start.replace(**changes) if changes else start


def _check_free(free):
    free = list(free)
    unknown = [n for n in free if n not in ModelParams.names()]
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(ModelParams.names())}")
    if len(set(free)) != len(free):
        raise ValueError("a parameter is named twice in free")
    if not free:
        raise ValueError("free names no parameter; name at least one, or leave free out")
    return free


def fit(measurements, *, free=None, base=None, bootstrap: int = 200, seed: int = 0,
        structure: str | None = None, channels_per_engine: int | None = None, batch_pages: int | None = None,
        start=None, source_effect: bool | None = None) -> Fit:
    """Fit the cost model to measurements.

    Parameters
    ----------
    measurements : str, os.PathLike or pandas.DataFrame
        Measurements in memtier's schema (see :func:`memtier.load_measurements`).  Rows timed
        within one node (``notes`` starting ``same-node``) are refused: nothing moved.
    free : list of str, optional
        Parameters to fit; the others are taken from ``base`` unchanged (*fixed*).  By
        default, those the measurements constrain at the solution; the rest are *open*.
    base : Fit, ModelParams or dict, optional
        The stated values (kept by open and fixed parameters), the first start and the
        prior's centre.  Defaults to :class:`ModelParams`' defaults (the RFC's machine).  A
        ceiling below what the data reach is raised first (to twice the fastest row).
    bootstrap : int
        Residual-bootstrap replicates for the intervals (0 for none).
    seed : int
        Seed of the spread starts and of the bootstrap.
    start : Fit, ModelParams or dict, optional
        Where the first start lies (by default ``base``); the neutral machine and points
        spread around ``start`` are the other starts.  Stated values stay ``base``'s.
    structure : {"split", "folio"}, optional
        The DMA structure; by default fitted both ways when the data can tell.
    channels_per_engine : {1, 2, 4, 8, 16}, optional
        DMA channels sharing one engine's bandwidth; by default 1, 2 and 4 are tried when
        the data have several channel counts.
    batch_pages : {512, 262144}, optional
        ``NR_MAX_BATCHED_MIGRATION`` in base pages (``ModelParams.migrate_batch_pages``):
        mainline's 512 or the copy-offload series' testing value; by default both are
        tried for the folio structure when the data have several channel counts.
    source_effect : bool, optional
        Fit a factor per source on the serial work per folio and per page-table entry of its
        DMA rows (the kernel's and the copy's CPU work; not the kernel's work per 4 KiB), the
        source with the most DMA rows the reference (factor
        1).  By default on when two or more sources measured the same DMA configuration
        (:func:`source_effect_sources`): postings made on different kernel builds.  The
        factors are reported (``Fit.sources``) and used to predict a row of a known source.

    Returns
    -------
    Fit
    """
    table = load_measurements(measurements)
    same_node = same_node_rows(table)
    if same_node.any():
        raise ValueError(f"{int(same_node.sum())} row(s) were timed within one node (notes 'same-node': "
                         "no data moved) and cannot be fitted as migrations; drop them first")
    if structure is not None and structure not in DMA_STRUCTURES:
        raise ValueError(f"structure {structure!r} is not one of {', '.join(DMA_STRUCTURES)}")
    if channels_per_engine is not None and channels_per_engine not in CHANNELS_PER_ENGINE:
        raise ValueError(f"channels_per_engine {channels_per_engine!r} is not one of "
                         f"{', '.join(map(str, CHANNELS_PER_ENGINE))}")
    if batch_pages is not None and (isinstance(batch_pages, bool) or batch_pages not in BATCH_PAGES):
        raise ValueError(f"batch_pages {batch_pages!r} is not one of {', '.join(map(str, BATCH_PAGES))} "
                         "(NR_MAX_BATCHED_MIGRATION in base pages: mainline's 512, or 262144, the "
                         "copy-offload series' testing value)")
    stated = room_for_the_data(table, as_params(base))
    if free is not None:
        free = _check_free(free)
        # Fixed parameters are the base's; a raised ceiling only moves where a free one starts.
        stated = as_params(base).replace(**{n: getattr(stated, n) for n in free})
    excluded = np.flatnonzero(contradicted_rows(table)["contradicted"].to_numpy()).tolist()
    used = table.drop(index=table.index[excluded]).reset_index(drop=True)
    if source_effect not in (None, True, False):
        raise ValueError(f"source_effect must be None (decide from the data), True or False, got {source_effect!r}")
    sources = source_effect_sources(used) if source_effect is not False else []
    if source_effect and not sources:
        raise ValueError("source_effect=True needs DMA rows from two or more sources (the 'source' column) "
                         "that measured at least one configuration in common; leave source_effect out")
    prepared = _sourced(prepare_table(used), used, sources)
    target = used["gbps"].to_numpy(np.float64)

    candidates = _candidates(used)
    start = None if start is None else as_params(start)
    kinds, engines, batches, how, engine_how, batch_how = _layouts_to_try(
        used, stated, structure, channels_per_engine, batch_pages)
    # Screen every layout (structure x channels per engine x batch limit, the last for the
    # folio structure only) from the stated and the neutral start ...
    screened = {}
    for kind in kinds:
        for per_engine in engines:
            for batch in (batches if kind == "folio" else [stated.migrate_batch_pages]):
                first = stated.replace(dma_structure=kind, dma_channels_per_engine=per_engine,
                                       migrate_batch_pages=batch)
                layout = (kind, per_engine, batch)
                for point in _starts(first, seed, start)[:2]:
                    result = _fit_from(prepared, point, first, target, free, candidates=candidates,
                                       max_nfev=SCREEN_NFEV)
                    if layout not in screened or result[1] < screened[layout][1]:
                        screened[layout] = result

    def aic(layout):
        return len(used) * np.log(max(_misfit(screened[layout][0], prepared, target), 1e-300) / len(used)) + \
            2 * len(screened[layout][2])

    # ... refine every layout the screen cannot rule out (AIC within AIC_CLEAR of the best)
    # from the other starts too, so that layouts are compared at their best fits, not at
    # first looks (fitting AMD's 1-4 channels, a first look preferred one channel per engine,
    # "likely", to two, whose best fit is better) ...
    refined = set()
    lowest = min(aic(layout) for layout in screened)
    for layout in [layout for layout in screened if aic(layout) <= lowest + AIC_CLEAR]:
        first = stated.replace(dma_structure=layout[0], dma_channels_per_engine=layout[1],
                               migrate_batch_pages=layout[2])
        for point in _starts(first, seed, start)[2:]:
            result = _fit_from(prepared, point, first, target, free, candidates=candidates)
            if result[1] < screened[layout][1]:
                screened[layout] = result
        refined.add(layout)
    misfit = {layout: _misfit(r[0], prepared, target) for layout, r in screened.items()}
    n_free = {layout: len(r[2]) for layout, r in screened.items()}

    def best_of(**fixed):
        index = {"kind": 0, "engine": 1, "batch": 2}
        return min((layout for layout in misfit if all(layout[index[k]] == v for k, v in fixed.items())),
                   key=misfit.get)

    best_of_kind = {k: best_of(kind=k) for k in kinds}
    chosen_kind, how = _verdict({k: misfit[best_of_kind[k]] for k in kinds},
                                {k: n_free[best_of_kind[k]] for k in kinds}, len(used), stated.dma_structure, how)
    best_of_engine = {e: best_of(kind=chosen_kind, engine=e) for e in engines}
    per_engine, engine_how = _verdict({e: misfit[best_of_engine[e]] for e in engines},
                                      {e: n_free[best_of_engine[e]] for e in engines}, len(used),
                                      stated.dma_channels_per_engine, engine_how)
    if chosen_kind == "folio":
        batch, batch_how = _verdict({b: misfit[(chosen_kind, per_engine, b)] for b in batches},
                                    {b: n_free[(chosen_kind, per_engine, b)] for b in batches}, len(used),
                                    stated.migrate_batch_pages, batch_how)
    else:
        batch, batch_how = stated.migrate_batch_pages, "not used by the split structure"
    # ... then the chosen one from every start (done, if it was a contender), keeping the best.
    first = stated.replace(dma_structure=chosen_kind, dma_channels_per_engine=per_engine, migrate_batch_pages=batch)
    best = screened[(chosen_kind, per_engine, batch)]
    for point in ([] if (chosen_kind, per_engine, batch) in refined else _starts(first, seed, start)[2:]):
        values, cost, chosen = _fit_from(prepared, point, first, target, free, candidates=candidates)
        if cost < best[1]:
            best = (values, cost, chosen)
    # ... and parameters without influence there are probed (a max() branch inactive at their
    # stated value): fitted if the data pay for them, else open at their stated value.
    probed = {}
    if free is None:
        best, probed = _probe(prepared, best, _extend(first.to_array(), prepared), target, candidates)
    misfit[(chosen_kind, per_engine, batch)] = _misfit(best[0], prepared, target)
    values, _, chosen = best
    if not chosen:
        raise ValueError("no parameter to fit: the measurements constrain none; name some with free=")
    if len(chosen) > len(used):
        warnings.warn(f"fitting {len(chosen)} parameters to {len(used)} measurements: "
                      "the fit is not determined; name fewer with free=", stacklevel=2)
    best = ModelParams.from_array(values[:ARRAY_SIZE])

    samples = []
    if bootstrap:
        rng = np.random.default_rng(seed)
        fitted = _gbps(values, prepared)
        relative = target / fitted - 1.0
        centre = _extend(first.to_array(), prepared)
        for _ in range(bootstrap):
            resampled = fitted * (1.0 + rng.choice(relative, size=len(relative), replace=True))
            # A replicate starts at the best fit and only needs the interval's precision.
            sample, _ = _solve(prepared, values, chosen + _factor_names(prepared), resampled, centre,
                               max_nfev=300, tolerance=1e-6)
            samples.append(sample)
    samples = np.array(samples, dtype=np.float64).reshape(-1, len(values))
    source_info = {}
    if sources:
        tail = (1 - 0.95) / 2 * 100
        factors = {sources[0]: 1.0}
        intervals = {sources[0]: [1.0, 1.0]}
        for k, name in enumerate(sources[1:]):
            factors[name] = float(values[ARRAY_SIZE + k])
            if len(samples):
                low, high = np.percentile(samples[:, ARRAY_SIZE + k], [tail, 100 - tail])
                intervals[name] = [float(low), float(high)]
        source_info = {"reference": sources[0], "factors": factors, "intervals": intervals,
                       "how": "set" if source_effect else "on: sources measured the same DMA configurations"}
    samples = samples[:, :ARRAY_SIZE]
    open_ = [] if free is not None else [n for n in ModelParams.names() if n not in chosen]
    info = {"chosen": chosen_kind, "how": how, "channels_per_engine": per_engine, "engine_how": engine_how,
            "batch_pages": batch, "batch_how": batch_how,
            "misfit": {_layout_label(layout): round(v, 6) for layout, v in misfit.items()}, "probed": probed}
    return Fit(best, list(chosen), table, samples, open=open_, structure=info, excluded=excluded,
               sources=source_info)


@lru_cache(maxsize=1)
def default_fit() -> Fit:
    """The model fitted to the RFC's table (52 figures, both scopes) and the same machine's
    two system-call figures; computed once per process (bootstrap of 50 replicates)."""
    from ..measurement.datasets import other_published, rfc_2019

    other = other_published()
    same_machine = other[other["machine"].str.contains("E5-2650 v3")]
    table = pd.concat([rfc_2019(), same_machine], ignore_index=True)
    return fit(table, bootstrap=50)


def cross_validate(measurements, *, by=CONFIG_COLUMNS, free=None, base=None,
                   hold_out_counts=None, copy: str | None = None, bootstrap: int = 0) -> pd.DataFrame:
    """Predict measurements a fit did not see.

    Two modes.  By default, leave one configuration group out: fit to the other rows,
    predict the group's rows.  With ``hold_out_counts``, hold out whole thread or channel
    counts: one fit to the rows with other counts predicts every row with those counts
    (the question a user with measurements at 1-4 channels asks about 8 and 16);
    :func:`errors_by_count` summarises the result per count.

    Parameters
    ----------
    measurements : path or DataFrame
        Measurements in memtier's schema.
    by : list of str
        Columns whose values define a group (leave-one-group-out mode).  By default a
        configuration, so both timer scopes of a configuration are left out together.
    free, base
        As for :func:`fit`; in leave-one-group-out mode ``free`` is chosen once, on all data.
    hold_out_counts : list of int, optional
        Worker counts (threads or channels) to hold out.
    copy : {"cpu", "dma"}, optional
        With ``hold_out_counts``: hold out only rows of this engine (by default both).
    bootstrap : int
        With ``hold_out_counts``: residual-bootstrap replicates of the fit (as :func:`fit`),
        so that each held-out row also gets the 95% interval of its prediction
        (``predicted_low``, ``predicted_high``) and ``inside``: whether the measurement lies
        in it.  0 (the default): no interval.  The interval says how far the rows held in
        leave a prediction open; a measurement outside it is missed by the model's
        structure, not by parameters those rows leave undetermined (AMD's 64 KiB folios at 8
        and 16 channels: ``docs/cost-model.md``).

    Returns
    -------
    pandas.DataFrame
        The measurements predicted, with ``predicted_gbps`` and ``relative_error``.  In the
        leave-one-group-out mode every row, with ``lost``: the parameters that only the
        left-out group constrained (they keep ``base``'s values, so such a row is not a
        genuine prediction and is reported apart).  In the hold-out mode only the held-out
        rows, with ``held_out_count``, and the fit that predicted them in ``.attrs["fit"]``
        (with ``bootstrap``, also the interval columns above).
    """
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"bootstrap must be a whole number of replicates, 0 or more, got {bootstrap!r}")
    if bootstrap and hold_out_counts is None:
        raise ValueError("bootstrap= gives intervals in the hold-out mode only: pass hold_out_counts= too, "
                         "or leave bootstrap out")
    table = load_measurements(measurements)
    start = as_params(base)
    if hold_out_counts is not None:
        counts = sorted({int(c) for c in np.atleast_1d(hold_out_counts)})
        held = table["workers"].isin(counts)
        if copy is not None:
            if copy not in ("cpu", "dma"):
                raise ValueError(f"copy {copy!r} is not cpu or dma")
            held &= table["copy"] == copy
        if not held.any():
            raise ValueError(f"no rows have {'/'.join(map(str, counts))} workers"
                             + (f" with copy={copy}" if copy else "") + ": nothing to hold out")
        if held.all():
            raise ValueError("every row would be held out: nothing is left to fit")
        result = fit(table[~held].reset_index(drop=True), free=free, base=base, bootstrap=int(bootstrap))
        out = table[held].copy()
        out["predicted_gbps"] = result.predict(out)
        out["relative_error"] = out["predicted_gbps"] / out["gbps"] - 1.0
        if bootstrap:
            out["predicted_low"], out["predicted_high"] = result.predict_interval(out)
            out["inside"] = (out["gbps"] >= out["predicted_low"]) & (out["gbps"] <= out["predicted_high"])
        out["held_out_count"] = out["workers"]
        out.attrs["fit"] = result
        return out
    free = list(free) if free is not None else identifiable(table, start)
    groups = table.groupby(list(by), sort=False).indices
    out = table.copy()
    out["predicted_gbps"] = np.nan
    out["lost"] = ""
    centre = start.to_array()
    for rows in groups.values():
        rest = table.drop(index=table.index[rows]).reset_index(drop=True)
        if len(rest) == 0:
            continue
        prepared = prepare_table(rest)
        kept = [n for n in free if n in _identifiable(prepared, centre, free)]
        lost = [n for n in free if n not in kept]
        if kept:
            values, _ = _solve(prepared, centre, kept, rest["gbps"].to_numpy(np.float64), centre)
        else:
            values = centre
        out.loc[out.index[rows], "predicted_gbps"] = table_gbps(values, table.iloc[rows])
        out.loc[out.index[rows], "lost"] = ",".join(lost)
    out["relative_error"] = out["predicted_gbps"] / out["gbps"] - 1.0
    return out


def errors_by_count(held_out: pd.DataFrame) -> pd.DataFrame:
    """Median and largest |relative error| per held-out count, from
    ``cross_validate(..., hold_out_counts=...)``; with its ``bootstrap``, also ``inside``: how
    many of the count's measurements lie within their prediction's 95% interval."""
    errors = held_out.assign(error=held_out["relative_error"].abs())
    summary = errors.groupby("held_out_count")["error"].agg(rows="size", median="median", largest="max")
    if "inside" in held_out:
        summary["inside"] = held_out.groupby("held_out_count")["inside"].sum().astype(int)
    return summary
