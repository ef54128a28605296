"""memtier: model, measure and simulate page migration between memory tiers.

After Zi Yan's RFC "Accelerate page migration and use memcg for PMEM management" (2019).
"""
from .measurements import MeasurementError, load_measurements, parse_page_size, save_measurements

__version__ = "0.1.0"

__all__ = [
    "MeasurementError",
    "load_measurements",
    "parse_page_size",
    "save_measurements",
]
