"""How the simulator moves pages: a migration mechanism, and its cost from the cost model.

A :class:`Mechanism` names one of the RFC's ways to migrate (copy threads, DMA channels,
concurrent "batched" migration of the list, exchange) plus the batch size of ``mm_manage``
(``vm.migration_batch_size``, patch 24: default 16 pages) and the page size.  The simulator
asks the cost model (:func:`memtier.model.cost.call_time_us`, scope ``migrate``: the kernel's
``migrate_pages()``) for the time of one call moving ``k`` pages, for every ``k`` up to the
batch size, and charges a period's moves call by call.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass

import numpy as np

from ..measurement.schema import format_page_size, parse_page_size


@dataclass(frozen=True)
class Mechanism:
    """One way to migrate pages.

    Parameters
    ----------
    dma : bool
        Copy with DMA-engine channels instead of CPU threads (patches 07-08).
    workers : int
        Copy threads, or DMA channels with ``dma``.
    batched : bool
        Unmap, copy and remap the whole batch concurrently (patches 09-11).
    exchange : bool
        When the fast node is full, swap hot slow pages with cold fast pages one for one
        (patches 12-17, 25) instead of demoting then promoting.  CPU threads only.
    batch_pages : int
        Pages per migration call (``vm.migration_batch_size``; the RFC's default is 16).
    page_bytes : int or str
        Bytes of one page (``4096``, ``"4K"``, ``"2M"``); one trace entry is one such page.
    """

    dma: bool = False
    workers: int = 1
    batched: bool = False
    exchange: bool = False
    batch_pages: int = 16
    page_bytes: int = 4096

    def __post_init__(self):
        for name in ("dma", "batched", "exchange"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"Mechanism.{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("workers", "batch_pages"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Mechanism.{name} must be a whole number >= 1, got {value!r}")
        object.__setattr__(self, "page_bytes", parse_page_size(self.page_bytes))
        if self.dma and self.exchange:
            raise ValueError("exchange copies with CPU threads only (patches 12-17); use dma=False")

    @classmethod
    def named(cls, name: str, **changes) -> "Mechanism":
        """A preset by name (see :data:`MECHANISMS`), with fields changed, e.g.
        ``Mechanism.named("mt8", page_bytes="2M", batch_pages=32)``."""
        if not isinstance(name, str) or name not in MECHANISMS:
            close = difflib.get_close_matches(str(name), MECHANISMS, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"unknown mechanism {name!r}{hint}; choose one of {', '.join(MECHANISMS)} "
                             "or pass a memtier.Mechanism")
        return dataclasses.replace(MECHANISMS[name], **changes)

    @property
    def label(self) -> str:
        """A short description, e.g. ``"8-thread batched, 16 x 2M"``."""
        kind = f"{self.workers}-channel DMA" if self.dma else f"{self.workers}-thread"
        if self.batched:
            kind += " batched"
        if self.exchange:
            kind += " exchange"
        return f"{kind}, {self.batch_pages} x {format_page_size(self.page_bytes)}"

    def call_costs_us(self, params) -> tuple[np.ndarray, np.ndarray]:
        """Microseconds of one call, for every call size up to the batch.

        Parameters
        ----------
        params : ModelParams
            Cost-model parameters (``Fit.params``).

        Returns
        -------
        migrate_us, exchange_us : numpy.ndarray, shape (batch_pages + 1,)
            ``migrate_us[k]``: one call migrating ``k`` pages one way (``k = 0`` costs 0);
            ``exchange_us[k]``: one call exchanging ``k`` pairs, that is ``2 k`` pages as the
            cost model counts them (zeros unless ``exchange``).
        """
        from ..model.cost import call_time_us

        sizes = np.arange(1, self.batch_pages + 1)
        config = dict(dma=self.dma, workers=self.workers, batched=self.batched, scope="migrate")
        migrate = np.zeros(self.batch_pages + 1)
        migrate[1:] = call_time_us(params, self.page_bytes, sizes, exchange=False, **config)
        exchange = np.zeros(self.batch_pages + 1)
        if self.exchange:
            exchange[1:] = call_time_us(params, self.page_bytes, 2 * sizes, exchange=True, **config)
        return migrate, exchange


def _presets() -> dict[str, Mechanism]:
    presets = {"linux": Mechanism()}
    for workers in (1, 2, 4, 8, 16):
        presets[f"mt{workers}"] = Mechanism(workers=workers)
        presets[f"batched-mt{workers}"] = Mechanism(workers=workers, batched=True)
        presets[f"dma{workers}"] = Mechanism(dma=True, workers=workers)
    presets["exchange"] = Mechanism(exchange=True)
    for workers in (2, 4, 8, 16):
        presets[f"exchange-mt{workers}"] = Mechanism(workers=workers, batched=True, exchange=True)
    return presets


#: Named mechanisms, all with 16-page batches of 4 KiB pages (change with
#: :meth:`Mechanism.named`): ``linux`` (one copy thread, page by page: the kernel before
#: the RFC), ``mtN`` (N threads), ``batched-mtN`` (N threads, concurrent migration),
#: ``dmaN`` (N DMA channels), ``exchange`` (one thread) and ``exchange-mtN`` (N threads,
#: batched exchange), for N in 1, 2, 4, 8, 16.
MECHANISMS: dict[str, Mechanism] = _presets()


def as_mechanism(mechanism) -> Mechanism:
    """A :class:`Mechanism` from a preset name or a Mechanism."""
    if isinstance(mechanism, Mechanism):
        return mechanism
    return Mechanism.named(mechanism)
