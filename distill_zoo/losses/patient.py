"""BERT-PKD's patient loss between normalised [CLS] states of matched layers."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

#: ``sum`` is the paper's L_PT; ``reference`` the Patient-KD code's ``F.mse_loss``.
REDUCTIONS = ("sum", "reference")


def patient_loss(student_cls: Tensor, teacher_cls: Tensor, reduction: str = "sum") -> Tensor:
    """Sun et al. (2019), "Patient Knowledge Distillation for BERT Model Compression": L_PT.

    L_PT = Σ_j ‖ h_s,j / ‖h_s,j‖₂ − h_t,j / ‖h_t,j‖₂ ‖²₂ over the M matched layer pairs j,
    on each example's [CLS] (first-token) hidden state. Each pair's value is
    2 − 2·cos(h_s,j, h_t,j) ∈ [0, 4], and unchanged when either vector is rescaled.
    The reference code also tried unnormalised states (``--normalize_patience False``);
    only the paper's normalised form is offered here.

    Args:
        student_cls: (B, M, D) student [CLS] states, one row per matched layer.
        teacher_cls: (B, M, D) teacher [CLS] states of the layers they are matched to.
            D must match: the paper uses no projection, so the student keeps the
            teacher's width.
        reduction: ``sum`` (default, the paper): squared distances summed over the
            D features and the M layer pairs, then averaged over the batch (the paper
            sums over training examples). ``reference``: the mean over every (example,
            layer, feature) element, as the reference code's ``F.mse_loss`` on the
            normalised states: the ``sum`` value divided by M·D. The paper's β grid
            (10 to 1000) is in these units.

    Returns:
        A scalar.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"patient_loss reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if student_cls.dim() != 3 or student_cls.shape != teacher_cls.shape:
        raise ValueError(
            f"patient_loss needs (B, M, D) [CLS] states of equal shape, got student {tuple(student_cls.shape)} "
            f"and teacher {tuple(teacher_cls.shape)}: PKD has no projection, so the student must keep the "
            "teacher's hidden size and each student layer needs one teacher layer"
        )
    diff = (F.normalize(student_cls, dim=-1) - F.normalize(teacher_cls, dim=-1)).pow(2)
    if reduction == "reference":
        return diff.mean()
    return diff.sum(dim=(1, 2)).mean()
