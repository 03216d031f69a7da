"""MobileBERT's feature-map transfer on normalised hidden states, and moment transfer."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from distill_zoo.losses._reduce import masked_mean
from distill_zoo.losses.hidden_mse import hidden_mse


def layer_norm_mse(student_hidden: Tensor, teacher_hidden: Tensor, mask: Tensor | None = None) -> Tensor:
    """Sun et al. (2020), "MobileBERT", FMT: MSE(LN(h_s), LN(h_t)), LN without parameters.

    Args:
        student_hidden: (B, L, D), projected to the teacher's width if needed.
        teacher_hidden: (B, L, D).
        mask: (B, L), 1 for real tokens.

    Returns:
        A scalar: mean over real tokens and features of the squared difference between
        per-token standardised (zero mean, unit variance over D) hidden states.
    """
    width = teacher_hidden.shape[-1]
    return hidden_mse(F.layer_norm(student_hidden, (width,)), F.layer_norm(teacher_hidden, (width,)), mask)


#: ``moment_mse`` norms: how the mean gap and the variance gap are penalised.
MOMENT_NORMS = ("l2", "l1", "reference")


def moment_mse(
    student_hidden: Tensor, teacher_hidden: Tensor, mask: Tensor | None = None, norm: str = "l2"
) -> tuple[Tensor, Tensor]:
    """Sun et al. (2020), "MobileBERT": optional mean and variance transfer of each token's statistics.

    ``norm="l2"`` (default): L_mean = mean_tokens (μ_s − μ_t)², L_var = mean_tokens (σ²_s − σ²_t)².
    ``norm="l1"``: the absolute gaps |μ_s − μ_t| and |σ²_s − σ²_t|.
    ``norm="reference"``: squared gap for the mean, absolute gap for the variance, as
    the TensorFlow MobileBERT distillation code computes its beta and gamma losses.
    μ and σ² (biased) are taken over each token's features, so widths may differ.

    Args:
        student_hidden: (B, L, D_s).
        teacher_hidden: (B, L, D_t).
        mask: (B, L), 1 for real tokens.
        norm: one of :data:`MOMENT_NORMS`.

    Returns:
        (L_mean, L_var), scalars averaged over real tokens.
    """
    if norm not in MOMENT_NORMS:
        raise ValueError(f"moment norm must be one of {MOMENT_NORMS}, got {norm!r}")
    mean_s, mean_t = student_hidden.mean(-1), teacher_hidden.mean(-1)
    var_s, var_t = student_hidden.var(-1, unbiased=False), teacher_hidden.var(-1, unbiased=False)
    mean_gap = (mean_s - mean_t).abs() if norm == "l1" else (mean_s - mean_t).pow(2)
    var_gap = (var_s - var_t).pow(2) if norm == "l2" else (var_s - var_t).abs()
    return masked_mean(mean_gap, mask), masked_mean(var_gap, mask)
