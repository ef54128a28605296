"""Published measurements shipped with memtier, loaded through ``importlib.resources``.

Each CSV in the top-level ``data/`` folder is one source, with a ``#`` header giving the
citation, units and every interpretation made.  ``data/damon/`` holds real DAMON records from
the damo project's tests (GPL-2.0, see its README).  An installed wheel carries them as
``memtier/data``; a source checkout (``pip install -e .``) reads the folder directly.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .schema import load_measurements

RFC_2019 = "zi_yan_2019_rfc.csv"
OTHER_PUBLISHED = "other_published_migration.csv"
AMD_ZEN3_2026 = "amd_zen3_2026.csv"
AMD_ZEN3_2025 = "amd_zen3_2025.csv"


def data_path(name: str) -> Path:
    """Path of a shipped data file (``name`` relative to ``data/``, e.g. ``"damon/damon.data"``),
    wherever memtier is installed from."""
    parts = name.split("/")
    packaged = resources.files("memtier").joinpath("data", *parts)
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2].joinpath("data", *parts)
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(f"memtier's data file {name} is missing; reinstall memtier")


def provenance(name: str) -> str:
    """The ``#`` header of a shipped data file, without the ``#`` marks."""
    lines = []
    for line in data_path(name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].removeprefix(" "))
    return "\n".join(lines)


DAMON_RECORDS = ("damon.data", "damon.data.json_compressed", "report-raw")


def damon_record(name: str = "damon.data") -> Path:
    """Path of one of the real DAMON records shipped in ``data/damon/``.

    They come from the damo project's tests (github.com/damonitor/damo, ``tests/report/``) and
    keep its GPL-2.0 licence: ``damon.data`` and ``damon.data.json_compressed`` are records
    written by ``damo record`` (one target, 543 snapshots), ``report-raw`` is damo's own
    ``damo report access --raw_form`` of ``damon.data``.
    """
    if name not in DAMON_RECORDS:
        raise ValueError(f"no shipped DAMON record {name!r}; choose one of {', '.join(DAMON_RECORDS)}")
    return data_path(f"damon/{name}")


def rfc_2019() -> "pd.DataFrame":
    """The 52 throughput figures of the RFC's cover letter (26 configurations x 2 scopes)."""
    return load_measurements(data_path(RFC_2019))


def other_published() -> "pd.DataFrame":
    """Syscall-level figures from two other mails by Zi Yan (2017, 2019), three machines."""
    return load_measurements(data_path(OTHER_PUBLISHED))


#: The AMD Zen3 machine's socket link, each way, in GB/s: three xGMI links of 16 lanes at
#: 18 GT/s (see :func:`amd_zen3_2026_machine`).
ZEN3_2P_LINK_GBPS = 3 * 16 * 18 / 8


def amd_zen3_2026_machine():
    """What is published about the machine of :func:`amd_zen3_2026` beyond its rows, as the
    stated values of a fit (``memtier.fit(..., base=...)``): a
    :class:`~memtier.model.cost.ModelParams` with the RFC machine's values except the DMA
    engine's ceiling, stated at the socket link's bandwidth each way.

    The postings say only "AMD Zen 3 EPYC server (2-sockets, 32 cores, SMT Enabled), 1 NUMA
    node per socket" (Garg, "[RFC PATCH v4 0/6]", linux-mm 2026-03-09).  Every DMA row copies
    from one socket's memory to the other's, so whatever the engines could do, the bytes cross
    the socket link once: its bandwidth bounds the copy.  AMD documents the two-socket EPYC
    link: "In a 2P, or dual-socket, configuration, three AMD Infinity fabric links are
    available to connect the processors", at "up to 18 GT/sec" (AMD Instinct MI100
    microarchitecture, rocm.docs.amd.com, on the EPYC node); an xGMI link is 16 lanes wide (a
    group of x16 lanes that a board gives either to the socket link or to PCIe: Lenovo,
    "Configuring AMD xGMI Links", LP1852, 2023, for the later EPYC 9004), so ``3 * 16 * 18 /
    8`` = 108 GB/s each way (:data:`ZEN3_2P_LINK_GBPS`), nominal.  The postings do not say how
    many links their board uses; with four, 144 GB/s.  Held-out predictions hardly depend on
    which (:mod:`memtier.model.fitting`, ``cross_validate``).

    Why state it: rows at 1-4 channels (one and two engines) do not reach the ceiling, so a
    fit of them leaves ``dma_ceiling_gbps`` open, and its stated value then decides what is
    predicted for 8 and 16 channels.  Without a machine fact that value is the fit's own rule
    (:func:`memtier.model.fitting.room_for_the_data`: twice the fastest row, 54 GB/s), which
    caps eight engines below what the rows held out reach (63-67 GB/s).  Where the rows do
    reach it (all 68 rows), the ceiling is fitted and the stated value only centres the weak
    prior.
    """
    from ..model.cost import ModelParams

    return ModelParams(dma_ceiling_gbps=ZEN3_2P_LINK_GBPS)


def amd_zen3_2026() -> pd.DataFrame:
    """AMD's Zen3 EPYC with the PTDMA engine (Shivank Garg's linux-mm postings, 2026): 68
    ``move_pages(2)`` figures, 4 KiB to 2 MiB folios, one CPU thread and 1-16 DMA channels."""
    return load_measurements(data_path(AMD_ZEN3_2026))


def amd_zen3_2025() -> pd.DataFrame:
    """The same AMD Zen3 EPYC with PTDMA in the series' two 2025 postings (Shivank Garg, "[PATCH
    RFC V2 0/9]", linux-mm 2025-03-19, and "[RFC V3 0/9]", 2025-09-23): 237 ``move_pages(2)``
    figures, 4 KiB to 2 MiB folios, 1-16 CPU copy threads (the series' multi-threaded copy) and
    1-16 DMA channels (two builds of the dcbm driver), and 2 MiB folios 1 to 8192 at a time.
    None of them was seen when the model was built (``docs/cost-model.md``, "Rows not fitted
    when the model was built"); the file's header says how each table was read."""
    return load_measurements(data_path(AMD_ZEN3_2025))
