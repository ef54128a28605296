"""memtier: model, measure and simulate page migration between memory tiers.

After Zi Yan's RFC "Accelerate page migration and use memcg for PMEM management" (2019).
"""
from .damon import DamonRecordError, damon_trace, read_damon_record
from .measurements import MeasurementError, load_measurements, parse_page_size, save_measurements
from .traces import LackeyFormatError, Trace, ValgrindNotFound, convert_lackey, parse_lackey, record_trace

__version__ = "0.1.0"

__all__ = [
    "DamonRecordError",
    "LackeyFormatError",
    "MeasurementError",
    "Trace",
    "ValgrindNotFound",
    "convert_lackey",
    "damon_trace",
    "parse_lackey",
    "read_damon_record",
    "record_trace",
    "load_measurements",
    "parse_page_size",
    "save_measurements",
]


def quick_mode() -> bool:
    """True when ``MEMTIER_QUICK`` is set: notebooks and ``reproduce --quick`` use smaller
    traces and fewer bootstrap rounds, so the test suite can run every notebook."""
    import os

    return os.environ.get("MEMTIER_QUICK", "").strip() not in ("", "0", "false", "False")
