"""memtis and bit-history (memtier.simulation.policies.memtis, memtier.simulation.policies.bit_history): their
options against the twins, one hand-made trace each whose outcome is worked out below, and
their parameters' checks.  (The shared invariants and the twins at the test parameters run
in test_policies.py, which picks up every policy of memtier.simulation.policies.)"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memtier
from memtier.simulation import policies
from memtier.model.fitting import default_fit
from memtier.simulation.mechanisms import Mechanism
from memtier.simulation.policies import memtis

from naive_policies import NaiveBitHistory, NaiveMemtis

FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def params():
    return default_fit().params


@st.composite
def small_runs(draw):
    n_pages = draw(st.integers(2, 30))
    trace = np.array(draw(st.lists(st.integers(0, n_pages - 1), min_size=1, max_size=300)))
    fast = draw(st.integers(1, n_pages))
    return dict(trace=trace, n_pages=n_pages, fast_capacity=fast,
                slow_capacity=draw(st.sampled_from([n_pages, n_pages - fast + 1])),
                writes=np.array(draw(st.lists(st.booleans(), min_size=len(trace), max_size=len(trace)))),
                mechanism=Mechanism(batch_pages=draw(st.integers(1, 3))))


def _agree(policy, twin_class, case, chosen, params, with_writes):
    migrate_cost, _ = case["mechanism"].call_costs_us(params)
    result = memtier.simulate(case["trace"], policy, case["fast_capacity"], fit=params, n_pages=case["n_pages"],
                              slow_capacity=case["slow_capacity"], mechanism=case["mechanism"], period=1,
                              writes=case["writes"], **chosen)
    pconfig = policies.MODULES[policy].make_pconfig(policy, policies.check_params(policy, chosen),
                                                    case["fast_capacity"], case["slow_capacity"], case["n_pages"],
                                                    case["mechanism"].page_bytes)
    model = twin_class(list(pconfig), case["fast_capacity"], case["slow_capacity"], fast_ns=82.0, slow_ns=1000.0,
                       migrate_cost=migrate_cost, batch_pages=case["mechanism"].batch_pages)
    rows = model.run(case["trace"], case["writes"]) if with_writes else model.run(case["trace"])
    p = result.periods
    for column, key in (("fast_hits", "fast"), ("promoted", "promoted"), ("demoted", "demoted"), ("scanned", "events")):
        np.testing.assert_array_equal(p[column].to_numpy(), [r[key] for r in rows], err_msg=column)
    for column, key in (("scan_us", "overhead_us"), ("migration_us", "migration_us")):
        np.testing.assert_allclose(p[column].to_numpy(), [r[key] for r in rows], rtol=1e-9, atol=1e-9, err_msg=column)
    np.testing.assert_array_equal(result.final_node, model.final_node(case["n_pages"]))


@settings(max_examples=25, **FAST)
@given(case=small_runs(), rank=st.sampled_from([0, 1]), bits=st.integers(1, 5), data=st.data())
def test_bit_history_options_agree_with_the_twin(case, rank, bits, params, data):
    hot = data.draw(st.integers(1, bits))
    cold = data.draw(st.integers(0, hot - 1))
    chosen = dict(scan_period_ms=0.005, history_bits=bits, theta_hot=hot, theta_cold=cold, rank_and_fill=rank)
    _agree("bit-history", NaiveBitHistory, case, chosen, params, with_writes=False)


@settings(max_examples=25, **FAST)
@given(case=small_runs(), nowarm=st.sampled_from([0, 1]), thres_hot=st.integers(0, 12),
       floors=st.sampled_from([0.0, 0.01]))
def test_memtis_options_agree_with_the_twin(case, nowarm, thres_hot, floors, params):
    chosen = dict(sample_period=2, inst_sample_period=3, cooling_period=25, adaptation_period=4,
                  thres_cooling_alloc_mb=0.05, promotion_period_ms=0.015, demotion_period_ms=0.02, nowarm=nowarm,
                  thres_hot=thres_hot, demotion_watermark_min_mb=floors, promotion_watermark_min_mb=0)
    _agree("memtis", NaiveMemtis, case, chosen, params, with_writes=True)


def _wait(page, count):
    return np.full(count, page)


def test_bit_history_with_theta_hot_k_promotes_only_pages_touched_in_each_of_the_last_k_scans(params):
    # 10 pages, a 4-page fast node: pages 0-3 fast, 4-9 slow.  k = 3 bits, a scan every 1 ms;
    # each interval between scans is the touches, then 12,805 accesses to page 0 (1.05 ms).
    # Interval 1 allocates every page (a new page's history is all ones, and it was touched):
    # after scan 1 every page is 111.  Pages 4 and 5 are touched in intervals 2, 3 and 4;
    # page 6 in 3 and 4 only; pages 1-3 and 7-9 never again.  Scan 2: 1-3 are 110 (score 2),
    # not cold; the fast node is full.  Scan 3: 1-3 at 100.  Scan 4: 1-3 at 000, score 0 =
    # theta_cold: demoted; then the slow pages of score 3: 4 and 5 (111); page 6 is 011
    # (score 2) and 7-9 are 000.
    wait = 12_805
    intervals = [np.concatenate([np.arange(10), _wait(0, wait)]),
                 np.concatenate([[4, 5], _wait(0, wait)]),
                 np.concatenate([[4, 5, 6], _wait(0, wait)]),
                 np.concatenate([[4, 5, 6], _wait(0, wait)])]
    trace = np.concatenate(intervals)
    chosen = dict(history_bits=3, theta_hot=3, theta_cold=0, scan_period_ms=1)
    result = memtier.simulate(trace, "bit-history", 4, fit=params, period=len(trace), **chosen)
    assert np.flatnonzero(result.final_node == 0).tolist() == [0, 4, 5]
    assert (result.periods["promoted"].sum(), result.periods["demoted"].sum()) == (2, 3)
    assert result.periods["scanned"].sum() == 4 * 10  # four scans of the ten pages
    # theta_hot = 2: page 6 (score 2) is promoted too
    result = memtier.simulate(trace, "bit-history", 4, fit=params, period=len(trace), **dict(chosen, theta_hot=2))
    assert np.flatnonzero(result.final_node == 0).tolist() == [0, 4, 5, 6]
    # rank and fill: scan 2 exchanges 4 and 5 (111) with the coldest fast pages 1 and 2 (110;
    # page 3 and the slow pages 6-9 are 110 too, a tie, no exchange); scan 3 exchanges page 6
    # (101) with page 3 (100); scan 4 finds no slow page hotter than a fast one
    result = memtier.simulate(trace, "bit-history", 4, fit=params, period=len(trace),
                              **dict(chosen, rank_and_fill=1))
    assert np.flatnonzero(result.final_node == 0).tolist() == [0, 4, 5, 6]
    assert (result.periods["promoted"].sum(), result.periods["demoted"].sum()) == (3, 3)


def test_memtis_promotes_hot_slow_pages_only_and_never_a_lone_candidate(params):
    # 40 pages of 4 KiB, a 20-page fast node; watermarks: demotion 0, promotion 4 pages (so
    # the hot set must fit in 20 - 4 = 16 pages).  Every load is sampled, stores never; the
    # threshold adapts after every sample.
    # Phase 1 stores every page once: pages 0-18 fast (the fast node takes pages while it has
    # more than one free), 19-39 slow; unsampled, each has the new-page count 2 ** (1 + 1) = 4
    # (bin 2) on its node's inactive list.  The woken demotion thread finds nothing under the
    # warm threshold (1).
    # Phase 2 loads pages 19-26 eight times each (count 4 + 8 x 512: bin 12) and pages 27-36
    # twice (bin 10).  The threshold stays 1 while the sampled pages fit in 16, becomes 10 at
    # page 35's first sample (bins 12 and 10 hold 16 pages, bin 9 one more) and 11 at its
    # second (bin 10 holds 9: 8 + 9 > 16).  Warm threshold 10: the hot pages (8) fill under
    # 75 % of 16.
    # Phase 3 stores to page 37 (slow) while the threads run: the promotion thread at 150 us
    # re-sorts the slow lists (bin 10 < 11: pages 27-35 leave the active list) and has no room
    # (20 - 4 - 19 < 0); the demotion thread at ~200 us (its last wake plus 180 us) sees the 8
    # hot slow pages: it must free 19 + 8 + 4 - 20 = 11 pages, scans 11 x 1.1 = 12 from its
    # inactive list's tail and demotes all 12 (bin 2 < 10); the promotion thread at ~300 us
    # has room for 20 - 4 - 7 = 9, so n = 8 candidates, and promotes 8>>3 + 8>>2 + 8>>1 = 7 of
    # them (promote_node's priorities), oldest first: pages 19-25.  Page 26, alone on the
    # list, would take n >> p = 0 at every priority: never promoted.
    trace = np.concatenate([np.arange(40), np.repeat(np.arange(19, 27), 8), np.repeat(np.arange(27, 37), 2),
                            _wait(37, 200)])
    writes = np.ones(len(trace), dtype=bool)
    writes[40:40 + 64 + 20] = False
    chosen = dict(sample_period=1, inst_sample_period=10**6, adaptation_period=1, cooling_period=10**6,
                  promotion_period_ms=0.15, demotion_period_ms=0.18, demotion_watermark_min_mb=0,
                  promotion_watermark_min_mb=4 * 4096 / 2**20)
    result = memtier.simulate(trace, "memtis", 20, fit=params, n_pages=40, writes=writes, period=len(trace),
                              **chosen)
    assert result._storage["pstate"][memtis.PS_ACTIVE_T] == 11
    assert result._storage["pstate"][memtis.PS_WARM_T] == 10
    assert (result.periods["promoted"].sum(), result.periods["demoted"].sum()) == (7, 12)
    fast = set(np.flatnonzero(result.final_node == 0).tolist())
    assert fast >= set(range(19, 26)) and len(fast) == 14
    assert not fast & set(range(26, 40))  # page 26, the warm pages 27-36 and the untouched ones stay slow
    assert result.periods["scanned"].sum() == 64 + 20  # one sample per load


def test_memtis_refuses_a_watermark_larger_than_the_fast_node():
    with pytest.raises(ValueError, match="promotion_watermark_min_mb=0"):
        memtier.simulate(np.arange(100), "memtis", 50)  # 100 MB floor, a 200 KB fast node
    result = memtier.simulate(np.arange(100), "memtis", 50, promotion_watermark_min_mb=0,
                              demotion_watermark_min_mb=0)
    assert result.periods["accesses"].sum() == 100


@pytest.mark.parametrize("policy, bad, match", [
    ("bit-history", dict(history_bits=17), "history_bits"),
    ("bit-history", dict(theta_hot=9), "theta_hot"),
    ("bit-history", dict(theta_hot=2, theta_cold=2), "theta_cold"),
    ("bit-history", dict(rank_and_fill=2), "rank_and_fill"),
    ("memtis", dict(sample_period=0), "sample_period"),
    ("memtis", dict(thres_hot=16), "thres_hot"),
    ("memtis", dict(nowarm=0.5), "nowarm"),
    ("memtis", dict(promotion_period_ms=0), "promotion_period_ms"),
])
def test_bad_parameters_are_refused_with_the_name(policy, bad, match):
    with pytest.raises(ValueError, match=match):
        memtier.simulate(np.arange(10), policy, 4, **bad)


def test_time_scaled_memtis_and_bit_history():
    scaled = policies.time_scaled("memtis", 1000)
    assert scaled["sample_period"] == 1 and scaled["inst_sample_period"] == 100
    assert scaled["promotion_period_ms"] == 0.5 and scaled["sample_ns"] == 0.25
    assert scaled["cooling_period"] == 2_000_000 and scaled["thres_hot"] == 1  # counts are left alone
    scaled = policies.time_scaled("bit-history", 100)
    assert scaled["scan_period_ms"] == 10 and scaled["scan_pte_ns"] == 0.5 and scaled["theta_hot"] == 4


def test_the_classifiers_moves_and_placement_are_scored(params):
    # Without a scan bit-history places pages by first touch, as static does: the same
    # placement accuracy (the first access of a fast page is read from ``touched``'s sign).
    trace = memtier.workloads.hot_set(300, 30_000, hot_fraction=0.1, phases=2, seed=3)
    static = memtier.simulate(trace, "static", 40, fit=params, period=3000)
    still = memtier.simulate(trace, "bit-history", 40, fit=params, period=3000, scan_period_ms=1e6)
    np.testing.assert_allclose(still.periods["placement_accuracy"], static.periods["placement_accuracy"])
    assert static.periods["placement_accuracy"].max() > 0
    # The hand-made trace above promotes pages 4 and 5 at its fourth scan; a next period
    # that uses each 500 times makes both promotions worth their move: precision 1.
    wait = 12_805
    first = np.concatenate([np.arange(10), _wait(0, wait), [4, 5], _wait(0, wait), [4, 5, 6], _wait(0, wait),
                            [4, 5, 6], _wait(0, wait)])
    trace = np.concatenate([first, np.tile([4, 5], 500)])
    result = memtier.simulate(trace, "bit-history", 4, fit=params, period=len(first), history_bits=3, theta_hot=3,
                              scan_period_ms=1)
    assert result.periods["promoted"].tolist() == [2, 0]
    assert result.periods["promotion_precision"].iloc[0] == 1.0


def test_memtis_keeps_its_per_list_bin_counts(params):
    """The counts of each list's pages per histogram bin (which let a demotion scan that
    can demote nothing be skipped as a rotation) match a recount after a run."""
    trace = memtier.workloads.hot_set(400, 40_000, hot_fraction=0.1, phases=3, seed=5)
    writes = memtier.workloads.write_flags(len(trace), 0.3, seed=5)
    result = memtier.simulate(trace, "memtis", 60, fit=params, writes=writes, period=4000, sample_period=3,
                              cooling_period=500, adaptation_period=50, promotion_period_ms=0.5,
                              demotion_period_ms=0.5, promotion_watermark_min_mb=0, demotion_watermark_min_mb=0)
    st = result._storage
    assert result.periods["promoted"].sum() > 0 and result.periods["demoted"].sum() > 0
    bins = np.minimum(np.floor(np.log2(st["total"] + 1)).astype(int), 15)
    for lst in range(4):
        on = st["on_list"] == lst
        assert st["ends"][lst, 2] == on.sum()
        np.testing.assert_array_equal(st["ends"][lst, memtis.E_BINS:], np.bincount(bins[on], minlength=16))
