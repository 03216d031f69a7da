"""Cosine-embedding loss on hidden states (DistilBERT's L_cos)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from distill_zoo.losses._reduce import masked_mean


def cosine_loss(student_hidden: Tensor, teacher_hidden: Tensor, mask: Tensor | None = None) -> Tensor:
    """Sanh et al. (2019), "DistilBERT": L_cos = mean_tokens (1 − cos(h_s, h_t)).

    Args:
        student_hidden: (B, L, D) student hidden states.
        teacher_hidden: (B, L, D) teacher hidden states; D must match (the paper uses
            no projection, so the student keeps the teacher's width).
        mask: (B, L), 1 for real tokens; pad tokens never contribute.

    Returns:
        A scalar: the mean over valid tokens. Equals
        ``nn.CosineEmbeddingLoss`` with target 1 applied to the non-pad tokens, as in
        the Hugging Face ``distillation/`` code.
    """
    if student_hidden.shape != teacher_hidden.shape:
        raise ValueError(
            f"cosine loss needs equal shapes, got student {tuple(student_hidden.shape)} "
            f"and teacher {tuple(teacher_hidden.shape)}: DistilBERT's L_cos has no "
            "projection, so the student must keep the teacher's hidden size"
        )
    per_token = 1.0 - F.cosine_similarity(student_hidden, teacher_hidden, dim=-1, eps=1e-8)
    return masked_mean(per_token, mask)
