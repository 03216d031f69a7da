"""GLUE's official metrics, from torchmetrics."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import BinaryF1Score, MulticlassAccuracy, MulticlassMatthewsCorrCoef
from torchmetrics.regression import PearsonCorrCoef, SpearmanCorrCoef


def build_metrics(names: tuple[str, ...], num_labels: int, sync: bool = True) -> MetricCollection:
    """A collection keyed by metric name: ``acc``, ``f1`` (positive class), ``mcc``, ``pearson``, ``spearman``.

    ``sync=False`` for evaluation on one process while others may still be alive (DDP
    rank 0 after training): its ``compute`` must not wait for the other ranks.
    """
    classes = max(num_labels, 2)
    factories: dict[str, Callable[[], Metric]] = {
        "acc": lambda: MulticlassAccuracy(num_classes=classes, average="micro", sync_on_compute=sync),
        "f1": lambda: BinaryF1Score(sync_on_compute=sync),
        "mcc": lambda: MulticlassMatthewsCorrCoef(num_classes=classes, sync_on_compute=sync),
        "pearson": lambda: PearsonCorrCoef(sync_on_compute=sync),
        "spearman": lambda: SpearmanCorrCoef(sync_on_compute=sync),
    }
    return MetricCollection({name: factories[name]() for name in names})


def predictions(logits: Tensor) -> Tensor:
    """Class ids for classification logits (B, C), or the scores (B,) for regression (B, 1)."""
    return logits.squeeze(-1) if logits.shape[-1] == 1 else logits.argmax(dim=-1)
