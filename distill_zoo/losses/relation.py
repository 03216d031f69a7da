"""Self-attention relation distillation (MiniLM value relation, MiniLMv2 Q/K/V relations)."""

from __future__ import annotations

import math

from torch import Tensor

from distill_zoo.losses.attention import attention_kl


def relation_scores(states: Tensor, num_relation_heads: int) -> Tensor:
    """X_r X_rᵀ / √d_r for each relation head: (B, L, D) -> (B, A_r, L, L).

    The per-token vector (heads concatenated) is split into ``num_relation_heads``
    chunks of size d_r = D / A_r. MiniLMv2 pitfall: split the (B, L, D) vector, do not
    reuse the model's (B, H, L, d) head layout when A_r differs from H.
    """
    batch, length, width = states.shape
    if width % num_relation_heads:
        raise ValueError(
            f"hidden width {width} is not divisible by {num_relation_heads} relation heads; "
            "choose a relation head count that divides both widths"
        )
    head = width // num_relation_heads
    x = states.view(batch, length, num_relation_heads, head).transpose(1, 2)
    return x @ x.transpose(-1, -2) / math.sqrt(head)


def relation_kl(
    student_states: Tensor, teacher_states: Tensor, num_relation_heads: int, mask: Tensor | None = None
) -> Tensor:
    """Wang et al. (2020, 2021), MiniLM: KL(R_T ‖ R_S) with R = softmax(X_r X_rᵀ/√d_r).

    Args:
        student_states: (B, L, D_s), e.g. a layer's concatenated values.
        teacher_states: (B, L, D_t); widths may differ, each side is split on its own.
        num_relation_heads: A_r, used for both sides.
        mask: (B, L), 1 for real tokens; padded keys are excluded from the softmax and
            padded queries from the mean.

    Returns:
        A scalar: mean over relation heads and valid query tokens, as :func:`attention_kl`.
    """
    if student_states.shape[:2] != teacher_states.shape[:2]:
        raise ValueError(f"batch/length differ: {tuple(student_states.shape)} vs {tuple(teacher_states.shape)}")
    return attention_kl(
        relation_scores(student_states, num_relation_heads),
        relation_scores(teacher_states, num_relation_heads),
        mask,
    )
