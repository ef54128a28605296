"""What a simulation returns: one row per period, the overall figures, and a plot."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .policies import active_shrink as lists
from . import policies

_RAW = {
    lists.C_ACCESSES: "accesses",
    lists.C_FAST_HITS: "fast_hits",
    lists.C_STATIC_HITS: "static_fast_hits",
    lists.C_REACTIVE_HITS: "reactive_fast_hits",
    lists.C_PROMOTED: "promoted",
    lists.C_DEMOTED: "demoted",
    lists.C_EXCHANGED: "exchanged",
    lists.C_MIGRATION_US: "migration_us",
    lists.C_SCANNED: "scanned",
    lists.C_SCAN_US: "scan_us",
    lists.C_BUDGET_US: "migration_budget_us",
    lists.C_TOP: "top_pages",
    lists.C_TOP_FAST: "top_pages_fast",
    lists.C_PROMOTED_WORTH: "promotions_worth",
    lists.C_DEMOTED_WORTH: "demotions_worth",
    lists.C_MISSED_WORTH: "missed_worth",
    lists.C_FAST_WORTH: "fast_worth",
    lists.C_FAST_BEFORE: "fast_before",
    lists.C_PINGPONG: "pingpong",
    lists.C_STAYS_ENDED: "stays_ended",
    lists.C_STAYS_REPAID: "stays_repaid",
    lists.C_FAST_USED: "fast_used",
    lists.C_SLOW_USED: "slow_used",
}
_COUNTS = ["accesses", "fast_hits", "static_fast_hits", "reactive_fast_hits", "promoted", "demoted",
           "exchanged", "scanned", "top_pages", "top_pages_fast", "fast_before", "pingpong", "stays_ended",
           "stays_repaid", "fast_used", "slow_used"]
_COUNTS_SET = set(_COUNTS)
# Counted at the close of period t + 1 about the decision at the end of period t.
_JUDGED_NEXT = ["promotions_worth", "demotions_worth", "missed_worth", "fast_worth"]
#: Policies that decide once a period (their moves are judged against the next period).
_DECIDING = {"reclaim-demotion", "active-shrink", "reactive-oracle", *policies.MODULES}


def _shift_up(values):
    """``values`` one row up, NaN in the last row (pandas' ``shift(-1)`` of a float column)."""
    shifted = np.empty(len(values), dtype=np.float64)
    shifted[:-1] = values[1:]
    shifted[-1:] = np.nan
    return shifted


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
        One row per period (tidy).  Counts and times:

        - ``period``, ``first_access``, ``accesses``, ``writes`` (when the trace says);
        - ``fast_hits``, ``fast_hit_ratio``: accesses served by the fast node, and their share;
        - ``static_fast_hits``: the same under first-touch placement;
        - ``reactive_fast_hits``, ``reactive_fast_hit_ratio``: the same for the *reactive
          oracle* (the previous period's top pages fast; first-touch placement in the first
          period), with this run's period boundaries;
        - ``promoted``, ``demoted``, ``exchanged`` (pairs), ``migrated_pages`` (each
          exchanged pair counts 2), ``migrated_bytes``, ``migration_us``,
          ``migration_budget_us`` (``active-shrink`` with a ``migration_share``);
        - ``scanned``: pages the list scans looked at (each an rmap walk), ``scan_us``;
        - ``access_us``; ``time_us`` = access + migration + scan time, the simulated clock;
          ``static_time_us``, ``all_slow_time_us`` and the ``speedup_vs_static``,
          ``speedup_vs_all_slow`` of this run over them;
        - ``fast_used``, ``slow_used``: pages on each node at the period's end.

        Metrics (NaN where a denominator is 0 or a policy makes no such decision):

        - ``placement_accuracy`` = ``top_pages_fast / top_pages``: of the period's top pages
          (its ``fast_capacity`` most accessed; fewer if it touched fewer), the share that
          were on the fast node at their first access of the period.  Both sets have the
          fast node's size, so this is the precision of a full fast node and comparable
          across policies; a fast node not full counts its empty room as misses;
        - ``vs_reactive`` = ``fast_hits / reactive_fast_hits``: the share of accesses served
          fast against the reactive oracle's (can exceed 1: ``lru`` moves at every miss);
        - break-even classification of the decision taken at the period's end (by
          ``mm_manage``, or by reclaim or a classifier of :mod:`memtier.simulation.policies` during the period), judged by the next period: a page
          is *worth* having fast if its accesses in the next period times
          (``slow_access_ns - fast_access_ns``) exceed the cost of moving it (one page of a
          full ``batch_pages`` call, from the fit: ``config["move_us"]``).
          ``promotion_precision``: promoted pages worth it / pages promoted;
          ``promotion_recall``: promoted pages worth it / pages on the slow node at the
          decision worth it; ``demotion_precision``: demoted pages not worth keeping /
          pages demoted; ``demotion_recall``: demoted pages not worth keeping / pages on the
          fast node at the decision not worth keeping.  Exchanged pairs count as a
          promotion and a demotion;
        - ``pingpong``: promotions of pages demoted at most ``pingpong_periods`` periods
          before; ``stays_ended``, ``stays_repaid``: promoted pages whose stay on the fast
          node ended (demoted), and those whose accesses during the stay repaid their
          promotion (accesses x latency gain > ``move_us``).
    final_node : numpy.ndarray of int8, shape (n_pages,)
        Where each page ends: 0 fast node, 1 slow node, -1 never touched.
    config : dict
        The run's settings (policy, mechanism, capacities, period, latencies, budget).
    counters : dict
        The kernel's own event counters (``/proc/vmstat``'s names) a policy keeps, cumulative
        over the run: ``numa-balancing`` and ``tpp`` keep ``numa_pte_updates``,
        ``numa_hint_faults``, ``pgpromote_candidate`` and ``pgscan_kswapd``
        (:data:`memtier.simulation.policies.numa_balancing.COUNTERS` says where 6.1 counts
        each); ``{}`` for the other policies.  A snapshot's are those at its cut.
    """

    def __init__(self, rows: np.ndarray, final_node: np.ndarray, writes=None, open_stays=(0, 0), **config):
        self.config = config
        self.final_node = final_node
        self.counters = {}
        fast_ns, slow_ns = config["fast_access_ns"], config["slow_access_ns"]
        page_bytes = config["mechanism"].page_bytes
        # Built column by column in numpy and handed to pandas once: the same table as
        # inserting each column into a DataFrame, which took about 25 ms a call (a tenth of a
        # 20 M-access lru run at 100 M accesses/s).
        columns = [(name, rows[:, column]) for column, name in _RAW.items()]
        columns = [(name, values.astype(np.int64) if name in _COUNTS_SET else values) for name, values in columns]
        # the stays still open at the end are judged with the accesses they had
        self._open_stays = open_stays
        # row t: the decision at the end of period t, judged by period t + 1
        columns = [(name, _shift_up(values) if name in _JUDGED_NEXT else values) for name, values in columns]
        table = dict(columns)
        accesses = table["accesses"]
        order = [name for name, _ in columns]
        order.insert(0, "period")
        table["period"] = np.arange(len(accesses))
        order.insert(1, "first_access")
        table["first_access"] = np.concatenate([[0], np.cumsum(accesses)[:-1]]).astype(np.int64)
        if writes is not None:
            order.insert(3, "writes")
            table["writes"] = np.asarray(writes, dtype=np.int64)
        order.insert(4, "fast_hit_ratio")
        with np.errstate(divide="ignore", invalid="ignore"):  # x/0 gives inf or NaN, as pandas' division does
            table["fast_hit_ratio"] = table["fast_hits"] / accesses
            added = {}
            added["reactive_fast_hit_ratio"] = table["reactive_fast_hits"] / accesses
            added["placement_accuracy"] = _ratio(table["top_pages_fast"], table["top_pages"])
            added["vs_reactive"] = _ratio(table["fast_hits"], table["reactive_fast_hits"])
            promotions = table["promoted"] + table["exchanged"]
            demotions = table["demoted"] + table["exchanged"]
            added["promotion_precision"] = _ratio(table["promotions_worth"], promotions)
            added["promotion_recall"] = _ratio(table["promotions_worth"],
                                               table["promotions_worth"] + table["missed_worth"])
            added["demotion_precision"] = _ratio(demotions - table["demotions_worth"], demotions)
            fast_not_worth = table["fast_before"] - table["fast_worth"]
            added["demotion_recall"] = _ratio(demotions - table["demotions_worth"],
                                              np.where(fast_not_worth < 0, 0.0, fast_not_worth))  # clip(lower=0)
            if config["policy"] not in _DECIDING:
                for column in ("promotion_precision", "promotion_recall", "demotion_precision", "demotion_recall"):
                    added[column] = np.full(len(accesses), np.nan)
            added["migrated_pages"] = table["promoted"] + table["demoted"] + 2 * table["exchanged"]
            added["migrated_bytes"] = added["migrated_pages"] * page_bytes
            slow_accesses = accesses - table["fast_hits"]
            added["access_us"] = (table["fast_hits"] * fast_ns + slow_accesses * slow_ns) * 1e-3
            added["time_us"] = added["access_us"] + table["migration_us"] + table["scan_us"]
            static_slow = accesses - table["static_fast_hits"]
            added["static_time_us"] = (table["static_fast_hits"] * fast_ns + static_slow * slow_ns) * 1e-3
            added["all_slow_time_us"] = accesses * slow_ns * 1e-3
            added["speedup_vs_static"] = added["static_time_us"] / added["time_us"]
            added["speedup_vs_all_slow"] = added["all_slow_time_us"] / added["time_us"]
        table.update(added)
        table = pd.DataFrame({name: table[name] for name in order + list(added)})
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
        """Simulated run time: accesses, migration and scanning (microseconds)."""
        return float(self.periods["time_us"].sum())

    def recovery_periods(self, at_access: int, share: float = 0.9, until_access: int | None = None) -> float:
        """Periods after a phase change until the fast hit ratio reaches ``share`` of the
        reactive oracle's.

        The periods from the first one starting at or after access ``at_access`` (up to
        ``until_access``, the next change) are considered.  The reactive oracle itself
        misses in the first of them (it places the old phase's pages), so the reference is
        its median fast hit ratio over the others, its level in the new phase.  Returns the
        index, counted from that first period, of the first period whose fast hit ratio
        reaches ``share`` of the reference: 0 if the change costs nothing, NaN if no
        period does.
        """
        p = self.periods
        after = p[(p["first_access"] >= at_access)
                  & (p["first_access"] < (until_access if until_access is not None else np.inf))]
        if len(after) < 2:
            return float("nan")
        level = float(np.median(after["reactive_fast_hit_ratio"].to_numpy()[1:]))
        reached = np.flatnonzero((after["fast_hit_ratio"] >= share * level).to_numpy())
        return float(reached[0]) if reached.size else float("nan")

    def summary(self) -> pd.Series:
        """Overall figures, a flat Series of scalars: totals over the periods, and each
        metric pooled over them (total numerator over total denominator)."""
        p = self.periods
        time_us = p["time_us"].sum()
        deciding = self.policy in _DECIDING
        judged = p.iloc[:-1]  # the last decision has no next period to judge it
        promotions = judged["promoted"] + judged["exchanged"]
        demotions = judged["demoted"] + judged["exchanged"]

        def pooled(numerator, denominator):
            return float(_ratio(numerator, denominator)) if deciding else float("nan")

        stays_ended = p["stays_ended"].sum() + self._open_stays[0]
        stays_repaid = p["stays_repaid"].sum() + self._open_stays[1]
        promoted_total = (p["promoted"] + p["exchanged"]).sum()
        return pd.Series({
            "policy": self.policy,
            "mechanism": self.config["mechanism"].label,
            "variants": ",".join(self.config.get("variants", ())),
            "fast_capacity": self.config["fast_capacity"],
            "period": self.config["period"] if self.config["period"] is not None else np.nan,
            "period_s": self.config["period_s"] if self.config["period_s"] is not None else np.nan,
            "accesses": int(p["accesses"].sum()),
            "fast_hit_ratio": self.fast_hit_ratio,
            "static_fast_hit_ratio": float(p["static_fast_hits"].sum() / p["accesses"].sum()),
            "reactive_fast_hit_ratio": float(p["reactive_fast_hits"].sum() / p["accesses"].sum()),
            "vs_reactive": float(_ratio(p["fast_hits"].sum(), p["reactive_fast_hits"].sum())),
            "placement_accuracy": float(_ratio(p["top_pages_fast"].sum(), p["top_pages"].sum())),
            "promotion_precision": pooled(judged["promotions_worth"].sum(), promotions.sum()),
            "promotion_recall": pooled(judged["promotions_worth"].sum(),
                                       judged["promotions_worth"].sum() + judged["missed_worth"].sum()),
            "demotion_precision": pooled(demotions.sum() - judged["demotions_worth"].sum(), demotions.sum()),
            "demotion_recall": pooled(demotions.sum() - judged["demotions_worth"].sum(),
                                      (judged["fast_before"] - judged["fast_worth"]).clip(lower=0).sum()),
            "repaid_share": pooled(stays_repaid, stays_ended),
            "pingpong": int(p["pingpong"].sum()),
            "pingpong_share": pooled(p["pingpong"].sum(), promoted_total),
            "promoted": int(p["promoted"].sum()),
            "demoted": int(p["demoted"].sum()),
            "exchanged": int(p["exchanged"].sum()),
            "scanned": int(p["scanned"].sum()),
            "migrated_bytes": int(p["migrated_bytes"].sum()),
            "migration_us": float(p["migration_us"].sum()),
            "scan_us": float(p["scan_us"].sum()),
            "access_us": float(p["access_us"].sum()),
            "time_us": float(time_us),
            "speedup_vs_static": float(p["static_time_us"].sum() / time_us),
            "speedup_vs_all_slow": float(p["all_slow_time_us"].sum() / time_us),
        })

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<SimulationResult {s['policy']}, {s['mechanism']}: fast hit ratio {s['fast_hit_ratio']:.3f} "
                f"({s['vs_reactive']:.2f} of the reactive oracle's), placement accuracy "
                f"{s['placement_accuracy']:.3f}, speedup {s['speedup_vs_static']:.2f}x vs static>")

    def _last_period_complete(self) -> bool:
        last = self.periods.iloc[-1]
        if self.config.get("period_s") is not None:
            return bool(last["access_us"] >= self.config["period_s"] * 1e6)
        return bool(last["accesses"] >= self.config["period"])

    def plot(self, axes=None):
        """Per period: fast hit ratio (against static's and the reactive oracle's), placement
        accuracy (and the promotions' break-even precision), pages moved.  A last period
        shorter than the others (the trace ended inside it) is left out.

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
        if len(p) > 1 and not self._last_period_complete():
            p = p.iloc[:-1]  # a shorter last period's ratios are noisier: left out
        x = p["first_access"] + p["accesses"]
        axes[0].plot(x, p["fast_hit_ratio"], label=self.policy)
        axes[0].plot(x, p["reactive_fast_hit_ratio"], ls=":", color="black", label="reactive oracle")
        axes[0].plot(x, p["static_fast_hits"] / p["accesses"], ls="--", color="gray", label="static")
        axes[0].set_ylabel("fast hit ratio")
        axes[0].set_ylim(0, 1.02)
        # legends beside the axes: inside, they hid lines (static's after a phase change)
        outside = dict(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
        axes[0].legend(**outside)
        axes[1].plot(x, p["placement_accuracy"], label="placement accuracy")
        if p["promotion_precision"].notna().any():
            axes[1].plot(x, p["promotion_precision"], label="promotion precision")
        axes[1].set_ylabel("share")
        axes[1].set_ylim(0, 1.02)
        axes[1].legend(**outside)
        for column in ("promoted", "demoted", "exchanged"):
            if p[column].any():
                axes[2].plot(x, p[column], label=column)
        axes[2].set_ylabel("pages per period")
        # counts from 0, written out: nearly equal counts (4999 and 5000 a period) were drawn as
        # "-1.0 ... 0.0" under an offset "+5e3"
        axes[2].set_ylim(bottom=0)
        axes[2].ticklabel_format(axis="y", style="plain", useOffset=False)
        axes[2].set_xlabel("accesses")
        if axes[2].get_legend_handles_labels()[0]:
            axes[2].legend(**outside)
        axes[0].set_title(f"{self.policy}, {self.config['mechanism'].label},\n"
                          f"fast capacity {self.config['fast_capacity']} pages", fontsize="medium")
        return figure
