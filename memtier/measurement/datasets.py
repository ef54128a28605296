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


def amd_zen3_2026() -> pd.DataFrame:
    """AMD's Zen3 EPYC with the PTDMA engine (Shivank Garg's linux-mm postings, 2026): 68
    ``move_pages(2)`` figures, 4 KiB to 2 MiB folios, one CPU thread and 1-16 DMA channels."""
    return load_measurements(data_path(AMD_ZEN3_2026))
