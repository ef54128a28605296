"""mglru (memtier.simulation.policies.mglru): the kernel against its twin on traces long enough for
several PTE tables, look-around windows and Bloom filters, and hand-made traces whose
outcome is worked out below.  (The shared invariants and the small-trace twin check run for
every policy in test_policies.py.)"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memtier
from memtier.simulation import policies
from memtier.model.fitting import default_fit
from memtier.simulation.mechanisms import Mechanism

from naive_mglru import NaiveMGLRU

FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def params():
    return default_fit().params


@st.composite
def long_cases(draw):
    """Traces over 600-1300 pages (two or three PTE tables) with runs of neighbouring pages,
    so that look-around windows are clipped at table ends and tables fill the filters."""
    n_pages = draw(st.integers(600, 1300))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    starts = rng.integers(0, n_pages, size=draw(st.integers(5, 40)))
    runs = [np.arange(s, min(s + rng.integers(1, 80), n_pages)) for s in starts]
    trace = np.concatenate([np.arange(n_pages)[rng.random(n_pages) < 0.7], *runs, rng.integers(0, n_pages, 300)])
    fast = draw(st.integers(64, n_pages // 2))
    options = dict(bloom_filter=draw(st.sampled_from([0, 1])), look_around=draw(st.sampled_from([0, 1])),
                   klruscand=draw(st.sampled_from([0, 1])), watermark_scale_factor=draw(st.sampled_from([10, 1000])),
                   min_free_kbytes=draw(st.sampled_from([None, 0])), migrate_batch=draw(st.sampled_from([2, 1024])),
                   freq_threshold=draw(st.sampled_from([1, 2, 3])))
    slow = draw(st.sampled_from([n_pages, n_pages - fast + 5]))
    return dict(trace=trace, n_pages=n_pages, fast_capacity=fast, slow_capacity=slow, options=options)


@settings(max_examples=25, **FAST)
@given(case=long_cases())
def test_kernel_agrees_with_its_twin_over_several_tables(case, params):
    quick = dict(klruscand_interval_ms=0.05, kpromote_delay_ms=0.01, freq_window_ms=0.2, **case["options"])
    mechanism = Mechanism(batch_pages=4)
    result = memtier.simulate(case["trace"], "mglru", case["fast_capacity"], fit=params, period=1,
                              n_pages=case["n_pages"], slow_capacity=case["slow_capacity"], mechanism=mechanism,
                              **quick)
    chosen = policies.check_params("mglru", quick)
    pconfig = policies.MODULES["mglru"].make_pconfig("mglru", chosen, case["fast_capacity"], case["slow_capacity"],
                                                     case["n_pages"], mechanism.page_bytes)
    migrate_cost, _ = mechanism.call_costs_us(params)
    model = NaiveMGLRU(list(pconfig), case["fast_capacity"], case["slow_capacity"], memtier.simulation.simulator.RMAP_WALK_NS,
                       fast_ns=82.0, slow_ns=1000.0, migrate_cost=migrate_cost, batch_pages=4)
    rows = model.run(case["trace"], case["n_pages"])
    got = result.periods
    for column, key in (("fast_hits", "fast"), ("promoted", "promoted"), ("demoted", "demoted"),
                        ("scanned", "events")):
        np.testing.assert_array_equal(got[column].to_numpy(), [r[key] for r in rows], err_msg=column)
    for column, key in (("scan_us", "overhead_us"), ("migration_us", "migration_us")):
        np.testing.assert_allclose(got[column].to_numpy(), [r[key] for r in rows], rtol=1e-9, atol=1e-9,
                                   err_msg=column)
    np.testing.assert_array_equal(result.final_node, model.final_node(case["n_pages"]))
    assert result._storage["pstate"][0] == model.max_seq and result._storage["pstate"][1] == model.min_seq


def test_more_agings_than_the_generation_byte_holds_agree_with_the_twin(params):
    """The kernel keeps a page's generation modulo 128 (a byte a page): a run of more than 128
    agings, with eviction sorting and look-arounds throughout, must still equal the twin,
    which keeps whole sequence numbers."""
    rng = np.random.default_rng(5)
    n_pages = 700
    trace = np.concatenate([np.arange(n_pages)] + [np.concatenate([rng.integers(0, n_pages, 150),
                                                                   rng.integers(0, 40, 150)]) for _ in range(150)])
    quick = dict(klruscand_interval_ms=0.05, kpromote_delay_ms=0.01, freq_window_ms=0.2)
    mechanism = Mechanism(batch_pages=4)
    result = memtier.simulate(trace, "mglru", 64, fit=params, period=1, n_pages=n_pages, mechanism=mechanism,
                              **quick)
    assert result._storage["pstate"][policies.mglru.PS_AGINGS] > 150
    chosen = policies.check_params("mglru", quick)
    pconfig = policies.MODULES["mglru"].make_pconfig("mglru", chosen, 64, n_pages, n_pages, mechanism.page_bytes)
    migrate_cost, _ = mechanism.call_costs_us(params)
    model = NaiveMGLRU(list(pconfig), 64, n_pages, memtier.simulation.simulator.RMAP_WALK_NS, fast_ns=82.0,
                       slow_ns=1000.0, migrate_cost=migrate_cost, batch_pages=4)
    rows = model.run(trace, n_pages)
    got = result.periods
    for column, key in (("fast_hits", "fast"), ("promoted", "promoted"), ("demoted", "demoted")):
        np.testing.assert_array_equal(got[column].to_numpy(), [r[key] for r in rows], err_msg=column)
    np.testing.assert_array_equal(result.final_node, model.final_node(n_pages))
    assert result._storage["pstate"][0] == model.max_seq and result._storage["pstate"][1] == model.min_seq


def test_the_twin_cases_exercise_aging_demotion_and_promotion(params):
    """One fixed case of the kind above, to show that the twin test's traces do reach the
    rules: agings, look-arounds' demotions, klruscand's promotions."""
    rng = np.random.default_rng(3)
    n_pages = 1200
    trace = np.concatenate([np.arange(n_pages), rng.integers(0, 200, 3000), np.arange(600, 900),
                            rng.integers(0, 200, 3000)])
    result = memtier.simulate(trace, "mglru", 400, fit=params, n_pages=n_pages, klruscand_interval_ms=0.05,
                              kpromote_delay_ms=0.01, freq_window_ms=0.2)
    p = result.periods
    assert p["promoted"].sum() > 0 and p["demoted"].sum() > 0
    assert result._storage["pstate"][policies.mglru.PS_AGINGS] >= 3


# Hand-made: a 640-page fast node with min_free_kbytes=0 and watermark_scale_factor=1000,
# so the watermarks are min 0, low 64, high 128 (64-page steps); klruscand off, so kswapd
# stops when more than `high` pages are free.
NODE = dict(n_pages=2000, fast_capacity=640, min_free_kbytes=0, watermark_scale_factor=1000, klruscand=0)


def test_eviction_demotes_the_oldest_untouched_pages_and_activates_touched_ones(params):
    # Pages 0-575 fill the fast node down to 64 free pages; page 576's first touch wakes
    # kswapd.  All pages sit in generation 3 (faulted in: the youngest; generations 0-2
    # empty, lru_gen_init_lruvec).  Eviction finds generation 0 empty and drops 0-2 to keep
    # two generations; the aging finds every page young (counter 3, max_seq 4); eviction
    # finds generation 2 empty; a second aging finds none young (max_seq 5); eviction takes
    # generation 3 from its tail, the oldest faulted first: pages 0-63, demoted (64 free ->
    # 128, not above high), then 64-127 (192 free).  So exactly pages 0-127 are demoted.
    first = np.arange(577)
    result = memtier.simulate(first, "mglru", fit=params, **NODE)
    slow = np.flatnonzero(result.final_node == 1)
    np.testing.assert_array_equal(slow, np.arange(128))
    assert result.periods["demoted"].sum() == 128
    # Then pages 200 and 210 are touched, and new pages 577-704: page 704's first touch
    # finds 64 free again.  Generation 3 holds pages 128-575 (448), generation 5 pages
    # 576-703 (128): three generations, neither too young nor too old, so no aging.
    # Eviction takes 128-191 (untouched: demoted, 128 free), then 192-255: page 200 is young,
    # so it is activated into the youngest generation, and its look-around (pages 168-231)
    # clears page 210's bit before page 210 is checked: page 210 is demoted with the rest
    # (63).  Without look-around page 210 is young at its own check and activated too (62).
    trace = np.concatenate([first, [200, 210], np.arange(577, 705)])
    for look_around, demoted, kept in ((1, 64 + 63, [200]), (0, 64 + 62, [200, 210])):
        result = memtier.simulate(trace, "mglru", fit=params, look_around=look_around, **NODE)
        assert result.periods["demoted"].sum() == 128 + demoted, look_around
        expected = [p for p in range(256) if p not in kept]
        np.testing.assert_array_equal(np.flatnonzero(result.final_node[:705] == 1), expected)
        storage = result._storage
        assert storage["seq_of"][200] == storage["pstate"][policies.mglru.PS_MAX_SEQ] == 5
    # page 200 touched before each reclaim survives a third one too, the untouched 256-319 do not
    more = np.concatenate([trace, [200], np.arange(705, 900)])
    result = memtier.simulate(more, "mglru", fit=params, **NODE)
    assert result.final_node[200] == 0 and (result.final_node[256:320] == 1).all()


def _wait(page, us):
    """Accesses to one fast page lasting ``us`` of simulated time (82 ns each)."""
    return np.full(int(us * 1e3 / 82) + 1, page)


def test_klruscand_promotes_a_slow_page_reported_in_two_scans_within_the_window(params):
    # After the first reclaim above (klruscand on: kswapd balances to the promotion
    # watermark, 192, so pages 0-191 are demoted), klruscand walks every 100 us and
    # kpromoted runs every 20 us.  Page 5 is touched before the first walk and again before
    # the second: reported twice within the 1 ms window, frequency 2, a candidate,
    # promoted at kpromoted's next pass.  Page 6, touched 50 times before the first walk
    # only, is reported once: frequency 1, never promoted.
    timers = dict(NODE, klruscand=1, klruscand_interval_ms=0.1, kpromote_delay_ms=0.02, freq_window_ms=1)
    first = np.arange(577)
    base = memtier.simulate(first, "mglru", fit=params, **timers)
    assert (base.final_node[:192] == 1).all() and base.periods["promoted"].sum() == 0
    trace = np.concatenate([first, [5], [6] * 50, _wait(400, 100), [5], _wait(400, 130)])
    result = memtier.simulate(trace, "mglru", fit=params, **timers)
    assert result.final_node[5] == 0 and result.final_node[6] == 1
    assert result.periods["promoted"].sum() == 1
    # the same without page 5's second touch: no promotion
    trace = np.concatenate([first, [5], [6] * 50, _wait(400, 100), _wait(400, 130)])
    result = memtier.simulate(trace, "mglru", fit=params, **timers)
    assert result.periods["promoted"].sum() == 0
    # and with a window shorter than the walks' interval, two reports never make a candidate
    trace = np.concatenate([first, [5], [6] * 50, _wait(400, 100), [5], _wait(400, 130)])
    result = memtier.simulate(trace, "mglru", fit=params, **dict(timers, freq_window_ms=0.05))
    assert result.periods["promoted"].sum() == 0


def test_options_are_checked_and_time_scaled():
    trace = np.arange(10)
    with pytest.raises(ValueError, match="klruscand must be 0 or 1"):
        memtier.simulate(trace, "mglru", 4, klruscand=2)
    with pytest.raises(ValueError, match="freq_threshold"):
        memtier.simulate(trace, "mglru", 4, freq_threshold=8)
    with pytest.raises(ValueError, match="freq_window_ms / klruscand_interval_ms must be under"):
        memtier.simulate(trace, "mglru", 4, freq_window_ms=2e6, klruscand_interval_ms=1)  # 2 M walks a window
    scaled = policies.time_scaled("mglru", 100)
    assert scaled["klruscand_interval_ms"] == 5 and scaled["kpromote_delay_ms"] == 0.2
    assert scaled["freq_window_ms"] == 50 and scaled["scan_pte_ns"] == 0.05
    assert scaled["walk_pte_ns"] == 5 and scaled["freq_threshold"] == 2


def test_a_generation_ring_shorter_than_the_prefetch_distance():
    """Two pages, one fast: eviction's ring is shorter than the distance it prefetches ahead.
    Found by CI's run with numba's bounds checks (an index past the ring, read to prefetch);
    that run checks the index, this one that the result is right: the second page's first
    touch finds the fast node full, reclaim demotes the first page and the second lands fast."""
    mechanism = Mechanism(dma=False, workers=1, batched=False, exchange=False, batch_pages=1, page_bytes=2 << 20)
    result = memtier.simulate(np.array([0, 1]), "mglru", 1, n_pages=2, slow_capacity=2, period=1,
                              mechanism=mechanism)
    summary = result.summary()
    assert summary["accesses"] == 2 and summary["promoted"] == 0
    assert summary["demoted"] == 1 and summary["fast_hit_ratio"] == 1.0  # both first touches land fast
