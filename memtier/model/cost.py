"""An analytic model of the time one page-migration call takes.

The model follows what Linux 5.0 plus the RFC's patches do when they migrate a list of
``n_pages`` pages of ``page_bytes`` each, and charges time to each step.  Throughput follows
as ``page_bytes * n_pages / time``.  Three timer scopes nest, as in the RFC:

``copy``
    ``migrate_page_copy()`` / ``copy_page_lists_*()``: only moving the data.
``migrate``
    the kernel's ``migrate_pages()``: the copy plus unmapping, allocating and remapping.
``syscall``
    ``move_pages(2)`` end to end: the above plus the system call's own work (looking the
    pages up, isolating them from the LRU lists, ``lru_add_drain_all()``, the status array).

The evidence for each term is the RFC's table (``data/zi_yan_2019_rfc.csv``) unless stated;
the numbers quoted are read straight from it.  See :class:`ModelParams` for every parameter.

Copy, CPU threads
    One thread (``workers=1``) copies in the calling thread: no dispatch.  The RFC's single
    2 MiB copy runs at 2.48 GB/s and 512 4 KiB pages at 1.98 GB/s, i.e. about 0.2 us of
    per-page cost on top of the bandwidth term (``copy_page_us``); a single 4 KiB page costs
    0.9 us more (``copy_call_us``: a cold first access and the timer).
    With several threads the kernel queues work on other CPUs and waits for them
    (``dispatch_us`` + ``dispatch_thread_us`` per thread), and the thread that builds the work
    items pays ``mt_page_us`` per page, serially.  That serial term is why 512 4 KiB pages
    exchange at 3.2-3.9 GB/s whatever the thread count (1 to 16 threads), while one 2 MiB page
    scales from 2.48 to 9.03 GB/s with 8 threads.
    Aggregate bandwidth grows with threads until it meets a shared ceiling (the socket link
    and the memory controllers): ``smooth_min(w * copy_gbps_per_thread, link_gbps)`` with a
    sharpness ``ceiling_sharpness``; beyond the ceiling, contending threads lose
    (``contention``): 8 to 16 threads lowers exchange from 10.5 to 10.1 GB/s.
Copy, DMA engine: two structures (``ModelParams.dma_structure``)
    How a driver uses the engine's channels is part of the machine, and the two drivers
    memtier knows use them in two ways.

    ``"split"``: each page is split across all channels (the RFC's I/OAT patch, 07/25
    ``copy_page_dma()``: one descriptor per channel per page).  The RFC has a single DMA
    figure (16 channels, one 2 MiB page: 4.54 GB/s), so only one DMA parameter can be fitted
    to it; the others keep the values stated in :class:`ModelParams` and the fit reports them
    as open.  Descriptors are submitted serially (``dma_descriptor_us`` each, ``workers`` per
    page), a set-up is paid per call (``dma_setup_us``: mapping the pages for the device,
    taking the channels), and the bytes move at ``min(channels * dma_channel_gbps,
    dma_ceiling_gbps)`` (see "the DMA ceiling" below).  The CPU waits for the copy: nothing
    overlaps.

    ``"folio"``: whole folios are distributed over the channels (AMD's dcbm driver for
    PTDMA, Shivank Garg, "[RFC PATCH v4 5/6] drivers/migrate_offload: add DMA batch copy
    driver (dcbm)", linux-mm 2026-03-09, and v6 4/5, 2026-06-30: "batch-copies folios via DMA
    memcpy channels"; the batch flow of "[RFC V3 0/9] Accelerate page migration with batch
    copying and hardware offload", 2025-09-23: ``migrate_pages_batch()`` unmaps a batch,
    copies it, then remaps folio by folio; V3 changelog: "Switched from per-folio
    dma_map_page() to batch dma_map_sgtable()", "Single completion interrupt per batch").
    The model follows that code batch by batch.  What a batch holds is the machine's
    setting ``ModelParams.migrate_batch_pages`` (:data:`BATCH_PAGES`): mainline's
    ``migrate_pages()`` (``mm/migrate.c``) cuts the list into batches of
    ``NR_MAX_BATCHED_MIGRATION`` = ``HPAGE_PMD_NR`` = 512 *base pages*, the folio that
    reaches the limit included (512 4 KiB folios, two 1 MiB folios, one 2 MiB THP per
    batch), and dcbm's ``folios_copy_dma()`` uses ``min(nr_dma_chan, nr_folios, 16)``
    channels per batch, so on mainline a THP batch uses one channel.  The series carries a
    patch "for testing purpose only", "[RFC V3 8/9] adjust NR_MAX_BATCHED_MIGRATION for
    testing" (Zi Yan, linux-mm 2025-09-23, as in V2, 2025-03-19), that raises the limit to
    ``HPAGE_PUD_NR`` (262144 base pages, 1 GiB) "to allow batching THP copies": a 1 GiB
    ``move_pages()`` call is then one batch.  AMD's 2 MiB rows (12.6 to 67 GB/s from 1 to
    16 channels) need several THPs per batch, and the fit chooses the testing limit for
    them clearly (see :mod:`memtier.model.fitting`); an earlier version of this model counted
    512 *folios* per batch, which is neither rule, and paid 512 times as many per-channel
    set-ups per call as the code does.  Per batch of ``k`` folios:

    - it uses ``u = min(channels, k)`` channels, and every channel used pays a set-up
      (``dma_setup_us``: ``dma_request_chan_by_mask()``, its scatter-gather tables, their
      completion, ``dmaengine_terminate_sync()`` and ``dma_release_channel()``), so a call
      pays ``u`` set-ups per batch;
    - each channel gets a contiguous share (``folios_per_chan = nr * (i + 1) / u - nr * i /
      u``) and the copy waits for the fullest channel: ``ceil(k / u)`` folios;
    - a channel pays, per folio, its descriptors (``dma_channel_descriptor_us`` each), one
      entry of work per page-table entry (``dma_entry_us``: one for a PMD-mapped THP, one
      per 4 KiB for a PTE-mapped folio) and its bytes at its share of the bandwidth.
      Descriptors: dcbm issues one ``dmaengine_prep_dma_memcpy()`` per mapped
      scatter-gather segment ("dcbm = per-segment dmaengine_prep_dma_memcpy", Garg,
      2026-04-23), and PTDMA runs a channel's descriptors one at a time: the next is started
      from the completion of the previous (``pt_cmd_callback()`` in
      ``drivers/dma/ptdma/ptdma-dmaengine.c``; one command queue, one channel per PTDMA
      device).  Mapping a list through the IOMMU merges consecutive small folios into
      segments of at most the device's maximum segment (``iommu_dma_map_sg()``; the PCI
      core's default ``dma_set_max_seg_size(65536)``, which ``ptdma-pci.c`` does not raise):
      a folio under :data:`DMA_SEGMENT_BYTES` costs ``folio / 64 KiB`` of a descriptor, a
      larger one a whole descriptor (mapping never splits an entry).  This is the one rule
      here that assumes an IOMMU in translated mode (the kernel's default unless booted
      with ``iommu=pt``); without one every folio is its own descriptor;
    - the CPU pays, serially and per folio, the kernel work below plus its share of the
      submission (``dma_descriptor_us``) and of mapping each further 4 KiB entry of a
      PTE-mapped folio for the device (``dma_map_entry_us``).

    With ``u`` channels, the serial CPU work overlaps copies running on the *other* channels:
    a share ``dma_overlap * (1 - 1/u)`` of the smaller of the two totals is hidden; with one
    channel nothing is hidden, with many the time falls towards the larger of the two (a
    floor set by the serial per-folio work).  The overlap is the model's reading of the
    data, not of that code: ``folios_copy_dma()`` maps and submits every channel's list
    before ``dma_async_issue_pending()`` starts any, then waits for all of them, and the
    move phase follows; nothing in it overlaps.  A later dcbm (module parameters and
    ``FOLIO_CONTENT_COPIED``, as in "[PATCH RFC v6 4/5]", linux-mm 2026-06-30) starts each
    channel as soon as its list is submitted (``submit_dma_transfers()`` then
    ``dma_async_issue_pending()`` per channel): the first channels start earlier, but the
    wait still ends with the last channel submitted, after all the submission work plus
    its own copy, so the sum is the same; and the per-folio kernel work (unmap before,
    remap after) stays outside the copy in ``migrate_pages_batch()``.  ``dma_overlap`` is
    therefore a named departure, stated at 0, the code (every cost adds up; it was stated
    at 0.8, an estimate, until issue 8 asked that every departure be absent unless the data
    show it), and fitted when it pays: like the shared path below, it must lower Akaike's
    criterion by 4 against 0 to be kept (AMD: 21 over all rows, 10 over the 1-4 channel rows).  With 0
    (the other terms below fitted, the source effect on) the AMD rows fit at median 4.4%,
    largest 20% (overlap fitted: 2.8%, 17%): the rows have a floor the code does not
    explain (1 MiB folios take 225 us at one channel, then 90-100 us at 4, 8 and 16, which
    no sum of a serial part and a part divided among the channels gives).  An unbatched migration hands the
    engine one folio at a time (one channel busy, one set-up per folio, nothing to overlap).

    A shared path (``dma_shared_descriptor_us``, ``dma_shared_entry_us``; folio structure).
    Every channel's descriptors and page-table entries also pass through something all
    channels share, so a batch's copy takes at least ``folios * (descriptors *
    dma_shared_descriptor_us + entries * dma_shared_entry_us)`` however many channels carry
    it: the copy waits for the larger of the busiest channel and that shared time.  What is
    shared is not named by the rows; the candidates are the IOMMU, which translates each
    4 KiB of a PTE-mapped folio for whichever channel reads it (a PMD-mapped THP is one
    entry), and the CPU work of each command's completion (``pt_cmd_callback()`` starts a
    PTDMA channel's next command).  It is a named departure from dcbm's code, like the
    overlap, and a term of the machine: with both at 0 nothing changes.  Evidence: per
    folio, small folios stop gaining at four channels (64 KiB: 10, 8.2, 7.8 us at 4, 8 and
    16 channels; 1 MiB: 97, 101, 88 us), where the busiest channel's share would still
    halve, while 2 MiB THPs, one entry and one descriptor each, keep scaling (77, 45, 31
    us).  Both are stated at 0 (absent unless the data show it); the fit probes them
    (:func:`memtier.fit`: at 0 the branch is inactive and the local sensitivity zero) and
    keeps a term only if Akaike's criterion falls by at least 4 with it.  Fitted to AMD's
    rows: about 7 us per descriptor (AIC 30 lower than without it), while the per-entry
    time does not pay for itself once the per-descriptor one is there (at most 1.7 lower
    in AIC) and stays open at its stated value.  With the source effect, the largest
    in-sample error falls from 20.8% to 16.9% with the shared path (16.5% since the source
    factor leaves the per-4-KiB work alone; 14.8% since the DMA ceiling is a hard minimum,
    below), and the 8- and 16-channel rows held out were
    predicted at median 10.3%, largest 35% (12.6%, 33% without it; 7.9%, 26% with the
    per-entry time fitted too, which 1-4 channels do not pay for: AIC only 0.2 lower);
    with the engines' ceiling stated at the machine's socket link
    (:func:`memtier.datasets.amd_zen3_2026_machine`), 7.7%, 31% (7.8%, 30% with the hard
    DMA ceiling; 8.6%, 18.9% since the overlap is stated at 0 and fitted where it pays,
    below).

    Evidence: AMD's Zen3 series (``data/amd_zen3_2026.csv``).  Per folio, 1 MiB mTHPs take
    229 us at 1 channel and 93-101 us at 4, 8 and 16 (a floor: 256 PTEs of serial work);
    4 KiB folios 1.8 us then 1.2 us, while one-PMD 2 MiB THPs, with little serial work, keep
    scaling (165, 77, 45, 31 us) until the engine's ceiling.  Throughput of 4 KiB folios
    *rises* with channels (2.33 to 3.29 GB/s from 1 to 16), which the split structure gives
    only where bytes outweigh descriptors: it adds a descriptor per channel per page.  The per-descriptor channel
    time is what separates folio sizes with the same number of PTEs: at one channel 64 KiB
    folios move at 2.8-3.2 GB/s but 256 KiB and 1 MiB folios at 4.6-4.8 (32 descriptors per
    2 MiB against 8 and 2); without it the fit's median and largest in-sample errors were
    4.9% and 28%, with it 4.2% and 23% (before the shared path and the source effect; the
    fit puts a descriptor at about 8 us of channel
    time: the completion interrupt and the start of the next command).  4 KiB folios at one channel (2.2-2.6 GB/s) are not
    slowed by 512 descriptors per 2 MiB, which is the evidence for merging into 64 KiB
    segments.

    Channels and engines (``ModelParams.dma_channels_per_engine``, both structures).  A DMA
    channel is a hardware queue; where several queues sit behind one engine (or one port)
    they share its bandwidth.  The bytes therefore move at
    ``min(channels * dma_queue_gbps, engines * dma_channel_gbps, dma_ceiling_gbps)`` with
    ``engines = ceil(channels / dma_channels_per_engine)``; per-descriptor and per-entry work
    is each queue's own.  ``dma_queue_gbps`` is what one queue moves on its own; at its
    default (1000 GB/s, its bound) a lone queue gets its whole engine, the model before it
    was added.

    The DMA ceiling (``dma_ceiling_softness``, both structures).  The queues, the engines and
    the ceiling (the socket link, the memory) are resources the bytes cross in series, and
    the throughput of resources in series is bounded by the slowest: the asymptotic bound of
    operational analysis, ``X <= 1 / D_max`` (Lazowska, Zahorjan, Graham and Sevcik,
    "Quantitative System Performance", 1984, ch. 5, "Bounds on performance"), which is what
    the model states (softness 0: the smaller of the two).  Near the knee a real system may
    fall below that bound (queueing at the bottleneck); that is a property of the machine no
    source states for the DMA path, so a softness above 0 (a smooth minimum of exponent
    ``1 / dma_ceiling_softness``) is a named departure: stated absent and probed, kept only
    if the rows pay for it (:mod:`memtier.model.fitting`, as the overlap and the shared path
    below).  Until this version the DMA ceiling was bent with the CPU link's
    ``ceiling_sharpness``, one number for both, which nothing sourced: the CPU threads'
    smooth approach to the link is read from the RFC's thread scaling (1-16 threads), and
    the DMA path has no such evidence.  On AMD's rows the soft ceiling does not pay: the AIC
    is 2.9 lower with it, not 4 (the two fits' squared errors 0.197 and 0.212 over 67 rows).
    With the shared sharpness the fit bent the engines' ceiling from four channels up
    (sharpness 3.2) and read more serial work per 4 KiB (97 ns, now 67 ns); with the hard
    minimum the largest in-sample error falls from 16.7% to 14.8% and the median rises from
    2.7% to 3.3%.  The choice is near the threshold: stated with a shared path of 0.2 us per
    entry the softness pays exactly 4 (fitted at 0.48, the ceiling at 87 GB/s; largest
    error 17.7%).  The 8- and 16-channel rows held out were predicted as before (7.8%, 30%,
    the overlap then stated at 0.8): the THPs at 16 channels were held back by the serial
    work the overlap cannot hide, not by the ceiling.  Old fits (format 6 and before) load with ``1 / ceiling_sharpness``, the
    model they were made with.

    On AMD's machine the layout is documented, not only read from the rows.  PTDMA's driver
    registers one channel per PCI device (``pt_dmaengine_register()`` in
    ``drivers/dma/amd/ptdma/ptdma-dmaengine.c``: one ``pt_dma_chan``, one command queue),
    and the two-socket EPYC 7002 I/O die ("Starship/Matisse", which the Zen 3 EPYC 7003
    reuses) has two PTDMA functions (PCI 1022:1498, at ``xx:00.2`` on the two internal buses
    behind each root complex) per root complex, four root complexes per socket: eight PTDMAs a
    socket, sixteen a machine (``lspci`` of public two-socket EPYC 7002 servers; the DPDK
    PTDMA guide, ``doc/guides/rawdevs/ptdma.rst``, shows such a pair, 01:00.2 and 02:00.2),
    which is dcbm's ``MAX_DMA_CHANNELS`` (16) and the postings' largest count.  dcbm takes
    its channels with ``dma_request_chan_by_mask()``, which returns the first free channel of
    ``dma_device_list``, in the order the devices registered (PCI probe order, bus by bus):
    channels 1 and 2 are the first root complex's two PTDMAs, 3 and 4 the next one's, and 9
    to 16 sit on the second socket.  Two channels per engine is therefore two PTDMAs per root
    complex, sharing its port to the data fabric; the fit of AMD's rows chooses 2 clearly
    from the rows alone (AIC 63 lower than the next best), in agreement.  The rows show it:
    2 MiB THPs move at 12.6 GB/s on one channel, 14.4 on two (one root complex), then 27,
    46.5 and 67 on 4, 8 and 16 (two, four, eight), while small folios, whose time is
    per-descriptor and per-entry queue work, gain 1.6x from one channel to two.

    A lone PTDMA runs one command at a time: ``pt_issue_pending()`` starts a command only
    when the channel is idle, and ``pt_cmd_callback()``, called from the completion
    interrupt (``pt_core_irq_handler()`` in ``ptdma-dev.c``), completes it and starts the
    next.  One queue with one command in flight may not fill its root complex's share, so
    ``dma_queue_gbps`` may lie below ``dma_channel_gbps``; that is a hardware property the
    code does not state, so the term is stated absent and the fit probes it
    (:mod:`memtier.model.fitting`).  Over all of AMD's rows it stays open (AIC 1.1 higher with
    it): the THPs' gain from one channel to two (165 to 146 us a THP on one root complex) is
    read as the overlap of serial work above.  Over the 1-4 channel rows both terms pay, the
    lone channel's limit (AIC 11 lower; 16.3 GB/s against 17.8 for the root complex) and the
    overlap (10 lower; 0.66), and the 8- and 16-channel rows held out are predicted at median
    8.6%, largest 18.9% (THPs at 16 channels -19% and -13%, at 8 +3% and +6%; 64 KiB folios
    -10% to -18%).  Two earlier readings of the same rows: with the overlap stated at 0.8 (an
    estimate) and kept there unpaid, the queue did not pay (AIC 2.0 higher) and the prediction
    was 7.8% and 30.3% (THPs -30% and -25%: the overlap, 38 us of serial work a THP, 0.8 of it
    hidden behind the other channels' copies, at most their copy time, cannot keep the THPs'
    time flat once the copy, 21 us a THP at 16 channels, is shorter than the serial work);
    with the overlap stated at 0 but each departure tested once, the overlap was rejected
    before the shared path was found (AIC 0.8 lower) and the queue alone predicted 14.3% and
    25.9% (1 MiB folios 13-25% fast).  Read per THP, the rows held out favour the queue:
    beyond the bytes at the engines' rate and the descriptor, the dcbm_sg posting's THPs take
    39 us at one channel and 17, 15 and 13-18 us at 4, 8 and 16 (the v4 posting's two: 24),
    flat from four channels on; but the 1 MiB folios' floor at 4-16 channels needs the
    overlap.
    The default, 1 channel per engine, is the model of the RFC (every channel its own
    engine); the fit tries 1, 2 and 4 when the data have several channel counts, like the
    structure.
Batching
    Unbatched, each page is a separate copy with its own dispatch; batched (patches 09-11), the
    whole list is copied by one dispatch and pages are unmapped and remapped together, saving a
    share ``batch_saving`` of the kernel's per-page work (fewer TLB flushes): 16 THPs with 2
    threads cost 34.5 us of kernel work per page unbatched and 24 us batched.
Exchange
    Pages are exchanged in pairs (patches 12-17); ``n_pages`` counts every page moved, so 16
    exchanged THPs are 8 pairs (the RFC counts pages this way for migration; it does not say
    for exchange, and this is the model's choice).  Each thread reads and writes both pages,
    so data crosses the link in both directions at once: per-thread bandwidth is
    ``exchange_gain`` times the one-way figure (1-thread 16-THP exchange copies at 4.23 GB/s,
    1.7x migration's 2.48) up to its own ceiling ``exchange_ceiling_gbps`` (both sockets'
    memory is read and written).  No page is allocated: exchange saves a share
    ``exchange_saving`` of the per-4-KiB-subpage kernel work (THP kernel work falls from 24 us
    batched to 10.7 us exchanged; 4 KiB pages from 2.7 to 2.0 us).
Kernel work (``migrate`` and ``syscall`` scopes)
    ``call_us`` once per call, then per page ``page_us`` + ``subpage_ns`` for every 4 KiB of
    the page (struct pages of a compound page: 2 MiB THP migration costs 33 us of kernel work
    against 2.7 us for a 4 KiB page) + ``pte_us`` for every page-table entry after the first
    that maps the page: PTE-mapped folios (mTHP, 16 KiB-1 MiB on x86-64) are mapped by one
    PTE per 4 KiB, so unmapping and remapping walks every entry, while a PMD-mapped THP is
    one entry (``ptes_per_page``; :func:`default_ptes_per_page`).  The RFC's data have no
    mTHP and cannot fit ``pte_us`` (the default is an estimate); AMD's one-thread rows can:
    1 GB moved as 4 KiB to 1 MiB folios takes time linear in the PTE count, about 0.58 us per
    4 KiB of which the copy is about 0.3, while the 2 MiB THP (one PMD) is faster per byte
    than the 1 MiB mTHP (11 against 7 GB/s).
System call
    ``syscall_call_us`` per call and ``syscall_page_us`` per page; on the RFC's machine a
    single 4 KiB page takes ~100 us through ``migrate_pages(2)`` against 13 us inside the
    kernel function (``lru_add_drain_all()`` sends work to every CPU).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .._jit import njit
from ..limits import MAX_CALL_BYTES, MAX_WORKERS

SCOPE_CODES = {"copy": 0, "migrate": 1, "syscall": 2}
SUBPAGE_BYTES = 4096
#: How a DMA driver uses the channels: ``split`` each page across all of them (the RFC's
#: I/OAT patch), or hand whole folios to them (``folio``) (AMD's dcbm driver).
DMA_STRUCTURES = ("split", "folio")
#: How many channels (hardware queues) share one engine's bandwidth: 1 where every channel
#: is its own engine (the model of the RFC's I/OAT), more where queues share a device.  16:
#: AMD's later AE4DMA, which the same driver registers as one dmaengine channel per hardware
#: queue, up to ``MAX_AE4_HW_QUEUES`` (16) queues on one PCI device
#: (``pt_dmaengine_register()``, ``drivers/dma/amd/ptdma/ptdma-dmaengine.c``, where a PTDMA
#: gets one channel and one queue), so that dcbm's 16 channels may all be one engine.  A fit
#: tries 1, 2 and 4 (``memtier.model.fitting.ENGINE_CHOICES``): rows of 1-4 channels cannot
#: tell 4 from 8 or 16 (one engine either way), so a machine whose engines hold more queues
#: states it (``base=``, whose layout the fit also tries, or ``channels_per_engine=``).
CHANNELS_PER_ENGINE = (1, 2, 4, 8, 16)
#: ``NR_MAX_BATCHED_MIGRATION``, in base (4 KiB) pages: how much one ``migrate_pages_batch()``
#: call unmaps, copies and remaps together.  ``migrate_pages()`` (``mm/migrate.c``) closes a
#: batch at the folio that brings it to the limit.  512 is mainline's (``HPAGE_PMD_NR`` with
#: THP); 262144 (``HPAGE_PUD_NR``, 1 GiB) is the copy-offload series' testing patch ("[RFC V3
#: 8/9] adjust NR_MAX_BATCHED_MIGRATION for testing", linux-mm 2025-09-23: "to allow
#: batching THP copies").  Used by the folio structure only.
BATCH_PAGES = (512, 262144)
DMA_SEGMENT_BYTES = 65536.0


def _param(default, low, high, unit, doc):
    return field(default=default, metadata={"bounds": (low, high), "unit": unit, "doc": doc})


@dataclass(frozen=True)
class ModelParams:
    """Parameters of the migration cost model, with their units in their names.

    Defaults are the fit to the RFC's table (rounded), except where a field says the data
    cannot constrain it; ``bounds`` in each field's metadata are the physical range a fit may
    use.
    """

    # --- CPU copy ---
    copy_gbps_per_thread: float = _param(2.28, 0.1, 100.0, "GB/s",
        "bandwidth of one copy thread, cross-node")
    link_gbps: float = _param(12.7, 0.5, 1000.0, "GB/s",
        "shared ceiling of the copy: the socket link and memory (the RFC's QPI is 19.2 GB/s "
        "nominal, both directions)")
    ceiling_sharpness: float = _param(2.3, 1.0, 20.0, "1",
        "how abruptly aggregate bandwidth meets the ceiling (smooth-min exponent)")
    contention: float = _param(0.044, 0.0, 2.0, "1",
        "bandwidth lost per unit of demand beyond the ceiling")
    dispatch_us: float = _param(50.0, 0.0, 5000.0, "us",
        "queueing copy work to other CPUs and waiting for it, per dispatch")
    dispatch_thread_us: float = _param(0.5, 0.0, 500.0, "us",
        "dispatch cost per thread woken")
    copy_page_us: float = _param(0.22, 0.0, 100.0, "us",
        "per-page cost of an in-thread copy besides the bytes (kmap, cold lines)")
    mt_page_us: float = _param(0.58, 0.0, 100.0, "us",
        "per-page cost of building multi-threaded copy work, paid serially")
    copy_call_us: float = _param(0.92, 0.0, 1000.0, "us",
        "per-call cost of the copy step (first touch, timer)")
    exchange_gain: float = _param(1.9, 1.0, 2.0, "1",
        "exchange bandwidth per thread over one-way copy (at most 2: both directions)")
    exchange_ceiling_gbps: float = _param(12.3, 0.5, 1000.0, "GB/s",
        "ceiling of exchange copy (both nodes' memory read and written)")
    # --- DMA copy ---
    dma_channel_gbps: float = _param(1.0, 0.05, 100.0, "GB/s",
        "bandwidth of one DMA channel (of one engine, when dma_channels_per_engine channels "
        "share it); not constrained by the RFC (one DMA figure): an estimate for Intel I/OAT "
        "on Haswell-EP, about 1 GB/s per channel")
    dma_ceiling_gbps: float = _param(5.0, 0.1, 1000.0, "GB/s",
        "ceiling of the DMA engine over all channels")
    dma_setup_us: float = _param(20.0, 0.0, 5000.0, "us",
        "DMA set-up (map pages for the device, take the channels, wait for completion): per "
        "call (split) or per channel of every batch (folio); an estimate")
    dma_descriptor_us: float = _param(1.0, 0.0, 100.0, "us",
        "per-descriptor submission, paid serially by the CPU: one per channel per page "
        "(split) or one per folio (folio); an estimate for the RFC's machine")
    dma_entry_us: float = _param(0.05, 0.0, 100.0, "us",
        "channel time per page-table entry mapping a folio (one for a PMD-mapped THP, one "
        "per 4 KiB for an mTHP); not constrained by the RFC (THPs only): an estimate")
    dma_map_entry_us: float = _param(0.05, 0.0, 100.0, "us",
        "CPU time per page-table entry after the first, mapping a PTE-mapped folio for the "
        "device (folio structure); not constrained by the RFC: an estimate")
    dma_overlap: float = _param(0.0, 0.0, 1.0, "1",
        "share of the serial per-folio CPU work hidden behind copies on other channels "
        "(folio structure only; times 1 - 1/channels); 0: absent unless the data show it "
        "(dcbm's folios_copy_dma() adds every cost: a departure from its code)")
    dma_channel_descriptor_us: float = _param(0.5, 0.0, 100.0, "us",
        "channel time per descriptor besides its bytes (fetch, completion, starting the "
        "next); not constrained by the RFC (one descriptor per channel): an estimate for "
        "I/OAT, which chains descriptors in a ring")
    dma_shared_descriptor_us: float = _param(0.0, 0.0, 100.0, "us",
        "time per descriptor on a path every channel shares (completion interrupt and the "
        "start of the next command on the CPU that serves them): a batch's copy takes at least "
        "its descriptors times this, whatever the channels (folio structure only); 0: absent "
        "unless the data show it (a departure from dcbm's code)")
    dma_shared_entry_us: float = _param(0.0, 0.0, 100.0, "us",
        "time per page-table entry on a path every channel shares (the IOMMU translating each "
        "4 KiB of a PTE-mapped folio): a batch's copy takes at least its entries times this, "
        "whatever the channels (folio structure only); 0: absent unless the data show it (a "
        "departure from dcbm's code)")
    dma_queue_gbps: float = _param(1000.0, 0.05, 1000.0, "GB/s",
        "bandwidth one channel moves on its own, below its engine's when one queue cannot "
        "keep the engine busy (a PTDMA device runs one command at a time); 1000 (the bound): "
        "no limit of its own, a lone channel gets its whole engine")
    dma_ceiling_softness: float = _param(0.0, 0.0, 1.0, "1",
        "how gradually the DMA channels' bandwidth meets the engines' ceiling: 0, the smaller "
        "of the two (resources in series: the slowest one sets the pace); above 0, a smooth "
        "minimum with exponent 1 / softness (a departure: no source states one for the DMA path)")
    # --- kernel work ---
    call_us: float = _param(7.5, 0.0, 10000.0, "us",
        "migrate_pages() per call")
    page_us: float = _param(2.66, 0.0, 1000.0, "us",
        "migrate_pages() per page (isolate, unmap, allocate, remap)")
    subpage_ns: float = _param(50.0, 0.0, 10000.0, "ns",
        "migrate_pages() per 4 KiB of a page (struct pages of a compound page)")
    pte_us: float = _param(0.1, 0.0, 100.0, "us",
        "per page-table entry after the first mapping a page; not constrained by the RFC "
        "(all its pages are mapped by one entry): an estimate of a PTE clear, rmap walk step "
        "and set")
    batch_saving: float = _param(0.24, 0.0, 0.95, "1",
        "share of per-page kernel work saved by batching (TLB flushes shared)")
    exchange_saving: float = _param(0.56, 0.0, 0.95, "1",
        "share of per-subpage kernel work saved by exchange (no allocation)")
    # --- system call ---
    syscall_call_us: float = _param(90.0, 0.0, 100000.0, "us",
        "move_pages(2)/migrate_pages(2) per call beyond migrate_pages(): estimated from "
        "Zi Yan's 2019-03-27 mail (~40 MB/s for one 4 KiB page)")
    syscall_page_us: float = _param(0.6, 0.0, 1000.0, "us",
        "system call per page beyond migrate_pages() (lookup, status)")
    # --- structure (not a number: chosen, not fitted continuously) ---
    dma_structure: str = field(default="split", metadata={"choices": DMA_STRUCTURES})
    dma_channels_per_engine: int = field(default=1, metadata={"choices": CHANNELS_PER_ENGINE})
    migrate_batch_pages: int = field(default=512, metadata={"choices": BATCH_PAGES})

    @classmethod
    def _numeric(cls):
        return [f for f in dataclasses.fields(cls) if "bounds" in f.metadata]

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The numeric parameters, in the order of :meth:`to_array`."""
        return tuple(f.name for f in cls._numeric())

    @classmethod
    def bounds(cls) -> dict[str, tuple[float, float]]:
        return {f.name: f.metadata["bounds"] for f in cls._numeric()}

    @classmethod
    def units(cls) -> dict[str, str]:
        return {f.name: f.metadata["unit"] for f in cls._numeric()}

    @classmethod
    def docs(cls) -> dict[str, str]:
        return {f.name: f.metadata["doc"] for f in cls._numeric()}

    def to_array(self) -> np.ndarray:
        """The numeric parameters in :meth:`names` order, then the DMA structure's code
        (0 split, 1 folio), the channels per engine and the batch limit in base pages: the
        array the kernel reads, of length ``ARRAY_SIZE``."""
        values = [getattr(self, name) for name in self.names()]
        values.append(float(DMA_STRUCTURES.index(self.dma_structure)))
        values.append(float(self.dma_channels_per_engine))
        values.append(float(self.migrate_batch_pages))
        return np.array(values, dtype=np.float64)

    @classmethod
    def from_array(cls, values) -> "ModelParams":
        values = np.asarray(values, dtype=np.float64)
        names = cls.names()
        changes = {name: float(v) for name, v in zip(names, values)}
        if len(values) > len(names):
            changes["dma_structure"] = DMA_STRUCTURES[int(round(values[len(names)]))]
        if len(values) > len(names) + 1:
            changes["dma_channels_per_engine"] = int(round(values[len(names) + 1]))
        if len(values) > len(names) + 2:
            changes["migrate_batch_pages"] = int(round(values[len(names) + 2]))
        return cls(**changes)

    def replace(self, **changes) -> "ModelParams":
        return dataclasses.replace(self, **changes)

    def __post_init__(self):
        if self.dma_structure not in DMA_STRUCTURES:
            raise ValueError(f"dma_structure={self.dma_structure!r} is not one of {', '.join(DMA_STRUCTURES)}")
        if (isinstance(self.dma_channels_per_engine, bool)
                or self.dma_channels_per_engine not in CHANNELS_PER_ENGINE):
            raise ValueError(f"dma_channels_per_engine={self.dma_channels_per_engine!r} is not one of "
                             f"{', '.join(map(str, CHANNELS_PER_ENGINE))}")
        object.__setattr__(self, "dma_channels_per_engine", int(self.dma_channels_per_engine))
        if isinstance(self.migrate_batch_pages, bool) or self.migrate_batch_pages not in BATCH_PAGES:
            raise ValueError(f"migrate_batch_pages={self.migrate_batch_pages!r} is not one of "
                             f"{', '.join(map(str, BATCH_PAGES))} (NR_MAX_BATCHED_MIGRATION: mainline's "
                             "512, or the copy-offload series' testing value 262144)")
        object.__setattr__(self, "migrate_batch_pages", int(self.migrate_batch_pages))
        for name, (low, high) in self.bounds().items():
            value = getattr(self, name)
            if not (np.isfinite(value) and low <= value <= high):
                raise ValueError(f"parameter {name}={value!r} is outside its physical range [{low}, {high}]")


# Positions of the parameters in the array the kernel reads.
(_B, _LINK, _SHARP, _CONT, _DISP, _DISPT, _CPAGE, _MTPAGE, _CCALL, _XGAIN, _XCEIL, _DMACH,
 _DMACEIL, _DMASET, _DMADESC, _DMAENT, _DMAMAP, _DMAOVL, _DMACHDESC, _DMASHDESC, _DMASHENT, _DMAQUEUE,
 _DMASOFT, _CALL, _PAGE, _SUBNS, _PTE, _BSAVE, _XSAVE, _SCALL, _SPAGE, _DMASTRUCT, _DMAPERENG,
 _BATCHPAGES) = range(34)
assert len(ModelParams.names()) == 31
#: Length of the array the kernel reads: the numeric parameters, the structure's code, the
#: channels per engine and the batch limit.
ARRAY_SIZE = 34


@njit
def _smooth_min(a, b, sharpness):
    # (a^-k + b^-k)^(-1/k): a when a << b, b when a >> b; written on the ratio of the smaller
    # to the larger, so that it cannot overflow however sharp (the DMA path's 1 / softness).
    low = min(a, b)
    return low / (1.0 + (low / max(a, b)) ** sharpness) ** (1.0 / sharpness)


@njit
def _soft_min(a, b, softness):
    # softness 0: the smaller of the two; above 0 the smooth minimum with exponent 1 / softness
    # (it tends to the hard minimum as the softness falls to 0).
    if softness <= 0.0:
        return min(a, b)
    return _smooth_min(a, b, 1.0 / softness)


@njit
def _cpu_bandwidth_gbps(p, workers, exchange):
    per_thread = p[_B] * (p[_XGAIN] if exchange else 1.0)
    ceiling = p[_XCEIL] if exchange else p[_LINK]
    demand = workers * per_thread
    bandwidth = _smooth_min(demand, ceiling, p[_SHARP])
    if demand > ceiling:
        bandwidth /= 1.0 + p[_CONT] * (demand - ceiling) / ceiling
    return bandwidth


@njit
def _batch_folios(p, page_bytes):
    """Folios in one full batch: ``migrate_pages()`` adds folios until their base pages
    reach ``migrate_batch_pages``, the last one included."""
    return max(1.0, np.ceil(p[_BATCHPAGES] / (page_bytes / 4096.0)))


@njit
def _dma_channels_used(p, page_bytes, n_pages, workers, batched):
    """Channels that carry data at once: all of them when a page is split (split); when
    whole folios are handed out (folio), as many as there are folios in a batch
    (:func:`_batch_folios`), and one when an unbatched migration hands the engine one folio
    at a time."""
    if p[_DMASTRUCT] < 0.5:
        return float(workers)
    if not batched:
        return 1.0
    return min(float(workers), min(n_pages, _batch_folios(p, page_bytes)))


@njit
def _dma_serial_us(p, n_pages, ptes_per_page, workers):
    """CPU work of the DMA copy, paid serially: descriptors (and, for folios, mapping)."""
    if p[_DMASTRUCT] < 0.5:
        return n_pages * workers * p[_DMADESC]
    return n_pages * (p[_DMADESC] + (ptes_per_page - 1.0) * p[_DMAMAP])


@njit
def _dma_bandwidth_gbps(p, channels):
    """Bytes per microsecond / 1e3 of ``channels`` queues: engines' bandwidth under the ceiling."""
    engines = np.ceil(channels / p[_DMAPERENG])
    return _soft_min(min(channels * p[_DMAQUEUE], engines * p[_DMACH]), p[_DMACEIL], p[_DMASOFT])


@njit
def _dma_setups(p, page_bytes, n_pages, workers, batched):
    """How many times the DMA set-up is paid: once per call (split), once per channel of
    every batch (folio: each channel has its own mapped lists and its own completion), once
    per page when unbatched."""
    if not batched:
        return n_pages
    if p[_DMASTRUCT] < 0.5:
        return 1.0
    k = _batch_folios(p, page_bytes)
    full = np.floor(n_pages / k)
    rest = n_pages - full * k
    setups = full * min(float(workers), k)
    if rest > 0.0:
        setups += min(float(workers), rest)
    return setups


@njit
def _dma_channel_us(p, page_bytes, n_pages, ptes_per_page, workers, batched):
    """Time the copy waits for the channels.

    split: every page on every channel: the bytes over the engines' bandwidth plus the
    per-entry work shared by the channels.  folio: batch by batch, the busiest channel's
    folios (``ceil(folios / channels)``: a batch that does not divide evenly waits for its
    fullest channel), each paying its entries and its bytes at the channel's share of the
    bandwidth."""
    if p[_DMASTRUCT] < 0.5:
        channels = float(workers)
        return (n_pages * p[_DMACHDESC] + n_pages * ptes_per_page * p[_DMAENT] / channels
                + page_bytes * n_pages / (_dma_bandwidth_gbps(p, channels) * 1e3))
    descriptors = min(1.0, page_bytes / DMA_SEGMENT_BYTES)
    if not batched:
        return n_pages * max(p[_DMACHDESC] + ptes_per_page * p[_DMAENT]
                             + page_bytes / (_dma_bandwidth_gbps(p, 1.0) * 1e3),
                             p[_DMASHDESC] + ptes_per_page * p[_DMASHENT])
    k = _batch_folios(p, page_bytes)
    full = np.floor(n_pages / k)
    rest = n_pages - full * k
    total = 0.0
    for folios, batches in ((k, full), (rest, 1.0)):
        if folios <= 0.0 or batches <= 0.0:
            continue
        used = min(float(workers), folios)
        per_folio = (descriptors * p[_DMACHDESC] + ptes_per_page * p[_DMAENT]
                     + page_bytes * used / (_dma_bandwidth_gbps(p, used) * 1e3))
        # The shared path serves every channel's descriptors and entries in turn.
        shared = folios * (descriptors * p[_DMASHDESC] + ptes_per_page * p[_DMASHENT])
        total += batches * max(np.ceil(folios / used) * per_folio, shared)
    return total


@njit
def _copy_time_us(p, page_bytes, n_pages, ptes_per_page, dma, workers, batched, exchange, scale):
    """Microseconds of the copy step for one call (the ``copy`` scope); ``scale`` multiplies
    the DMA copy's serial CPU work (a source's build, :func:`prepared_gbps`)."""
    total_bytes = page_bytes * n_pages
    # GB/s is 1e3 bytes per microsecond.
    if dma:
        return (p[_CCALL] + _dma_setups(p, page_bytes, n_pages, workers, batched) * p[_DMASET]
                + scale * _dma_serial_us(p, n_pages, ptes_per_page, workers)
                + _dma_channel_us(p, page_bytes, n_pages, ptes_per_page, workers, batched))
    bandwidth = _cpu_bandwidth_gbps(p, workers, exchange)
    if workers == 1:
        return p[_CCALL] + n_pages * p[_CPAGE] + total_bytes / (bandwidth * 1e3)
    dispatches = 1.0 if batched else n_pages
    return (p[_CCALL] + dispatches * (p[_DISP] + workers * p[_DISPT]) + n_pages * p[_MTPAGE]
            + total_bytes / (bandwidth * 1e3))


@njit
def _kernel_page_us(p, page_bytes, ptes_per_page, batched, exchange, scale):
    """Microseconds of migrate_pages()'s own work per page, besides the copy; ``scale``
    multiplies the per-page and per-entry part, not the per-4-KiB part (a source's build,
    :func:`_call_time_us`)."""
    subpages = page_bytes / 4096.0
    per_page = (scale * (p[_PAGE] + (ptes_per_page - 1.0) * p[_PTE])
                + subpages * p[_SUBNS] * 1e-3 * ((1.0 - p[_XSAVE]) if exchange else 1.0))
    if batched:
        per_page *= 1.0 - p[_BSAVE]
    return per_page


@njit
def _dma_overlap_us(p, page_bytes, n_pages, ptes_per_page, workers, batched, scale):
    """Serial CPU work hidden behind copies on other channels (folio structure, batched)."""
    if p[_DMASTRUCT] < 0.5 or not batched:
        return 0.0
    channels = _dma_channels_used(p, page_bytes, n_pages, workers, batched)
    serial = (scale * _dma_serial_us(p, n_pages, ptes_per_page, workers)
              + n_pages * _kernel_page_us(p, page_bytes, ptes_per_page, batched, False, scale))
    copying = _dma_channel_us(p, page_bytes, n_pages, ptes_per_page, workers, batched)
    return p[_DMAOVL] * (1.0 - 1.0 / channels) * min(serial, copying)


@njit
def _call_time_us(p, page_bytes, n_pages, ptes_per_page, dma, workers, batched, exchange, scope, scale):
    """``scale`` multiplies the serial work of a DMA migration per folio and per page-table
    entry (the kernel's ``page_us`` and ``pte_us``, the copy's CPU work), not the kernel's
    work per 4 KiB (:mod:`memtier.model.fitting`, ``source_effect``, says why); 1 is the
    model as stated, and CPU-copy rows ignore it."""
    if not dma:
        scale = 1.0
    time_us = _copy_time_us(p, page_bytes, n_pages, ptes_per_page, dma, workers, batched, exchange, scale)
    if scope >= 1:
        time_us += p[_CALL] + n_pages * _kernel_page_us(p, page_bytes, ptes_per_page, batched, exchange, scale)
        if dma:
            time_us -= _dma_overlap_us(p, page_bytes, n_pages, ptes_per_page, workers, batched, scale)
    if scope >= 2:
        time_us += p[_SCALL] + n_pages * p[_SPAGE]
    return time_us


@njit
def _call_times_us(p, page_bytes, n_pages, ptes_per_page, dma, workers, batched, exchange, scope, scale, out):
    for i in range(out.shape[0]):
        out[i] = _call_time_us(p, page_bytes[i], n_pages[i], ptes_per_page[i], dma[i],
                               workers[i], batched[i], exchange[i], scope[i], scale[i])


def default_ptes_per_page(page_bytes) -> np.ndarray:
    """Page-table entries that map one page on x86-64: one for 4 KiB, 2 MiB (PMD) and 1 GiB
    (PUD) pages; a folio between those sizes is mapped by one 4 KiB PTE per subpage (a 64 KiB
    folio by 16).  Machines with other page tables (Power's 64 KiB base pages, arm64's
    contiguous bit) pass their own counts."""
    page_bytes = np.asarray(page_bytes, dtype=np.int64)
    leaf = (page_bytes == 4096) | (page_bytes == 2 << 20) | (page_bytes == 1 << 30)
    return np.where(leaf, 1, page_bytes // SUBPAGE_BYTES).astype(np.float64)


def _scope_codes(scope, size):
    if isinstance(scope, str):
        if scope not in SCOPE_CODES:
            raise ValueError(f"scope {scope!r} is not one of {', '.join(SCOPE_CODES)}")
        return np.full(size, SCOPE_CODES[scope], dtype=np.int64)
    values = np.asarray(scope)
    if values.dtype.kind in "iu":
        if values.size and (values.min() < 0 or values.max() > 2):
            raise ValueError("scope codes must be 0 (copy), 1 (migrate) or 2 (syscall)")
        return np.broadcast_to(values, (size,)).astype(np.int64)
    codes = np.empty(values.size, dtype=np.int64)
    for i, s in enumerate(values.ravel()):
        if s not in SCOPE_CODES:
            raise ValueError(f"scope {s!r} is not one of {', '.join(SCOPE_CODES)}")
        codes[i] = SCOPE_CODES[s]
    return np.broadcast_to(codes.reshape(values.shape), (size,)).astype(np.int64)


def _flags(value, name: str) -> np.ndarray:
    """A boolean argument as a bool array; "no", 2 or 0.5 are refused, not taken as True."""
    array = np.asarray(value)
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind in "iu" and np.all((array == 0) | (array == 1)):
        return array.astype(np.bool_)
    if array.dtype.kind == "O" and all(isinstance(v, (bool, np.bool_)) for v in array.ravel()):
        return array.astype(np.bool_)
    raise ValueError(f"{name} must be True or False (or an array of them), got {value!r}")


def call_time_us(params: ModelParams | np.ndarray, page_bytes, n_pages, *, dma=False, workers=1,
                 batched=False, exchange=False, scope="migrate", ptes_per_page=None):
    """Microseconds one call takes to migrate ``n_pages`` pages of ``page_bytes`` each.

    Every argument broadcasts (numpy rules), so a grid of configurations is one call.

    Parameters
    ----------
    params : ModelParams
        The model's parameters (``Fit.params`` of a fit).
    page_bytes : int or array of int
        Bytes of one page, 4 KiB to 1 GiB, a power of two.
    n_pages : int or array of int
        Pages moved by one call (>= 1).
    dma : bool or array of bool
        Copy with a DMA engine (``workers`` channels) instead of CPU threads.
    workers : int or array of int
        Copy threads, or DMA channels (>= 1).
    batched, exchange : bool or array of bool
        Concurrent (batched) migration of the list; exchange instead of migration.
    scope : {"copy", "migrate", "syscall"} or array of those
        What the timer surrounds.
    ptes_per_page : array, optional
        Page-table entries mapping each page; by default :func:`default_ptes_per_page`.

    Returns
    -------
    numpy.ndarray of float64 (or a float for scalar input)
        Microseconds per call.
    """
    p = params.to_array() if isinstance(params, ModelParams) else np.ascontiguousarray(params, np.float64)
    if p.shape != (ARRAY_SIZE,):
        raise ValueError(f"params must be a ModelParams (or an array of {ARRAY_SIZE} values: "
                         "ModelParams.to_array())")
    if not np.all(np.isfinite(p)):
        raise ValueError("params must be finite numbers")
    dma, batched, exchange = (_flags(v, n) for v, n in ((dma, "dma"), (batched, "batched"), (exchange, "exchange")))
    for value, name in ((page_bytes, "page_bytes"), (n_pages, "n_pages"), (workers, "workers")):
        if np.asarray(value).dtype.kind not in "iuf":
            raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}")
    arrays = np.broadcast_arrays(np.asarray(page_bytes), np.asarray(n_pages), np.asarray(dma),
                                 np.asarray(workers), np.asarray(batched), np.asarray(exchange))
    shape = arrays[0].shape
    size = int(np.prod(shape)) if shape else 1
    page_b, pages, dma_a, workers_a, batched_a, exchange_a = (a.reshape(size) for a in arrays)
    page_b = page_b.astype(np.float64)
    if np.any(page_b < 4096) or np.any(page_b > 1 << 30) or np.any(page_b != np.round(page_b)):
        raise ValueError("page_bytes must be whole numbers of bytes from 4096 (4 KiB) to 1 GiB")
    pages = pages.astype(np.float64)
    if not np.all(np.isfinite(pages)) or np.any(pages < 1):
        raise ValueError("n_pages must be at least 1")
    if np.any(page_b * pages > MAX_CALL_BYTES):
        raise ValueError("n_pages x page_bytes must be at most 2^52 bytes (the most an x86-64 machine "
                         "addresses); one call cannot move more")
    workers_f = workers_a.astype(np.float64)
    if (not np.all(np.isfinite(workers_f)) or np.any(workers_f < 1) or np.any(workers_f > MAX_WORKERS)
            or np.any(workers_f != np.round(workers_f))):
        raise ValueError(f"workers must be whole numbers of threads or DMA channels, from 1 to {MAX_WORKERS} "
                         "(Linux's NR_CPUS is at most 8192 on x86-64)")
    workers_i = workers_f.astype(np.int64)
    dma_b, batched_b, exchange_b = (a.astype(np.bool_) for a in (dma_a, batched_a, exchange_a))
    if np.any(dma_b & exchange_b):
        raise ValueError("exchange is implemented with CPU copy threads only (patches 12-17); "
                         "set dma=False for exchange")
    if ptes_per_page is None:
        ptes = default_ptes_per_page(page_b)
    else:
        ptes = np.broadcast_to(np.asarray(ptes_per_page, dtype=np.float64), shape).reshape(size)
        if not np.all(np.isfinite(ptes)) or np.any(ptes < 1) or np.any(ptes > page_b / SUBPAGE_BYTES):
            raise ValueError("ptes_per_page must be from 1 to one per 4 KiB of the page")
    codes = _scope_codes(scope, size)
    out = np.empty(size, dtype=np.float64)
    _call_times_us(p, np.ascontiguousarray(page_b), np.ascontiguousarray(pages), np.ascontiguousarray(ptes),
                   np.ascontiguousarray(dma_b), np.ascontiguousarray(workers_i),
                   np.ascontiguousarray(batched_b), np.ascontiguousarray(exchange_b),
                   np.ascontiguousarray(codes), np.ones(size), out)
    return out.reshape(shape) if shape else float(out[0])


def throughput_gbps(params, page_bytes, n_pages, **config):
    """GB/s (10^9 bytes per second) of one call; arguments as :func:`call_time_us`."""
    time_us = call_time_us(params, page_bytes, n_pages, **config)
    return np.asarray(page_bytes, dtype=np.float64) * np.asarray(n_pages) / time_us / 1e3


@dataclass(frozen=True)
class PreparedTable:
    """The columns of a validated measurement table as the kernel reads them, converted once
    (a fit evaluates the model thousands of times on the same rows)."""

    page_bytes: np.ndarray
    n_pages: np.ndarray
    ptes_per_page: np.ndarray
    dma: np.ndarray
    workers: np.ndarray
    batched: np.ndarray
    exchange: np.ndarray
    scope: np.ndarray
    moved_bytes: np.ndarray
    #: Per row, the factor on a DMA row's serial work per folio and per page-table entry (its
    #: source's build, fitted by :func:`memtier.fit` with ``source_effect``; not the kernel's
    #: work per 4 KiB); ones as prepared.
    serial_scale: np.ndarray = None

    def __len__(self):
        return len(self.page_bytes)


def prepare_table(table) -> PreparedTable:
    """A :class:`PreparedTable` of a validated measurement table (``load_measurements``)."""
    page = table["page_size"].to_numpy(np.float64)
    pages = table["n_pages"].to_numpy(np.float64)
    return PreparedTable(
        np.ascontiguousarray(page), np.ascontiguousarray(pages),
        np.ascontiguousarray(table["ptes_per_page"].to_numpy(np.float64)),
        np.ascontiguousarray((table["copy"] == "dma").to_numpy(np.bool_)),
        np.ascontiguousarray(table["workers"].to_numpy(np.int64)),
        np.ascontiguousarray(table["batched"].to_numpy(np.bool_)),
        np.ascontiguousarray(table["exchange"].to_numpy(np.bool_)),
        _scope_codes(table["scope"].to_numpy(object), len(table)).copy(),
        page * pages, np.ones(len(table)))


def prepared_gbps(params, prepared: PreparedTable) -> np.ndarray:
    """Modelled GB/s of every row of a :class:`PreparedTable`; ``params`` a ModelParams or
    its array (``ModelParams.to_array()``)."""
    p = params.to_array() if isinstance(params, ModelParams) else np.ascontiguousarray(params, np.float64)
    if p.shape != (ARRAY_SIZE,):
        raise ValueError(f"params must be a ModelParams (or an array of {ARRAY_SIZE} values)")
    out = np.empty(len(prepared), dtype=np.float64)
    scale = np.ones(len(prepared)) if prepared.serial_scale is None else prepared.serial_scale
    _call_times_us(p, prepared.page_bytes, prepared.n_pages, prepared.ptes_per_page, prepared.dma,
                   prepared.workers, prepared.batched, prepared.exchange, prepared.scope,
                   np.ascontiguousarray(scale, dtype=np.float64), out)
    return prepared.moved_bytes / out / 1e3


def table_time_us(params, table) -> np.ndarray:
    """Modelled microseconds for every row of a validated measurement table."""
    prepared = prepare_table(table)
    return prepared.moved_bytes / prepared_gbps(params, prepared) / 1e3


def table_gbps(params, table) -> np.ndarray:
    """Modelled GB/s for every row of a validated measurement table."""
    return prepared_gbps(params, prepare_table(table))


def time_breakdown(params: ModelParams, page_bytes, n_pages, **config):
    """Where the time of one call goes, in microseconds, as a table.

    Columns: ``data copy`` (bytes over the copy bandwidth), ``copy overheads`` (dispatch,
    per-page copy set-up, DMA descriptors and the shared path), ``kernel work`` (unmap, allocate, remap: the
    ``migrate`` scope beyond the copy), ``system call`` (the ``syscall`` scope beyond that).
    Arguments as :func:`call_time_us` except ``scope``, which is always ``syscall`` here.
    """
    import pandas as pd

    config.pop("scope", None)
    bare = params.replace(copy_call_us=0.0, copy_page_us=0.0, mt_page_us=0.0, dispatch_us=0.0,
                          dispatch_thread_us=0.0, dma_setup_us=0.0, dma_descriptor_us=0.0,
                          dma_entry_us=0.0, dma_map_entry_us=0.0, dma_channel_descriptor_us=0.0,
                          dma_shared_descriptor_us=0.0, dma_shared_entry_us=0.0)
    data = call_time_us(bare, page_bytes, n_pages, scope="copy", **config)
    copy, migrate, syscall = (call_time_us(params, page_bytes, n_pages, scope=s, **config)
                              for s in ("copy", "migrate", "syscall"))
    return pd.DataFrame({
        "data copy": np.atleast_1d(data),
        "copy overheads": np.atleast_1d(copy - data),
        "kernel work": np.atleast_1d(migrate - copy),
        "system call": np.atleast_1d(syscall - migrate),
    })
