"""Temperature-scaled KL divergence between teacher and student distributions."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from distill_zoo.losses._reduce import masked_mean


def kl_div(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 1.0,
    mask: Tensor | None = None,
) -> Tensor:
    """Hinton et al. (2015), "Distilling the Knowledge in a Neural Network".

    L = T² · mean_rows KL(softmax(t/T) ‖ softmax(s/T))
      = T² · mean_rows Σ_c p_t,c · (log p_t,c − log p_s,c)

    Args:
        student_logits: (B, C) per example, or (B, L, C) per token.
        teacher_logits: same shape as ``student_logits``.
        temperature: T, applied to both sides. The T² factor keeps the gradient scale
            independent of T (Hinton et al., §2).
        mask: (B, L) with 1 for real tokens when the logits are per token; ignored
            positions never contribute.

    Returns:
        A scalar: the mean over rows (examples, or valid tokens). Note that
        ``nn.KLDivLoss(reduction="mean")`` would also divide by C; this is the
        per-row ("batchmean") value.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} differ in shape"
        )
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    per_row = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1)
    return temperature**2 * masked_mean(per_row, mask)
