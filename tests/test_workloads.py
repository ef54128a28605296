"""Workload generators: deterministic, in range, with the statistics they promise."""
import numpy as np
import pytest

from memtier import workloads


@pytest.mark.parametrize("name", ["uniform", "zipf", "hot_set"])
def test_same_seed_same_trace_and_seeds_differ(name):
    generate = workloads.GENERATORS[name]
    first = generate(5000, 20_000, seed=3)
    assert np.array_equal(first, generate(5000, 20_000, seed=3))
    assert not np.array_equal(first, generate(5000, 20_000, seed=4))
    assert first.dtype == np.int32 and first.shape == (20_000,)
    assert first.min() >= 0 and first.max() < 5000


def test_uniform_touches_pages_evenly():
    trace = workloads.uniform(100, 200_000, seed=1)
    counts = np.bincount(trace, minlength=100)
    # each page expects 2000 accesses, standard deviation ~45
    assert counts.min() > 1800 and counts.max() < 2200


def test_zipf_frequencies_follow_the_law():
    n_pages, alpha = 1000, 1.2
    trace = workloads.zipf(n_pages, 400_000, alpha=alpha, seed=2)
    counts = np.sort(np.bincount(trace, minlength=n_pages))[::-1]
    expected = np.arange(1, n_pages + 1) ** -alpha
    expected /= expected.sum()
    np.testing.assert_allclose(counts[:5] / len(trace), expected[:5], rtol=0.05)
    # alpha = 0 is uniform
    flat = np.bincount(workloads.zipf(10, 100_000, alpha=0.0, seed=1), minlength=10)
    assert flat.min() > 9500 and flat.max() < 10500


def test_zipf_hottest_pages_are_scattered():
    trace = workloads.zipf(10_000, 50_000, alpha=1.0, seed=5)
    hottest = np.argsort(np.bincount(trace, minlength=10_000))[::-1][:10]
    assert hottest.max() > 100  # not simply pages 0..9


def test_hot_set_share_and_phase_changes():
    n_pages, n = 10_000, 200_000
    trace = workloads.hot_set(n_pages, n, hot_fraction=0.05, hot_probability=0.9, phases=2, seed=6)
    halves = trace[: n // 2], trace[n // 2:]
    hot_sets = [set(np.argsort(np.bincount(h, minlength=n_pages))[::-1][:500]) for h in halves]
    for half, hot in zip(halves, hot_sets):
        share = np.isin(half, list(hot)).mean()
        # 90 % to the hot set, plus the uniform 10 % that lands on it by chance (5 %)
        assert share == pytest.approx(0.9 + 0.1 * 0.05, abs=0.01)
    assert len(hot_sets[0] & hot_sets[1]) < 100  # a new hot set in the second phase


def test_scan_is_sequential_and_wraps():
    np.testing.assert_array_equal(workloads.scan(4, 10, start=2), [2, 3, 0, 1, 2, 3, 0, 1, 2, 3])


def test_mix_keeps_each_part_in_order_on_its_own_pages():
    a = workloads.scan(5, 50)
    b = workloads.zipf(7, 30, seed=1)
    mixed = workloads.mix(a, b, seed=0)
    assert len(mixed) == 80
    from_a = mixed[mixed < 5]
    from_b = mixed[mixed >= 5] - 5
    np.testing.assert_array_equal(from_a, a)
    np.testing.assert_array_equal(from_b, b)
    assert np.array_equal(mixed, workloads.mix(a, b, seed=0))
    assert not np.array_equal(mixed, workloads.mix(a, b, seed=1))


def test_save_and_load_trace(tmp_path):
    trace = workloads.uniform(50, 1000, seed=0)
    path = workloads.save_trace(trace, tmp_path / "t.npy")
    loaded = workloads.load_trace(path)
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, trace)
    with pytest.raises(FileExistsError, match="force"):
        workloads.save_trace(trace, path)
    workloads.save_trace(trace[:10], path, force=True)
    assert len(workloads.load_trace(path)) == 10
    with pytest.raises(ValueError, match=".npy"):
        workloads.save_trace(trace, tmp_path / "t.csv")
    with pytest.raises(FileNotFoundError):
        workloads.load_trace(tmp_path / "missing.npy")


@pytest.mark.parametrize("call, message", [
    (lambda: workloads.uniform(0, 10), "n_pages must be at least 1"),
    (lambda: workloads.uniform(10, 0), "n_accesses must be at least 1"),
    (lambda: workloads.uniform(10.5, 10), "whole number"),
    (lambda: workloads.zipf(10, 10, alpha=-1), "alpha"),
    (lambda: workloads.hot_set(10, 10, hot_fraction=0), "hot_fraction"),
    (lambda: workloads.hot_set(10, 10, hot_probability=1.5), "hot_probability"),
    (lambda: workloads.hot_set(10, 10, phases=11), "phases"),
    (lambda: workloads.scan(10, 10, start=10), "start"),
    (lambda: workloads.mix(), "at least one trace"),
    (lambda: workloads.check_trace(np.zeros((2, 2), dtype=int)), "one-dimensional"),
    (lambda: workloads.check_trace("trace.npy"), "load_trace"),
])
def test_invalid_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_write_flags_have_the_share_asked_for_and_leave_traces_alone():
    flags = workloads.write_flags(200_000, 0.3, seed=4)
    assert flags.dtype == bool and flags.shape == (200_000,)
    assert abs(flags.mean() - 0.3) < 0.005  # sd of the mean ~0.001
    assert np.array_equal(flags, workloads.write_flags(200_000, 0.3, seed=4))
    assert not workloads.write_flags(1000, 0.0).any() and workloads.write_flags(1000, 1.0).all()
    with pytest.raises(ValueError, match="write_share"):
        workloads.write_flags(10, 1.5)
    assert workloads.writes_path("a/prog.npy").as_posix() == "a/prog.writes.npy"
