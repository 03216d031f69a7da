"""The supervised task loss: cross-entropy for classification, MSE for regression."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from distill_zoo.losses.kl_div import kl_div
from distill_zoo.losses.soft_cross_entropy import soft_cross_entropy


def task_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Loss on gold labels, as Hugging Face's sequence classifiers compute it.

    Args:
        logits: (B, C) for C ≥ 2 classes, or (B, 1) for a regression task (STS-B).
        labels: (B,) class indices, or (B,) float targets for regression.

    Returns:
        Mean cross-entropy over examples (T = 1), or mean squared error.
    """
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
    return F.cross_entropy(logits, labels.long())


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
