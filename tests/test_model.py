"""The cost model's kernel against its pure-Python twin, and the physics it must respect."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memtier.model.cost import BATCH_PAGES, CHANNELS_PER_ENGINE, DMA_STRUCTURES, ModelParams, call_time_us, default_ptes_per_page, throughput_gbps
from naive_model import call_time_us as naive_time_us

PAGE_SIZES = [4096, 65536, 2 << 20, 16 << 20, 1 << 30]


@st.composite
def params(draw):
    values = {}
    for name, (low, high) in ModelParams.bounds().items():
        top = min(high, 100.0) if high > 1 else high
        values[name] = draw(st.floats(max(low, 1e-3 if low == 0 and high > 1 else low), top))
    return ModelParams(**values, dma_structure=draw(st.sampled_from(DMA_STRUCTURES)),
                       dma_channels_per_engine=draw(st.sampled_from(CHANNELS_PER_ENGINE)),
                       migrate_batch_pages=draw(st.sampled_from(BATCH_PAGES)))


@settings(max_examples=300, deadline=None)
@given(p=params(), page=st.sampled_from(PAGE_SIZES), n=st.integers(1, 4096), workers=st.integers(1, 64),
       dma=st.booleans(), batched=st.booleans(), exchange=st.booleans(),
       scope=st.sampled_from(["copy", "migrate", "syscall"]), mthp=st.booleans())
def test_kernel_matches_naive_twin(p, page, n, workers, dma, batched, exchange, scope, mthp):
    if dma and exchange:
        exchange = False
    # PTE-mapped folios (mTHP: one entry per 4 KiB) as well as the default mapping.
    ptes = float(page // 4096) if mthp else float(default_ptes_per_page(page))
    fast = call_time_us(p, page, n, dma=dma, workers=workers, batched=batched, exchange=exchange, scope=scope,
                        ptes_per_page=ptes)
    slow = naive_time_us(p, page, n, dma=dma, workers=workers, batched=batched, exchange=exchange,
                         scope=scope, ptes=ptes)
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


FOLIOS = [4096, 16384, 65536, 262144, 1 << 20, 2 << 20]


@settings(max_examples=100, deadline=None)
@given(p=params(), page=st.sampled_from(FOLIOS), n=st.integers(1, 4096), channels=st.integers(1, 16),
       batched=st.booleans(), scope=st.sampled_from(["copy", "migrate", "syscall"]))
def test_dma_throughput_below_its_ceilings(p, page, n, channels, batched, scope):
    """Whatever the structure, DMA never beats the engine's ceiling nor its channels' sum."""
    gbps = throughput_gbps(p, page, n, dma=True, workers=channels, batched=batched, scope=scope)
    assert gbps <= p.dma_ceiling_gbps * (1 + 1e-9)
    engines = -(-channels // p.dma_channels_per_engine)
    assert gbps <= engines * p.dma_channel_gbps * (1 + 1e-9)
    assert gbps <= channels * p.dma_queue_gbps * (1 + 1e-9)


def test_queue_bandwidth_limits_a_lone_channel():
    """A queue's own bandwidth caps one channel, not two on one engine once they reach the
    engine's; at its bound (the default) it changes nothing."""
    base = ModelParams(dma_structure="folio", dma_channels_per_engine=2, migrate_batch_pages=262144,
                       dma_channel_gbps=16.0, dma_ceiling_gbps=1000.0, ceiling_sharpness=20.0)
    bytes_only = base.replace(dma_channel_descriptor_us=0.0, dma_entry_us=0.0, dma_setup_us=0.0,
                              dma_descriptor_us=0.0)
    thp = dict(dma=True, batched=True, scope="copy")
    # Copy time of 512 THPs: bytes at the engine's 16 GB/s for one and two channels alike.
    one, two = (call_time_us(bytes_only, 2 << 20, 512, workers=w, **thp) for w in (1, 2))
    limited = bytes_only.replace(dma_queue_gbps=10.0)
    one_q, two_q = (call_time_us(limited, 2 << 20, 512, workers=w, **thp) for w in (1, 2))
    transfer = (2 << 20) * 512 / 1e3  # bytes / 1e3: microseconds at 1 GB/s
    assert one_q - one == pytest.approx(transfer / 10.0 - transfer / 16.0, rel=1e-6)
    assert two_q == pytest.approx(two, rel=1e-9)  # two queues (20 GB/s) fill the engine's 16
    # At its default (its bound) the queue limits nothing: one channel moves at its engine's rate.
    assert bytes_only.dma_queue_gbps == ModelParams.bounds()["dma_queue_gbps"][1]
    assert one - bytes_only.copy_call_us == pytest.approx(transfer / 16.0, rel=1e-6)
    assert (throughput_gbps(limited, 2 << 20, 512, workers=1, **thp) <= 10.0 * (1 + 1e-9))


def test_dma_ceiling_hard_by_default_soft_as_a_departure():
    """At softness 0 (stated) the channels' bandwidth meets the engines' ceiling at a hard
    minimum, whatever the CPU link's sharpness; a softness above 0 bends it below both, and
    tends to the hard minimum as it falls to 0."""
    base = ModelParams(dma_structure="folio", dma_channels_per_engine=2, migrate_batch_pages=262144,
                       dma_channel_gbps=16.0, dma_ceiling_gbps=100.0, dma_channel_descriptor_us=0.0,
                       dma_entry_us=0.0, dma_setup_us=0.0, dma_descriptor_us=0.0, copy_call_us=0.0)
    assert base.dma_ceiling_softness == 0.0 == ModelParams().dma_ceiling_softness
    thp = dict(dma=True, batched=True, scope="copy")
    transfer = (2 << 20) * 512 / 1e3  # microseconds at 1 GB/s
    for sharpness in (1.0, 2.3, 20.0):  # the CPU link's sharpness no longer bends the DMA path
        p = base.replace(ceiling_sharpness=sharpness)
        for channels, gbps in ((4, 32.0), (8, 64.0), (16, 100.0)):
            assert call_time_us(p, 2 << 20, 512, workers=channels, **thp) == pytest.approx(transfer / gbps, rel=1e-9)
    soft = [throughput_gbps(base.replace(dma_ceiling_softness=s), 2 << 20, 512, workers=16, **thp)
            for s in (0.5, 0.1, 0.01, 1e-6)]
    assert soft[0] < soft[1] < soft[2] < 100.0 and soft[3] == pytest.approx(100.0, rel=1e-6)
    # Softness s is the smooth minimum of exponent 1/s: (128^-2 + 100^-2)^-(1/2) at s = 0.5.
    assert soft[0] == pytest.approx((128.0 ** -2 + 100.0 ** -2) ** -0.5, rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(p=params(), page=st.sampled_from(FOLIOS), n=st.integers(1, 4096), workers=st.integers(1, 16),
       dma=st.booleans(), batched=st.booleans(), scope=st.sampled_from(["migrate", "syscall"]),
       name=st.sampled_from(["page_us", "pte_us", "subpage_ns", "dma_descriptor_us", "dma_entry_us",
                             "dma_map_entry_us", "dma_channel_descriptor_us", "dma_setup_us", "copy_page_us",
                             "mt_page_us", "syscall_page_us"]))
def test_throughput_falls_as_per_page_costs_rise(p, page, n, workers, dma, batched, scope, name):
    """A dearer per-page (per-entry, per-descriptor) step never makes a migration faster,
    overlap or not."""
    config = dict(dma=dma, workers=workers, batched=batched, scope=scope, ptes_per_page=float(page // 4096))
    dearer = p.replace(**{name: min(getattr(p, name) * 1.5 + 0.01, ModelParams.bounds()[name][1])})
    assert throughput_gbps(dearer, page, n, **config) <= throughput_gbps(p, page, n, **config) * (1 + 1e-12)


def test_folio_structure_floor_and_split_difference():
    """The folio structure's floor: with many channels a PTE-mapped folio's time falls to its
    serial work, while a one-PMD THP keeps scaling (batches of many THPs: the series' testing
    limit); the split structure instead pays a descriptor per channel per page, so 4 KiB
    pages lose throughput with channels."""
    folio = ModelParams(dma_structure="folio", dma_channel_gbps=10.0, dma_ceiling_gbps=200.0,
                        dma_overlap=1.0, pte_us=0.3, dma_entry_us=0.3, migrate_batch_pages=262144)
    per_folio = lambda page, c: call_time_us(folio, page, 1024, dma=True, workers=c, batched=True,  # noqa: E731
                                             ptes_per_page=float(default_ptes_per_page(page))) / 1024
    serial = folio.page_us * (1 - folio.batch_saving) + 255 * folio.pte_us * (1 - folio.batch_saving)
    assert per_folio(1 << 20, 16) == pytest.approx(per_folio(1 << 20, 8), rel=0.05)
    assert per_folio(1 << 20, 16) >= serial
    assert per_folio(2 << 20, 16) < 0.5 * per_folio(2 << 20, 4)
    split = folio.replace(dma_structure="split")
    four_k = lambda p, c: throughput_gbps(p, 4096, 4096, dma=True, workers=c, batched=True)  # noqa: E731
    assert four_k(split, 16) < four_k(split, 1)
    assert four_k(folio, 16) > four_k(folio, 1)
    # Mainline's limit (512 base pages) puts one THP in a batch: dcbm then uses one channel.
    mainline = folio.replace(migrate_batch_pages=512)
    thp = lambda p, c: call_time_us(p, 2 << 20, 64, dma=True, workers=c, batched=True)  # noqa: E731
    assert thp(mainline, 16) == pytest.approx(thp(mainline, 1))
    assert thp(folio, 16) < 0.25 * thp(mainline, 16)


def test_structure_is_validated_and_round_trips():
    with pytest.raises(ValueError, match="dma_structure"):
        ModelParams(dma_structure="scatter")
    with pytest.raises(ValueError, match="dma_channels_per_engine"):
        ModelParams(dma_channels_per_engine=3)
    with pytest.raises(ValueError, match="migrate_batch_pages=1000 .*NR_MAX_BATCHED_MIGRATION"):
        ModelParams(migrate_batch_pages=1000)
    p = ModelParams(dma_structure="folio", dma_overlap=0.3, dma_channels_per_engine=2, migrate_batch_pages=262144)
    assert ModelParams.from_array(p.to_array()) == p


def test_folio_batches_and_segments():
    """dcbm's batches: migrate_pages() closes a batch when its base pages reach the limit
    (mainline 512: 512 4 KiB folios, two 1 MiB folios, one THP), a set-up per channel per
    batch, the fullest channel sets the wait when a batch does not divide evenly, and folios
    under 64 KiB share one descriptor per 64 KiB segment."""
    p = ModelParams(dma_structure="folio", dma_overlap=0.0, dma_entry_us=0.0, dma_channel_descriptor_us=0.0,
                    dma_descriptor_us=0.0, dma_map_entry_us=0.0, copy_call_us=0.0)
    whole = p.replace(migrate_batch_pages=262144)
    copy = lambda q, page, n, c: call_time_us(q, page, n, dma=True, workers=c, batched=True, scope="copy")  # noqa: E731
    more = lambda q: q.replace(dma_setup_us=q.dma_setup_us + 1.0)  # noqa: E731
    # Set-ups, mainline: 1024 4 KiB folios are two batches; on 4 channels that is 8 set-ups.
    # 1024 THPs are 1024 batches of one, each on one channel; 1024 1 MiB folios 512 of two.
    assert copy(more(p), 4096, 1024, 4) == pytest.approx(copy(p, 4096, 1024, 4) + 8.0)
    assert copy(more(p), 2 << 20, 1024, 4) == pytest.approx(copy(p, 2 << 20, 1024, 4) + 1024.0)
    assert copy(more(p), 1 << 20, 1024, 4) == pytest.approx(copy(p, 1 << 20, 1024, 4) + 1024.0)
    # The testing limit (1 GiB): 512 THPs are one batch, four set-ups on four channels.
    assert copy(more(whole), 2 << 20, 512, 4) == pytest.approx(copy(whole, 2 << 20, 512, 4) + 4.0)
    assert copy(more(whole), 2 << 20, 1024, 4) == pytest.approx(copy(whole, 2 << 20, 1024, 4) + 8.0)
    # Imbalance: 5 folios on 4 channels wait for the channel with two, as long as 8 would.
    assert copy(whole, 2 << 20, 5, 4) - 4 * p.dma_setup_us == pytest.approx(
        copy(whole, 2 << 20, 8, 4) - 4 * p.dma_setup_us)
    # Segments: sixteen 4 KiB folios are one 64 KiB descriptor's worth of channel time.
    d = p.replace(dma_channel_descriptor_us=10.0)
    assert copy(d, 4096, 512, 1) - copy(p, 4096, 512, 1) == pytest.approx(512 / 16 * 10.0)
    assert copy(d, 1 << 20, 4, 1) - copy(p, 1 << 20, 4, 1) == pytest.approx(4 * 10.0)


def _one_row(page, n, workers, dma, batched, exchange, scope, ptes, scale):
    from memtier.model.cost import SCOPE_CODES, PreparedTable

    def array(value, dtype):
        return np.array([value], dtype=dtype)

    return PreparedTable(array(page, np.float64), array(n, np.float64), array(ptes, np.float64),
                         array(dma, np.bool_), array(workers, np.int64), array(batched, np.bool_),
                         array(exchange, np.bool_), array(SCOPE_CODES[scope], np.int64),
                         array(float(page) * n, np.float64), array(scale, np.float64))


@settings(max_examples=200, deadline=None)
@given(p=params(), page=st.sampled_from(PAGE_SIZES[:3]), n=st.integers(1, 4096), workers=st.integers(1, 64),
       dma=st.booleans(), batched=st.booleans(), scope=st.sampled_from(["copy", "migrate", "syscall"]),
       mthp=st.booleans(), scale=st.floats(0.25, 4.0))
def test_source_scale_matches_naive_twin(p, page, n, workers, dma, batched, scope, mthp, scale):
    """A source's factor on the serial per-folio work (``Fit.sources``), kernel against twin."""
    from memtier.model.cost import prepared_gbps

    ptes = float(page // 4096) if mthp else float(default_ptes_per_page(page))
    gbps = prepared_gbps(p, _one_row(page, n, workers, dma, batched, False, scope, ptes, scale))[0]
    slow = naive_time_us(p, page, n, dma=dma, workers=workers, batched=batched, exchange=False,
                         scope=scope, ptes=ptes, scale=scale)
    assert page * n / gbps / 1e3 == pytest.approx(slow, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(p=params(), page=st.sampled_from([4096, 65536, 1 << 20, 2 << 20]), n=st.integers(1, 4096),
       workers=st.integers(1, 16), mthp=st.booleans())
def test_shared_path_bounds_the_folio_copy(p, page, n, workers, mthp):
    """However many channels, a folio-structure copy takes at least the shared path's time
    for its descriptors and entries (``dma_shared_*``), and dearer shared work never makes it
    faster."""
    p = p.replace(dma_structure="folio")
    ptes = float(page // 4096) if mthp and page < (2 << 20) else 1.0
    descriptors = min(1.0, page / 65536)
    floor = n * (descriptors * p.dma_shared_descriptor_us + ptes * p.dma_shared_entry_us)
    copy = call_time_us(p, page, n, dma=True, workers=workers, batched=True, scope="copy", ptes_per_page=ptes)
    assert copy >= floor * (1 - 1e-12)
    dearer = p.replace(dma_shared_entry_us=min(100.0, 2 * p.dma_shared_entry_us))
    assert call_time_us(dearer, page, n, dma=True, workers=workers, batched=True, scope="copy",
                        ptes_per_page=ptes) >= copy * (1 - 1e-12)


@settings(max_examples=100, deadline=None)
@given(p=params(), n=st.integers(1, 4096), workers=st.integers(1, 16), scale=st.floats(0.25, 4.0))
def test_source_scale_leaves_the_per_4k_work(p, n, workers, scale):
    """A source's factor scales the serial work per folio and per page-table entry, not the
    kernel's work per 4 KiB: with the per-folio terms at 0, a PMD-mapped THP's time does not
    depend on it, however large ``subpage_ns`` is (the postings' 2 MiB rows agree within 1%)."""
    p = p.replace(dma_structure="folio", page_us=0.0, dma_descriptor_us=0.0, dma_overlap=0.0,
                  subpage_ns=max(p.subpage_ns, 50.0))
    page = 2 << 20
    times = [naive_time_us(p, page, n, dma=True, workers=workers, batched=True, exchange=False,
                           scope="syscall", ptes=1.0, scale=s) for s in (1.0, scale)]
    kernel = [page * n / prepared_gbps_one(p, page, n, workers, s) / 1e3 for s in (1.0, scale)]
    assert times[1] == pytest.approx(times[0], rel=1e-12)
    assert kernel[1] == pytest.approx(kernel[0], rel=1e-12)


def prepared_gbps_one(p, page, n, workers, scale):
    from memtier.model.cost import prepared_gbps

    return prepared_gbps(p, _one_row(page, n, workers, True, True, False, "syscall", 1.0, scale))[0]


def test_sixteen_queues_on_one_engine():
    """An AE4DMA registers one channel per hardware queue, up to 16 on one device: with 16
    channels per engine, 16 channels move 2 MiB THPs no faster than the engine's bandwidth,
    where 16 PTDMAs (one channel each) carry sixteen engines' worth."""
    ae4 = ModelParams(dma_structure="folio", dma_channels_per_engine=16, migrate_batch_pages=262144,
                      dma_channel_gbps=10.0, dma_ceiling_gbps=1000.0)
    ptdma = ae4.replace(dma_channels_per_engine=1)
    rate = {p.dma_channels_per_engine: throughput_gbps(p, 2 << 20, 512, dma=True, workers=16, batched=True,
                                                      scope="copy") for p in (ae4, ptdma)}
    assert rate[16] <= 10.0 and rate[1] > 4 * rate[16]
    assert ModelParams.from_array(ae4.to_array()) == ae4
