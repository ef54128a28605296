"""memtier: model, measure and simulate page migration between memory tiers.

After Zi Yan's RFC "Accelerate page migration and use memcg for PMEM management" (2019).
"""
from .damon import DamonRecordError, damon_trace, read_damon_record
from .fitting import Fit, cross_validate, default_fit, fit, load_fit
from .measure import fit_copy, make_plan, measure_machine, run_measurements
from .measurements import MeasurementError, load_measurements, parse_page_size, save_measurements
from .model import ModelParams, call_time_us, throughput_gbps
from . import workloads
from .mechanisms import MECHANISMS, Mechanism
from .sim_result import SimulationResult
from .simulator import simulate
from .traces import LackeyFormatError, Trace, ValgrindNotFound, convert_lackey, parse_lackey, record_trace

__version__ = "0.1.0"

__all__ = [
    "Fit",
    "ModelParams",
    "call_time_us",
    "cross_validate",
    "default_fit",
    "fit",
    "load_fit",
    "throughput_gbps",
    "fit_copy",
    "make_plan",
    "measure_machine",
    "run_measurements",
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
    "MECHANISMS",
    "Mechanism",
    "SimulationResult",
    "simulate",
    "workloads",
]


def quick_mode() -> bool:
    """True when ``MEMTIER_QUICK`` is set: notebooks and ``reproduce --quick`` use smaller
    traces and fewer bootstrap rounds, so the test suite can run every notebook."""
    import os

    return os.environ.get("MEMTIER_QUICK", "").strip() not in ("", "0", "false", "False")
