"""damon (memtier.simulation.policies.damon_tiering): the kernel against its twin with quota goals and
interval tuning on, over more regions than the shared tests reach, and hand-made traces whose
outcome is worked out below.  (The shared invariants run for every policy in
test_policies.py.)"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memtier
from memtier.simulation import policies
from memtier.model.fitting import default_fit
from memtier.simulation.mechanisms import Mechanism
from memtier.simulation.policies import damon_tiering as dt

from naive_damon import NaiveDamon

FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# mtier's settings on a 1000x shorter time scale (and a 10 us sampling interval)
SCALED = dict(sample_interval_ms=0.01, aggr_interval_ms=0.2, apply_interval_ms=1, quota_reset_interval_ms=1,
              ops_update_interval_ms=60, min_sample_ms=0.005, max_sample_ms=10)


@pytest.fixture(scope="module")
def params():
    return default_fit().params


@st.composite
def cases(draw):
    n_pages = draw(st.integers(50, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    hot = rng.choice(n_pages, size=max(1, n_pages // 8), replace=False)
    trace = np.concatenate([np.arange(n_pages), rng.choice(hot, 3000), rng.integers(0, n_pages, 1000),
                            rng.choice(hot, 3000)])
    fast = draw(st.integers(10, n_pages // 2))
    slow = draw(st.sampled_from([n_pages, n_pages - fast + 3]))
    options = dict(SCALED, max_nr_regions=draw(st.sampled_from([12, 60])),
                   min_nr_regions=draw(st.sampled_from([3, 10])),
                   intervals_goal_bp=draw(st.sampled_from([0, 400])), young_filter=draw(st.sampled_from([0, 1])),
                   promote_used_bp=draw(st.sampled_from([0, 9970])),
                   demote_free_bp=draw(st.sampled_from([0, 50, 2000])),
                   quota_sz_mb=draw(st.sampled_from([0, 0.05, 200])), kdamond_ns=draw(st.sampled_from([0, 30])),
                   seed=draw(st.integers(0, 5)), watermark_scale_factor=draw(st.sampled_from([10, 1000])),
                   min_free_kbytes=draw(st.sampled_from([None, 0])))
    return dict(trace=trace, n_pages=n_pages, fast_capacity=fast, slow_capacity=slow, options=options)


def _twin(case, params, mechanism):
    chosen = policies.check_params("damon", case["options"])
    pconfig = dt.make_pconfig("damon", chosen, case["fast_capacity"], case["slow_capacity"], case["n_pages"],
                              mechanism.page_bytes)
    migrate_cost, _ = mechanism.call_costs_us(params)
    model = NaiveDamon(list(pconfig), case["fast_capacity"], case["slow_capacity"], case["n_pages"],
                       mechanism.page_bytes, fast_ns=82.0, slow_ns=1000.0, migrate_cost=migrate_cost,
                       batch_pages=mechanism.batch_pages)
    return model, model.run(case["trace"])


@settings(max_examples=15, **FAST)
@given(case=cases())
def test_kernel_agrees_with_its_twin_with_goals_and_tuning(case, params):
    mechanism = Mechanism(batch_pages=4)
    result = memtier.simulate(case["trace"], "damon", case["fast_capacity"], fit=params, period=1,
                              n_pages=case["n_pages"], slow_capacity=case["slow_capacity"], mechanism=mechanism,
                              **case["options"])
    model, rows = _twin(case, params, mechanism)
    got = result.periods
    for column, key in (("fast_hits", "fast"), ("promoted", "promoted"), ("demoted", "demoted"),
                        ("scanned", "events")):
        np.testing.assert_array_equal(got[column].to_numpy(), [r[key] for r in rows], err_msg=column)
    for column, key in (("scan_us", "overhead_us"), ("migration_us", "migration_us")):
        np.testing.assert_allclose(got[column].to_numpy(), [r[key] for r in rows], rtol=1e-9, atol=1e-9,
                                   err_msg=column)
    np.testing.assert_array_equal(result.final_node, model.final_node(case["n_pages"]))
    storage = result._storage
    for ctx, c in enumerate(model.ctxs):
        n = storage["cstate"][ctx, dt.C_NR]
        assert n == len(c.regions)
        np.testing.assert_array_equal(storage["regions"][ctx, :n, dt.R_START], [r.start for r in c.regions])
        assert storage["cstate"][ctx, dt.C_SAMPLE_US] == c.sample and storage["cstate"][ctx, dt.C_ESZ] == c.esz


def test_the_twin_cases_exercise_regions_quotas_and_tuning(params):
    """One fixed case of the kind above: regions split and merge, the quota limits moves,
    the intervals are tuned, pages move both ways."""
    rng = np.random.default_rng(5)
    hot = rng.choice(400, 50, replace=False)
    trace = np.concatenate([np.arange(400), rng.choice(hot, 6000), np.arange(400), rng.choice(hot, 6000)])
    options = dict(SCALED, apply_interval_ms=0.2, quota_reset_interval_ms=0.2)
    result = memtier.simulate(trace, "damon", 150, fit=params, n_pages=400, promote_used_bp=0, demote_free_bp=2000,
                              quota_sz_mb=0.1, **options)
    c = result._storage["cstate"]
    p = result.periods
    assert p["promoted"].sum() > 0 and p["demoted"].sum() > 0
    assert (c[:, dt.C_NR] > 3).all() and (c[:, dt.C_SAMPLE_US] != 10).any()
    assert c[dt.PROMOTE, dt.C_ESZ] == int(0.1 * (1 << 20))


def test_demotion_quota_doubles_each_window_while_the_fast_node_has_no_free_page(params):
    # A 64-page fast node filled by first touches (min_free_kbytes=0: no watermark), a full
    # slow node, so nothing can move and the fast node stays 100 % used.  Every scheme
    # application (every 1 ms, the charge window's length) opens a new window:
    # migrate_cold's goal (0.5 % free) scores 0 against its goal, so the feedback loop
    # doubles its quota, from 1 byte (10,000 bp): 2, 4, 8, ... bytes after 1, 2, 3 windows,
    # up to quota_sz_mb.  migrate_hot's goal (99.7 % used) is exceeded (score 10,030): its
    # quota stays at the minimum, 1 byte.  Intervals untuned, so windows come every 100 samples.
    trace = np.concatenate([np.arange(96), np.tile(np.arange(96), 600)])
    options = dict(SCALED, intervals_goal_bp=0, min_free_kbytes=0)
    result = memtier.simulate(trace, "damon", 64, fit=params, n_pages=96, slow_capacity=32, **options)
    c = result._storage["cstate"]
    windows = c[dt.DEMOTE, dt.C_PASSED] // 100
    assert windows >= 5
    assert c[dt.DEMOTE, dt.C_ESZ] == min(2 ** windows, 200 << 20)
    assert c[dt.PROMOTE, dt.C_ESZ] == 1
    assert result.periods["demoted"].sum() == 0 and result.periods["promoted"].sum() == 0


def test_without_quotas_cold_fast_pages_go_down_and_hot_slow_pages_come_up(params):
    # No quota and no goal: every region whose accesses pass its scheme's pattern is acted
    # on in full.  A 40-page fast node; first touches take it while more than its low
    # watermark is free (min_free_kbytes=0, watermark_scale_factor=2500: low = 10), so
    # pages 0-29 are fast, 30-79 slow.  Then only pages 40-79 are read, over and over (each
    # every 40 accesses).  Once the monitoring has aggregated a few times, the fast node's
    # regions show no access: migrate_cold demotes pages 0-29 (the young filter lets an old
    # page through), and the slow node's regions that hold pages 40-79 show accesses:
    # migrate_hot promotes them (young: read since their bit was last cleared) as long as the
    # fast node is above its min watermark (0), which 10 + 30 free frames allow for all 40.
    # Pages 30-39, never read again, stay slow.  The end: exactly pages 40-79 fast.
    options = dict(SCALED, intervals_goal_bp=0, promote_used_bp=0, demote_free_bp=0, quota_sz_mb=0,
                   min_free_kbytes=0, watermark_scale_factor=2500)
    trace = np.concatenate([np.arange(80), np.tile(np.arange(40, 80), 400)])
    for seed in (1, 2):
        result = memtier.simulate(trace, "damon", 40, fit=params, n_pages=80, seed=seed, **options)
        np.testing.assert_array_equal(np.flatnonzero(result.final_node == 0), np.arange(40, 80))
        assert (result.periods["promoted"].sum(), result.periods["demoted"].sum()) == (40, 30)
    # with the goals of mtier instead, nothing moves in these 16 ms: migrate_cold's goal
    # (0.5 % of the fast node free) is exceeded (25 % free: its quota stays at 1 byte), and
    # migrate_hot's (99.7 % used) asks for a quota growing by 25 % a window from 1 byte,
    # still far below one page
    result = memtier.simulate(trace, "damon", 40, fit=params, n_pages=80,
                              **dict(options, promote_used_bp=9970, demote_free_bp=50, quota_sz_mb=200))
    assert result.periods["promoted"].sum() == 0 and result.periods["demoted"].sum() == 0


def test_options_are_checked_and_time_scaled():
    trace = np.arange(10)
    with pytest.raises(ValueError, match="sample_interval_ms must not exceed"):
        memtier.simulate(trace, "damon", 4, sample_interval_ms=200)
    with pytest.raises(ValueError, match="min_nr_regions"):
        memtier.simulate(trace, "damon", 4, min_nr_regions=2)
    with pytest.raises(ValueError, match="young_filter"):
        memtier.simulate(trace, "damon", 4, young_filter=0.5)
    scaled = policies.time_scaled("damon", 1000)
    assert scaled["sample_interval_ms"] == 0.005 and scaled["apply_interval_ms"] == 1
    assert scaled["quota_sz_mb"] == 200 and scaled["promote_used_bp"] == 9970
