"""The simulator: agreement with a pure-Python twin and with libCacheSim, invariants of the
lists, determinism, and clear refusals of invalid input."""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memtier
from memtier import lists, workloads
from memtier.fitting import default_fit
from memtier.mechanisms import MECHANISMS, Mechanism, as_mechanism
from memtier.simulator import POLICIES, simulate

from naive_lists import NaiveSimulator

RAW = ["accesses", "fast_hits", "static_fast_hits", "promoted", "demoted", "exchanged",
       "classified_hot", "true_hot", "true_positive", "fast_used", "slow_used"]
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
    return dict(
        trace=np.array(trace, dtype=np.int64), n_pages=n_pages, fast_capacity=fast, slow_capacity=slow,
        period=draw(st.integers(1, 40)), mechanism=mechanism,
        migration_share=draw(st.sampled_from([0.0, 0.5, 3.0, math.inf])),
        max_migrate_pages=draw(st.sampled_from([None, 0, 3])),
    )


def naive(policy, case, params):
    mechanism = case["mechanism"]
    migrate_cost, exchange_cost = mechanism.call_costs_us(params)
    model = NaiveSimulator(policy, case["fast_capacity"], case["slow_capacity"], case["period"],
                           mechanism.page_bytes, mechanism.batch_pages, case["max_migrate_pages"],
                           mechanism.exchange, 82.0, 1000.0, case["migration_share"], migrate_cost,
                           exchange_cost)
    rows = pd.DataFrame(model.run(case["trace"]))
    return rows, np.array(model.final_node(case["n_pages"]), dtype=np.int8)


@pytest.mark.parametrize("policy", list(POLICIES))
@settings(max_examples=60, **FAST)
@given(case=scenarios())
def test_kernel_agrees_with_pure_python_reference(policy, case, params):
    result = simulate(policy=policy, fit=params, **case)
    expected, final_node = naive(policy, case, params)
    got = result.periods
    for column in RAW:
        np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
    for column in ("migration_us", "migration_budget_us"):
        np.testing.assert_allclose(got[column].to_numpy(), expected[column].to_numpy(), rtol=1e-12,
                                   err_msg=column)
    np.testing.assert_array_equal(result.final_node, final_node)


@pytest.mark.parametrize("policy", ["active-shrink", "lru", "oracle"])
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=scenarios())
def test_true_hot_set_exact_when_counts_overflow_the_histogram(policy, case, params, monkeypatch):
    import memtier.simulator

    monkeypatch.setattr(memtier.simulator, "HISTOGRAM_BINS", 1)  # every count >= 2 gets sorted
    result = simulate(policy=policy, fit=params, **case)
    expected, _ = naive(policy, case, params)
    for column in ("true_hot", "true_positive", "fast_hits"):
        np.testing.assert_array_equal(result.periods[column].to_numpy(), expected[column].to_numpy())


@pytest.mark.parametrize("policy", ["static", "reclaim", "active-shrink"])
@settings(max_examples=40, **FAST)
@given(case=scenarios())
def test_every_page_on_exactly_one_list_within_limits(policy, case, params):
    result = simulate(policy=policy, fit=params, **case)
    storage = result._storage
    flags, ring, meta = storage["flags"], storage["ring"], storage["meta"]
    seen = np.zeros(len(flags), dtype=np.int64)
    for lst in range(4):
        start, length, tail, size = meta[lst]
        assert size <= length
        members = ring[start + (tail + np.arange(size)) % length]
        seen[members] += 1
        node_fast = lst < 2
        active = lst % 2 == 1
        assert np.all(((flags[members] & lists.FAST) != 0) == node_fast)
        assert np.all(((flags[members] & lists.ACTIVE) != 0) == active)
    present = (flags & lists.PRESENT) != 0
    assert np.all(seen[present] == 1) and np.all(seen[~present] == 0)
    periods = result.periods
    assert (periods["fast_used"] <= case["fast_capacity"]).all()
    assert (periods["slow_used"] <= case["slow_capacity"]).all()
    # conservation: pages on the two nodes are exactly the pages touched so far
    touched_so_far = [len(np.unique(case["trace"][:stop])) for stop in
                      np.cumsum(periods["accesses"].to_numpy())]
    np.testing.assert_array_equal(periods["fast_used"] + periods["slow_used"], touched_so_far)


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
    result = simulate(workloads.load_trace(path), "lru", capacity, period=1000, fit=params)
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
                mechanism=as_mechanism("linux"), migration_share=0.1, max_migrate_pages=None)
    result = simulate(policy="lru", fit=params, chunk_accesses=333, **case)
    expected, final_node = naive("lru", case, params)
    for column in ("fast_hits", "promoted", "demoted", "true_positive", "fast_used"):
        np.testing.assert_array_equal(result.periods[column].to_numpy(), expected[column].to_numpy(),
                                      err_msg=column)
    np.testing.assert_array_equal(result.final_node, final_node)
    tail = result._storage["state"][lists.S_LRU_TAIL]
    assert 8 * len(result._storage["queue"]) < tail < len(trace)  # wrapped; compacted


def test_reclaim_demotes_only_to_make_room_and_never_promotes(params):
    trace = workloads.hot_set(2000, 50_000, phases=2, seed=8)
    periods = simulate(trace, "reclaim", 200, period=5000, fit=params).periods
    assert (periods["promoted"] == 0).all() and periods["demoted"].sum() > 0
    touched = [len(np.unique(trace[:stop])) for stop in np.cumsum(periods["accesses"].to_numpy())]
    # once every page has been allocated, nothing more is scanned or moved
    done = np.flatnonzero(np.array(touched) == touched[-1])[0]
    assert (periods["demoted"].iloc[done + 1:] == 0).all()
    roomy = simulate(trace, "reclaim", 2000, period=5000, fit=params).periods
    assert (roomy["demoted"] == 0).all()


def test_inactive_ratio_follows_the_kernel():
    sizes = np.zeros((4, 4), dtype=np.int64)
    # 1 GiB of 4 KiB pages on the fast node: ratio int_sqrt(10) = 3
    sizes[lists.FAST_INACTIVE, lists.M_SIZE] = 65_536
    sizes[lists.FAST_ACTIVE, lists.M_SIZE] = 196_608 + 1
    assert lists._inactive_is_low(0, sizes, 4096, 0)          # 65536 * 3 < 196609
    assert not lists._inactive_is_low(0, sizes, 4096, 1)      # one isolated page counts
    sizes[lists.FAST_ACTIVE, lists.M_SIZE] = 196_608
    assert not lists._inactive_is_low(0, sizes, 4096, 0)
    # under 1 GB the ratio is 1
    sizes[lists.FAST_INACTIVE, lists.M_SIZE], sizes[lists.FAST_ACTIVE, lists.M_SIZE] = 10, 11
    assert lists._inactive_is_low(0, sizes, 4096, 0)
    assert [lists._int_sqrt(x) for x in (0, 1, 3, 4, 99, 100, 240)] == [0, 1, 1, 2, 9, 10, 15]


def test_chunks_and_memory_map_do_not_change_results(tmp_path, params):
    trace = workloads.hot_set(2000, 30_000, phases=3, seed=3)
    path = workloads.save_trace(trace, tmp_path / "t.npy")
    for policy in POLICIES:
        whole = simulate(trace, policy, 300, period=700, fit=params, mechanism="exchange-mt4")
        chunked = simulate(workloads.load_trace(path), policy, 300, period=700, fit=params,
                           mechanism="exchange-mt4", chunk_accesses=1500)
        pd.testing.assert_frame_equal(whole.periods, chunked.periods)


def test_same_seed_same_result(params):
    results = [simulate(workloads.zipf(5000, 20_000, alpha=1.1, seed=11), "active-shrink", 500,
                        period=2000, fit=params) for _ in range(2)]
    pd.testing.assert_frame_equal(results[0].periods, results[1].periods)
    other = simulate(workloads.zipf(5000, 20_000, alpha=1.1, seed=12), "active-shrink", 500,
                     period=2000, fit=params)
    assert not results[0].periods.equals(other.periods)


def test_static_is_its_own_baseline_and_oracle_bounds_period_placements(params):
    trace = workloads.hot_set(4000, 60_000, phases=3, seed=5)
    runs = {policy: simulate(trace, policy, 400, period=3000, fit=params).periods for policy in POLICIES}
    static = runs["static"]
    assert (static["fast_hits"] == static["static_fast_hits"]).all()
    assert (static["migrated_pages"] == 0).all() and (static["speedup_vs_static"] == 1).all()
    # active-shrink keeps a fixed set of at most fast_capacity pages fast within a period
    assert (runs["oracle"]["fast_hits"] >= runs["active-shrink"]["fast_hits"]).all()
    assert (runs["oracle"]["fast_hits"] >= static["fast_hits"]).all()
    assert (runs["oracle"]["precision"] == 1).all() and (runs["oracle"]["recall"] == 1).all()
    for periods in runs.values():
        assert periods["precision"].between(0, 1).all() and periods["recall"].between(0, 1).all()


def test_active_shrink_follows_a_phase_change_that_static_cannot(params):
    trace = workloads.hot_set(4000, 400_000, hot_fraction=0.05, phases=2, seed=2)
    kwargs = dict(period=10_000, fit=params, mechanism=Mechanism.named("batched-mt16", page_bytes="4K"),
                  migration_share=math.inf)
    shrink = simulate(trace, "active-shrink", 400, **kwargs).periods
    static = simulate(trace, "static", 400, **kwargs).periods
    # the first phase's hot set stays fast; after the change at 200 000 accesses, static keeps
    # the old pages while active-shrink moves the new hot set in, period by period
    first = shrink["first_access"] < 200_000
    assert shrink.loc[first, "fast_hit_ratio"].mean() > 0.85
    late = shrink["first_access"] >= 350_000
    assert shrink.loc[late, "fast_hit_ratio"].mean() > 0.5
    assert static.loc[late, "fast_hit_ratio"].mean() < 0.15


def test_faster_mechanism_moves_more_pages_under_the_same_budget(params):
    trace = workloads.hot_set(4000, 400_000, hot_fraction=0.1, phases=4, seed=9)
    moved = {}
    for name in ("linux", "batched-mt16"):
        mechanism = Mechanism.named(name, page_bytes="2M")
        result = simulate(trace, "active-shrink", 400, period=40_000, mechanism=mechanism, fit=params)
        moved[name] = result.summary()["promoted"]
        periods = result.periods
        assert (periods["migration_us"] <= periods["migration_budget_us"] + 1e-9).all()
    assert moved["batched-mt16"] > 1.5 * moved["linux"]


def test_exchange_swaps_when_both_nodes_are_full(params):
    # a first sweep touches every page, so both nodes are full from the first period on
    trace = np.concatenate([workloads.scan(1000, 1000), workloads.hot_set(1000, 100_000, phases=2, seed=4)])
    full = dict(slow_capacity=1000 - 200, period=5000, fit=params, migration_share=math.inf)
    plain = simulate(trace, "active-shrink", 200, mechanism="batched-mt4", **full).summary()
    swapped = simulate(trace, "active-shrink", 200, mechanism="exchange-mt4", **full).summary()
    assert plain["demoted"] == 0 and plain["exchanged"] == 0  # no room to demote into
    assert swapped["exchanged"] > 0
    assert swapped["fast_hit_ratio"] > plain["fast_hit_ratio"]


def test_result_summary_and_plot(params):
    import matplotlib

    matplotlib.use("Agg")
    result = memtier.simulate(workloads.zipf(3000, 30_000, seed=1), "active-shrink", 300, fit=params)
    summary = result.summary()
    assert summary["accesses"] == 30_000 and len(result.periods) == 100
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
    trace_file = workloads.save_trace(workloads.scan(100, 1000), tmp_path / "scan.npy")
    assert main(["simulate", "--trace", str(trace_file), "--fast-capacity", "10", "--policy", "lru"]) == 0
    assert "0 " in capsys.readouterr().out  # a scan larger than the fast node never hits an LRU
    assert main(["simulate", "--pages", "10", "--accesses", "100", "--fast-capacity", "5",
                 "--policy", "fifo"]) == 2
    assert "unknown policy 'fifo'" in capsys.readouterr().err
