"""Fitting the cost model to measurements, with uncertainties, and predicting from it.

Least squares in relative error of throughput (``model / measured - 1``): the measurements
span 0.04 to 14 GB/s, and an absolute error would let the fastest rows decide everything.
Parameters stay inside the physical bounds of :class:`~memtier.model.ModelParams`.

Which parameters to fit
    A parameter is fitted only if the data constrain it.  By default memtier decides from the
    data: it takes the sensitivity of every row's log-throughput to every log-parameter at the
    starting point, and adds parameters in order of influence while the sensitivity matrix keeps
    full rank (smallest singular value above 1e-3 of the largest).  The RFC's table, for
    instance, has one DMA figure: one DMA parameter is fitted, the others keep their stated
    values and the report marks them *fixed*.  ``free=`` overrides the choice.

A weak prior
    Every fitted parameter is pulled gently (:data:`PRIOR_WEIGHT`) towards its starting value
    (``base``; by default the RFC's machine) in log space: a maximum a posteriori fit with a
    broad log-normal prior.  What the data determine is unaffected; what they leave open stays
    near a real machine's value instead of running to a bound.

Uncertainties
    A residual bootstrap: new data sets are made by multiplying the fitted throughputs by
    relative residuals drawn with replacement, and refitted.  Resampling residuals rather than
    rows keeps every configuration in every replicate, so a parameter that one row alone
    constrains (the DMA ceiling) still gets an interval.  Intervals are the 2.5 and 97.5
    percentiles of the replicates (95%).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .measurements import load_measurements
from .model import ModelParams, table_gbps

FORMAT_VERSION = 1
CONFIG_COLUMNS = ["page_size", "n_pages", "copy", "workers", "batched", "exchange"]
#: Weight of the prior that pulls each fitted parameter towards its starting value: moving a
#: parameter by a factor e costs as much as a 3% misfit of one row.  It only decides what the
#: data leave open, e.g. the link ceiling when no measurement reaches it (left alone, a fit
#: sends it to its bound and predicts 16 threads as 16x one thread).
PRIOR_WEIGHT = 0.03


def _as_params(base) -> ModelParams:
    if base is None:
        return ModelParams()
    if isinstance(base, ModelParams):
        return base
    if isinstance(base, Fit):
        return base.params
    if isinstance(base, dict):
        unknown = set(base) - set(ModelParams.names())
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(ModelParams.names())}")
        return ModelParams(**base)
    raise TypeError("base must be a Fit, a ModelParams or a dict of parameter values")


def _sensitivity(params: ModelParams, table: pd.DataFrame, names) -> np.ndarray:
    """d log(gbps) / d log(param) for every row and named parameter (central differences)."""
    base = params.to_array()
    index = {n: i for i, n in enumerate(ModelParams.names())}
    lows, highs = zip(*(ModelParams.bounds()[n] for n in names))
    columns = []
    for name, low, high in zip(names, lows, highs):
        i = index[name]
        step = 0.05 * base[i] if base[i] > 0 else 1e-3 * (high - low)
        up, down = base.copy(), base.copy()
        up[i] = min(base[i] + step, high)
        down[i] = max(base[i] - step, low)
        delta = np.log(table_gbps(up, table)) - np.log(table_gbps(down, table))
        scale = (up[i] - down[i]) / max(base[i], 1e-12)
        columns.append(delta / scale)
    return np.column_stack(columns)


def identifiable(table: pd.DataFrame, base=None, candidates=None, tolerance: float = 1e-3,
                 min_influence: float = 0.02) -> list[str]:
    """Parameters the measurements constrain, most influential first.

    Greedy: parameters are taken in order of their total influence on the rows and kept while
    the sensitivity matrix of those kept stays of full rank (the smallest singular value is
    above ``tolerance`` times the largest).  A parameter that moves no row's throughput by
    more than ``min_influence`` (2%) when it doubles is left out: such a row set cannot pin it,
    and the fit would send it anywhere (the RFC's single 4 KiB copy is the only row that sees
    the copy's per-call cost; without it that cost is not determined).
    """
    params = _as_params(base)
    table = load_measurements(table)
    names = list(candidates or ModelParams.names())
    jac = _sensitivity(params, table, names)
    order = np.argsort(-np.linalg.norm(jac, axis=0))
    kept: list[int] = []
    for j in order:
        if np.max(np.abs(jac[:, j])) < min_influence:
            continue
        trial = jac[:, kept + [j]]
        singular = np.linalg.svd(trial, compute_uv=False)
        if len(kept) + 1 <= len(table) and singular[-1] > tolerance * singular[0]:
            kept.append(j)
    return [names[j] for j in kept]


def _solve(table, start: ModelParams, free, target_gbps, prior_weight: float = PRIOR_WEIGHT,
           prior: ModelParams | None = None):
    names = ModelParams.names()
    index = [names.index(n) for n in free]
    bounds = ModelParams.bounds()
    low = np.array([bounds[n][0] for n in free])
    high = np.array([bounds[n][1] for n in free])
    full = start.to_array()
    x0 = np.clip(full[index], low, high)
    scale = np.maximum(np.abs(x0), 1e-3 * (high - low))
    centre = (prior or start).to_array()[index]
    # The floor keeps the log finite for parameters that may be zero (a dispatch cost).
    floor = 0.01 * ModelParams().to_array()[index] + 1e-9

    def residuals(x):
        values = full.copy()
        values[index] = x
        misfit = table_gbps(values, table) / target_gbps - 1.0
        return np.concatenate([misfit, prior_weight * np.log((x + floor) / (centre + floor))])

    solution = least_squares(residuals, x0, bounds=(low, high), x_scale=scale, method="trf",
                             xtol=1e-10, ftol=1e-10, max_nfev=2000)
    values = full.copy()
    values[index] = solution.x
    return values, solution


@dataclass
class Fit:
    """A cost model fitted to measurements.

    Attributes
    ----------
    params : ModelParams
        Best-fit parameters.
    free : list of str
        The parameters that were fitted; the others were held at ``params``' values.
    measurements : pandas.DataFrame
        The validated measurements the fit used.
    samples : numpy.ndarray, shape (n_bootstrap, n_params)
        Parameter sets of the bootstrap replicates (all parameters, in ``ModelParams`` order).
    confidence : float
        Coverage of the intervals (0.95).
    """

    params: ModelParams
    free: list
    measurements: pd.DataFrame
    samples: np.ndarray = field(repr=False)
    confidence: float = 0.95

    # --- prediction ---
    def predict(self, configurations) -> np.ndarray:
        """Modelled GB/s for each row of a table of configurations (throughput columns, if
        any, are ignored)."""
        return table_gbps(self.params, _configurations(configurations))

    def predict_interval(self, configurations):
        """Lower and upper GB/s of the bootstrap interval, for each configuration."""
        table = _configurations(configurations)
        if len(self.samples) == 0:
            value = self.predict(table)
            return value, value
        draws = np.array([table_gbps(s, table) for s in self.samples])
        tail = (1 - self.confidence) / 2 * 100
        return np.percentile(draws, tail, axis=0), np.percentile(draws, 100 - tail, axis=0)

    def time_us(self, page_bytes, n_pages, **config):
        """Microseconds per call; see :func:`memtier.model.call_time_us`."""
        from .model import call_time_us

        return call_time_us(self.params, page_bytes, n_pages, **config)

    # --- how good it is ---
    def residuals(self) -> pd.DataFrame:
        """The measurements with ``modelled_gbps`` and ``relative_error`` (model/measured - 1)."""
        table = self.measurements.copy()
        table["modelled_gbps"] = self.predict(table)
        table["relative_error"] = table["modelled_gbps"] / table["gbps"] - 1.0
        return table

    @property
    def median_error(self) -> float:
        return float(np.median(np.abs(self.residuals()["relative_error"])))

    @property
    def max_error(self) -> float:
        return float(np.max(np.abs(self.residuals()["relative_error"])))

    def intervals(self) -> pd.DataFrame:
        """One row per parameter: value, unit, fitted or fixed, and the bootstrap interval."""
        names = ModelParams.names()
        units, docs = ModelParams.units(), ModelParams.docs()
        tail = (1 - self.confidence) / 2 * 100
        rows = []
        for i, name in enumerate(names):
            fitted = name in self.free
            if fitted and len(self.samples):
                low, high = np.percentile(self.samples[:, i], [tail, 100 - tail])
            else:
                low = high = np.nan
            rows.append({"parameter": name, "value": getattr(self.params, name), "unit": units[name],
                         "status": "fitted" if fitted else "fixed", "low": low, "high": high,
                         "meaning": docs[name]})
        return pd.DataFrame(rows)

    def report(self) -> str:
        """A readable report: parameters with intervals, then every row measured and modelled."""
        from .measurements import format_page_size

        lines = [f"memtier fit: {len(self.measurements)} measurements, {len(self.free)} parameters fitted, "
                 f"median |error| {self.median_error:.1%}, largest {self.max_error:.1%}", ""]
        lines.append(f"{'parameter':<24}{'value':>11}  {'unit':<5} {'95% interval':>22}")
        for row in self.intervals().itertuples():
            interval = (f"{row.low:10.4g} - {row.high:<10.4g}" if row.status == "fitted"
                        and np.isfinite(row.low) else "fixed" if row.status == "fixed" else "")
            lines.append(f"{row.parameter:<24}{row.value:>11.4g}  {row.unit:<5} {interval:>22}")
        lines += ["", f"{'page':>5} {'pages':>5} {'copy':>4} {'wk':>3} {'bat':>3} {'xchg':>4} "
                      f"{'scope':<8}{'measured':>9}{'modelled':>9}{'error':>8}"]
        for row in self.residuals().itertuples():
            lines.append(
                f"{format_page_size(row.page_size):>5} {row.n_pages:>5} {row.copy:>4} {row.workers:>3} "
                f"{'y' if row.batched else 'n':>3} {'y' if row.exchange else 'n':>4} {row.scope:<8}"
                f"{row.gbps:>9.3f}{row.modelled_gbps:>9.3f}{row.relative_error:>+8.1%}")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Measured against modelled GB/s, one point per row, with the 1:1 line and +-15%."""
        from .plots import plot_fit

        return plot_fit(self, ax=ax)

    # --- persistence ---
    def to_dict(self) -> dict:
        measured = self.measurements
        return {
            "memtier_fit": FORMAT_VERSION,
            "params": {n: getattr(self.params, n) for n in ModelParams.names()},
            "free": list(self.free),
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
        from .outputs import write_text

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
    params, free, table, samples, confidence = check_fit_data(data, str(path))
    return Fit(params, free, table, samples, confidence)


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


def check_fit_data(data, name: str = "fit"):
    """Check a decoded fit file against its schema; return its parts.

    The schema (``Fit.to_dict``): ``memtier_fit`` (the format version, 1); ``params``, every
    parameter of :class:`~memtier.model.ModelParams` as a number inside its bounds, and no
    other; ``free``, a list of distinct parameter names; ``confidence``, a number in (0, 1);
    ``samples``, a list of bootstrap parameter sets, each a list of one finite number per
    parameter inside its bounds; ``measurements``, rows in the measurement schema.

    Returns
    -------
    params, free, measurements, samples, confidence

    Raises
    ------
    ValueError
        Naming the key and what it should hold.
    """
    version = data.get("memtier_fit") if isinstance(data, dict) else None
    if type(version) is not int or version != FORMAT_VERSION:
        raise ValueError(f"{name}: not a memtier fit (written by Fit.save / memtier fit --out)")
    expected = ("params", "free", "confidence", "samples", "measurements")
    missing = [key for key in expected if key not in data]
    if missing:
        raise _fit_problem(name, f"key(s) {', '.join(missing)} missing")
    names = ModelParams.names()
    bounds = ModelParams.bounds()
    params = data["params"]
    if not isinstance(params, dict):
        raise _fit_problem(name, "'params' must map each parameter name to its value")
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise _fit_problem(name, f"unknown parameter(s) {', '.join(map(str, unknown))} in 'params'")
    absent = [n for n in names if n not in params]
    if absent:
        raise _fit_problem(name, f"parameter(s) {', '.join(absent)} missing from 'params'")
    for key in names:
        value = params[key]
        low, high = bounds[key]
        if not _real(value) or not low <= value <= high:
            raise _fit_problem(name, f"'params' {key} is {value!r}; expected a number in [{low}, {high}]")
    free = data["free"]
    if not isinstance(free, list) or not all(isinstance(n, str) for n in free):
        raise _fit_problem(name, "'free' must be a list of parameter names")
    wrong = [n for n in free if n not in names]
    if wrong or len(set(free)) != len(free):
        raise _fit_problem(name, f"'free' names {', '.join(wrong) or 'a parameter twice'}")
    confidence = data["confidence"]
    if not _real(confidence) or not 0 < confidence < 1:
        raise _fit_problem(name, f"'confidence' is {confidence!r}; expected a number between 0 and 1 "
                                 "(0.95 for 95% intervals)")
    samples = data["samples"]
    if not isinstance(samples, list) or not all(
            isinstance(row, list) and len(row) == len(names) and all(_real(v) for v in row) for row in samples):
        raise _fit_problem(name, f"'samples' must be a list of bootstrap parameter sets, each a list of "
                                 f"{len(names)} numbers (one per parameter)")
    samples = np.array(samples, dtype=np.float64).reshape(-1, len(names))
    low = np.array([bounds[n][0] for n in names])
    high = np.array([bounds[n][1] for n in names])
    outside = ~(np.isfinite(samples) & (samples >= low) & (samples <= high))
    if outside.any():
        row, column = np.argwhere(outside)[0]
        raise _fit_problem(name, f"'samples' row {row + 1} has {names[column]}={samples[row, column]!r}, "
                                 f"outside [{low[column]}, {high[column]}] ({int(outside.sum())} value(s) outside)")
    measurements = data["measurements"]
    if not isinstance(measurements, list) or not measurements or not all(isinstance(r, dict) for r in measurements):
        raise _fit_problem(name, "'measurements' must be a non-empty list of rows (objects)")
    table = load_measurements(pd.DataFrame(measurements), name=f"{name} 'measurements'")
    return ModelParams(**{n: float(params[n]) for n in names}), list(free), table, samples, float(confidence)


def _room_for_the_data(table: pd.DataFrame, start: ModelParams) -> ModelParams:
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


def fit(measurements, *, free=None, base=None, bootstrap: int = 200, seed: int = 0) -> Fit:
    """Fit the cost model to measurements.

    Parameters
    ----------
    measurements : str, os.PathLike or pandas.DataFrame
        Measurements in memtier's schema (see :func:`memtier.load_measurements`).
    free : list of str, optional
        Parameters to fit; the others are taken from ``base`` unchanged.  By default, those the
        measurements constrain (:func:`identifiable`), and a ceiling of ``base`` below what the
        data already reach is raised first (to twice the fastest row).
    base : Fit, ModelParams or dict, optional
        Where the fixed parameters come from, and where the fit starts.  Defaults to
        :class:`ModelParams`' defaults (the RFC's machine).
    bootstrap : int
        Residual-bootstrap replicates for the intervals (0 for none).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    Fit
    """
    table = load_measurements(measurements)
    base = _as_params(base)
    roomy = _room_for_the_data(table, base)
    if free is None:
        # memtier chooses what to fit, so it also chooses ceilings that leave room for the data.
        base = roomy
        free = identifiable(table, roomy)
    else:
        free = list(free)
        unknown = [n for n in free if n not in ModelParams.names()]
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(ModelParams.names())}")
        if len(set(free)) != len(free):
            raise ValueError("a parameter is named twice in free")
    if not free:
        raise ValueError("no parameter to fit: the measurements constrain none; name some with free=")
    # Fixed parameters are the base's; a raised ceiling only moves where a free one starts.
    start = base.replace(**{n: getattr(roomy, n) for n in free})
    if len(free) > len(table):
        warnings.warn(f"fitting {len(free)} parameters to {len(table)} measurements: "
                      "the fit is not determined; name fewer with free=", stacklevel=2)
    target = table["gbps"].to_numpy(np.float64)
    values, _ = _solve(table, start, free, target)
    best = ModelParams.from_array(values)

    samples = []
    if bootstrap:
        rng = np.random.default_rng(seed)
        fitted = table_gbps(values, table)
        relative = target / fitted - 1.0
        for _ in range(bootstrap):
            resampled = fitted * (1.0 + rng.choice(relative, size=len(relative), replace=True))
            sample, _ = _solve(table, best, free, resampled, prior=start)
            samples.append(sample)
    samples = np.array(samples, dtype=np.float64).reshape(-1, len(ModelParams.names()))
    return Fit(best, free, table, samples)


@lru_cache(maxsize=1)
def default_fit() -> Fit:
    """The model fitted to the RFC's table (52 figures, both scopes) and the same machine's
    two system-call figures; computed once per process (bootstrap of 50 replicates)."""
    from .datasets import other_published, rfc_2019

    other = other_published()
    same_machine = other[other["machine"].str.contains("E5-2650 v3")]
    table = pd.concat([rfc_2019(), same_machine], ignore_index=True)
    return fit(table, bootstrap=50)


def cross_validate(measurements, *, by=CONFIG_COLUMNS, free=None, base=None) -> pd.DataFrame:
    """Leave one configuration group out: fit to the other rows, predict the group's rows.

    Parameters
    ----------
    measurements : path or DataFrame
        Measurements in memtier's schema.
    by : list of str
        Columns whose values define a group.  By default a configuration (page size, pages,
        copy engine, workers, batched, exchange), so both timer scopes of a configuration are
        left out together.
    free, base
        As for :func:`fit`; ``free`` is chosen once, on all the data.

    Returns
    -------
    pandas.DataFrame
        The measurements with ``predicted_gbps``, ``relative_error`` and ``lost``: the
        parameters that only the left-out group constrained.  Those keep their values from
        ``base`` (by default memtier's defaults, which are the RFC fit), so a row with a
        non-empty ``lost`` is not a genuine prediction and is reported apart.
    """
    table = load_measurements(measurements)
    start = _as_params(base)
    free = list(free) if free is not None else identifiable(table, start)
    groups = table.groupby(list(by), sort=False).indices
    out = table.copy()
    out["predicted_gbps"] = np.nan
    out["lost"] = ""
    for rows in groups.values():
        rest = table.drop(index=table.index[rows]).reset_index(drop=True)
        if len(rest) == 0:
            continue
        kept = [n for n in free if n in identifiable(rest, start, candidates=free)]
        lost = [n for n in free if n not in kept]
        if kept:
            values, _ = _solve(rest, start, kept, rest["gbps"].to_numpy(np.float64))
        else:
            values = start.to_array()
        out.loc[out.index[rows], "predicted_gbps"] = table_gbps(values, table.iloc[rows])
        out.loc[out.index[rows], "lost"] = ",".join(lost)
    out["relative_error"] = out["predicted_gbps"] / out["gbps"] - 1.0
    return out
