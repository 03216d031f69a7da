"""Lightning glue: the shared DistillationModule and GLUE metrics."""

from distill_zoo.training.metrics import build_metrics, predictions
from distill_zoo.training.module import DistillationModule
from distill_zoo.training.phases import FineTunePhase, PhaseSchedule
from distill_zoo.training.progressive import ProgressiveTransfer

__all__ = [
    "DistillationModule",
    "FineTunePhase",
    "PhaseSchedule",
    "ProgressiveTransfer",
    "build_metrics",
    "predictions",
]
