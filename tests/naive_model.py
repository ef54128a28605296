"""A slow, obviously correct twin of memtier.model's kernel, written from its docstring.

One configuration at a time, plain Python floats, each term named as in the model's prose.
"""
import math


def smooth_min(a, b, k):
    return (a ** -k + b ** -k) ** (-1.0 / k)


def kernel_work_per_page(p, page_bytes, ptes, batched, exchange):
    subpage_us = p.subpage_ns / 1000 * (page_bytes / 4096) * ((1 - p.exchange_saving) if exchange else 1)
    per_page = p.page_us + (ptes - 1) * p.pte_us + subpage_us
    if batched:
        per_page *= 1 - p.batch_saving
    return per_page


def dma_parts(p, page_bytes, n_pages, *, workers, batched, ptes):
    """(channels carrying data, serial CPU microseconds, channel microseconds) of a DMA copy."""
    if p.dma_structure == "split":
        # The RFC's I/OAT patch: every page cut into one piece per channel.
        channels = workers
        serial = n_pages * workers * p.dma_descriptor_us
    else:
        # dcbm: whole folios handed to channels; one folio at a time when unbatched.
        channels = min(workers, n_pages) if batched else 1
        serial = n_pages * (p.dma_descriptor_us + (ptes - 1) * p.dma_map_entry_us)
    # Queues on one engine share its bandwidth.
    engines = math.ceil(channels / p.dma_channels_per_engine)
    bandwidth = smooth_min(engines * p.dma_channel_gbps, p.dma_ceiling_gbps, p.ceiling_sharpness)
    busy = n_pages * ptes * p.dma_entry_us / channels + page_bytes * n_pages / (bandwidth * 1000)
    return channels, serial, busy


def call_time_us(p, page_bytes, n_pages, *, dma, workers, batched, exchange, scope, ptes):
    total = page_bytes * n_pages
    if dma:
        channels, serial, busy = dma_parts(p, page_bytes, n_pages, workers=workers, batched=batched, ptes=ptes)
        setups = 1 if batched else n_pages
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
    per_page = kernel_work_per_page(p, page_bytes, ptes, batched, exchange)
    kernel = p.call_us + n_pages * per_page
    if dma and p.dma_structure == "folio" and batched:
        # Serial per-folio work (kernel and DMA submission) hides behind other channels' copies.
        kernel -= p.dma_overlap * (1 - 1 / channels) * min(serial + n_pages * per_page, busy)
    if scope == "migrate":
        return copy + kernel
    return copy + kernel + p.syscall_call_us + n_pages * p.syscall_page_us
