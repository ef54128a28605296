"""The classifier policies of memtier.simulation.policies: agreement with their pure-Python twins,
the shared driver's invariants for every policy, and one hand-made trace per policy whose
outcome is worked out below."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memtier
from memtier.simulation import policies
from memtier.model.fitting import default_fit
from memtier.simulation.mechanisms import Mechanism
from memtier.simulation.policies import hemem, numa_balancing
from memtier.simulation.policies._driver import FS_NOW_NS

from naive_damon import NaiveDamon
from naive_mglru import NaiveMGLRU
from naive_policies import NaiveBitHistory, NaiveHeMem, NaiveMemtis, NaiveNumaBalancing

NEW_POLICIES = list(policies.MODULES)
FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# Timers short enough that a few hundred accesses (about 0.1-0.3 ms) see them fire.
QUICK = {
    "numa-balancing": dict(scan_delay_ms=0.02, hot_threshold_ms=1, scan_size_mb=0.05, scan_period_max_ms=0.1,
                           promote_rate_limit_mbps=40),
    "tpp": dict(scan_delay_ms=0.02, scan_size_mb=0.05),
    "hemem": dict(sample_period=3, hot_read_threshold=2, hot_write_threshold=1, cooling_threshold=3,
                  kswapd_interval_us=20, migrate_rate_mb=0.02, cooling_pages=3),
    "memtis": dict(sample_period=3, inst_sample_period=2, cooling_period=40, adaptation_period=7,
                   thres_cooling_alloc_mb=0.1, promotion_period_ms=0.02, demotion_period_ms=0.03,
                   demotion_watermark_min_mb=0, promotion_watermark_min_mb=0),
    "bit-history": dict(scan_period_ms=0.01, history_bits=4, theta_hot=2, theta_cold=0),
    "mglru": dict(klruscand_interval_ms=0.02, kpromote_delay_ms=0.005, freq_window_ms=0.1, migrate_batch=3),
    "damon": dict(sample_interval_ms=0.002, aggr_interval_ms=0.02, apply_interval_ms=0.04, quota_reset_interval_ms=0.04,
                  ops_update_interval_ms=0.1, min_sample_ms=0.001, max_sample_ms=1, min_nr_regions=3,
                  max_nr_regions=12, promote_used_bp=0, demote_free_bp=0, quota_sz_mb=0, kdamond_ns=20),
}


@pytest.fixture(scope="module")
def params():
    return default_fit().params


@st.composite
def cases(draw):
    n_pages = draw(st.integers(2, 40))
    trace = draw(st.lists(st.integers(0, n_pages - 1), min_size=1, max_size=400))
    fast = draw(st.integers(1, n_pages))
    slow = draw(st.sampled_from([n_pages, n_pages - fast, n_pages - fast + 1]))
    return dict(trace=np.array(trace), n_pages=n_pages, fast_capacity=fast, slow_capacity=slow,
                writes=np.array(draw(st.lists(st.booleans(), min_size=len(trace), max_size=len(trace)))),
                mechanism=Mechanism(batch_pages=draw(st.integers(1, 4)),
                                    page_bytes=draw(st.sampled_from([4096, 2 << 20]))),
                wsf=draw(st.sampled_from([10, 1000])), min_free=draw(st.sampled_from([None, 0, 64])),
                # numa-balancing / tpp: 6.1's allocation and kswapd rules, or the earlier ones
                rules=dict(fast_path_fallback=draw(st.sampled_from([0, 1])),
                           pgtable_wakes_kswapd=draw(st.sampled_from([0, 1])),
                           kswapd_pages_per_s=draw(st.sampled_from([0, 2e5, 1e7])),
                           kswapd_scan_pages_per_s=draw(st.sampled_from([0, 2e6, 1e8])),
                           scan_overhead_limit=draw(st.sampled_from([0, 32])),
                           scan_cost_charged=draw(st.sampled_from([0, 1])),
                           scan_arm_ns=draw(st.sampled_from([0, 700])),
                           scan_fast_ns=draw(st.sampled_from([0, 300])),
                           placement_doubles=draw(st.sampled_from([0, 1])),
                           # 6.1's two gates on the next scan (2 ticks of 0.1 us, or of 4 ms)
                           scan_tick_gate=draw(st.sampled_from([0, 1])),
                           # 6.1's scan time in whole ticks (of 0.05 us at 2e7 Hz, or 4 ms)
                           scan_time_ticks=draw(st.sampled_from([0, 1])),
                           threshold_adjusts_at_once=draw(st.sampled_from([0, 1])),
                           sched_tick_hz=draw(st.sampled_from([250, 2e7])),
                           kswapd_shares_cpu=draw(st.sampled_from([0, 1])),
                           kswapd_cpu_pages_per_s=draw(st.sampled_from([0, 1e6])),
                           kswapd_cpu_scan_pages_per_s=draw(st.sampled_from([0, 1e7])),
                           promote_ns=draw(st.sampled_from([0, 2500])),
                           access_slack_ns=draw(st.sampled_from([0, 30, 1e4])),
                           referenced_kept_once=draw(st.sampled_from([0, 1])),
                           # 6.1's balance_pgdat passes of falling priority, or the earlier rounds
                           kswapd_priority=draw(st.sampled_from([0, 1])),
                           swappiness=draw(st.sampled_from([60, 200])),
                           # kswapd on the task's CPU (CFS) and a first touch's time
                           kswapd_cpu_share=draw(st.sampled_from([0, 0.5])),
                           first_touch_ns=draw(st.sampled_from([0, 700.0])),
                           **draw(kernel_pages()),
                           **draw(low_zones(fast))))


@st.composite
def kernel_pages(draw):
    """numa-balancing / tpp: page tables on the fast node, with or without direct reclaim."""
    pages = draw(st.sampled_from([0, 1]))
    return dict(pgtable_pages=pages, direct_reclaim=draw(st.sampled_from([0, 1])) if pages else 0)


@st.composite
def low_zones(draw, fast):
    """numa-balancing: the fast node as one zone, or two (6.1's per-zone rules): a low zone of
    random size, protection (its pages beyond the protection counted in ``fast``) and
    watermarks."""
    if not draw(st.booleans()):
        return {}
    pages = draw(st.integers(1, 8))
    protection = draw(st.integers(max(0, pages - fast), pages))
    marks = sorted(draw(st.lists(st.integers(0, 5), min_size=4, max_size=4)))
    return dict(low_zone_pages=pages, low_zone_protection_pages=protection,
                **{f"low_zone_wmark_{w}_pages": m for w, m in zip(("min", "low", "high", "promo"), marks)})


def twin(policy, case, params, quick):
    mechanism = case["mechanism"]
    migrate_cost, _ = mechanism.call_costs_us(params)
    pconfig = policies.MODULES[policy].make_pconfig(policy, quick, case["fast_capacity"], case["slow_capacity"],
                                                    case["n_pages"], mechanism.page_bytes)
    common = dict(fast_ns=82.0, slow_ns=1000.0, migrate_cost=migrate_cost, batch_pages=mechanism.batch_pages)
    if policy == "hemem":
        model = NaiveHeMem(list(pconfig), case["fast_capacity"], case["slow_capacity"], **common)
        rows = model.run(case["trace"], case["writes"])
    elif policy == "memtis":
        model = NaiveMemtis(list(pconfig), case["fast_capacity"], case["slow_capacity"], **common)
        rows = model.run(case["trace"], case["writes"])
    elif policy == "bit-history":
        model = NaiveBitHistory(list(pconfig), case["fast_capacity"], case["slow_capacity"], **common)
        rows = model.run(case["trace"])
    elif policy == "damon":
        model = NaiveDamon(list(pconfig), case["fast_capacity"], case["slow_capacity"], case["n_pages"],
                           mechanism.page_bytes, **common)
        rows = model.run(case["trace"])
    elif policy == "mglru":
        model = NaiveMGLRU(list(pconfig), case["fast_capacity"], case["slow_capacity"],
                           memtier.simulation.simulator.RMAP_WALK_NS, **common)
        rows = model.run(case["trace"], case["n_pages"])
    else:
        model = NaiveNumaBalancing(list(pconfig), case["fast_capacity"], case["slow_capacity"],
                                   mechanism.page_bytes, memtier.simulation.simulator.RMAP_WALK_NS, **common)
        rows = model.run(case["trace"], case["n_pages"])
    return rows, model


def run(policy, case, params, quick):
    kwargs = {k: case[k] for k in ("trace", "n_pages", "fast_capacity", "slow_capacity", "mechanism", "writes")}
    return memtier.simulate(policy=policy, fit=params, period=1, **kwargs, **quick)


@pytest.mark.parametrize("policy", NEW_POLICIES)
@settings(max_examples=40, **FAST)
@given(case=cases())
def test_kernel_agrees_with_its_twin(policy, case, params):
    quick = policies.check_params(policy, QUICK[policy])
    if policy in ("numa-balancing", "tpp"):
        quick.update(watermark_scale_factor=case["wsf"], min_free_kbytes=case["min_free"], **case["rules"])
    result = run(policy, case, params, quick)
    rows, model = twin(policy, case, params, quick)
    got = result.periods
    assert len(got) == len(rows)
    for column, key in (("fast_hits", "fast"), ("promoted", "promoted"), ("demoted", "demoted"),
                        ("scanned", "events")):
        np.testing.assert_array_equal(got[column].to_numpy(), [r[key] for r in rows], err_msg=column)
    for column, key in (("scan_us", "overhead_us"), ("migration_us", "migration_us")):
        np.testing.assert_allclose(got[column].to_numpy(), [r[key] for r in rows], rtol=1e-9, atol=1e-9,
                                   err_msg=column)
    np.testing.assert_array_equal(result.final_node, model.final_node(case["n_pages"]))
    if policy in ("numa-balancing", "tpp"):
        # the zone each fast page is in (low_zone_pages), and the clock, which kswapd_cpu_share's
        # stretching and first_touch_ns move without a row's charges showing them
        in_low = (result._storage["referenced"] & numa_balancing.IN_LOW_ZONE) != 0
        np.testing.assert_array_equal(in_low, [page in model.in_low for page in range(case["n_pages"])])
        np.testing.assert_allclose(result._storage["fstate"][FS_NOW_NS], model.now, rtol=1e-9, atol=1e-6)
        # pgtable_pages and direct_reclaim: the kernel's pages, the reclaim's calls and pages
        pstate = result._storage["pstate"]
        assert pstate[numa_balancing.PS_KERNEL_USED] == model.kernel_main + model.kernel_low
        assert (pstate[numa_balancing.PS_DR_CALLS], pstate[numa_balancing.PS_DR_SCANNED],
                pstate[numa_balancing.PS_DR_DEMOTED]) == (model.dr_calls, model.dr_scanned, model.dr_demoted)
        # balance_pgdat's runs; kswapd_cpu_slices' CFS figures; pcp_high_pages' per-CPU list
        assert pstate[numa_balancing.PS_KSWAPD_RUNS] == model.runs
        pfstate = result._storage["pfstate"]
        np.testing.assert_allclose([pfstate[numa_balancing.PF_KSWAPD_VR], pfstate[numa_balancing.PF_KSWAPD_CPU_NS],
                                    pfstate[numa_balancing.PF_TASK_PICKED_NS]],
                                   [model.ks_vr, model.ks_cpu, model.task_picked], rtol=1e-9, atol=1e-6)
        assert (pstate[numa_balancing.PS_PCP], pstate[numa_balancing.PS_PCP_UNMOVABLE],
                pstate[numa_balancing.PS_PCP_FREE_FACTOR]) == (model.pcp, model.pcp_unmovable, model.pcp_factor)
        assert pstate[numa_balancing.PS_KSWAPD_AWAKE] == model.awake
        # /proc/vmstat's counters, as kernel-check compares them with the kernel's
        assert result.counters == {"numa_pte_updates": model.pte_updates, "numa_hint_faults": model.hint_faults,
                                   "pgpromote_candidate": model.nr_cand,
                                   "pgscan_kswapd": model.pgscan - model.dr_scanned}
        if quick.get("kswapd_cpu_slices") and model.awake:  # when the waiting kswapd is picked
            assert pfstate[numa_balancing.PF_KSWAPD_NS] == pytest.approx(model.k_ns, rel=1e-9, abs=1e-6)


@settings(max_examples=120, **FAST)
@given(case=cases(), pages=st.integers(1, 8), marks=st.lists(st.integers(0, 3), min_size=4, max_size=4),
       main_marks=st.lists(st.integers(0, 4), min_size=4, max_size=4), touch=st.sampled_from([0, 700.0]))
def test_numa_balancing_zones_and_one_cpu_agree_with_the_twin(case, pages, marks, main_marks, touch, params):
    """The draws of ``test_kernel_agrees_with_its_twin`` with 6.1's zone and one-CPU rules always
    on: a low zone, kswapd on the task's CPU at a pace (so that its balance check right after a
    round, and the stretching while it is awake, decide what follows), and the main zone's
    watermarks small enough for nodes of a few pages to pass them."""
    fast = case["fast_capacity"]
    # a fill first (every page touched once, in order), whose pages kswapd finds unreferenced on
    # its second pass and demotes, so that its rounds can balance the node
    case["trace"] = np.concatenate([np.arange(case["n_pages"]), case["trace"]])
    case["writes"] = np.concatenate([np.zeros(case["n_pages"], dtype=bool), case["writes"]])
    case["rules"] = {k: v for k, v in case["rules"].items() if not k.startswith("low_zone")}
    case["rules"].update(kswapd_cpu_share=0.5, kswapd_cpu_pages_per_s=1e6, kswapd_cpu_scan_pages_per_s=1e7,
                         first_touch_ns=touch, low_zone_pages=pages,
                         low_zone_protection_pages=max(0, pages - fast) + (pages - max(0, pages - fast)) // 2,
                         **{f"low_zone_wmark_{w}_pages": m for w, m in zip(("min", "low", "high", "promo"),
                                                                           sorted(marks))},
                         **{f"wmark_{w}_pages": m for w, m in zip(("min", "low", "high", "promo"), sorted(main_marks))})
    test_kernel_agrees_with_its_twin.hypothesis.inner_test("numa-balancing", case, params)


@settings(max_examples=50, **FAST)
@given(case=cases(), pages=st.integers(0, 8), marks=st.lists(st.integers(0, 3), min_size=4, max_size=4),
       main_marks=st.lists(st.integers(0, 4), min_size=4, max_size=4),
       touch=st.sampled_from([0, 2e5, 1e6, 3e6]), hz=st.sampled_from([250.0, 1000.0, 1e4]),
       paces=st.sampled_from([(1e2, 1e3), (1e3, 1e4), (1e6, 1e7)]), pcp=st.sampled_from([0, 1, 2, 4, 6]),
       batch=st.integers(1, 3))
def test_numa_balancing_cpu_slices_and_pcp_agree_with_the_twin(case, pages, marks, main_marks, touch, hz, paces, pcp,
                                                               batch, params):
    """The draws of ``test_kernel_agrees_with_its_twin`` with ``kswapd_cpu_slices`` on (CFS's slices on
    one CPU: kswapd's placement, wakeup preemption, the ticks) and with or without the per-CPU list
    (``pcp_high_pages``), after a fill, the low zone drawn as in the one-CPU test (or none), kswapd's
    paces and the first touch slow enough (ms a page) for kswapd's runs and the task's to span ticks
    and slices, and small watermarks."""
    fast = case["fast_capacity"]
    case["trace"] = np.concatenate([np.arange(case["n_pages"]), case["trace"]])
    case["writes"] = np.concatenate([np.zeros(case["n_pages"], dtype=bool), case["writes"]])
    case["rules"] = {k: v for k, v in case["rules"].items() if not k.startswith("low_zone")}
    zone = {}
    if pages:
        zone = dict(low_zone_pages=pages,
                    low_zone_protection_pages=max(0, pages - fast) + (pages - max(0, pages - fast)) // 2,
                    **{f"low_zone_wmark_{w}_pages": m for w, m in zip(("min", "low", "high", "promo"), sorted(marks))})
    case["rules"].update(kswapd_cpu_share=0, kswapd_cpu_slices=1, kswapd_priority=1, sched_tick_hz=hz,
                         kswapd_cpu_pages_per_s=paces[0], kswapd_cpu_scan_pages_per_s=paces[1], first_touch_ns=touch,
                         pcp_high_pages=pcp, pcp_batch_pages=batch, **zone,
                         **{f"wmark_{w}_pages": m for w, m in zip(("min", "low", "high", "promo"), sorted(main_marks))})
    test_kernel_agrees_with_its_twin.hypothesis.inner_test("numa-balancing", case, params)


@settings(max_examples=60, **FAST)
@given(case=cases(), marks=st.lists(st.integers(0, 6), min_size=4, max_size=4), young=st.booleans())
def test_numa_balancing_direct_reclaim_agrees_with_the_twin(case, marks, young, params):
    """The draws of ``test_kernel_agrees_with_its_twin`` with a page table a page (2 MB pages)
    taken from the fast node and direct reclaim on, after a fill (every page touched once, and
    again if ``young``), with watermarks small enough for the page tables to reach min."""
    fill = np.arange(case["n_pages"])
    case["trace"] = np.concatenate([fill, fill if young else fill[:0], case["trace"]])
    case["writes"] = np.zeros(len(case["trace"]), dtype=bool)
    case["mechanism"] = Mechanism(batch_pages=case["mechanism"].batch_pages, page_bytes=2 << 20)
    case["rules"].update(pgtable_pages=1, direct_reclaim=1, kswapd_cpu_pages_per_s=1e6,
                         kswapd_cpu_scan_pages_per_s=1e7,
                         **{f"wmark_{w}_pages": m for w, m in zip(("min", "low", "high", "promo"), sorted(marks))})
    test_kernel_agrees_with_its_twin.hypothesis.inner_test("numa-balancing", case, params)


def test_direct_reclaim_keeps_the_fast_node_at_min_for_page_tables(params):
    """6.1: a page table (GFP_KERNEL, the fast node only) that finds no zone above min makes
    its task reclaim (do_try_to_free_pages): with 2 MB pages every first touch takes a page
    table, and once the user pages fall back to the slow node the tables take the fast node
    down to min; with direct reclaim the task demotes (32 at a time) and the node stays at or
    above min, without it the tables take it below.  The fill's pages are young when the reclaim
    first meets them, so it keeps them (PG_referenced) and demotes them when a lower priority
    meets them again, not young: it scans more pages than it demotes."""
    n, fast = 120, 200  # 70 first touches fill it to low (a page and a table each), 20 tables to min
    marks = dict(wmark_min_pages=40, wmark_low_pages=60, wmark_high_pages=80, wmark_promo_pages=100)
    slow_kswapd = dict(kswapd_pages_per_s=1.0, kswapd_scan_pages_per_s=1.0)  # one round at its wake, then asleep
    trace = np.arange(n)
    free = {}
    for reclaim in (0, 1):
        result = memtier.simulate(trace, "numa-balancing", fast, slow_capacity=n, n_pages=n, fit=params,
                                  mechanism=Mechanism(page_bytes=2 << 20), pgtable_pages=1, direct_reclaim=reclaim,
                                  **marks, **slow_kswapd)
        pstate = result._storage["pstate"]
        assert pstate[numa_balancing.PS_KERNEL_USED] == n  # a page table a 2 MB page
        free[reclaim] = fast - int((result.final_node == 0).sum()) - n
        if reclaim:
            assert pstate[numa_balancing.PS_DR_CALLS] >= 1
            assert pstate[numa_balancing.PS_DR_SCANNED] > pstate[numa_balancing.PS_DR_DEMOTED] >= 32
            assert int(result.periods["demoted"].sum()) >= pstate[numa_balancing.PS_DR_DEMOTED]
        else:
            assert pstate[numa_balancing.PS_DR_CALLS] == 0
    assert free[1] >= marks["wmark_min_pages"] > free[0]


@pytest.mark.parametrize("policy", NEW_POLICIES)
@settings(max_examples=15, **FAST)
@given(case=cases(), period=st.integers(1, 60))
def test_limits_conservation_clock_and_determinism(policy, case, period, params):
    quick = QUICK[policy]
    kwargs = {k: case[k] for k in ("trace", "n_pages", "fast_capacity", "slow_capacity", "mechanism", "writes")}
    result = memtier.simulate(policy=policy, fit=params, period=period, **kwargs, **quick)
    p = result.periods
    assert (p["fast_used"] <= case["fast_capacity"]).all()
    assert (p["slow_used"] <= case["slow_capacity"]).all()
    # conservation: every page touched so far is on exactly one node
    touched = [len(set(case["trace"][:end].tolist())) for end in p["first_access"] + p["accesses"]]
    np.testing.assert_array_equal(p["fast_used"] + p["slow_used"], touched)
    assert p["accesses"].sum() == len(case["trace"])
    np.testing.assert_array_equal(np.bincount(result.final_node[result.final_node >= 0], minlength=2),
                                  [p["fast_used"].iloc[-1], p["slow_used"].iloc[-1]])
    # the simulated clock is the sum of the accesses' time and the work charged
    now_us = result._storage["fstate"][FS_NOW_NS] * 1e-3
    assert now_us == pytest.approx(p["time_us"].sum(), rel=1e-9)
    for column in ("placement_accuracy", "promotion_precision", "promotion_recall", "demotion_precision",
                   "demotion_recall", "fast_hit_ratio"):
        values = p[column].dropna()
        assert ((values >= 0) & (values <= 1)).all(), column
    again = memtier.simulate(policy=policy, fit=params, period=period, **kwargs, **quick)
    assert again.periods.equals(p)
    np.testing.assert_array_equal(again.final_node, result.final_node)


@pytest.mark.parametrize("policy", NEW_POLICIES)
def test_placement_accuracy_counts_the_top_pages_that_were_fast(policy, params):
    """Placement accuracy reads whether each top page was fast at its first access of the
    period from the policy's access loop (``touched``): with every page fast from its first
    touch (a fast node larger than the trace's pages, no watermark in the way, nothing to
    move), every top page of every period was fast."""
    trace = np.random.default_rng(3).integers(0, 50, 3000)
    room = {"hemem": {}, "bit-history": {},
            "memtis": dict(promotion_watermark_min_mb=0, demotion_watermark_min_mb=0)}.get(
        policy, dict(watermark_scale_factor=0.0, min_free_kbytes=0.0))
    p = memtier.simulate(trace, policy, 200, n_pages=50, period=300, fit=params, **room).periods
    assert (p["fast_hits"] == p["accesses"]).all() and (p["top_pages"] > 0).all()
    np.testing.assert_array_equal(p["top_pages_fast"], p["top_pages"])
    assert (p["placement_accuracy"] == 1.0).all()


@pytest.mark.parametrize("policy", NEW_POLICIES)
@settings(max_examples=15, **FAST)
@given(case=cases(), period=st.integers(1, 100), mixed=st.booleans(), slow_ns=st.sampled_from([2e4, 1000.0]),
       skewed=st.sampled_from([800, 0]), seed=st.integers(0, 1 << 16))
def test_metrics_in_page_order_equal_those_in_first_touch_order(policy, case, period, mixed, slow_ns, skewed, seed,
                                                                params, monkeypatch):
    """``_driver.end_period`` scores a period that touched many pages in page order
    (``score_in_page_order``) and the others in first-touch order (``score_period``): every
    period's row, the final placement and the metrics' per-page state (marks, stays, flags but
    the page-order pass's own) are the same whichever order scores which period (all in page
    order, or each period in the order its own pages touched pick at a share of a third of the
    pages), and the pages whose marks the metrics read are all flagged ``MARKS_HELD``.  The
    moves made during a period are judged by where each page was at its first access of the
    period, which the page-order pass reads from a bitmap of ``touched``'s signs.  (A slow node
    20 times slower makes nearly every page touched worth a move, so that the break-even
    judgments are exercised on these short traces; ``skewed``: a trace of that many accesses
    drawn from a zipf law instead, so that some pages are used many times a period.)"""
    import memtier.simulation.simulator
    from memtier.simulation.policies._driver import MARKS_HELD
    from memtier.simulation.policies.active_shrink import DEMOTED, IN_STAY, P_MARKS, PROMOTED

    kwargs = {k: case[k] for k in ("trace", "n_pages", "fast_capacity", "slow_capacity", "mechanism", "writes")}
    if skewed:
        rng = np.random.default_rng(seed)
        kwargs.update(trace=(rng.zipf(1.3, skewed) - 1) % case["n_pages"], writes=rng.random(skewed) < 0.3)
    runs = []
    for share in (10.0, 0.34 if mixed else 0.0):  # first-touch order only; then page order too
        monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE_CLASSIFIERS", share)
        runs.append(memtier.simulate(policy=policy, fit=params, period=period, slow_access_ns=slow_ns, **kwargs,
                                     **QUICK[policy]))
    pd.testing.assert_frame_equal(runs[1].periods, runs[0].periods)
    np.testing.assert_array_equal(runs[1].final_node, runs[0].final_node)
    first, storage = runs[0]._storage, runs[1]._storage
    np.testing.assert_array_equal(storage["pagestat"], first["pagestat"])
    others = np.uint8(~MARKS_HELD & 0xFF)
    np.testing.assert_array_equal(storage["flags"] & others, first["flags"] & others)
    marked = (storage["pagestat"][:, P_MARKS] & (PROMOTED | DEMOTED | IN_STAY)) != 0
    assert ((storage["flags"][marked] & MARKS_HELD) != 0).all()


def test_unknown_parameters_and_values_are_refused():
    trace = np.arange(10)
    with pytest.raises(TypeError, match="hot_threshold_ms"):
        memtier.simulate(trace, "numa-balancing", 4, hot_treshold_ms=3)
    with pytest.raises(TypeError, match="does not take"):
        memtier.simulate(trace, "active-shrink", 4, sample_period=3)
    with pytest.raises(ValueError, match="sample_period"):
        memtier.simulate(trace, "hemem", 4, sample_period=0)
    with pytest.raises(ValueError, match="scan_delay_ms"):
        memtier.simulate(trace, "numa-balancing", 4, scan_delay_ms="soon")


SWITCHES = [("numa-balancing", "fast_path_fallback"), ("numa-balancing", "kswapd_shares_cpu"),
            ("tpp", "placement_doubles"), ("mglru", "klruscand"), ("bit-history", "rank_and_fill"),
            ("damon", "young_filter"), ("memtis", "nowarm")]


@pytest.mark.parametrize("policy, name", SWITCHES)
def test_a_switch_takes_only_1_or_0(policy, name):
    """A parameter documented as '1: ...' is a switch: 2 or 0.5 is refused in one line that says
    so, before the kernel runs; 1 and 0 are taken."""
    trace = np.arange(200) % 50
    for bad in (2, 0.5):
        with pytest.raises(ValueError, match=f"{name}.*(switch|0 or 1|must be 0).*"):
            memtier.simulate(trace, policy, 10, **{name: bad})
    small = dict(promotion_watermark_min_mb=0, demotion_watermark_min_mb=0) if policy == "memtis" else {}
    for good in (0, 1):
        memtier.simulate(trace, policy, 10, **{name: good}, **small)


def test_every_policy_lists_its_parameters_with_a_source():
    for policy in NEW_POLICIES:
        for name, (default, source) in policies.parameters(policy).items():
            assert source and (default is None or default >= 0), name


# Hand-made traces.  numa-balancing and tpp: a 64-page fast node, 128 pages, watermarks
# min 0, low 6, high 12, promo 18 (min_free_kbytes=0, watermark_scale_factor=1000: 6 pages a
# step).  Phase 1 touches every page once: the fast node fills, kswapd demotes the oldest to
# keep more than 18 free, so it ends with some slow pages and ``free`` free fast pages.  These
# tests are about promotion, so the fill follows the earlier rules (kswapd woken by the
# allocation and run at once in rounds of 32 checked after each, the fast node taken down to
# min, a referenced inactive page activated at once); 6.1's fast-path fallback, kswapd beside
# the task, balance_pgdat's passes of falling priority (the default, ``kswapd_priority``) and
# folio_check_references' look-twice (the default, ``referenced_kept_once``) have tests of
# their own below.
EARLIER = dict(fast_path_fallback=0, pgtable_wakes_kswapd=0, kswapd_pages_per_s=0, kswapd_scan_pages_per_s=0,
               kswapd_priority=0, referenced_kept_once=0)
NB = dict(n_pages=128, fast_capacity=64, min_free_kbytes=0, watermark_scale_factor=1000, scan_delay_ms=1, **EARLIER)
# tpp: a demotion watermark 6 pages above high (demote_scale_factor 10 %), like promo
TPP = dict(NB, demote_scale_factor=1000)
HIGH = 12


def _phase_one(policy, params):
    first = np.arange(128)
    result = memtier.simulate(first, policy, fit=params, period=len(first), **(TPP if policy == "tpp" else NB))
    fast_page = int(np.flatnonzero(result.final_node == 0)[-1])
    slow_pages = np.flatnonzero(result.final_node == 1)
    free = NB["fast_capacity"] - int(result.periods["fast_used"].iloc[-1])
    return first, fast_page, slow_pages, free


def _wait(page, ms):
    """Accesses to one fast page lasting ``ms`` of simulated time (82 ns each)."""
    return np.full(int(ms * 1e6 / 82) + 1, page)


def test_numa_balancing_promotes_every_slow_page_touched_after_it_was_armed(params):
    first, fast_page, slow, free = _phase_one("numa-balancing", params)
    k = min(len(slow), free - (HIGH + 1))  # promotions need free > high + 1 (migrate_balanced_pgdat)
    assert k > 0 and len(slow) > k
    touched = slow[:k]
    # touched before any scan (the first is 1 ms in): never armed, never promoted
    early = np.concatenate([first, touched])
    result = memtier.simulate(early, "numa-balancing", fit=params, period=len(first), **NB)
    assert result.periods["promoted"].iloc[1] == 0
    # touched after the scan armed them, within the hot threshold: every one promoted
    trace = np.concatenate([first, _wait(fast_page, 1.5), touched])
    result = memtier.simulate(trace, "numa-balancing", fit=params, period=len(trace) - k, **NB)
    last = result.periods.iloc[-1]
    assert (last["promoted"], last["demoted"]) == (k, 0)
    assert (result.final_node[touched] == 0).all()
    assert (result.final_node[slow[k:]] == 1).all()
    # with a 1 ms hot threshold, touched 2 ms after the scan: a latency too long, none promoted
    trace = np.concatenate([first, _wait(fast_page, 3.5), touched])
    result = memtier.simulate(trace, "numa-balancing", fit=params, period=len(trace) - k, hot_threshold_ms=1, **NB)
    assert result.periods["promoted"].iloc[-1] == 0
    assert (result.final_node[touched] == 1).all()


def test_numa_balancing_threshold_adjusts_at_the_first_fault(params):
    """``threshold_adjusts_at_once`` (6.1's ``numa_promotion_adjust_threshold``, its clock 300 s
    before boot and its window's start 0): the first hint fault raises the threshold by 2 x 8 /
    16 = 1 ms, to 9, no candidate having been counted.  Pages armed by the scan at 1 ms and touched
    9 ms after the fill (a latency of 8 whole ms) are promoted with it; without it the threshold stays 8
    until scan_period_max_ms (60 s) into the run, and none is."""
    first, fast_page, slow, free = _phase_one("numa-balancing", params)
    k = min(len(slow), free - (HIGH + 1))
    assert k > 0
    touched = slow[:k]
    trace = np.concatenate([first, _wait(fast_page, 9.0), touched])
    for at_once, promoted in ((1, k), (0, 0)):
        result = memtier.simulate(trace, "numa-balancing", fit=params, period=len(trace) - k, hot_threshold_ms=8,
                                  threshold_adjusts_at_once=at_once, **NB)
        assert result.periods["promoted"].iloc[-1] == promoted
        assert (result.final_node[touched] == (0 if at_once else 1)).all()
        assert result._storage["pstate"][numa_balancing.PS_TH] == (9 if at_once else 0)
    assert policies.parameters("numa-balancing")["threshold_adjusts_at_once"][0] == 0


def test_tpp_promotes_an_inactive_page_at_its_third_hint_fault(params):
    first, fast_page, slow, free = _phase_one("tpp", params)
    page = slow[0]
    # three rounds: wait for the next scan to arm the page, then touch it
    rounds = [np.concatenate([_wait(fast_page, 1.1), [page]]) for _ in range(3)]
    trace = np.concatenate([first, *rounds])
    bounds = np.cumsum([len(first)] + [len(r) for r in rounds])
    for policy, promoted_at in (("tpp", 3), ("numa-balancing", 1)):
        for n_rounds in range(1, 4):
            result = memtier.simulate(trace[:bounds[n_rounds]], policy, fit=params,
                                      **(TPP if policy == "tpp" else NB))
            assert result.final_node[page] == (0 if n_rounds >= promoted_at else 1), (policy, n_rounds)


def test_hemem_never_promotes_a_page_sampled_fewer_times_than_its_threshold(params):
    # Every access sampled (sample_period=1), a policy pass after every access: a 4-page fast
    # node holds pages 0-3 (cold), pages 4-9 start slow.  Page 4 is read 7 times in all and
    # page 6 written 3 times: under the thresholds (8 reads, 4 writes), never promoted.
    # Page 5 reaches 8 reads and page 7 4 writes: each promoted at the next pass, demoting
    # the fast node's oldest cold page (0, then 1).
    trace = np.concatenate([np.arange(10), [4] * 6, [5] * 7, [6] * 3, [7] * 4])
    writes = np.zeros(len(trace), dtype=bool)
    writes[-7:] = True  # the accesses to pages 6 and 7 after the first touch write
    result = memtier.simulate(trace, "hemem", 4, fit=params, n_pages=10, writes=writes, sample_period=1,
                              kswapd_interval_us=0.05)
    assert result.final_node.tolist() == [1, 1, 0, 0, 1, 0, 1, 0, 1, 1]
    assert (result.periods["promoted"].sum(), result.periods["demoted"].sum()) == (2, 2)
    # one read fewer for page 5: it stays slow too
    fewer = np.delete(trace, 16)
    result = memtier.simulate(fewer, "hemem", 4, fit=params, n_pages=10, writes=np.delete(writes, 16),
                              sample_period=1, kswapd_interval_us=0.05)
    assert result.final_node[5] == 1 and result.final_node[7] == 0


def test_time_scaled_divides_times_and_sampling_and_multiplies_rates():
    scaled = policies.time_scaled("numa-balancing", 100, hot_threshold_ms=500)
    assert scaled["scan_delay_ms"] == 10 and scaled["hot_threshold_ms"] == 5
    assert scaled["promote_rate_limit_mbps"] == 6553600 and scaled["scan_size_mb"] == 256
    assert scaled["hint_fault_ns"] == 10 and scaled["scan_pte_ns"] == 0.5
    scaled = policies.time_scaled("hemem", 1000)
    assert scaled["sample_period"] == 5 and scaled["kswapd_interval_us"] == 10 and scaled["sample_ns"] == 0.25
    assert scaled["hot_read_threshold"] == 8
    assert policies.time_scaled("hemem", 1e6)["sample_period"] == 1
    with pytest.raises(ValueError, match="factor"):
        policies.time_scaled("tpp", 0)


def test_command_line_takes_policy_parameters(tmp_path, capsys):
    from memtier.cli import main

    out = tmp_path / "runs.csv"
    assert main(["simulate", "--workload", "hot_set", "--pages", "400", "--accesses", "20000",
                 "--fast-capacity", "10%", "--policy", "numa-balancing,hemem,static", "--param",
                 "scan_delay_ms=0.1", "--param", "sample_period=7", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "numa-balancing" in printed and "hemem" in printed
    assert main(["simulate", "--workload", "hot_set", "--pages", "400", "--accesses", "2000",
                 "--fast-capacity", "10%", "--policy", "static", "--param", "sample_period=7"]) == 2
    assert "no chosen policy takes it" in capsys.readouterr().err


@pytest.mark.parametrize("policy", NEW_POLICIES)
def test_chunks_do_not_change_results(policy, params):
    """The kernels carry their state (clock, timers, samplers, the running period) from one
    chunk of the trace to the next: any chunking gives the same run."""
    trace = memtier.workloads.hot_set(300, 6000, hot_fraction=0.1, phases=3, seed=4)
    writes = memtier.workloads.write_flags(len(trace), 0.3, seed=4)
    runs = [memtier.simulate(trace, policy, 40, fit=params, writes=writes, period_s=2e-4,
                             chunk_accesses=chunk, **QUICK[policy]) for chunk in (len(trace), 997, 64)]
    for other in runs[1:]:
        pd.testing.assert_frame_equal(other.periods, runs[0].periods)
        np.testing.assert_array_equal(other.final_node, runs[0].final_node)
    assert runs[0].periods["promoted"].sum() > 0  # the run exercises the policy's moves


@pytest.mark.parametrize("policy", NEW_POLICIES)
def test_snapshots_are_the_runs_cut_there(policy, params):
    """``snapshots``: the state after k accesses, taken during one run, is the run of the trace's
    first k accesses (the open period closed there), rows and placement, at cuts inside
    pieces, at their edges, at the first access and at the last; and taking them does not
    change the run."""
    trace = memtier.workloads.hot_set(300, 6000, hot_fraction=0.1, phases=3, seed=4)
    writes = memtier.workloads.write_flags(len(trace), 0.3, seed=4)
    counts = [1, 500, 996, 997, 998, 3001, 6000]
    run = dict(n_pages=300, fit=params, period_s=2e-4, **QUICK[policy])
    whole = memtier.simulate(trace, policy, 40, writes=writes, snapshots=counts, chunk_accesses=997, **run)
    assert len(whole.snapshots) == len(counts)
    for count, snapshot in zip(counts, whole.snapshots):
        cut = memtier.simulate(trace[:count], policy, 40, writes=writes[:count], **run)
        pd.testing.assert_frame_equal(snapshot.periods, cut.periods)
        np.testing.assert_array_equal(snapshot.final_node, cut.final_node)
    plain = memtier.simulate(trace, policy, 40, writes=writes, **run)
    pd.testing.assert_frame_equal(whole.periods, plain.periods)
    np.testing.assert_array_equal(whole.final_node, plain.final_node)
    assert plain.snapshots == []
    # the snapshots differ from one another: each is its own state, not the run's arrays
    assert len({snapshot.final_node.tobytes() for snapshot in whole.snapshots}) > 3


def test_numa_balancing_scan_period_grows_by_three_tenths_after_a_promoting_pass(params):
    """update_task_scan_period, the earlier rule (placement_doubles=0): the first promotion
    after a full pass lengthens the period by 30 %, once per pass; without promotions it
    stays; 6.1's rule for tiering doubles it.  Bounds made loose here
    (scan_period_min_ms=0.5, max_scan_window_mbps large) so that they do not clamp it."""
    from memtier.simulation.policies.numa_balancing import PF_PERIOD_MS

    loose = dict(NB, scan_period_min_ms=0.5, max_scan_window_mbps=1e9, scan_overhead_limit=0,  # the period alone
                 placement_doubles=0)  # the earlier rule
    first, fast_page, slow, free = _phase_one("numa-balancing", params)
    k = min(len(slow), free - (HIGH + 1))
    trace = np.concatenate([first, _wait(fast_page, 1.5), slow[:k]])  # one pass (the first scan), k promotions
    result = memtier.simulate(trace, "numa-balancing", fit=params, **loose)
    assert result.periods["promoted"].sum() == k > 1
    assert result._storage["pfstate"][PF_PERIOD_MS] == pytest.approx(1.3)
    # 6.1 in tiering mode (placement_doubles, the default): the promoting fault is remote, so
    # the period doubles and the next scan is a period after that fault (among the last k
    # accesses and their promotions, well under 0.5 ms)
    doubled = memtier.simulate(trace, "numa-balancing", fit=params, **dict(loose, placement_doubles=1))
    assert doubled._storage["pfstate"][PF_PERIOD_MS] == pytest.approx(2.0)
    now = doubled._storage["fstate"][FS_NOW_NS]
    assert now + 1.5e6 < doubled._storage["pfstate"][numa_balancing.PF_NEXT_SCAN_NS] <= now + 2e6
    # no promotion: the faults of a 1 ms hot threshold come too late, the period stays 1 ms
    trace = np.concatenate([first, _wait(fast_page, 3.5), slow[:k]])
    result = memtier.simulate(trace, "numa-balancing", fit=params, hot_threshold_ms=1, **loose)
    assert result.periods["promoted"].sum() == 0
    assert result._storage["pfstate"][PF_PERIOD_MS] == pytest.approx(1.0)


def test_numa_balancing_fill_falls_back_and_kswapd_runs_beside_the_task():
    """6.1's fast path and kswapd beside the task, on a fill worked out by hand.

    600 pages of 4 KiB, touched once each in order, 1 us an access, moves and scans free;
    a 64-page fast node with watermarks min 4, low 8, high 12, promo 16; kswapd demotes a page
    in 10 us and scans one it keeps in 1 us (100 000 and 1 000 000 a second), in memtier's
    earlier rounds of 32 checked after each (``kswapd_priority=0``; 6.1's passes of falling
    priority, the default, are worked by hand in
    ``test_numa_balancing_kswapd_passes_of_falling_priority``), a referenced inactive page
    activated at once (``referenced_kept_once=0``, the rule before 5.9; 6.1's look-twice, the
    default, on this fill: ``test_numa_balancing_keeps_a_referenced_page_once_before_activating_it``).

    - Pages 0-55 fill the fast node to its low watermark (8 free); 56-511 go to the slow node
      (get_page_from_freelist at ALLOC_WMARK_LOW), waking nobody: the page table of pages
      0-511 (2 MB) was allocated at page 0.
    - Page 512 (512 us) needs a page table: node 0 is at its low watermark, so kswapd wakes.
      Its first round scans pages 0-31 off the inactive tail, all referenced by the fill:
      activated, 32 us.  Pages 512-543 go slow meanwhile.
    - At 544 us its second round refills the inactive list (inactive 24 < active 32) and scans
      32-55 (referenced, activated) and 0-7 (unreferenced: demoted): 8 demoted, 80 + 24 us, so
      the next round is at 648 us.  Pages 544-551 take the 8 freed pages, 552-599 go slow.
    - With 300 more accesses (to slow page 100), the round at 648 us demotes 8-31 (24) and
      activates 544-551; at 896 us the node is balanced (32 free > 16) and kswapd sleeps.
    """
    from memtier.kernel.check import free_moves

    trace = np.arange(600)
    common = dict(n_pages=600, slow_capacity=1000, fit=free_moves(), fast_access_ns=1000.0, slow_access_ns=1000.0,
                  rmap_ns=0.0, hint_fault_ns=0.0, scan_pte_ns=0.0, scan_delay_ms=1e6, wmark_min_pages=4,
                  wmark_low_pages=8, wmark_high_pages=12, wmark_promo_pages=16, kswapd_priority=0,
                  referenced_kept_once=0)
    beside = dict(kswapd_pages_per_s=1e5, kswapd_scan_pages_per_s=1e6)
    result = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, **beside)
    fast = set(np.flatnonzero(result.final_node == 0).tolist())
    assert fast == set(range(8, 56)) | set(range(544, 552))
    assert (result.periods["demoted"].sum(), result.periods["promoted"].sum()) == (8, 0)
    assert result._storage["pfstate"][numa_balancing.PF_KSWAPD_NS] == pytest.approx(648e3)
    longer = np.concatenate([trace, np.full(300, 100)])
    result = memtier.simulate(longer, "numa-balancing", 64, period=len(longer), **common, **beside)
    assert set(np.flatnonzero(result.final_node == 0).tolist()) == set(range(32, 56)) | set(range(544, 552))
    assert result.periods["demoted"].sum() == 32 and result._storage["pstate"][numa_balancing.PS_KSWAPD_AWAKE] == 0
    # on the task's CPU (kswapd_shares_cpu) its two rounds by 600 us, 56 pages kept and 8
    # demoted, take 56 x 1 + 8 x 10 = 136 us of CPU from the task: the scanner's timer (the
    # task's run time) is 136 us late
    shared = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, **beside, kswapd_shares_cpu=1,
                              kswapd_cpu_pages_per_s=1e5, kswapd_cpu_scan_pages_per_s=1e6)
    assert shared._storage["pfstate"][numa_balancing.PF_NEXT_SCAN_NS] == pytest.approx(1e12 + 136e3)
    assert set(np.flatnonzero(shared.final_node == 0).tolist()) == fast  # where the pages are: unchanged
    # kswapd at once (rates 0): woken at page 512 it demotes 0-31 there and then (32 free > 16),
    # and pages 512-543 take the room
    result = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, kswapd_pages_per_s=0,
                              kswapd_scan_pages_per_s=0)
    assert set(np.flatnonzero(result.final_node == 0).tolist()) == set(range(32, 56)) | set(range(512, 544))
    assert result.periods["demoted"].sum() == 32
    # the earlier rules: each allocation at the low watermark wakes kswapd, which balances the
    # node at once, so no page of the fill goes to the slow node but by demotion, and the
    # last one written is on the fast node
    result = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **{**common, **EARLIER})
    assert (result.final_node == 1).sum() == result.periods["demoted"].sum() > 500 and result.final_node[599] == 0


def test_numa_balancing_next_scan_waits_32_times_the_scan(params):
    """task_numa_work (6.1): the next scan waits the period plus 32 times what this scan took
    (node_stamp += 32 x its CPU time).  200 pages of 2 MB, all on the fast node, so a scan arms
    nothing and walks the whole mapping (200 pages, within 8 x scan_size of address space) back
    to its start; a scan every 1 ms from 1 ms; a page walked costs 1 us, not charged to the
    clock.  The fill and 60 000 accesses (82 ns each) last 4.94 ms.  With the wait: one scan, at
    1 ms, the next due at 1 + 1 + 32 x 200 x 0.001 = 8.4 ms; without it, scans at 1, 2, 3 and
    4 ms, the next due at 5 ms."""
    trace = np.concatenate([np.arange(200), np.full(60_000, 7)])
    common = dict(n_pages=200, fit=params, mechanism=Mechanism(page_bytes=2 << 20), scan_delay_ms=1,
                  scan_period_min_ms=1, scan_size_mb=128, max_scan_window_mbps=1e9, scan_pte_ns=1000,
                  scan_cost_charged=0, **EARLIER)
    for limit, scans, next_ms in ((32, 1, 8.4), (0, 4, 5.0)):
        result = memtier.simulate(trace, "numa-balancing", 200, scan_overhead_limit=limit, **common)
        assert (result.final_node == 0).all()
        assert result._storage["pstate"][numa_balancing.PS_SCAN_SEQ] == scans, limit
        assert result._storage["pfstate"][numa_balancing.PF_NEXT_SCAN_NS] == pytest.approx(next_ms * 1e6, rel=1e-3)


def test_numa_balancing_scan_fast_ns_is_paid_for_each_fast_page_walked(params):
    """``scan_fast_ns`` (6.1's ``change_pte_range``: a page on the task's node is looked up,
    ``vm_normal_page`` and ``page_to_nid``, before it is passed over): the scan of the test
    above walks 200 pages, all on the fast node, at 1 us each; with 0.5 us more a fast page it
    takes 300 us, and the next is due at 1 + 1 + 32 x 0.3 = 11.6 ms (8.4 without).  Off by
    default: the earlier model, one cost a page walked."""
    trace = np.concatenate([np.arange(200), np.full(60_000, 7)])
    common = dict(n_pages=200, fit=params, mechanism=Mechanism(page_bytes=2 << 20), scan_delay_ms=1,
                  scan_period_min_ms=1, scan_size_mb=128, max_scan_window_mbps=1e9, scan_pte_ns=1000,
                  scan_cost_charged=0, scan_overhead_limit=32, **EARLIER)
    for fast_ns, next_ms in ((500, 11.6), (0, 8.4)):
        result = memtier.simulate(trace, "numa-balancing", 200, scan_fast_ns=fast_ns, **common)
        assert (result.final_node == 0).all()
        assert result._storage["pfstate"][numa_balancing.PF_NEXT_SCAN_NS] == pytest.approx(next_ms * 1e6, rel=1e-3)
    assert policies.parameters("numa-balancing")["scan_fast_ns"][0] == 0


def test_numa_balancing_scan_time_ticks_counts_the_scan_in_whole_ticks(params):
    """``scan_time_ticks`` (6.1's ``task_numa_work``: ``diff`` is the growth of
    ``sum_exec_runtime``, which the tick alone brings up to date while the task runs on): the
    scan of the test above (200 pages walked at 1 us, 200 us) counts as the whole ticks within
    it.  A tick of 250 us (4 kHz): none, so the next scan waits only the period, scans at 1, 2,
    3 and 4 ms and the next due at 5 ms, as with no limit; a tick of 80 us (12.5 kHz): two, so
    the next is due at 1 + 1 + 32 x 0.16 = 7.12 ms, where 32 x the scan's own time gives 8.4."""
    trace = np.concatenate([np.arange(200), np.full(60_000, 7)])
    common = dict(n_pages=200, fit=params, mechanism=Mechanism(page_bytes=2 << 20), scan_delay_ms=1,
                  scan_period_min_ms=1, scan_size_mb=128, max_scan_window_mbps=1e9, scan_pte_ns=1000,
                  scan_cost_charged=0, scan_overhead_limit=32, **EARLIER)
    for ticks, hz, scans, next_ms in ((1, 4000, 4, 5.0), (1, 12500, 1, 7.12), (0, 12500, 1, 8.4)):
        result = memtier.simulate(trace, "numa-balancing", 200, scan_time_ticks=ticks, sched_tick_hz=hz, **common)
        assert result._storage["pstate"][numa_balancing.PS_SCAN_SEQ] == scans, (ticks, hz)
        assert result._storage["pfstate"][numa_balancing.PF_NEXT_SCAN_NS] == pytest.approx(next_ms * 1e6, rel=1e-3)
    # off by default: kernel-check's committed runs were simulated with 32 x the scan's time
    assert policies.parameters("numa-balancing")["scan_time_ticks"][0] == 0


def test_numa_balancing_scan_tick_gate_counts_a_new_period_from_node_stamp(params):
    """``scan_tick_gate`` (6.1's ``task_tick_numa`` and ``task_numa_work``): phase one's first
    scan (at 1 ms, period 1 ms) arms the slow pages; touched 0.6 ms after phase one (about
    1.3 ms), they are promoted, and the first promotion of the pass doubles the period to 2 ms
    and sets ``numa_next_scan`` 2 ms after it, when the earlier rule scans.  Under the two
    gates the run-time gate opens at node_stamp + 2 ms, node_stamp being the scan's time plus 2
    ticks (1 us at 2 MHz) and 32 x the scan's time.  A scan of no cost: the gate opens before
    ``numa_next_scan``, that window is lost and the next comes a period later, 4 ms + 1 us after
    the scan.  A scan of 31.25 us (1 ms x 32): the gate opens after it, 1 ms + 1 us + 2 ms after
    the scan."""
    from memtier.simulation.policies.numa_balancing import PF_DUE_NS, PF_NEXT_SCAN_NS, PF_PERIOD_MS, PF_STAMP_NS

    doubling = dict(NB, scan_period_min_ms=0.5, max_scan_window_mbps=1e9, scan_overhead_limit=0, scan_cost_charged=0)
    first, fast_page, slow, free = _phase_one("numa-balancing", params)
    k = min(len(slow), free - (HIGH + 1))
    trace = np.concatenate([first, _wait(fast_page, 0.6), slow[:k]])
    gate = dict(scan_tick_gate=1, sched_tick_hz=2e6)
    earlier = memtier.simulate(trace, "numa-balancing", fit=params, **doubling)
    gated = memtier.simulate(trace, "numa-balancing", fit=params, **gate, **doubling)
    # 128 pages walked at 244.140625 ns each: a scan of 31.25 us
    costly = memtier.simulate(trace, "numa-balancing", fit=params, **gate,
                              **dict(doubling, scan_overhead_limit=32, scan_pte_ns=1e6 / 32 / 128))
    for result in (earlier, gated, costly):
        assert result.periods["promoted"].sum() == k > 1
        assert result._storage["pstate"][numa_balancing.PS_SCAN_SEQ] == 1  # one scan, its pass ended
        assert result._storage["pfstate"][PF_PERIOD_MS] == pytest.approx(2.0)
    fault = earlier._storage["pfstate"][PF_NEXT_SCAN_NS] - 2e6  # numa_next_scan - the new period
    scan = gated._storage["pfstate"][PF_STAMP_NS] - 2e6 - 1e3  # node_stamp, moved on by the lost window
    assert 1e6 <= scan < 1e6 + 100 and scan + 0.2e6 < fault < scan + 0.5e6
    assert gated._storage["pfstate"][PF_DUE_NS] == pytest.approx(fault + 2e6)
    assert gated._storage["pfstate"][PF_NEXT_SCAN_NS] == pytest.approx(scan + 1e3 + 4e6)
    assert costly._storage["pfstate"][PF_NEXT_SCAN_NS] == pytest.approx(scan + 1e3 + 1e6 + 2e6)
    # the earlier rule is the default (kernel-check's committed runs were simulated with it)
    assert policies.parameters("numa-balancing")["scan_tick_gate"][0] == 0


def test_numa_balancing_charged_faults_delay_the_task_until_its_slack_pays_them_back(params):
    """``promote_ns`` and ``access_slack_ns``, on phase one's fill (see above) and 1 us accesses:
    the scan at 1 ms arms the slow pages, then ``k`` of them are touched and promoted, each
    fault charged 2 us (``hint_fault_ns``) and 10 us more for its promotion (``promote_ns``).
    Without slack the clock ends ``k`` x 12 us later than with the faults free; with 0.9 us of
    slack an access, every access from the first fault on (the ``k`` faulting ones, then ``m``
    more) takes 0.9 us less until the lag is paid: ``k`` x 12 - (``k`` + ``m``) x 0.9 us late
    (and the cost model's call) while some is left, and on time once it is (the fill's charges,
    kswapd's demotions, are paid back by the 1 500 accesses before the faults either way);
    promotions and fast hits are the same."""
    from memtier.kernel.check import free_moves

    first, fast_page, slow, free = _phase_one("numa-balancing", params)
    k = min(len(slow), free - (HIGH + 1), 4)
    assert k > 0
    common = dict(NB, fast_access_ns=1000.0, slow_access_ns=1000.0, rmap_ns=0.0, scan_pte_ns=0.0)

    def clock(m, **charges):
        trace = np.concatenate([first, np.full(1500, fast_page), slow[:k], np.full(m, fast_page)])
        result = memtier.simulate(trace, "numa-balancing", fit=free_moves(), period=len(trace), **common, **charges)
        assert result.periods["promoted"].sum() == k and (result.final_node[slow[:k]] == 0).all()
        return (result._storage["fstate"][FS_NOW_NS], result._storage["pfstate"][numa_balancing.PF_LAG_NS],
                int(result.periods["fast_hits"].sum()))

    free_of_charge = dict(hint_fault_ns=0.0, promote_ns=0.0)
    charged = dict(hint_fault_ns=2000.0, promote_ns=10000.0)
    for m in (10, 200):
        base, lag, hits = clock(m, **free_of_charge)
        late, lag, late_hits = clock(m, **charged)
        assert late - base == pytest.approx(k * 12000.0) and lag == 0 and late_hits == hits  # no slack: nothing owed
        base, lag, _ = clock(m, **free_of_charge, access_slack_ns=900.0)
        assert lag == 0
        slack, lag, slack_hits = clock(m, **charged, access_slack_ns=900.0)
        assert slack_hits == hits
        # the cost model's call (free_moves: 0.04 us a page) is charged with each promotion too
        owed = k * (12000.0 + 1e3 * Mechanism().call_costs_us(free_moves())[0][1]) - (k + m) * 900.0
        if owed > 0:
            assert (slack - base, lag) == (pytest.approx(owed, abs=1.0), pytest.approx(owed, abs=1.0))
        else:
            assert (slack - base, lag) == (pytest.approx(0.0, abs=1e-6), 0.0)
    # the earlier rule: promote_ns 0 charges the cost model's call only
    assert clock(10, hint_fault_ns=2000.0)[0] - clock(10, **free_of_charge)[0] == pytest.approx(k * 2000.0)


def test_numa_balancing_keeps_a_referenced_page_once_before_activating_it():
    """``referenced_kept_once`` (6.1's ``folio_check_references``, the default) on the hand-made fill of
    ``test_numa_balancing_fill_falls_back_and_kswapd_runs_beside_the_task``: kswapd's rounds at
    512 and 544 us meet pages 0-55 young from the fill and keep them on the inactive list with
    PG_referenced set (FOLIOREF_KEEP) instead of activating them, then demote 0-7, no longer
    young (the same 8 pages and the same pace as before: a page kept costs what an activated
    one did).  Then, unlike activated pages, the kept ones are next on the inactive tail: with
    300 more accesses the round at 648 us demotes 8-39 (32, 320 us), where the earlier rule
    demoted 8-31 and activated 544-551.  kswapd in rounds of 32 (``kswapd_priority=0``), as
    that test."""
    from memtier.kernel.check import free_moves
    from memtier.simulation.policies.active_shrink import FAST_ACTIVE, M_SIZE

    trace = np.arange(600)
    common = dict(n_pages=600, slow_capacity=1000, fit=free_moves(), fast_access_ns=1000.0, slow_access_ns=1000.0,
                  rmap_ns=0.0, hint_fault_ns=0.0, scan_pte_ns=0.0, scan_delay_ms=1e6, wmark_min_pages=4,
                  wmark_low_pages=8, wmark_high_pages=12, wmark_promo_pages=16, kswapd_pages_per_s=1e5,
                  kswapd_scan_pages_per_s=1e6, referenced_kept_once=1, kswapd_priority=0)
    result = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common)
    assert set(np.flatnonzero(result.final_node == 0).tolist()) == set(range(8, 56)) | set(range(544, 552))
    assert result.periods["demoted"].sum() == 8
    assert result._storage["pfstate"][numa_balancing.PF_KSWAPD_NS] == pytest.approx(648e3)
    assert result._storage["meta"][FAST_ACTIVE, M_SIZE] == 0  # none activated
    referenced = result._storage["referenced"]
    assert set(np.flatnonzero(referenced).tolist()) == set(range(8, 56))  # the kept ones; 0-7 cleared, demoted
    longer = np.concatenate([trace, np.full(300, 100)])
    result = memtier.simulate(longer, "numa-balancing", 64, period=len(longer), **common)
    assert set(np.flatnonzero(result.final_node == 0).tolist()) == set(range(40, 56)) | set(range(544, 552))
    assert result.periods["demoted"].sum() == 40


def test_numa_balancing_looks_twice_at_a_referenced_page():
    """6.1's ``folio_check_references`` (``referenced_kept_once``, the default) page by page: a
    page young on the inactive tail is kept once with PG_referenced, demoted at its next trip if
    not referenced again, activated if it was.  The fill of
    ``test_numa_balancing_fill_falls_back_and_kswapd_runs_beside_the_task`` (kswapd in rounds of
    32, ``kswapd_priority=0``, so that the trips fall where they are worked out here), with page
    3 touched once more at 530 us, between kswapd's first and second rounds:

    - At 512 us kswapd scans 0-31 off the inactive tail, all young from the fill: kept at the
      inactive head with PG_referenced (FOLIOREF_KEEP), none activated, 32 us.  Stopped at 530
      accesses: 0-31 referenced and inactive, nothing demoted, kswapd's next round at 544 us.
    - At 530 us page 3 is touched again.  At 544 us the round scans 32-55 (young, kept) and
      0-7: PG_referenced and no longer young, 0-2 and 4-7 are demoted; page 3, young again, is
      activated (FOLIOREF_ACTIVATE): 25 x 1 + 7 x 10 = 95 us, so kswapd's clock is at 639 us.
      Page 3 stays on the fast node, on the active list.
    - The rule before 5.9 (``referenced_kept_once=0``): the first round activates 0-31; the
      second refills the inactive list with them (shrink_active_list clears the accessed bit
      that 530 us set, as it does for every anonymous page it deactivates), activates 32-55 and
      demotes 0-7, page 3 among them (8 pages, 648 us)."""
    from memtier.kernel.check import free_moves
    from memtier.simulation.policies.active_shrink import ACTIVE, FAST_ACTIVE, M_SIZE

    common = dict(n_pages=600, slow_capacity=1000, fit=free_moves(), fast_access_ns=1000.0, slow_access_ns=1000.0,
                  rmap_ns=0.0, hint_fault_ns=0.0, scan_pte_ns=0.0, scan_delay_ms=1e6, wmark_min_pages=4,
                  wmark_low_pages=8, wmark_high_pages=12, wmark_promo_pages=16, kswapd_pages_per_s=1e5,
                  kswapd_scan_pages_per_s=1e6, kswapd_priority=0)
    first = memtier.simulate(np.arange(530), "numa-balancing", 64, period=530, **common)
    assert set(np.flatnonzero(first._storage["referenced"]).tolist()) == set(range(32))
    assert first._storage["meta"][FAST_ACTIVE, M_SIZE] == 0 and first.periods["demoted"].sum() == 0
    assert first._storage["pfstate"][numa_balancing.PF_KSWAPD_NS] == pytest.approx(544e3)
    trace = np.concatenate([np.arange(530), [3], np.arange(530, 600)])
    again = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common)
    assert [p for p in np.flatnonzero(again.final_node == 1).tolist() if p < 56] == [0, 1, 2, 4, 5, 6, 7]
    assert again.periods["demoted"].sum() == 7 and again.final_node[3] == 0
    assert again._storage["meta"][FAST_ACTIVE, M_SIZE] == 1 and again._storage["flags"][3] & ACTIVE
    assert set(np.flatnonzero(again._storage["referenced"]).tolist()) == {3} | set(range(8, 56))
    assert again._storage["pfstate"][numa_balancing.PF_KSWAPD_NS] == pytest.approx(639e3)
    older = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, referenced_kept_once=0)
    assert [p for p in np.flatnonzero(older.final_node == 1).tolist() if p < 56] == list(range(8))
    assert older._storage["pfstate"][numa_balancing.PF_KSWAPD_NS] == pytest.approx(648e3)


# The fast node as two zones (low_zone_pages: 6.1's ZONE_DMA below ZONE_DMA32), a 64-page node
# whose low zone has 8 free pages, 4 of them its protection (lowmem_reserve), low-zone watermarks
# min 1, low 2, high 3, promo 4, the main zone's 4, 8, 12, 16.
LOW_ZONE = dict(low_zone_pages=8, low_zone_protection_pages=4, low_zone_wmark_min_pages=1,
                low_zone_wmark_low_pages=2, low_zone_wmark_high_pages=3, low_zone_wmark_promo_pages=4,
                wmark_min_pages=4, wmark_low_pages=8, wmark_high_pages=12, wmark_promo_pages=16)


def zone_state(used, low_used):
    """(config, state, pconfig, pstate) of the 64-page node above with ``used`` pages taken,
    ``low_used`` of them in the low zone."""
    from memtier.simulation.policies import active_shrink

    params = {**{name: default for name, (default, _) in numa_balancing.PARAMETERS.items()}, **LOW_ZONE}
    pconfig = numa_balancing.make_pconfig("numa-balancing", params, 64, 1000, 600, 4096)
    config = np.zeros(active_shrink.CONFIG_SIZE, dtype=np.int64)
    config[active_shrink.K_FAST_CAPACITY] = 64
    state = np.zeros(active_shrink.STATE_SIZE, dtype=np.int64)
    state[active_shrink.S_FAST_USED] = used
    pstate = np.zeros(numa_balancing.PS_SIZE, dtype=np.int64)
    pstate[numa_balancing.PS_LZ_USED] = low_used
    return config, state, pconfig, pstate


def test_numa_balancing_low_zone_rules():
    """6.1's per-zone rules on the two-zone node above (the main zone has 64 - 8 + 4 = 60 pages
    for the workload, the low zone 8 - 4 = 4):

    - ``get_page_from_freelist``: the main zone while it has more than its low watermark (8)
      free, then the low zone while more than low + protection (2 + 4), then neither;
    - ``pgdat_balanced``: kswapd is done once *either* zone is above its promo watermark (plus
      protection for the low one): with the main zone at its low watermark, 5 pages freed in
      the low zone (9 free > 4 + 4) balance the node, where one zone of 64 pages would need
      free > 16 + 4."""
    above, balanced = numa_balancing._zone_above, numa_balancing._balanced
    config, state, pconfig, pstate = zone_state(0, 0)
    assert above(config, state, pconfig, pstate, pconfig[numa_balancing.P_LOW], pconfig[numa_balancing.P_LZ_LOW]) == 0
    # main zone at 9 free (51 taken): still above its low watermark
    config, state, pconfig, pstate = zone_state(51, 0)
    assert above(config, state, pconfig, pstate, 8, 2) == 0
    # 52 taken: the main zone is at its low watermark, the low zone (8 free > 6) takes the page
    config, state, pconfig, pstate = zone_state(52, 0)
    assert above(config, state, pconfig, pstate, 8, 2) == 1
    config, state, pconfig, pstate = zone_state(54, 2)  # the low zone at 6 free: neither
    assert above(config, state, pconfig, pstate, 8, 2) == -1
    assert not balanced(config, state, pconfig, pstate)
    # kswapd demotes 3 of the low zone's pages (9 free > 4 + 4): balanced, the main zone still at 8 free
    config, state, pconfig, pstate = zone_state(51, -1)
    assert balanced(config, state, pconfig, pstate)
    config, state, pconfig, pstate = zone_state(51, 0)  # 3 main-zone pages freed instead: not
    assert not balanced(config, state, pconfig, pstate)
    # a promotion needs either zone above high + 1 (plus protection): the low zone at 9 free (> 3 + 1 + 4)
    config, state, pconfig, pstate = zone_state(51, -1)
    assert above(config, state, pconfig, pstate, 12 + 1, 3 + 1) == 1


def test_numa_balancing_low_zone_stalls_kswapd_in_a_fill():
    """A fill of 2000 pages through a 64-page node, 6.1's keep-once rule, kswapd on the task's
    one CPU (``kswapd_cpu_share`` 0.5), with and without a low zone of 40 pages (4 of them
    protection): the fill puts pages in the low zone once the main zone is at its low
    watermark, and when kswapd demotes some of them the low zone alone balances the node
    (``pgdat_balanced``: any zone), so kswapd sleeps until the next page table wakes it: it
    demotes fewer pages over the fill, 27 against 69 on the one-zone node in 6.1's passes of
    falling priority (the default), 54 against 80 in memtier's earlier rounds of 32
    (``kswapd_priority=0``).  Every page marked as in the low zone is on the fast node, and they
    are as many as the low zone's count."""
    from memtier.kernel.check import free_moves

    trace = np.arange(2000)
    common = dict(n_pages=2000, slow_capacity=4000, fit=free_moves(), fast_access_ns=1000.0, slow_access_ns=1000.0,
                  rmap_ns=0.0, hint_fault_ns=0.0, scan_pte_ns=0.0, scan_delay_ms=1e6, referenced_kept_once=1,
                  kswapd_cpu_share=0.5, kswapd_cpu_pages_per_s=2e5, kswapd_cpu_scan_pages_per_s=2e6,
                  wmark_min_pages=4, wmark_low_pages=8, wmark_high_pages=12, wmark_promo_pages=16)
    for rule, expected in ((1, (27, 69)), (0, (54, 80))):
        one = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, kswapd_priority=rule)
        two = memtier.simulate(trace, "numa-balancing", 64, period=len(trace),
                               **{**common, **LOW_ZONE, "low_zone_pages": 40}, kswapd_priority=rule)
        low = np.flatnonzero(two._storage["referenced"] & numa_balancing.IN_LOW_ZONE)
        assert len(low) == two._storage["pstate"][numa_balancing.PS_LZ_USED] > 0
        assert (two.final_node[low] == 0).all()
        assert (two.periods["demoted"].sum(), one.periods["demoted"].sum()) == expected, rule


def test_numa_balancing_first_touch_and_one_cpu_share():
    """``first_touch_ns`` puts each first touch's fault on the task's clock, and
    ``kswapd_cpu_share`` runs kswapd at its CPU pace times its share and stretches the task's
    charged work by 1 / (1 - share) while kswapd is awake.

    600 pages touched once at 1 us an access, the fast node large enough for all (kswapd never
    wakes): the clock ends at 600 x (1 + 0.5) us.  Then the 64-page fill of
    ``test_numa_balancing_fill_falls_back_and_kswapd_runs_beside_the_task``: with a share of
    0.5 and CPU paces of 2e5 and 2e6 pages a second, kswapd's rounds run at the 1e5 and 1e6 a
    second that test gives directly, and end where they ended there (648 us on kswapd's clock,
    in that test's rounds of 32, ``kswapd_priority=0``, and its activation at once,
    ``referenced_kept_once=0``); the first touches made while kswapd was awake cost up to twice
    their 500 ns."""
    from memtier.kernel.check import free_moves

    trace = np.arange(600)
    common = dict(n_pages=600, slow_capacity=1000, fit=free_moves(), fast_access_ns=1000.0, slow_access_ns=1000.0,
                  rmap_ns=0.0, hint_fault_ns=0.0, scan_pte_ns=0.0, scan_delay_ms=1e6, wmark_min_pages=4,
                  wmark_low_pages=8, wmark_high_pages=12, wmark_promo_pages=16, kswapd_priority=0,
                  referenced_kept_once=0)
    roomy = memtier.simulate(trace, "numa-balancing", 600, period=len(trace), **common, first_touch_ns=500.0)
    assert roomy._storage["fstate"][FS_NOW_NS] == pytest.approx(600 * 1500.0)
    beside = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, kswapd_pages_per_s=1e5,
                              kswapd_scan_pages_per_s=1e6)
    shared = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, kswapd_cpu_share=0.5,
                              kswapd_cpu_pages_per_s=2e5, kswapd_cpu_scan_pages_per_s=2e6)
    assert shared._storage["pfstate"][numa_balancing.PF_KSWAPD_NS] == pytest.approx(648e3)
    assert set(np.flatnonzero(shared.final_node == 0).tolist()) == set(np.flatnonzero(beside.final_node == 0).tolist())
    touched = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, kswapd_cpu_share=0.5,
                               kswapd_cpu_pages_per_s=2e5, kswapd_cpu_scan_pages_per_s=2e6, first_touch_ns=500.0)
    alone = memtier.simulate(trace, "numa-balancing", 64, period=len(trace), **common, kswapd_pages_per_s=1e5,
                             kswapd_scan_pages_per_s=1e6, first_touch_ns=500.0)
    # kswapd's scans are free here and its moves next to it (free_moves: 0.04 us a page): alone,
    # the clock is the accesses and the first touches
    demoted = alone.periods["demoted"].sum()
    assert alone._storage["fstate"][FS_NOW_NS] == pytest.approx(600 * 1500.0 + 41.0 * demoted, abs=20.0 * demoted)
    # sharing the CPU, the touches made while kswapd was awake took longer, at most twice as long
    extra = touched._storage["fstate"][FS_NOW_NS] - alone._storage["fstate"][FS_NOW_NS]
    assert 0 < extra <= 600 * 500.0


def test_kswapd_cpu_slices_holds_the_cpu_and_sleeps():
    """``kswapd_cpu_slices``: kswapd and the task take turns on the one CPU (CFS's slices), so the
    clock is the task's own time (3 000 first touches at 1 us an access and 5 us a touch) plus
    kswapd's CPU time, nothing stretched, and kswapd's CPU time is what its pages took (10 us a
    page demoted, 1 us a page kept, its CPU paces); kswapd sleeps when balance_pgdat finds the
    node balanced and is woken again by the fill (many runs).  With the per-CPU list
    (``pcp_high_pages``) the same identities hold; with ``kswapd_cpu_share`` kswapd has no CPU
    time of its own to count.  Both rules together with a share are refused in one line."""
    from memtier.kernel.check import free_moves

    trace = np.arange(3000)
    common = dict(n_pages=3000, slow_capacity=4000, fit=free_moves(), fast_access_ns=1000.0, slow_access_ns=1000.0,
                  rmap_ns=0.0, hint_fault_ns=0.0, scan_pte_ns=0.0, scan_delay_ms=1e6, wmark_min_pages=4,
                  wmark_low_pages=8, wmark_high_pages=12, wmark_promo_pages=16, pgtable_wakes_kswapd=0,
                  first_touch_ns=5000.0, kswapd_cpu_pages_per_s=1e5, kswapd_cpu_scan_pages_per_s=1e6,
                  kswapd_cpu_slices=1)
    for pcp in ({}, dict(pcp_high_pages=12, pcp_batch_pages=2)):
        result = memtier.simulate(trace, "numa-balancing", 400, period=len(trace), **common, **pcp)
        cpu = result._storage["pfstate"][numa_balancing.PF_KSWAPD_CPU_NS]
        demoted, scanned = result.periods["demoted"].sum(), result.periods["scanned"].sum()
        assert demoted > 0 and cpu == pytest.approx(demoted * 1e4 + (scanned - demoted) * 1e3)
        assert result._storage["fstate"][FS_NOW_NS] == pytest.approx(3000 * 6000.0 + cpu)
        assert result._storage["pstate"][numa_balancing.PS_KSWAPD_RUNS] > 10
    with pytest.raises(ValueError, match="kswapd_cpu_slices.*kswapd_cpu_share=0"):
        memtier.simulate(trace, "numa-balancing", 400, **common | dict(kswapd_cpu_share=0.5))


def test_kswapd_cpu_share_below_one():
    """A share of 1 would leave the task no CPU (its work stretched without end): refused in one line."""
    for bad in (1.0, 1.5):
        with pytest.raises(ValueError, match="kswapd_cpu_share.*up to"):
            memtier.simulate(np.arange(100) % 20, "numa-balancing", 10, kswapd_cpu_share=bad)


def test_numa_balancing_kswapd_passes_of_falling_priority():
    """6.1's balance_pgdat (``kswapd_priority``), on a fill worked out by hand.

    1 017 pages of 4 KiB touched once each, in order; a 1 024-page fast node with watermarks
    min 4, low 8, high 12 (nr_to_reclaim: max(12, 32) = 32); kswapd at once, 6.1's
    folio_check_references (a referenced page kept once), the earlier fill rules (the
    allocation at the low watermark wakes kswapd).  Page 1 016's allocation finds 8 free and
    wakes kswapd, every page on the inactive list referenced by the fill:

    - priorities 12-10 scan nothing (1 016 >> p = 0), 9-1 scan 1, 3, 7, ... 508: 1 009 pages
      (0-1 008), all kept (PG_referenced); the run demoted nothing, a failure, and the node is
      not balanced, so a second run starts at 12.  The node's free pages (8) are at most its
      high watermark, so each pass takes the whole list >> p (file_is_tiny: SCAN_ANON);
    - its priority 9 and 8 passes keep 1 009-1 012; priority 7 keeps 1 013-1 015 and demotes
      0-3 (referenced, not young); it scanned fewer than 32, so the priority falls: 12 free;
    - promo 16: priority 6 demotes 15 (1 012 >> 6), 27 free: balanced; 19 demoted in all.
    - promo 40: the priority 6 pass starts at 12 free (tiny: 15 demoted, 27 free), the priority 5
      one at 27, above the high watermark: get_scan_count's SCAN_FRACT, 60 / 200 of 997 >> 5 =
      9 (36 free), then priority 4, 988 >> 4 = 61 -> 18 (54 free > 40): 46 demoted; swappiness
      200 takes all 31 at priority 5 (58 free): 50.

    The earlier rule, rounds of 32 checked after each, keeps 0-991 in 31 rounds, then keeps
    992-1 015 and demotes 0-7 (16 free), and demotes 8-39 in the next (48 free): 40 with either
    promo watermark.  And with the slow node full kswapd demotes nothing: after 16 runs
    (MAX_RECLAIM_RETRIES) the node is hopeless and kswapd is not woken again, where the
    earlier rule keeps scanning at every wake."""
    from memtier.kernel.check import free_moves

    trace = np.arange(1017)
    common = dict(n_pages=1017, slow_capacity=2000, fit=free_moves(), fast_access_ns=1000.0, slow_access_ns=1000.0,
                  rmap_ns=0.0, hint_fault_ns=0.0, scan_pte_ns=0.0, scan_delay_ms=1e6, wmark_min_pages=4,
                  wmark_low_pages=8, wmark_high_pages=12, wmark_promo_pages=16, kswapd_pages_per_s=0,
                  kswapd_scan_pages_per_s=0, referenced_kept_once=1, fast_path_fallback=0, pgtable_wakes_kswapd=0)

    def demoted(promo, **rule):
        result = memtier.simulate(trace, "numa-balancing", 1024, period=len(trace),
                                  **dict(common, wmark_promo_pages=promo), **rule)
        slow = np.flatnonzero(result.final_node == 1)
        assert result._storage["pstate"][numa_balancing.PS_KSWAPD_AWAKE] == 0
        assert slow.tolist() == list(range(len(slow)))  # the oldest, from the tail
        return len(slow)

    assert demoted(16, kswapd_priority=1) == 19
    assert demoted(40, kswapd_priority=1) == 46
    assert demoted(40, kswapd_priority=1, swappiness=200) == 50
    assert demoted(16, kswapd_priority=0) == demoted(40, kswapd_priority=0) == 40
    # the slow node full (4 pages): a fast page below the watermarks for each new page, kswapd
    # woken at each allocation at the low watermark
    full = dict(common, n_pages=1024, slow_capacity=4)
    scans = {}
    for rule in (0, 1):
        for length in (1020, 1024):
            result = memtier.simulate(np.arange(length), "numa-balancing", 1020, period=length, **full,
                                      kswapd_priority=rule)
            assert result.periods["demoted"].sum() == 4  # the slow node's 4 pages, before it was full
            scans[rule, length] = result.periods["scanned"].sum()
        if rule:
            assert result._storage["pstate"][numa_balancing.PS_FAILURES] == numa_balancing.MAX_RECLAIM_RETRIES
    assert scans[1, 1024] == scans[1, 1020] and scans[0, 1024] > scans[0, 1020]


def test_whole_ms_is_the_floor_division():
    """numa-balancing's clock in whole ms (``_whole_ms``, without ``fmod``) is ``ns // 1e6`` exactly,
    on and next to the multiples of a millisecond where the rounding of ``ns / 1e6`` crosses one."""
    marks = np.arange(0, 3e9, 1e6)
    values = np.concatenate([marks, np.nextafter(marks, -1.0), np.nextafter(marks, np.inf), marks - 1e-7,
                             np.random.default_rng(0).random(2000) * 1e13, [2.0**52 - 1, 2.0**52, 3e16]])
    values = values[values >= 0]
    expected = (values // 1e6).astype(np.int64)
    got = np.array([numa_balancing._whole_ms(v) for v in values[::97]] +
                   [numa_balancing._whole_ms(v) for v in values[-2005:]], dtype=np.int64)
    assert np.array_equal(got, np.concatenate([expected[::97], expected[-2005:]]))
