"""GLUE's official metrics, from torchmetrics.

Matthews correlation follows GLUE's scorer (scikit-learn's ``matthews_corrcoef``): 0 when
its denominator is 0, i.e. when the predictions (or the labels) are all one class.
torchmetrics instead smooths that case with float32's epsilon, which gives a constant
predictor a small non-zero score (0.035 for "all acceptable" on CoLA dev) that can rank a
collapsed student above one that learnt something; :class:`GlueMatthewsCorrCoef` keeps
torchmetrics' accumulation and replaces that convention.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
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
        "mcc": lambda: GlueMatthewsCorrCoef(num_classes=classes, sync_on_compute=sync),
        "pearson": lambda: PearsonCorrCoef(sync_on_compute=sync),
        "spearman": lambda: SpearmanCorrCoef(sync_on_compute=sync),
    }
    return MetricCollection({name: factories[name]() for name in names})


class GlueMatthewsCorrCoef(MulticlassMatthewsCorrCoef):
    """Gorodkin's R_K over the accumulated confusion matrix C (rows: labels),
    ``(c s - sum_k t_k p_k) / sqrt((s^2 - sum_k p_k^2)(s^2 - sum_k t_k^2))``, 0 when the
    denominator is 0 (GLUE's convention; see the module docstring)."""

    def compute(self) -> Tensor:
        confmat = self.confmat.double()
        gold, pred = confmat.sum(1), confmat.sum(0)
        total, correct = confmat.sum(), confmat.trace()
        numerator = correct * total - (gold * pred).sum()
        denominator = (total**2 - (pred * pred).sum()) * (total**2 - (gold * gold).sum())
        if float(denominator) <= 0:
            return torch.zeros((), dtype=torch.float32, device=confmat.device)
        return (numerator / denominator.sqrt()).float()


def predictions(logits: Tensor) -> Tensor:
    """Class ids for classification logits (B, C), or the scores (B,) for regression (B, 1)."""
    return logits.squeeze(-1) if logits.shape[-1] == 1 else logits.argmax(dim=-1)
