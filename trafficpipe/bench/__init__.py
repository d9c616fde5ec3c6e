"""`trafficpipe bench`: stage ceilings, the one-thread seed loop and the threaded pipeline, measured in one run.

Every performance claim of the project is a ratio measured here, on one machine, in one process: pipeline / seed loop
and pipeline / bound, where the bound comes from each stage's ceiling (the stage alone on the same frames).
"""
from .report import aggregate_runs, bound, percentiles, ratios, spread
from .runner import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench", "aggregate_runs", "bound", "percentiles", "ratios", "spread"]
