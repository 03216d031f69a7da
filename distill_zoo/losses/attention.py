"""Losses between attention maps given as pre-softmax scores (B, H, L, L)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Reductions: "valid" averages over real (query, key) pairs or query rows only (default);
#: "reference" reproduces the TinyBERT code (padded keys set to 0, mean over all elements).
REDUCTIONS = ("valid", "reference")


def _check(student: Tensor, teacher: Tensor, name: str) -> None:
    if student.dim() != 4 or student.shape != teacher.shape:
        raise ValueError(
            f"{name} needs (B, H, L, L) scores of equal shape, got {tuple(student.shape)} and "
            f"{tuple(teacher.shape)}; the attention losses need equal head counts"
        )


def attention_mse(
    student_scores: Tensor, teacher_scores: Tensor, mask: Tensor | None = None, reduction: str = "valid"
) -> Tensor:
    """Jiao et al. (2020), "TinyBERT", Eq. 7: L_attn = mean (A_S − A_T)², A = QKᵀ/√d pre-softmax.

    Args:
        student_scores: (B, H, L, L) pre-softmax scores, no mask added.
        teacher_scores: same shape (equal head counts).
        mask: (B, L), 1 for real tokens.
        reduction: ``"valid"`` (default): mean over batch, heads and valid (query, key)
            pairs. ``"reference"``: the huawei-noah code, which adds −10000 at padded keys,
            replaces those entries by 0 in both maps, then averages over every element
            (padded queries included).

    Returns:
        A scalar.
    """
    _check(student_scores, teacher_scores, "attention_mse")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    diff = (student_scores - teacher_scores).pow(2)
    if mask is None:
        return diff.mean()
    m = mask.to(diff.dtype)
    if reduction == "reference":
        keys = m[:, None, None, :].expand_as(diff)
        return (diff * keys).mean()
    pairs = (m[:, :, None] * m[:, None, :])[:, None].expand_as(diff)
    return (diff * pairs).sum() / pairs.sum().clamp_min(1.0)


def attention_kl(
    student_scores: Tensor, teacher_scores: Tensor, mask: Tensor | None = None, cross_entropy: bool = False
) -> Tensor:
    """KL(softmax(A_T) ‖ softmax(A_S)) per head and query row (MiniLM Eq. 3; MobileBERT AT).

    The softmax runs over valid keys only; the KL is averaged over batch, heads and
    valid query rows: 1/(A_h·|x|) Σ_heads Σ_tokens KL. MobileBERT's reference code logs
    the cross-entropy form instead (same gradient, larger by the teacher's entropy).

    Args:
        student_scores: (B, H, L, L) pre-softmax scores without mask.
        teacher_scores: same shape.
        mask: (B, L), 1 for real tokens.
        cross_entropy: log −Σ p_T log p_S instead of the KL (MobileBERT's reference
            code); default False (the papers' KL).

    Returns:
        A scalar.
    """
    _check(student_scores, teacher_scores, "attention_kl")
    log_p_s = _masked_log_softmax(student_scores, mask)
    log_p_t = _masked_log_softmax(teacher_scores, mask)
    target = 0.0 if cross_entropy else log_p_t
    per_row = (log_p_t.exp() * (target - log_p_s)).sum(-1)  # (B, H, L)
    if mask is None:
        return per_row.mean()
    rows = mask.to(per_row.dtype)[:, None, :].expand_as(per_row)
    return (per_row * rows).sum() / rows.sum().clamp_min(1.0)


def _masked_log_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """log_softmax over keys with padded keys removed (probability exactly 0)."""
    if mask is None:
        return F.log_softmax(scores, dim=-1)
    keys = mask.bool()[:, None, None, :]
    return F.log_softmax(scores.masked_fill(~keys, torch.finfo(scores.dtype).min), dim=-1).masked_fill(~keys, 0.0)
