"""memtier: model, measure and simulate page migration between memory tiers.

After Zi Yan's RFC "Accelerate page migration and use memcg for PMEM management" (2019).
"""
import importlib

# Public names and the module each lives in.  They are imported on first use (PEP 562), so
# that ``import memtier`` stays light: a command such as ``memtier trace convert`` never pays
# for pandas, scipy or matplotlib, which only the fit, the tables and the figures need.
_PUBLIC = {
    "DamonRecordError": "traces.damon", "damon_trace": "traces.damon", "read_damon_record": "traces.damon",
    "Fit": "model.fitting", "cross_validate": "model.fitting", "default_fit": "model.fitting", "fit": "model.fitting",
    "load_fit": "model.fitting",
    "fit_copy": "measurement.measure", "make_plan": "measurement.measure", "measure_machine": "measurement.measure",
    "run_measurements": "measurement.measure",
    "MeasurementError": "measurement.schema", "load_measurements": "measurement.schema",
    "parse_page_size": "measurement.schema", "save_measurements": "measurement.schema",
    "ModelParams": "model.cost", "call_time_us": "model.cost", "throughput_gbps": "model.cost",
    "MECHANISMS": "simulation.mechanisms", "Mechanism": "simulation.mechanisms",
    "SimulationResult": "simulation.result",
    "simulate": "simulation.simulator",
    "read_sweep": "simulation.sweeps", "sweep": "simulation.sweeps",
    "LackeyFormatError": "traces.lackey", "Trace": "traces.lackey", "ValgrindNotFound": "traces.lackey",
    "convert_lackey": "traces.lackey", "parse_lackey": "traces.lackey", "record_trace": "traces.lackey",
    "time_breakdown": "model.cost",
    "errors_by_count": "model.fitting",
    "format_page_size": "measurement.schema",
    "POLICIES": "simulation.simulator",
    "VARIANTS": "simulation.simulator",
    "RUN_COLUMNS": "simulation.sweeps",
    "damon_heatmap": "traces.damon",
    "read_trace": "traces.lackey",
}
_SUBMODULES = {"datasets": "measurement.datasets", "workloads": "traces.workloads",
               "kernel_check": "kernel.check",
               "policies": "simulation.policies"}


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{_SUBMODULES[name]}", __name__)
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
    "time_breakdown",
    "errors_by_count",
    "format_page_size",
    "POLICIES",
    "VARIANTS",
    "RUN_COLUMNS",
    "damon_heatmap",
    "read_trace",
    "policies",
]


def quick_mode() -> bool:
    """True when ``MEMTIER_QUICK`` is set: notebooks and ``reproduce --quick`` use smaller
    traces and fewer bootstrap rounds, so the test suite can run every notebook."""
    import os

    return os.environ.get("MEMTIER_QUICK", "").strip() not in ("", "0", "false", "False")
