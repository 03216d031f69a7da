"""Soft-target cross-entropy (TinyBERT's prediction-layer loss)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from distill_zoo.losses._reduce import masked_mean


def soft_cross_entropy(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 1.0,
    mask: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Jiao et al. (2020), "TinyBERT", Eq. 10: L_pred = −Σ softmax(t/T) · log_softmax(s/T).

    Differs from :func:`kl_div` by the teacher's entropy (same gradient, different
    logged value) and carries no T² factor, as in the paper and reference code.

    Args:
        student_logits: (B, C) or (B, L, C).
        teacher_logits: same shape.
        temperature: T for both sides (TinyBERT uses 1).
        mask: (B, L) for per-token logits.
        reduction: ``mean`` (default, the paper): the per-row sum over the C classes,
            averaged over rows; ``reference``: additionally divided by C, i.e. the mean
            over all (row, class) elements, as huawei-noah's ``soft_cross_entropy``
            takes ``(−p_t · log q_s).mean()``. Same direction of the gradient, 1/C of its size.

    Returns:
        A scalar: mean over rows (examples, or valid tokens), divided by C for ``reference``.
    """
    if reduction not in ("mean", "reference"):
        raise ValueError(f"soft_cross_entropy reduction must be 'mean' or 'reference', got {reduction!r}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} differ in shape"
        )
    p_t = F.softmax(teacher_logits / temperature, dim=-1)
    per_row = -(p_t * F.log_softmax(student_logits / temperature, dim=-1)).sum(dim=-1)
    loss = masked_mean(per_row, mask)
    return loss / student_logits.shape[-1] if reduction == "reference" else loss
