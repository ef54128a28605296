"""The simulator: agreement with a pure-Python twin and with libCacheSim, invariants of the
lists, determinism, and clear refusals of invalid input."""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memtier
from memtier import workloads
from memtier.simulation.policies import active_shrink as lists
from memtier.model.fitting import default_fit
from memtier.simulation.mechanisms import MECHANISMS, Mechanism, as_mechanism
from memtier.simulation.simulator import POLICIES, simulate

from naive_lists import NaiveSimulator

RAW = ["accesses", "fast_hits", "static_fast_hits", "reactive_fast_hits", "promoted", "demoted", "exchanged",
       "scanned", "top_pages", "top_pages_fast", "fast_before", "pingpong", "stays_ended", "stays_repaid",
       "fast_used", "slow_used"]
JUDGED = ["promotions_worth", "demotions_worth", "missed_worth", "fast_worth"]
FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def params():
    return default_fit().params


@st.composite
def scenarios(draw):
    n_pages = draw(st.integers(1, 24))
    trace = draw(st.lists(st.integers(0, n_pages - 1), min_size=1, max_size=250))
    fast = draw(st.integers(1, n_pages + 2))
    slow = draw(st.sampled_from([n_pages, max(0, n_pages - fast), max(0, n_pages - fast) + 1]))
    mechanism = Mechanism(workers=draw(st.sampled_from([1, 4])), batched=draw(st.booleans()),
                          exchange=draw(st.booleans()), batch_pages=draw(st.integers(1, 5)),
                          # 1 GiB pages: a few make gigabytes of lists, so the inactive ratio exceeds 1
                          page_bytes=draw(st.sampled_from([4096, 2 << 20, 1 << 30])))
    case = dict(
        trace=np.array(trace, dtype=np.int64), n_pages=n_pages, fast_capacity=fast, slow_capacity=slow,
        mechanism=mechanism, migration_share=draw(st.sampled_from([None, 0.0, 0.5, 3.0])),
        max_migrate_pages=draw(st.sampled_from([None, 0, 3])),
        rmap_ns=draw(st.sampled_from([0.0, 500.0])),
    )
    if draw(st.booleans()):
        case["period"] = draw(st.integers(1, 40))
    else:  # 1 to ~40 accesses a period at 82-1000 ns each
        case["period_s"] = draw(st.sampled_from([1e-7, 2.5e-6, 1.5e-5]))
    return case


def policy_cases(policy, case, draw_variants=None):
    case = dict(case)
    if policy == "oracle" and "period_s" in case:
        case["period"] = 1 + int(case.pop("period_s") * 1e6)
    if policy == "active-shrink" and draw_variants:
        case["variants"] = draw_variants
    return case


def naive(policy, case, result):
    """The pure-Python twin, set up with the costs and thresholds the run used."""
    storage = result._storage
    config, fconfig = storage["config"], storage["fconfig"]
    model = NaiveSimulator(
        policy, case["fast_capacity"], case["slow_capacity"],
        period_units=fconfig[lists.F_PERIOD], unit_fast=fconfig[lists.F_UNIT_FAST],
        unit_slow=fconfig[lists.F_UNIT_SLOW], page_bytes=case["mechanism"].page_bytes,
        batch_pages=int(config[lists.K_BATCH_PAGES]), call_pages=int(config[lists.K_CALL_PAGES]),
        max_pages=case.get("max_migrate_pages"), exchange=bool(config[lists.K_EXCHANGE]),
        huge=bool(config[lists.K_HUGE]), fast_ns=82.0, slow_ns=1000.0,
        share=result.config["migration_share"], migrate_cost=storage["migrate_cost"],
        exchange_cost=storage["exchange_cost"], rmap_ns=fconfig[lists.F_RMAP_NS],
        worth_min=fconfig[lists.F_WORTH_MIN], variants=result.config["variants"])
    rows = pd.DataFrame(model.run(case["trace"]))
    return rows, np.array(model.final_node(case["n_pages"]), dtype=np.int8), model


def assert_agrees_with_reference(policy, case, result):
    """The kernel's per-period counts, its judged columns (on the row of the decision they
    judge), its final placement and its open stays equal the pure-Python twin's; returns the
    twin's table."""
    expected, final_node, model = naive(policy, case, result)
    got = result.periods
    for column in RAW:
        np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
    for column in JUDGED:  # the result shows them on the row of the decision they judge
        np.testing.assert_array_equal(got[column].to_numpy()[:-1], expected[column].to_numpy()[1:], err_msg=column)
    np.testing.assert_array_equal(result.final_node, final_node)
    assert result._open_stays == model.open_stays()
    return expected


VARIANT_SETS = [None, ("inactive-ratio-gate",), ("halves-first", "referenced-cold"),
                ("inactive-ratio-gate", "halves-first", "referenced-cold"), ("exchange-base-pages",)]


@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "reclaim-no-demotion"])
@settings(max_examples=40, **FAST)
@given(case=scenarios(), variant=st.sampled_from(VARIANT_SETS))
def test_kernel_agrees_with_pure_python_reference(policy, case, variant, params):
    case = policy_cases(policy, case, variant)
    result = simulate(policy=policy, fit=params, **case)
    expected = assert_agrees_with_reference(policy, case, result)
    for column in ("migration_us", "migration_budget_us", "scan_us"):
        np.testing.assert_allclose(result.periods[column].to_numpy(), expected[column].to_numpy(), rtol=1e-12,
                                   atol=1e-12, err_msg=column)


@pytest.mark.parametrize("share", [0.0, 10.0])  # every period scored in page order; in first-touch order
@pytest.mark.parametrize("policy", ["static", "reclaim-demotion", "active-shrink"])
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=scenarios(), variant=st.sampled_from(VARIANT_SETS))
def test_metrics_in_page_order_and_in_first_touch_order_agree_with_the_reference(policy, share, case, variant,
                                                                                  params, monkeypatch):
    import memtier.simulation.simulator

    monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE", share)
    monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE_DECIDING", share)
    case = policy_cases(policy, case, variant)
    result = simulate(policy=policy, fit=params, **case)
    assert_agrees_with_reference(policy, case, result)
    flags = result._storage["flags"]
    assert not (flags & lists.TOUCHED_FAST).any()  # a period's scratch, cleared at its end


@pytest.mark.parametrize("share", [0.0, 10.0])
@pytest.mark.parametrize("policy", ["static", "active-shrink"])
def test_top_pages_told_apart_above_the_small_count_bins(policy, share, params, monkeypatch):
    # One period; pages 0 and 1 touched first (on the fast node of 2), then 2 and 3; counts 20,
    # 30, 40, 50 (all above the 16 bins the page-order pass counts one by one): the top two are
    # pages 3 and 2, both slow, so no top page was fast.  Lumping every count above 16 together
    # would take pages 0 and 1, the first touched.  The next period reads the top pages' hits.
    import memtier.simulation.simulator

    monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE", share)
    monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE_DECIDING", share)
    first = [0, 1, 2, 3] + [0] * 19 + [1] * 29 + [2] * 39 + [3] * 49
    trace = np.array(first + [3, 2, 1, 0] * 35, dtype=np.int64)
    result = simulate(trace, policy, 2, n_pages=8, period=len(first), fit=params)
    periods = result.periods
    assert periods["top_pages"].tolist()[0] == 2 and periods["top_pages_fast"].tolist()[0] == 0
    assert periods["reactive_fast_hits"].tolist()[1] == 70  # pages 3 and 2 of the next period
    case = dict(trace=trace, n_pages=8, fast_capacity=2, slow_capacity=8, mechanism=as_mechanism("linux"),
                period=len(first))
    expected, _, _ = naive(policy, case, result)
    for column in ("top_pages", "top_pages_fast", "reactive_fast_hits"):
        np.testing.assert_array_equal(periods[column].to_numpy(), expected[column].to_numpy())


@pytest.mark.parametrize("share", [0.0, 10.0])
@pytest.mark.parametrize("policy", ["static", "reclaim-demotion", "active-shrink"])
@pytest.mark.parametrize("fast_capacity", [1, 2])
def test_ties_at_the_threshold_go_to_the_first_touched_in_page_order_too(policy, fast_capacity, share, params,
                                                                         monkeypatch):
    # Period 0 touches pages 5, 4, 3 once each: three ties for the fast node's 1 or 2 slots,
    # taken in first-touch order (5, then 4), against page order, whether the page-order pass
    # walks touched from its start (1 of 3 taken) or from its end (2 of 3: page 3 left out).
    # Period 1 touches only page 3, which is not among period 0's top pages.
    import memtier.simulation.simulator

    monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE", share)
    monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE_DECIDING", share)
    trace = np.array([5, 4, 3, 3, 3, 3], dtype=np.int64)
    result = simulate(trace, policy, fast_capacity, n_pages=8, period=3, fit=params)
    periods = result.periods
    assert periods["top_pages"].tolist() == [fast_capacity, 1]
    assert periods["reactive_fast_hits"].tolist()[1] == 0
    case = dict(trace=trace, n_pages=8, fast_capacity=fast_capacity, slow_capacity=8,
                mechanism=as_mechanism("linux"), period=3)
    expected, _, _ = naive(policy, case, result)
    for column in ("top_pages", "top_pages_fast", "reactive_fast_hits"):
        np.testing.assert_array_equal(periods[column].to_numpy(), expected[column].to_numpy(), err_msg=column)


@pytest.mark.parametrize("policy, page_order", [("active-shrink", None), ("lru", None), ("oracle", None),
                                                 ("static", True), ("reclaim-demotion", True),
                                                 ("active-shrink", True)])
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=scenarios())
def test_top_pages_exact_when_counts_overflow_the_histogram(policy, page_order, case, params, monkeypatch):
    """Every count >= 2 sorted (one histogram bin): the top pages equal the twin's, in the order
    the simulator picks (``page_order=None``) and with the page-order metrics forced."""
    import memtier.simulation.simulator

    monkeypatch.setattr(memtier.simulation.simulator, "HISTOGRAM_BINS", 1)  # every count >= 2 gets sorted
    if page_order:
        monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE", 0.0)
        monkeypatch.setattr(memtier.simulation.simulator, "DENSE_METRICS_SHARE_DECIDING", 0.0)
    case = policy_cases(policy, case)
    result = simulate(policy=policy, fit=params, **case)
    expected, _, _ = naive(policy, case, result)
    for column in ("top_pages", "top_pages_fast", "fast_hits", "reactive_fast_hits"):
        np.testing.assert_array_equal(result.periods[column].to_numpy(), expected[column].to_numpy())


def list_pages(storage, lst):
    """The pages of list ``lst``, from its tail (oldest) to its head."""
    start, length, tail, size = storage["meta"][lst]
    return storage["ring"][start + (tail + np.arange(size)) % length].tolist()


@pytest.mark.parametrize("policy", ["static", "reclaim-demotion", "active-shrink"])
@settings(max_examples=30, **FAST)
@given(case=scenarios(), variant=st.sampled_from(VARIANT_SETS))
def test_every_page_on_exactly_one_list_within_limits(policy, case, variant, params):
    case = policy_cases(policy, case, variant)
    result = simulate(policy=policy, fit=params, **case)
    storage = result._storage
    flags = storage["flags"]
    seen = np.zeros(len(flags), dtype=np.int64)
    for lst in range(4):
        assert storage["meta"][lst, lists.M_SIZE] <= storage["meta"][lst, lists.M_LENGTH]
        members = list_pages(storage, lst)
        seen[members] += 1
        assert np.all(((flags[members] & lists.FAST) != 0) == (lst < 2))
        assert np.all(((flags[members] & lists.ACTIVE) != 0) == (lst % 2 == 1))
    present = (flags & lists.PRESENT) != 0
    assert np.all(seen[present] == 1) and np.all(seen[~present] == 0)
    periods = result.periods
    assert (periods["fast_used"] <= case["fast_capacity"]).all()
    assert (periods["slow_used"] <= case["slow_capacity"]).all()
    # conservation: pages on the two nodes are exactly the pages touched so far
    touched_so_far = [len(np.unique(case["trace"][:stop])) for stop in
                      np.cumsum(periods["accesses"].to_numpy())]
    np.testing.assert_array_equal(periods["fast_used"] + periods["slow_used"], touched_so_far)
    assert periods["accesses"].sum() == len(case["trace"])
    # a page whose marks the metrics read is flagged MARKED (lists._score_lists reads only those)
    marks = storage["pagestat"][:, lists.P_MARKS]
    read = (marks & (lists.PROMOTED | lists.DEMOTED | lists.IN_STAY)) != 0
    assert np.all(flags[read] & lists.MARKED)


@pytest.mark.parametrize("policy", list(POLICIES))
@settings(max_examples=20, **FAST)
@given(case=scenarios())
def test_clock_is_the_sum_of_charged_work_and_metrics_are_shares(policy, case, params):
    case = policy_cases(policy, case)
    result = simulate(policy=policy, fit=params, **case)
    p = result.periods
    hits = p["fast_hits"]
    access_us = (hits * 82.0 + (p["accesses"] - hits) * 1000.0) * 1e-3
    np.testing.assert_allclose(p["access_us"], access_us, rtol=1e-12)
    np.testing.assert_allclose(p["time_us"], access_us + p["migration_us"] + p["scan_us"], rtol=1e-12)
    np.testing.assert_allclose(p["scan_us"], p["scanned"] * case["rmap_ns"] * 1e-3, rtol=1e-12)
    assert result.total_time_us == pytest.approx(p["time_us"].sum(), rel=1e-12)
    if "period_s" in case:  # every period but the last ran period_s of accesses, and no more
        period_us = case["period_s"] * 1e6
        assert (access_us.iloc[:-1] >= period_us - 1e-9).all()
        slowest_last = 1.0  # the access that ended the period, at most a slow one
        assert (access_us - slowest_last < period_us + 1e-9).all()
    elif "period" in case:
        assert (p["accesses"].iloc[:-1] == case["period"]).all()
    summary = result.summary()
    shares = ["fast_hit_ratio", "placement_accuracy", "promotion_precision", "promotion_recall",
              "demotion_precision", "demotion_recall", "repaid_share", "pingpong_share", "reactive_fast_hit_ratio"]
    for name in shares:
        assert np.isnan(summary[name]) or 0 <= summary[name] <= 1, name
        column = p.get(name)
        if column is not None:
            values = column.dropna()
            assert ((values >= 0) & (values <= 1)).all(), name
    assert all(np.isscalar(value) for value in summary.to_numpy())


@pytest.mark.parametrize("trace_kind", ["zipf", "hot_set", "scan", "uniform"])
@pytest.mark.parametrize("capacity", [1, 37, 400, 5000])
def test_lru_matches_libcachesim(trace_kind, capacity, tmp_path, params):
    libcachesim = pytest.importorskip("libcachesim")
    trace = workloads.GENERATORS[trace_kind](3000, 40_000, **({} if trace_kind == "scan" else {"seed": 7}))
    path = workloads.save_trace(trace.astype(np.int64), tmp_path / "trace.npy")
    offset = np.load(path, mmap_mode="r").offset
    init = libcachesim.ReaderInitParam(binary_fmt_str="<q", ignore_obj_size=True, trace_start_offset=offset)
    init.obj_id_field = 1
    reader = libcachesim.TraceReader(str(path), libcachesim.TraceType.BIN_TRACE, init)
    miss_ratio, _ = libcachesim.LRU(capacity).process_trace(reader)
    for period in (dict(period=1000), dict(period_s=2e-4)):
        result = simulate(workloads.load_trace(path), "lru", capacity, fit=params, **period)
        hits = int(result.periods["fast_hits"].sum())
        assert hits == round((1 - miss_ratio) * len(trace))
        assert result.fast_hit_ratio == pytest.approx(1 - miss_ratio, abs=1e-12)


def test_lru_queue_compaction_and_wraparound_across_chunks(params):
    """Bursts of hits on a small fast node fill the LRU's queue with holes (compacted every
    few accesses) and wrap it many times; in chunks, its decisions still match the
    pure-Python reference."""
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 60, size=(400, 4))  # each burst: 50 accesses to 4 pages
    trace = np.concatenate([rng.choice(group, 50) for group in groups])
    case = dict(trace=trace, n_pages=60, fast_capacity=4, slow_capacity=60, period=111,
                mechanism=as_mechanism("linux"))
    result = simulate(policy="lru", fit=params, chunk_accesses=333, **case)
    expected, final_node, _ = naive("lru", case, result)
    for column in ("fast_hits", "promoted", "demoted", "top_pages_fast", "fast_used"):
        np.testing.assert_array_equal(result.periods[column].to_numpy(), expected[column].to_numpy(),
                                      err_msg=column)
    np.testing.assert_array_equal(result.final_node, final_node)
    tail = result._storage["state"][lists.S_LRU_TAIL]
    assert 8 * len(result._storage["queue"]) < tail < len(trace)  # wrapped; compacted


@settings(max_examples=60, **FAST)
@given(counts=st.lists(st.integers(0, 5), min_size=1, max_size=300), data=st.data())
def test_lru_top_pages_taken_in_first_touch_order_with_ties(counts, data):
    """``baselines._take_top`` (the LRU's top pages, in two loops split at the last tie
    taken) takes every page above the threshold and the first ``ties`` at it, in touched
    order, at most ``k``, and counts those whose first access was fast (stored ``~page``)."""
    from memtier.simulation.policies import baselines

    gathered = np.array(counts, dtype=np.int32)
    n = len(counts)
    pages = data.draw(st.permutations(range(n)))
    fast = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    touched = np.array([~p if f else p for p, f in zip(pages, fast)], dtype=np.int32)
    threshold = data.draw(st.integers(0, 5))
    ties = data.draw(st.integers(0, int((gathered == threshold).sum())))
    k = data.draw(st.one_of(st.just(int((gathered > threshold).sum()) + ties), st.integers(0, n)))
    top = np.full(n + 1, -7, dtype=np.int32)
    n_top, top_fast = baselines._take_top(gathered, touched, n, k, threshold, ties, top)
    expected, left = [], ties
    for c, p, f in zip(counts, pages, fast):
        if len(expected) == k:
            break
        if c > threshold or (c == threshold and left > 0):
            left -= c == threshold
            expected.append((p, f))
    assert n_top == len(expected) and list(top[:n_top]) == [p for p, _ in expected]
    assert top_fast == sum(f for _, f in expected)


def test_lru_both_access_loops_and_the_switch_between_them(params):
    """Once the fast node is full, ``lru`` serves blocks of ``LRU_BLOCK`` accesses with a loop
    that branches on hit or miss or with one that does not, as the last block's share of
    misses says.  A trace whose phases' miss shares lie inside and outside the branch-free
    range (the test checks that they do, block by block, from the twin's hits) runs both
    loops and switches between them several times; its per-period table and final placement
    equal the pure-Python twin's, its misses libCacheSim's."""
    from memtier.simulation.policies import baselines

    rng = np.random.default_rng(11)
    block = baselines.LRU_BLOCK
    phases = [rng.integers(0, 40, 3 * block),                 # all hits once warm
              rng.integers(0, 300, 3 * block),                # about two misses in three
              np.arange(3 * block) % 5000 + 1000,             # a scan: all misses
              rng.integers(0, 300, 3 * block),
              rng.choice(60, 3 * block) * 7]                  # few misses again
    trace = np.concatenate(phases)
    case = dict(trace=trace, n_pages=6000, fast_capacity=100, slow_capacity=6000, period=7001,
                mechanism=as_mechanism("linux"))
    result = simulate(policy="lru", fit=params, chunk_accesses=20_000, **case)
    expected, final_node, model = naive("lru", case, result)
    for column in ("fast_hits", "promoted", "demoted", "static_fast_hits", "reactive_fast_hits", "top_pages",
                   "top_pages_fast", "fast_used"):
        np.testing.assert_array_equal(result.periods[column].to_numpy(), expected[column].to_numpy(),
                                      err_msg=column)
    np.testing.assert_array_equal(result.final_node, final_node)
    # the blocks' miss shares, from an LRU replayed here: some blocks in the branch-free
    # range, some outside it, each kind followed by the other
    cached, misses = {}, np.zeros(len(trace), dtype=bool)
    for i, page in enumerate(trace.tolist()):
        if page in cached:
            del cached[page]
        else:
            misses[i] = True
            if len(cached) == 100:
                del cached[next(iter(cached))]
        cached[page] = True
    share = misses[block:].reshape(-1, block).mean(axis=1)  # the fast node is full after the first block
    free = (share >= baselines.LRU_BLOCK_FREE_LOW) & (share <= baselines.LRU_BLOCK_FREE_HIGH)
    assert 0 < free.sum() < len(free) and np.count_nonzero(np.diff(free.astype(int))) >= 3
    assert len(trace) - result.periods["fast_hits"].sum() == misses.sum()


@settings(max_examples=40, **FAST)
@given(pages=st.lists(st.integers(0, 40), min_size=1, max_size=400), capacity=st.integers(1, 45),
       period=st.integers(1, 150))
def test_lru_misses_and_scores_on_random_traces_with_repeats(pages, capacity, period, params):
    """On random traces full of repeated pages: ``lru`` misses exactly where libCacheSim's LRU
    does; its period scores (computed by ``baselines._score_lru`` from the records' packed
    counts) equal the pure-Python reference's; after the run every record's count is reset,
    leaving only the static bit of the first ``capacity`` distinct pages."""
    import tempfile

    from memtier.simulation.policies import baselines

    libcachesim = pytest.importorskip("libcachesim")
    trace = np.array(pages, dtype=np.int64)
    with tempfile.TemporaryDirectory() as folder:
        path = workloads.save_trace(trace, f"{folder}/trace.npy")
        init = libcachesim.ReaderInitParam(binary_fmt_str="<q", ignore_obj_size=True,
                                           trace_start_offset=np.load(path, mmap_mode="r").offset)
        init.obj_id_field = 1
        reader = libcachesim.TraceReader(str(path), libcachesim.TraceType.BIN_TRACE, init)
        miss_ratio, _ = libcachesim.LRU(capacity).process_trace(reader)
    case = dict(trace=trace, n_pages=41, fast_capacity=capacity, slow_capacity=41, period=period,
                mechanism=as_mechanism("linux"))
    result = simulate(policy="lru", fit=params, chunk_accesses=97, **case)
    assert len(trace) - result.periods["fast_hits"].sum() == round(miss_ratio * len(trace))
    expected, final_node, _ = naive("lru", case, result)
    for column in ("fast_hits", "static_fast_hits", "reactive_fast_hits", "top_pages", "top_pages_fast"):
        np.testing.assert_array_equal(result.periods[column].to_numpy(), expected[column].to_numpy(),
                                      err_msg=column)
    np.testing.assert_array_equal(result.final_node, final_node)
    first_touch = pd.unique(trace)
    static = np.zeros(41, dtype=np.int32)
    static[first_touch[:capacity]] = baselines.STATIC_BIT
    np.testing.assert_array_equal(result._storage["pages"][:, baselines.COUNT], static)


# --- the RFC's rules, one hand-made trace each (worked out in the comments) ---------------------

def shrink_run(trace, fast, n_pages, period, params, **kwargs):
    return simulate(np.array(trace), "active-shrink", fast, n_pages=n_pages, period=period, fit=params,
                    **kwargs)


def test_patch22_active_half_is_read_after_the_inactive_scan(params):
    # Period 0 touches pages 0-7 (fast node of 8, all active, accessed). shrink: inactive
    # empty; active half = 4: pages 0-3 deactivated (0 at the tail).  Period 1 touches 0-7:
    # inactive half = 2: pages 0, 1 referenced -> active (active: 4 5 6 7 0 1); the active
    # half is read now: 6 // 2 = 3 -> pages 4, 5, 6 deactivated.
    trace = list(range(8)) * 2
    result = shrink_run(trace, 8, 8, 8, params)
    storage = result._storage
    assert list_pages(storage, lists.FAST_INACTIVE) == [2, 3, 4, 5, 6]
    assert list_pages(storage, lists.FAST_ACTIVE) == [7, 0, 1]
    assert result.periods["scanned"].tolist() == [0 + 4, 2 + 3]
    # variant: both halves read first (4 // 2 = 2 active pages: 4, 5)
    storage = shrink_run(trace, 8, 8, 8, params, variants="halves-first")._storage
    assert list_pages(storage, lists.FAST_INACTIVE) == [2, 3, 4, 5]
    assert list_pages(storage, lists.FAST_ACTIVE) == [6, 7, 0, 1]


def test_patch22_shrinks_the_active_list_without_the_ratio_gate(params):
    # Period 0: pages 0-3 fill the fast node of 4; shrink deactivates 0, 1 (inactive 0 1).
    # Period 1: page 4 (slow) only.  Fast node: inactive half 1: page 0 unreferenced, back to
    # the head (inactive 1 0); active half 2 // 2 = 1: page 2 deactivated (inactive 1 0 2).
    # With the gate, inactive 2 * 1 < active 2 is false: the active list is left alone.
    trace = [0, 1, 2, 3] + [4] * 4
    result = shrink_run(trace, 4, 5, 4, params, slow_capacity=5)
    # mm_manage then isolated page 1 (the inactive tail) for the one hot slow page, page 4
    assert list_pages(result._storage, lists.FAST_INACTIVE) == [0, 2]
    gated = shrink_run(trace, 4, 5, 4, params, slow_capacity=5, variants="inactive-ratio-gate")
    assert list_pages(gated._storage, lists.FAST_ACTIVE) == [2, 3]
    assert list_pages(gated._storage, lists.FAST_INACTIVE) == [0]


def test_patch23_cold_pages_come_from_the_inactive_tail_without_a_reference_check(params):
    # As above: in period 1, mm_manage isolates page 4 (slow, active); the fast node is full,
    # so 1 - 0 = 1 page is isolated from the fast inactive tail, page 1 (never scanned for
    # references this time), and demoted.  putback_overflow_pages: M = 0 // 2 + 1 = 1 <= 2,
    # so page 4 is put back: a demotion alone makes no room for a promotion.  Period 2
    # (page 4 again): free room 1, the slow active list (page 4) does not fit *under* it
    # (1 < 1 is false: hot pages only), 1 isolated <= 1 free: page 4 is promoted.
    trace = [0, 1, 2, 3] + [4] * 4 + [4] * 4
    result = shrink_run(trace, 4, 5, 4, params, slow_capacity=5)
    p = result.periods
    assert p["demoted"].tolist() == [0, 1, 0] and p["promoted"].tolist() == [0, 0, 1]
    assert result.final_node.tolist() == [0, 1, 0, 0, 0]
    # variant: only pages the scan found unreferenced (page 0) are demotion candidates
    checked = shrink_run(trace, 4, 5, 4, params, slow_capacity=5, variants="referenced-cold")
    assert checked.final_node.tolist() == [1, 0, 0, 0, 0]


def test_patch23_demote_first_then_putback_overflow_trims_promotions(params):
    # Period 0 touches 0-7 with a fast node of 4: pages 4-7 are slow.  Shrink, slow node:
    # active half 2 -> 4, 5 inactive; fast node: 0, 1 inactive.  mm_manage: hot slow pages
    # 6, 7 isolated; none free, so 2 fast pages isolated (0, 1) and demoted first; then
    # putback_overflow_pages keeps M - 1 = (0 // 2 + 2) - 1 = 1 ... but M = 2 <= 2: none.
    result = shrink_run(list(range(8)), 4, 8, 8, params)
    p = result.periods
    assert (p["demoted"].iloc[0], p["promoted"].iloc[0]) == (2, 0)
    assert result.final_node.tolist() == [1, 1, 0, 0, 1, 1, 1, 1]
    # 16 pages, fast node of 8: 4 hot slow pages isolated (12-15), 4 fast ones demoted (0-3);
    # M = 0 + 4, keep M - 1 = 3: the three isolated last (13, 14, 15), oldest first
    result = shrink_run(list(range(16)), 8, 16, 16, params)
    assert (result.periods["demoted"].iloc[0], result.periods["promoted"].iloc[0]) == (4, 3)
    assert np.flatnonzero(result.final_node == 0).tolist() == [4, 5, 6, 7, 13, 14, 15]


def test_patch23_isolates_inactive_slow_pages_when_the_active_ones_fit(params):
    # Period 0 as above (nr_pages = 2): pages 6, 7 isolated, 0, 1 demoted, none promoted;
    # slow inactive: 4 5 0 1, slow active: 7 6.  Period 1 touches page 2 only.  Shrink:
    # slow inactive half 2 (4, 5 unreferenced, back to the head: 0 1 4 5); active half 1:
    # page 7 deactivated.  mm_manage: 2 free, 1 active slow page < 2, so
    # ISOLATE_HOT_AND_COLD_PAGES: the inactive tail first, pages 0 and 1 (nr_pages = 2),
    # which fit in the free room: both promoted, though neither was used since.
    result = shrink_run(list(range(8)) + [2] * 8, 4, 8, 8, params, max_migrate_pages=2)
    p = result.periods
    assert p["promoted"].tolist() == [0, 2] and p["demoted"].tolist() == [2, 0]
    assert np.flatnonzero(result.final_node == 0).tolist() == [0, 1, 2, 3]


def test_patch25_exchanges_only_transparent_huge_pages(params):
    # The first scenario above with the exchange mechanism: base pages are migrated (x86-64
    # supports THP migration, so patch 25 exchanges THPs only); THPs are exchanged pair by
    # pair from the lists' heads: (7, 1), (6, 0).
    base = shrink_run(list(range(8)), 4, 8, 8, params, mechanism="exchange")
    assert (base.summary()["exchanged"], base.summary()["demoted"]) == (0, 2)
    huge = shrink_run(list(range(8)), 4, 8, 8, params, mechanism=Mechanism.named("exchange", page_bytes="2M"))
    assert (huge.summary()["exchanged"], huge.summary()["demoted"], huge.summary()["promoted"]) == (2, 0, 0)
    assert huge.final_node.tolist() == [1, 1, 0, 0, 1, 1, 0, 0]
    # a kernel without THP migration exchanges base pages too
    variant = shrink_run(list(range(8)), 4, 8, 8, params, mechanism="exchange", variants="exchange-base-pages")
    assert variant.final_node.tolist() == [1, 1, 0, 0, 1, 1, 0, 0]


def test_patch23_24_base_pages_single_threaded_and_batches_only_when_concurrent(params):
    # 16 pages, fast node of 8: 4 demoted, 3 promoted in period 0 (above)
    trace = list(range(16))

    def migration_us(mechanism, **kwargs):
        return shrink_run(trace, 8, 16, 16, params, mechanism=mechanism, **kwargs).periods["migration_us"].iloc[0]

    one_call = memtier.call_time_us(params, 4096, [4, 3], workers=1)
    # not concurrent: one migrate_pages() call per list, whatever the batch size
    assert migration_us(Mechanism(batch_pages=2)) == pytest.approx(one_call.sum(), rel=1e-12)
    # mode & ~MIGRATE_MT: 16 threads copy 4 KiB pages as one does
    assert migration_us(Mechanism(workers=16, batch_pages=2)) == pytest.approx(one_call.sum(), rel=1e-12)
    threaded = memtier.call_time_us(params, 4096, [4, 3], workers=16)
    assert migration_us(Mechanism(workers=16, batch_pages=2), variants="mt-base-pages") == pytest.approx(
        threaded.sum(), rel=1e-12)
    # concurrent: calls of migration_batch_size = 2 (2 + 2 demoted, 2 + 1 promoted)
    calls = memtier.call_time_us(params, 4096, [2, 2, 2, 1], workers=1, batched=True)
    assert migration_us(Mechanism(batched=True, batch_pages=2)) == pytest.approx(calls.sum(), rel=1e-12)
    batched_all = memtier.call_time_us(params, 4096, [2, 2, 2, 1], workers=1)
    assert migration_us(Mechanism(batch_pages=2), variants="batch-every-mechanism") == pytest.approx(
        batched_all.sum(), rel=1e-12)


def test_reclaim_without_demotion_is_first_touch_placement(params):
    trace = workloads.hot_set(2000, 50_000, phases=2, seed=8)
    plain = simulate(trace, "reclaim-no-demotion", 200, period=5000, fit=params).periods
    static = simulate(trace, "static", 200, period=5000, fit=params).periods
    pd.testing.assert_frame_equal(plain, static)


def test_reclaim_demotion_demotes_only_to_make_room_and_never_promotes(params):
    trace = workloads.hot_set(2000, 50_000, phases=2, seed=8)
    periods = simulate(trace, "reclaim-demotion", 200, period=5000, fit=params).periods
    assert (periods["promoted"] == 0).all() and periods["demoted"].sum() > 0
    assert (periods["scanned"] > 0).any()
    touched = [len(np.unique(trace[:stop])) for stop in np.cumsum(periods["accesses"].to_numpy())]
    # once every page has been allocated, nothing more is scanned or moved
    done = np.flatnonzero(np.array(touched) == touched[-1])[0]
    assert (periods["demoted"].iloc[done + 1:] == 0).all()
    roomy = simulate(trace, "reclaim-demotion", 2000, period=5000, fit=params).periods
    assert (roomy["demoted"] == 0).all()
    former = simulate(trace, "reclaim", 200, period=5000, fit=params)
    assert former.policy == "reclaim-demotion"


def test_inactive_ratio_follows_the_kernel():
    sizes = np.zeros((4, 4), dtype=np.int64)
    # 1 GiB of 4 KiB pages on the fast node: ratio int_sqrt(10) = 3
    sizes[lists.FAST_INACTIVE, lists.M_SIZE] = 65_536
    sizes[lists.FAST_ACTIVE, lists.M_SIZE] = 196_608 + 1
    assert lists.lru_inactive_is_low(0, sizes, 4096, 0)          # 65536 * 3 < 196609
    assert not lists.lru_inactive_is_low(0, sizes, 4096, 1)      # one isolated page counts
    sizes[lists.FAST_ACTIVE, lists.M_SIZE] = 196_608
    assert not lists.lru_inactive_is_low(0, sizes, 4096, 0)
    # under 1 GB the ratio is 1
    sizes[lists.FAST_INACTIVE, lists.M_SIZE], sizes[lists.FAST_ACTIVE, lists.M_SIZE] = 10, 11
    assert lists.lru_inactive_is_low(0, sizes, 4096, 0)
    assert [lists._int_sqrt(x) for x in (0, 1, 3, 4, 99, 100, 240)] == [0, 1, 1, 2, 9, 10, 15]


def test_reactive_oracle_moves_are_charged_and_it_places_last_periods_top_pages(params):
    trace = workloads.hot_set(3000, 60_000, phases=3, seed=6)
    mechanism = Mechanism.named("batched-mt4")
    result = simulate(trace, "reactive-oracle", 300, period=3000, mechanism=mechanism, fit=params)
    p = result.periods
    migrate, _ = mechanism.call_costs_us(params)

    def calls(n):
        return (n // 16) * migrate[16] + migrate[n % 16]

    expected = [calls(a) + calls(b) for a, b in zip(p["promoted"], p["demoted"])]
    np.testing.assert_allclose(p["migration_us"], expected, rtol=1e-12)
    assert p["migration_us"].sum() > 0
    # its hits are what any run reports as the reactive oracle's
    lru = simulate(trace, "lru", 300, period=3000, fit=params).periods
    np.testing.assert_array_equal(p["fast_hits"], lru["reactive_fast_hits"])
    assert (p["fast_hits"] == p["reactive_fast_hits"]).all()


def test_chunks_and_memory_map_do_not_change_results(tmp_path, params):
    trace = workloads.hot_set(2000, 30_000, phases=3, seed=3)
    path = workloads.save_trace(trace, tmp_path / "t.npy")
    for policy in POLICIES:
        for period in (dict(period=700), dict(period_s=3e-4)):
            if policy == "oracle" and "period_s" in period:
                continue
            whole = simulate(trace, policy, 300, fit=params, mechanism="exchange-mt4", **period)
            chunked = simulate(workloads.load_trace(path), policy, 300, fit=params, mechanism="exchange-mt4",
                               chunk_accesses=1499, **period)
            pd.testing.assert_frame_equal(whole.periods, chunked.periods)


def test_same_seed_same_result(params):
    results = [simulate(workloads.zipf(5000, 20_000, alpha=1.1, seed=11), "active-shrink", 500,
                        period=2000, fit=params) for _ in range(2)]
    pd.testing.assert_frame_equal(results[0].periods, results[1].periods)
    other = simulate(workloads.zipf(5000, 20_000, alpha=1.1, seed=12), "active-shrink", 500,
                     period=2000, fit=params)
    assert not results[0].periods.equals(other.periods)


def test_static_is_its_own_baseline_and_oracles_bound_what_they_bound(params):
    trace = workloads.hot_set(4000, 60_000, phases=3, seed=5)
    runs = {policy: simulate(trace, policy, 400, period=3000, fit=params).periods for policy in POLICIES}
    static = runs["static"]
    assert (static["fast_hits"] == static["static_fast_hits"]).all()
    assert (static["migrated_pages"] == 0).all() and (static["speedup_vs_static"] == 1).all()
    # the clairvoyant oracle bounds the hits of every placement fixed within a period
    for policy in ("static", "active-shrink", "reactive-oracle", "reclaim-demotion"):
        assert (runs["oracle"]["fast_hits"] >= runs[policy]["fast_hits"]).all(), policy
    assert (runs["oracle"]["placement_accuracy"] == 1).all()


def test_active_shrink_with_referenced_cold_pages_follows_a_phase_change_that_static_cannot(params):
    trace = workloads.hot_set(4000, 400_000, hot_fraction=0.05, phases=2, seed=2)
    kwargs = dict(period=10_000, fit=params, mechanism=Mechanism.named("batched-mt16", page_bytes="4K"))
    shrink = simulate(trace, "active-shrink", 400, variants="referenced-cold", **kwargs)
    static = simulate(trace, "static", 400, **kwargs)
    late = shrink.periods["first_access"] >= 350_000
    assert shrink.periods.loc[late, "fast_hit_ratio"].mean() > 0.5
    assert static.periods.loc[late, "fast_hit_ratio"].mean() < 0.15
    recovery = shrink.recovery_periods(200_000, share=0.6)
    assert 1 < recovery < 20
    assert np.isnan(static.recovery_periods(200_000, share=0.6))
    # the reactive oracle recovers in the period after the change
    assert simulate(trace, "reactive-oracle", 400, **kwargs).recovery_periods(200_000) == 1


def test_budget_limits_promotions_and_faster_mechanism_moves_more(params):
    trace = workloads.hot_set(4000, 400_000, hot_fraction=0.1, phases=4, seed=9)
    moved = {}
    for name in ("linux", "batched-mt16"):
        mechanism = Mechanism.named(name, page_bytes="2M")
        result = simulate(trace, "active-shrink", 400, period=40_000, mechanism=mechanism, fit=params,
                          migration_share=0.02)
        moved[name] = result.summary()["promoted"]
        periods = result.periods
        assert (periods["migration_us"] <= periods["migration_budget_us"] + 1e-9).all()
    assert moved["batched-mt16"] > moved["linux"]


@pytest.mark.parametrize("dtype, period", [(np.bool_, 3_000), (np.uint8, 3_000), (np.int16, 7), (np.bool_, 5)])
def test_writes_per_period(params, dtype, period):
    """The writes of each period are summed as np.add.reduceat over the periods would sum
    them, period by period (few periods) or at once (more than 4096): values other than 0
    and 1 summed as given."""
    trace = workloads.zipf(2000, 30_000, seed=2)
    writes = np.random.default_rng(3).integers(0, 3, len(trace)).astype(dtype)
    result = memtier.simulate(trace, "static", 200, period=period, fit=params, writes=writes)
    bounds = np.concatenate([[0], np.cumsum(result.periods["accesses"].to_numpy())[:-1]]).astype(np.int64)
    expected = np.add.reduceat(np.asarray(writes, dtype=np.int64), bounds)
    assert (len(result.periods) > 4096) == (period < 10)
    assert np.array_equal(result.periods["writes"].to_numpy(), expected)


def test_result_summary_and_plot(params):
    import matplotlib

    matplotlib.use("Agg")
    writes = np.arange(30_000) % 3 == 0
    result = memtier.simulate(workloads.zipf(3000, 30_000, seed=1), "active-shrink", 300, fit=params,
                              writes=writes)
    summary = result.summary()
    assert summary["accesses"] == 30_000 and len(result.periods) == 100
    assert result.periods["writes"].sum() == writes.sum() and (result.periods["writes"] == 100).all()
    assert summary["fast_hit_ratio"] == result.fast_hit_ratio
    assert summary["time_us"] == pytest.approx(result.periods["time_us"].sum())
    assert summary["speedup_vs_all_slow"] == pytest.approx(30_000 * 1.0 / summary["time_us"])
    assert "active-shrink" in repr(result)
    figure = result.plot()
    assert len(figure.axes) == 3
    matplotlib.pyplot.close(figure)


@pytest.mark.parametrize("kwargs, message", [
    (dict(trace=[0, 1, 5], fast_capacity=2, n_pages=4), "outside n_pages"),
    (dict(trace=[0, -1, 2], fast_capacity=2), "negative page"),
    (dict(trace=[0, 1], fast_capacity=-1), "fast_capacity must be at least 1"),
    (dict(trace=[0, 1], fast_capacity=1, slow_capacity=-2), "slow_capacity must be at least 0"),
    (dict(trace=[0, 1, 2, 3], fast_capacity=1, slow_capacity=2), "limits smaller than needed"),
    (dict(trace=[0, 1], fast_capacity=1, policy="active_shrink"), "did you mean 'active-shrink'"),
    (dict(trace=[0, 1], fast_capacity=1, mechanism="mt3"), "unknown mechanism"),
    (dict(trace=[], fast_capacity=1), "empty"),
    (dict(trace=[0.5, 1.0], fast_capacity=1), "integer page numbers"),
    (dict(trace=[[0, 1]], fast_capacity=1), "one-dimensional"),
    (dict(trace=[0, 1], fast_capacity=1, period=0), "period must be at least 1"),
    (dict(trace=[0, 1], fast_capacity=1, migration_share=-0.1), "migration_share"),
    (dict(trace=[0, 1], fast_capacity=1, period=2, period_s=1.0), "not both"),
    (dict(trace=[0, 1], fast_capacity=1, period_s=0), "period_s must be a positive"),
    (dict(trace=[0, 1], fast_capacity=1, policy="oracle", period_s=1.0), "clairvoyant oracle needs"),
    (dict(trace=[0, 1], fast_capacity=1, variants="ratio-gate"), "unknown variant"),
    (dict(trace=[0, 1], fast_capacity=1, policy="lru", variants="halves-first"), "active-shrink' only"),
    (dict(trace=[0, 1], fast_capacity=1, writes=[True]), "one entry per access"),
    (dict(trace=[0, 1], fast_capacity=1, rmap_ns=-1), "rmap_ns"),
    (dict(trace=[0, 1], fast_capacity=1, fit="rfc"), "fit must be"),
])
def test_invalid_input_is_refused_clearly(kwargs, message):
    kwargs = {"policy": "active-shrink", **kwargs}
    trace = kwargs.pop("trace")
    with pytest.raises(ValueError, match=message):
        simulate(np.array(trace) if trace != [] else np.array([], dtype=np.int64), **kwargs)


def test_mechanism_presets_and_validation(params):
    assert MECHANISMS["linux"] == Mechanism()
    assert MECHANISMS["exchange-mt16"].exchange and MECHANISMS["exchange-mt16"].batched
    custom = Mechanism.named("dma16", page_bytes="2M", batch_pages=32)
    assert custom.page_bytes == 2 << 20 and custom.batch_pages == 32 and custom.dma
    migrate, exchange = custom.call_costs_us(params)
    assert migrate.shape == (33,) and migrate[0] == 0 and np.all(np.diff(migrate) > 0)
    assert np.all(exchange == 0)
    with pytest.raises(ValueError, match="CPU threads only"):
        Mechanism(dma=True, exchange=True)
    with pytest.raises(ValueError, match="batch_pages"):
        Mechanism(batch_pages=0)


def test_command_line_simulate(tmp_path, capsys):
    from memtier.cli import main

    out = tmp_path / "periods.csv"
    argv = ["simulate", "--workload", "zipf", "--pages", "2000", "--accesses", "20000",
            "--fast-capacity", "10%", "--policy", "static,lru", "--period", "5000", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "fast capacity 200 pages" in printed and "lru" in printed
    table = pd.read_csv(out)
    assert list(table["policy"].unique()) == ["static", "lru"] and len(table) == 8
    expected = simulate(workloads.zipf(2000, 20_000, seed=0), "lru", 200, period=5000)
    assert table.loc[table["policy"] == "lru", "fast_hits"].sum() == expected.periods["fast_hits"].sum()
    assert main(argv) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    assert main(argv + ["--force"]) == 0
    timed = ["simulate", "--pages", "2000", "--accesses", "20000", "--fast-capacity", "200", "--policy",
             "active-shrink,reactive-oracle", "--period-s", "0.001", "--variants", "referenced-cold",
             "--write-share", "0.25"]
    assert main(timed) == 0
    assert "period 0.001 s" in capsys.readouterr().out
    assert main(timed[:8] + ["all"] + timed[9:11]) == 0
    printed = capsys.readouterr().out
    assert "oracle left out" in printed and "reactive-oracle" in printed
    trace_file = workloads.save_trace(workloads.scan(100, 1000), tmp_path / "scan.npy")
    assert main(["simulate", "--trace", str(trace_file), "--fast-capacity", "10", "--policy", "lru"]) == 0
    assert "0 " in capsys.readouterr().out  # a scan larger than the fast node never hits an LRU
    assert main(["simulate", "--pages", "10", "--accesses", "100", "--fast-capacity", "5",
                 "--policy", "fifo"]) == 2
    assert "unknown policy 'fifo'" in capsys.readouterr().err


def _reference_periods(rows, writes, config):
    """The per-period table as memtier built it column by column in pandas (before it was
    built in numpy and handed to pandas once, for speed): the reference it must equal."""
    from memtier.simulation.result import _COUNTS, _DECIDING, _JUDGED_NEXT, _RAW, _ratio

    fast_ns, slow_ns = config["fast_access_ns"], config["slow_access_ns"]
    table = pd.DataFrame({name: rows[:, column] for column, name in _RAW.items()})
    table[_COUNTS] = table[_COUNTS].astype(np.int64)
    for column in _JUDGED_NEXT:
        table[column] = table[column].shift(-1)
    table.insert(0, "period", np.arange(len(table)))
    table.insert(1, "first_access", np.concatenate([[0], np.cumsum(table["accesses"])[:-1]]).astype(np.int64))
    if writes is not None:
        table.insert(3, "writes", np.asarray(writes, dtype=np.int64))
    table.insert(4, "fast_hit_ratio", table["fast_hits"] / table["accesses"])
    table["reactive_fast_hit_ratio"] = table["reactive_fast_hits"] / table["accesses"]
    table["placement_accuracy"] = _ratio(table["top_pages_fast"], table["top_pages"])
    table["vs_reactive"] = _ratio(table["fast_hits"], table["reactive_fast_hits"])
    promotions = table["promoted"] + table["exchanged"]
    demotions = table["demoted"] + table["exchanged"]
    table["promotion_precision"] = _ratio(table["promotions_worth"], promotions)
    table["promotion_recall"] = _ratio(table["promotions_worth"], table["promotions_worth"] + table["missed_worth"])
    table["demotion_precision"] = _ratio(demotions - table["demotions_worth"], demotions)
    table["demotion_recall"] = _ratio(demotions - table["demotions_worth"],
                                      (table["fast_before"] - table["fast_worth"]).clip(lower=0))
    if config["policy"] not in _DECIDING:
        for column in ("promotion_precision", "promotion_recall", "demotion_precision", "demotion_recall"):
            table[column] = np.nan
    table["migrated_pages"] = table["promoted"] + table["demoted"] + 2 * table["exchanged"]
    table["migrated_bytes"] = table["migrated_pages"] * config["mechanism"].page_bytes
    slow_accesses = table["accesses"] - table["fast_hits"]
    table["access_us"] = (table["fast_hits"] * fast_ns + slow_accesses * slow_ns) * 1e-3
    table["time_us"] = table["access_us"] + table["migration_us"] + table["scan_us"]
    static_slow = table["accesses"] - table["static_fast_hits"]
    table["static_time_us"] = (table["static_fast_hits"] * fast_ns + static_slow * slow_ns) * 1e-3
    table["all_slow_time_us"] = table["accesses"] * slow_ns * 1e-3
    table["speedup_vs_static"] = table["static_time_us"] / table["time_us"]
    table["speedup_vs_all_slow"] = table["all_slow_time_us"] / table["time_us"]
    return table


@pytest.mark.parametrize("policy", ["active-shrink", "lru"])
@pytest.mark.parametrize("with_writes", [False, True])
def test_period_table_equals_the_pandas_reference(policy, with_writes, params):
    """SimulationResult builds its table in numpy: the same columns, order, dtypes and values
    (NaN where a denominator is 0) as building it column by column in pandas, on rows with
    zeros and negatives where denominators and clips are."""
    from memtier.simulation.result import SimulationResult

    rng = np.random.default_rng(7)
    rows = rng.integers(-3, 20, size=(9, lists.N_COLUMNS)).astype(np.float64)
    rows[:, lists.C_ACCESSES] = rng.integers(1, 50, size=9)
    rows[::3, [lists.C_TOP, lists.C_PROMOTED, lists.C_DEMOTED, lists.C_EXCHANGED, lists.C_REACTIVE_HITS]] = 0
    rows[:, lists.C_MIGRATION_US] = rng.random(9) * 7.3
    writes = rng.integers(0, 5, size=9) if with_writes else None
    result = simulate(np.arange(40) % 7, policy, 3, fit=params, period=10)
    result = SimulationResult(rows, result.final_node, writes=writes, **result.config)
    reference = _reference_periods(rows, writes, result.config)
    assert list(result.periods.columns) == list(reference.columns)
    assert (result.periods.dtypes == reference.dtypes).all()
    pd.testing.assert_frame_equal(result.periods, reference, check_exact=True)


@settings(max_examples=60, **FAST)
@given(case=scenarios(), policy=st.sampled_from(sorted(set(POLICIES) - {"oracle"})), data=st.data())
def test_snapshots_are_the_runs_cut_there(case, policy, data, params):
    """The list policies, ``lru`` and the reactive oracle: a snapshot after k accesses is the
    run of the first k accesses (``n_pages`` the whole run's), whatever the chunking."""
    case = policy_cases(policy, case)
    trace = case.pop("trace")
    counts = sorted(data.draw(st.sets(st.integers(1, len(trace)), min_size=1, max_size=5)))
    chunk = data.draw(st.integers(1, 60))
    whole = simulate(trace, policy, fit=params, snapshots=counts, chunk_accesses=chunk, **case)
    for count, snapshot in zip(counts, whole.snapshots, strict=True):
        cut = simulate(trace[:count], policy, fit=params, **case)
        pd.testing.assert_frame_equal(snapshot.periods, cut.periods)
        np.testing.assert_array_equal(snapshot.final_node, cut.final_node)
    pd.testing.assert_frame_equal(whole.periods, simulate(trace, policy, fit=params, **case).periods)


@pytest.mark.parametrize("snapshots, message", [
    ([0, 5], "increasing access counts from 1"),
    ([5, 5], "increasing access counts from 1"),
    ([9, 4], "increasing access counts from 1"),
    ([101], "the trace's 100 accesses"),
    ([1.5], "whole access counts"),
    ([[1, 2]], "whole access counts"),
])
def test_bad_snapshots_are_refused(snapshots, message, params):
    trace = np.arange(100) % 10
    with pytest.raises(ValueError, match=message):
        simulate(trace, "reclaim-demotion", 4, fit=params, snapshots=snapshots)


def test_the_oracle_takes_no_snapshots(params):
    """Its placement after an access depends on the accesses after it: a cut run is another run."""
    with pytest.raises(ValueError, match="oracle has no snapshots.*reactive-oracle"):
        simulate(np.arange(100) % 10, "oracle", 4, fit=params, period=10, snapshots=[50])
    assert simulate(np.arange(100) % 10, "oracle", 4, fit=params, period=10, snapshots=[]).snapshots == []
