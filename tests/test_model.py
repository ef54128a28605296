"""The cost model's kernel against its pure-Python twin, and the physics it must respect."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memtier.model import ModelParams, call_time_us, default_ptes_per_page, throughput_gbps
from naive_model import call_time_us as naive_time_us

PAGE_SIZES = [4096, 65536, 2 << 20, 16 << 20, 1 << 30]


@st.composite
def params(draw):
    values = {}
    for name, (low, high) in ModelParams.bounds().items():
        top = min(high, 100.0) if high > 1 else high
        values[name] = draw(st.floats(max(low, 1e-3 if low == 0 and high > 1 else low), top))
    return ModelParams(**values)


@settings(max_examples=300, deadline=None)
@given(p=params(), page=st.sampled_from(PAGE_SIZES), n=st.integers(1, 4096), workers=st.integers(1, 64),
       dma=st.booleans(), batched=st.booleans(), exchange=st.booleans(),
       scope=st.sampled_from(["copy", "migrate", "syscall"]))
def test_kernel_matches_naive_twin(p, page, n, workers, dma, batched, exchange, scope):
    if dma and exchange:
        exchange = False
    fast = call_time_us(p, page, n, dma=dma, workers=workers, batched=batched, exchange=exchange, scope=scope)
    slow = naive_time_us(p, page, n, dma=dma, workers=workers, batched=batched, exchange=exchange,
                         scope=scope, ptes=float(default_ptes_per_page(page)))
    assert fast == pytest.approx(slow, rel=1e-12)


def test_vectorised_matches_scalar():
    rng = np.random.default_rng(1)
    size = 500
    page = rng.choice(PAGE_SIZES, size)
    n = rng.integers(1, 600, size)
    workers = rng.integers(1, 17, size)
    dma = rng.random(size) < 0.3
    batched = rng.random(size) < 0.5
    exchange = (rng.random(size) < 0.5) & ~dma
    scope = rng.choice(["copy", "migrate", "syscall"], size)
    grid = call_time_us(ModelParams(), page, n, dma=dma, workers=workers, batched=batched,
                        exchange=exchange, scope=scope)
    for i in range(0, size, 37):
        one = call_time_us(ModelParams(), int(page[i]), int(n[i]), dma=bool(dma[i]), workers=int(workers[i]),
                           batched=bool(batched[i]), exchange=bool(exchange[i]), scope=str(scope[i]))
        assert grid[i] == one


def test_scopes_nest():
    p = ModelParams()
    copy, migrate, syscall = (call_time_us(p, 2 << 20, 16, workers=4, scope=s) for s in ("copy", "migrate", "syscall"))
    assert copy < migrate < syscall


def test_physics():
    p = ModelParams()
    thp = lambda **kw: throughput_gbps(p, 2 << 20, 16, **kw)  # noqa: E731
    # Threads help until the link saturates, and never beyond its ceiling.
    assert thp(workers=1) < thp(workers=2) < thp(workers=4)
    assert thp(workers=64, batched=True) < p.link_gbps
    # Batching saves dispatches and kernel work; exchange moves data both ways.
    assert thp(workers=8, batched=True) > thp(workers=8)
    assert thp(workers=2, batched=True, exchange=True) > thp(workers=2, batched=True)
    # A faster link or thread never makes a migration slower.
    faster = p.replace(link_gbps=2 * p.link_gbps, copy_gbps_per_thread=2 * p.copy_gbps_per_thread)
    assert throughput_gbps(faster, 2 << 20, 16, workers=16, batched=True) > thp(workers=16, batched=True)
    # Huge pages beat base pages per byte; more PTEs per page cost more.
    assert throughput_gbps(p, 2 << 20, 1) > throughput_gbps(p, 4096, 512)
    assert call_time_us(p, 65536, 1, ptes_per_page=16) > call_time_us(p, 65536, 1, ptes_per_page=1)
    # More DMA channels help until the engine's ceiling.
    assert throughput_gbps(p, 2 << 20, 1, dma=True, workers=4) > throughput_gbps(p, 2 << 20, 1, dma=True, workers=1)


def test_default_ptes():
    assert default_ptes_per_page([4096, 65536, 2 << 20, 16 << 20, 1 << 30]).tolist() == [1, 16, 1, 4096, 1]


@pytest.mark.parametrize("kwargs, words", [
    (dict(page_bytes=2048, n_pages=1), "page_bytes"),
    (dict(page_bytes=4096, n_pages=0), "n_pages"),
    (dict(page_bytes=4096, n_pages=1, workers=0), "workers"),
    (dict(page_bytes=4096, n_pages=1, workers=1.5), "workers"),
    (dict(page_bytes=4096, n_pages=1, scope="kernel"), "scope"),
    (dict(page_bytes=4096, n_pages=1, dma=True, exchange=True), "exchange"),
    (dict(page_bytes=4096, n_pages=1, ptes_per_page=0), "ptes_per_page"),
])
def test_invalid_configurations_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        call_time_us(ModelParams(), **kwargs)


def test_params_outside_bounds_refused():
    with pytest.raises(ValueError, match="link_gbps"):
        ModelParams(link_gbps=-1.0)
    with pytest.raises(ValueError, match="batch_saving"):
        ModelParams(batch_saving=1.5)
