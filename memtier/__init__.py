"""memtier: model, measure and simulate page migration between memory tiers.

After Zi Yan's RFC "Accelerate page migration and use memcg for PMEM management" (2019).
"""
import importlib
import importlib.util

# Each public name and the module it lives in.  They are imported when first used (PEP 562):
# `import memtier` alone loads nothing heavy, so `memtier measure` on a slow machine (an
# emulated NUMA guest: tests/test_numa_vm.py) does not wait for scipy it never calls.
_EXPORTS = {
    "DamonRecordError": "damon",
    "damon_trace": "damon",
    "read_damon_record": "damon",
    "Fit": "fitting",
    "cross_validate": "fitting",
    "default_fit": "fitting",
    "fit": "fitting",
    "load_fit": "fitting",
    "fit_copy": "measure",
    "make_plan": "measure",
    "measure_machine": "measure",
    "run_measurements": "measure",
    "MeasurementError": "measurements",
    "load_measurements": "measurements",
    "parse_page_size": "measurements",
    "save_measurements": "measurements",
    "ModelParams": "model",
    "call_time_us": "model",
    "throughput_gbps": "model",
    "workloads": "workloads",
    "MECHANISMS": "mechanisms",
    "Mechanism": "mechanisms",
    "SimulationResult": "sim_result",
    "simulate": "simulator",
    "LackeyFormatError": "traces",
    "Trace": "traces",
    "ValgrindNotFound": "traces",
    "convert_lackey": "traces",
    "parse_lackey": "traces",
    "record_trace": "traces",
}

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


def __getattr__(name: str):
    """A public name (or a submodule, ``memtier.numa``) imported on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module = name
    value = importlib.import_module(f".{module}", __name__)
    if name != module:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
