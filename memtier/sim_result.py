"""What a simulation returns: one row per period, the overall figures, and a plot."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import lists

_RAW = {
    lists.C_ACCESSES: "accesses",
    lists.C_FAST_HITS: "fast_hits",
    lists.C_STATIC_HITS: "static_fast_hits",
    lists.C_PROMOTED: "promoted",
    lists.C_DEMOTED: "demoted",
    lists.C_EXCHANGED: "exchanged",
    lists.C_MIGRATION_US: "migration_us",
    lists.C_BUDGET_US: "migration_budget_us",
    lists.C_CLASSIFIED: "classified_hot",
    lists.C_TRUE_HOT: "true_hot",
    lists.C_TRUE_POSITIVE: "true_positive",
    lists.C_FAST_USED: "fast_used",
    lists.C_SLOW_USED: "slow_used",
}
_COUNTS = ["accesses", "fast_hits", "static_fast_hits", "promoted", "demoted", "exchanged",
           "classified_hot", "true_hot", "true_positive", "fast_used", "slow_used"]


def _ratio(numerator, denominator):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


class SimulationResult:
    """The outcome of :func:`memtier.simulate`.

    Attributes
    ----------
    periods : pandas.DataFrame
        One row per period (tidy), with columns

        - ``period``, ``first_access``, ``accesses``;
        - ``fast_hits``, ``fast_hit_ratio``: accesses served by the fast node, and their share;
        - ``classified_hot``: pages the policy holds hot at the period's end (on an active
          list; for ``lru`` the cached pages; for ``oracle`` its choice for the period);
        - ``true_hot``: the period's true hot set, its ``fast_capacity`` most accessed pages
          (fewer if it touched fewer; ties broken by first touch);
        - ``true_positive``, ``precision`` (= true_positive / classified_hot), ``recall``
          (= true_positive / true_hot); NaN when the denominator is 0;
        - ``promoted``, ``demoted``, ``exchanged`` (pairs), ``migrated_pages`` (each
          exchanged pair counts 2), ``migrated_bytes``, ``migration_us``, and
          ``migration_budget_us`` (``active-shrink`` only);
        - ``access_us``: the accesses' time; ``time_us`` = access + migration time;
          ``static_time_us`` and ``all_slow_time_us``: the same accesses under first-touch
          placement and with every page slow; ``speedup_vs_static`` and
          ``speedup_vs_all_slow``: those times over ``time_us``;
        - ``fast_used``, ``slow_used``: pages on each node at the period's end.
    final_node : numpy.ndarray of int8, shape (n_pages,)
        Where each page ends: 0 fast node, 1 slow node, -1 never touched.
    config : dict
        The run's settings (policy, mechanism, capacities, period, latencies, budget).
    """

    def __init__(self, rows: np.ndarray, final_node: np.ndarray, **config):
        self.config = config
        self.final_node = final_node
        fast_ns, slow_ns = config["fast_access_ns"], config["slow_access_ns"]
        page_bytes = config["mechanism"].page_bytes
        table = pd.DataFrame({name: rows[:, column] for column, name in _RAW.items()})
        table[_COUNTS] = table[_COUNTS].astype(np.int64)
        table.insert(0, "period", np.arange(len(table)))
        table.insert(1, "first_access", np.concatenate([[0], np.cumsum(table["accesses"])[:-1]]).astype(np.int64))
        table.insert(4, "fast_hit_ratio", table["fast_hits"] / table["accesses"])
        table["precision"] = _ratio(table["true_positive"], table["classified_hot"])
        table["recall"] = _ratio(table["true_positive"], table["true_hot"])
        table["migrated_pages"] = table["promoted"] + table["demoted"] + 2 * table["exchanged"]
        table["migrated_bytes"] = table["migrated_pages"] * page_bytes
        slow_accesses = table["accesses"] - table["fast_hits"]
        table["access_us"] = (table["fast_hits"] * fast_ns + slow_accesses * slow_ns) * 1e-3
        table["time_us"] = table["access_us"] + table["migration_us"]
        static_slow = table["accesses"] - table["static_fast_hits"]
        table["static_time_us"] = (table["static_fast_hits"] * fast_ns + static_slow * slow_ns) * 1e-3
        table["all_slow_time_us"] = table["accesses"] * slow_ns * 1e-3
        table["speedup_vs_static"] = table["static_time_us"] / table["time_us"]
        table["speedup_vs_all_slow"] = table["all_slow_time_us"] / table["time_us"]
        self.periods = table

    @property
    def policy(self) -> str:
        return self.config["policy"]

    @property
    def fast_hit_ratio(self) -> float:
        """Share of all accesses served by the fast node."""
        return float(self.periods["fast_hits"].sum() / self.periods["accesses"].sum())

    @property
    def total_time_us(self) -> float:
        """Simulated run time: accesses plus migration (microseconds)."""
        return float(self.periods["time_us"].sum())

    def summary(self) -> pd.Series:
        """Overall figures: totals over the periods, and precision and recall pooled over
        them (total true positives over total classified, and over total true hot)."""
        p = self.periods
        time_us = p["time_us"].sum()
        return pd.Series({
            "policy": self.policy,
            "mechanism": self.config["mechanism"].label,
            "fast_capacity": self.config["fast_capacity"],
            "period": self.config["period"],
            "accesses": int(p["accesses"].sum()),
            "fast_hit_ratio": self.fast_hit_ratio,
            "static_fast_hit_ratio": float(p["static_fast_hits"].sum() / p["accesses"].sum()),
            "precision": float(_ratio(p["true_positive"].sum(), p["classified_hot"].sum())),
            "recall": float(_ratio(p["true_positive"].sum(), p["true_hot"].sum())),
            "promoted": int(p["promoted"].sum()),
            "demoted": int(p["demoted"].sum()),
            "exchanged": int(p["exchanged"].sum()),
            "migrated_bytes": int(p["migrated_bytes"].sum()),
            "migration_us": float(p["migration_us"].sum()),
            "access_us": float(p["access_us"].sum()),
            "time_us": float(time_us),
            "speedup_vs_static": float(p["static_time_us"].sum() / time_us),
            "speedup_vs_all_slow": float(p["all_slow_time_us"].sum() / time_us),
        })

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<SimulationResult {s['policy']}, {s['mechanism']}: fast hit ratio {s['fast_hit_ratio']:.3f}, "
                f"precision {s['precision']:.3f}, recall {s['recall']:.3f}, "
                f"speedup {s['speedup_vs_static']:.2f}x vs static, {s['speedup_vs_all_slow']:.2f}x vs all-slow>")

    def plot(self, axes=None):
        """Per period: fast hit ratio (against static's), precision and recall, pages moved.

        Parameters
        ----------
        axes : sequence of 3 matplotlib Axes, optional
            Where to draw; a new figure by default.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        if axes is None:
            figure, axes = plt.subplots(3, 1, figsize=(8.5, 7), sharex=True, constrained_layout=True)
        else:
            figure = axes[0].figure
        p = self.periods
        x = p["first_access"] + p["accesses"]
        axes[0].plot(x, p["fast_hit_ratio"], label=self.policy)
        axes[0].plot(x, p["static_fast_hits"] / p["accesses"], ls="--", color="gray", label="static")
        axes[0].set_ylabel("fast hit ratio")
        axes[0].set_ylim(0, 1.02)
        # legends beside the axes: inside, they hid lines (static's after a phase change)
        outside = dict(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
        axes[0].legend(**outside)
        axes[1].plot(x, p["precision"], label="precision")
        axes[1].plot(x, p["recall"], label="recall")
        axes[1].set_ylabel("hot classification")
        axes[1].set_ylim(0, 1.02)
        axes[1].legend(**outside)
        for column in ("promoted", "demoted", "exchanged"):
            if p[column].any():
                axes[2].plot(x, p[column], label=column)
        axes[2].set_ylabel("pages per period")
        axes[2].set_xlabel("accesses")
        if axes[2].get_legend_handles_labels()[0]:
            axes[2].legend(**outside)
        axes[0].set_title(f"{self.policy}, {self.config['mechanism'].label},\n"
                          f"fast capacity {self.config['fast_capacity']} pages", fontsize="medium")
        return figure
