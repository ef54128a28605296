"""memtier: model, measure and simulate page migration between memory tiers.

After Zi Yan's RFC "Accelerate page migration and use memcg for PMEM management" (2019).
"""
import importlib

# Public names and the module each lives in.  They are imported on first use (PEP 562), so
# that ``import memtier`` stays light: a command such as ``memtier trace convert`` never pays
# for pandas, scipy or matplotlib, which only the fit, the tables and the figures need.
_PUBLIC = {
    "DamonRecordError": "damon", "damon_trace": "damon", "read_damon_record": "damon",
    "Fit": "fitting", "cross_validate": "fitting", "default_fit": "fitting", "fit": "fitting",
    "load_fit": "fitting",
    "fit_copy": "measure", "make_plan": "measure", "measure_machine": "measure",
    "run_measurements": "measure",
    "MeasurementError": "measurements", "load_measurements": "measurements",
    "parse_page_size": "measurements", "save_measurements": "measurements",
    "ModelParams": "model", "call_time_us": "model", "throughput_gbps": "model",
    "MECHANISMS": "mechanisms", "Mechanism": "mechanisms",
    "SimulationResult": "sim_result",
    "simulate": "simulator",
    "read_sweep": "sweeps", "sweep": "sweeps",
    "LackeyFormatError": "traces", "Trace": "traces", "ValgrindNotFound": "traces",
    "convert_lackey": "traces", "parse_lackey": "traces", "record_trace": "traces",
}
_SUBMODULES = ("datasets", "workloads", "kernel_check")


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'memtier' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBMODULES))


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
    "read_sweep",
    "sweep",
    "datasets",
    "workloads",
    "kernel_check",
]


def quick_mode() -> bool:
    """True when ``MEMTIER_QUICK`` is set: notebooks and ``reproduce --quick`` use smaller
    traces and fewer bootstrap rounds, so the test suite can run every notebook."""
    import os

    return os.environ.get("MEMTIER_QUICK", "").strip() not in ("", "0", "false", "False")
