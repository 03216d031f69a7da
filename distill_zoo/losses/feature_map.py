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


def moment_mse(student_hidden: Tensor, teacher_hidden: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """MobileBERT's optional mean and variance transfer of each token's feature statistics.

    L_mean = mean_tokens (μ_s − μ_t)², L_var = mean_tokens (σ²_s − σ²_t)², with μ and σ²
    taken over each token's features (widths may differ).

    Returns:
        (L_mean, L_var), scalars averaged over real tokens.
    """
    mean_s, mean_t = student_hidden.mean(-1), teacher_hidden.mean(-1)
    var_s, var_t = student_hidden.var(-1, unbiased=False), teacher_hidden.var(-1, unbiased=False)
    return masked_mean((mean_s - mean_t).pow(2), mask), masked_mean((var_s - var_t).pow(2), mask)
