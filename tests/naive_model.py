"""A slow, obviously correct twin of memtier.model.cost's kernel, written from its docstring.

One configuration at a time, plain Python floats, each term named as in the model's prose.
"""
import math


def smooth_min(a, b, k):
    return (a ** -k + b ** -k) ** (-1.0 / k)


def kernel_work_per_page(p, page_bytes, ptes, batched, exchange, scale=1.0):
    """``scale``: a source's factor on the per-page and per-entry work, not the per-4-KiB work."""
    subpage_us = p.subpage_ns / 1000 * (page_bytes / 4096) * ((1 - p.exchange_saving) if exchange else 1)
    per_page = scale * (p.page_us + (ptes - 1) * p.pte_us) + subpage_us
    if batched:
        per_page *= 1 - p.batch_saving
    return per_page


SEGMENT_BYTES = 65536     # largest DMA segment the IOMMU merges small folios into


def bandwidth_of(p, channels):
    # Queues on one engine share its bandwidth; engines meet a common ceiling.
    engines = math.ceil(channels / p.dma_channels_per_engine)
    # Softness 0: the slower of the two sets the pace; above 0, a smooth minimum of exponent 1/softness.
    channels_gbps = min(channels * p.dma_queue_gbps, engines * p.dma_channel_gbps)
    if p.dma_ceiling_softness == 0:
        return min(channels_gbps, p.dma_ceiling_gbps)
    # (a^-k + b^-k)^(-1/k) with k = 1/softness, divided through by the smaller (k may be 1000s).
    low, high = min(channels_gbps, p.dma_ceiling_gbps), max(channels_gbps, p.dma_ceiling_gbps)
    k = 1.0 / p.dma_ceiling_softness
    return low * (1.0 + (low / high) ** k) ** (-1.0 / k)


def dma_parts(p, page_bytes, n_pages, *, workers, batched, ptes):
    """(channels of a full batch, set-ups, serial CPU microseconds, channel microseconds)."""
    if p.dma_structure == "split":
        # The RFC's I/OAT patch: every page cut into one piece per channel.
        channels = workers
        setups = 1 if batched else n_pages
        serial = n_pages * workers * p.dma_descriptor_us
        busy = (n_pages * p.dma_channel_descriptor_us + n_pages * ptes * p.dma_entry_us / channels
                + page_bytes * n_pages / (bandwidth_of(p, channels) * 1000))
        return channels, setups, serial, busy
    # dcbm: whole folios handed to channels, batch by batch; small folios merged into
    # segments of at most 64 KiB, one descriptor each; the busiest channel sets the wait.
    serial = n_pages * (p.dma_descriptor_us + (ptes - 1) * p.dma_map_entry_us)
    descriptors = min(1.0, page_bytes / SEGMENT_BYTES)
    if not batched:
        per_folio = (p.dma_channel_descriptor_us + ptes * p.dma_entry_us
                     + page_bytes / (bandwidth_of(p, 1) * 1000))
        shared = p.dma_shared_descriptor_us + ptes * p.dma_shared_entry_us
        return 1, n_pages, serial, n_pages * max(per_folio, shared)
    # migrate_pages() adds folios to a batch until their base pages reach the limit, the
    # folio that reaches it included.
    per_batch = max(1, math.ceil(p.migrate_batch_pages / (page_bytes / 4096)))
    batches = [per_batch] * (n_pages // per_batch)
    if n_pages % per_batch:
        batches.append(n_pages % per_batch)
    setups, busy = 0, 0.0
    for folios in batches:
        used = min(workers, folios)
        setups += used
        per_folio = (descriptors * p.dma_channel_descriptor_us + ptes * p.dma_entry_us
                     + page_bytes * used / (bandwidth_of(p, used) * 1000))
        # Every channel's descriptors and entries pass one shared path (IOMMU, completions).
        shared = folios * (descriptors * p.dma_shared_descriptor_us + ptes * p.dma_shared_entry_us)
        busy += max(math.ceil(folios / used) * per_folio, shared)
    return min(workers, n_pages, per_batch), setups, serial, busy


def call_time_us(p, page_bytes, n_pages, *, dma, workers, batched, exchange, scope, ptes, scale=1.0):
    """``scale``: a source's factor on a DMA migration's serial work per folio and per
    page-table entry (the kernel's and the copy's CPU work; not the kernel's work per 4 KiB);
    CPU-copy rows ignore it."""
    total = page_bytes * n_pages
    if not dma:
        scale = 1.0
    if dma:
        channels, setups, serial, busy = dma_parts(p, page_bytes, n_pages, workers=workers, batched=batched,
                                                   ptes=ptes)
        serial *= scale
        copy = p.copy_call_us + setups * p.dma_setup_us + serial + busy
    else:
        per_thread = p.copy_gbps_per_thread * (p.exchange_gain if exchange else 1)
        ceiling = p.exchange_ceiling_gbps if exchange else p.link_gbps
        demand = workers * per_thread
        bandwidth = smooth_min(demand, ceiling, p.ceiling_sharpness)
        if demand > ceiling:
            bandwidth = bandwidth / (1 + p.contention * (demand / ceiling - 1))
        if workers == 1:
            copy = p.copy_call_us + n_pages * p.copy_page_us + total / (bandwidth * 1000)
        else:
            dispatches = 1 if batched else n_pages
            copy = (p.copy_call_us + dispatches * (p.dispatch_us + workers * p.dispatch_thread_us)
                    + n_pages * p.mt_page_us + total / (bandwidth * 1000))
    if scope == "copy":
        return copy
    per_page = kernel_work_per_page(p, page_bytes, ptes, batched, exchange, scale)
    kernel = p.call_us + n_pages * per_page
    if dma and p.dma_structure == "folio" and batched:
        # Serial per-folio work (kernel and DMA submission) hides behind other channels' copies.
        kernel -= p.dma_overlap * (1 - 1 / channels) * min(serial + n_pages * per_page, busy)
    if scope == "migrate":
        return copy + kernel
    return copy + kernel + p.syscall_call_us + n_pages * p.syscall_page_us
