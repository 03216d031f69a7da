"""The supervised task loss: cross-entropy for classification, MSE for regression."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from distill_zoo.labels import UNLABELLED_CLASS, labelled_rows
from distill_zoo.losses.kl_div import kl_div
from distill_zoo.losses.soft_cross_entropy import soft_cross_entropy


def task_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Loss on gold labels, as Hugging Face's sequence classifiers compute it, over the
    labelled rows only: transfer-set rows carry no label (:mod:`distill_zoo.labels`).

    Args:
        logits: (B, C) for C ≥ 2 classes, or (B, 1) for a regression task (STS-B).
        labels: (B,) class indices, or (B,) float targets for regression; a row without a
            label holds :data:`~distill_zoo.labels.UNLABELLED_CLASS` (NaN for regression).

    Returns:
        Mean cross-entropy (T = 1), or mean squared error, over the labelled rows; 0 (still
        attached to ``logits``, so every rank's backward sees the same graph) when the batch
        holds none.
    """
    keep = labelled_rows(labels)
    # Sum over the labelled rows / their count, never ``logits[keep]``: a boolean index waits
    # for the device on every step.
    count = keep.sum().clamp_min(1)
    if logits.shape[-1] == 1:
        error = torch.where(keep, logits.squeeze(-1) - labels.nan_to_num().to(logits.dtype), 0.0)
        return error.square().sum() / count
    return F.cross_entropy(logits, labels.long(), ignore_index=UNLABELLED_CLASS, reduction="sum") / count


def pseudo_labels(labels: Tensor, teacher_logits: Tensor) -> Tensor:
    """Hard targets for every row: the gold label where a row has one, else the teacher's.

    The teacher's label is its argmax class (Lee 2013's pseudo-label; no soft targets), or
    its predicted score for regression.

    Args:
        labels: (B,) gold labels with the "no label" sentinel on transfer rows.
        teacher_logits: (B, C), or (B, 1) for regression.

    Returns:
        (B,) labels of ``labels``' dtype, with no sentinel left.
    """
    if teacher_logits.shape[-1] == 1:
        guess = teacher_logits.squeeze(-1).detach().to(labels.dtype)
    else:
        guess = teacher_logits.detach().argmax(dim=-1).to(labels.dtype)
    return torch.where(labelled_rows(labels), labels, guess)


def regression_mse(student_pred: Tensor, teacher_pred: Tensor) -> Tensor:
    """MSE between student and teacher predictions, (B, 1) each: KD for regression tasks."""
    if student_pred.shape != teacher_pred.shape:
        raise ValueError(f"prediction shapes differ: {tuple(student_pred.shape)} vs {tuple(teacher_pred.shape)}")
    return F.mse_loss(student_pred, teacher_pred)


def logit_kd(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Distillation on the task head: T²·KL(teacher ‖ student) for classification
    (:func:`~distill_zoo.losses.kl_div`), MSE to the teacher's prediction for regression."""
    if student_logits.shape[-1] == 1:
        return regression_mse(student_logits, teacher_logits)
    return kl_div(student_logits, teacher_logits, temperature)


def logit_soft_ce(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Soft cross-entropy on the task head, without T² (TinyBERT's L_pred, PKD's written
    L_DS; :func:`~distill_zoo.losses.soft_cross_entropy`), MSE to the teacher's prediction
    for regression."""
    if student_logits.shape[-1] == 1:
        return regression_mse(student_logits, teacher_logits)
    return soft_cross_entropy(student_logits, teacher_logits, temperature, reduction=reduction)
