"""Lightning glue: the shared DistillationModule and GLUE metrics."""

from distill_zoo.training.metrics import build_metrics, predictions
from distill_zoo.training.module import DistillationModule
from distill_zoo.training.progressive import ProgressiveTransfer

__all__ = ["DistillationModule", "ProgressiveTransfer", "build_metrics", "predictions"]
