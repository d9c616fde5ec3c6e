"""Pipeline core: frame record, queues, stage runner, assembly and metrics."""
from .frame import EndOfStream, Frame
from .pipeline import Pipeline, RunSummary
from .queues import BLOCK, DROP_OLDEST, StageQueue

__all__ = ["Frame", "EndOfStream", "Pipeline", "RunSummary", "StageQueue", "BLOCK", "DROP_OLDEST"]
