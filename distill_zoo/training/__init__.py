"""Lightning glue: the shared DistillationModule and GLUE metrics."""

from distill_zoo.training.metrics import build_metrics, predictions
from distill_zoo.training.module import DistillationModule

__all__ = ["DistillationModule", "build_metrics", "predictions"]
