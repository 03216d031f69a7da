"""Reductions shared by the losses: means over the positions that count."""

from __future__ import annotations

from torch import Tensor


def masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of ``values`` over the positions where ``mask`` is 1.

    Args:
        values: (B,) or (B, L) per-row values.
        mask: None, or (B, L) with 1 for real tokens; must match ``values`` when given.

    Returns:
        A scalar. With no mask, the plain mean over all rows.
    """
    if mask is None:
        return values.mean()
    if mask.shape != values.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match values {tuple(values.shape)}")
    weights = mask.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)
