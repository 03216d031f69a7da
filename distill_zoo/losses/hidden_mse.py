"""Mean squared error between hidden states over real tokens."""

from __future__ import annotations

from torch import Tensor

from distill_zoo.losses._reduce import masked_mean


def hidden_mse(
    student_hidden: Tensor, teacher_hidden: Tensor, mask: Tensor | None = None, reduction: str = "valid"
) -> Tensor:
    """Jiao et al. (2020), "TinyBERT", Eq. 8 (after any projection): mean (h_s − h_t)².

    Args:
        student_hidden: (B, L, D), already projected to the teacher's width if needed.
        teacher_hidden: (B, L, D).
        mask: (B, L), 1 for real tokens.
        reduction: ``"valid"`` (default) averages over real tokens only;
            ``"reference"`` averages over every position, padding included, as the
            TinyBERT reference code's ``MSELoss`` does.

    Returns:
        A scalar: the mean over the counted tokens and the D features.
    """
    if reduction not in ("valid", "reference"):
        raise ValueError(f"reduction must be 'valid' or 'reference', got {reduction!r}")
    if student_hidden.shape != teacher_hidden.shape:
        raise ValueError(
            f"hidden_mse needs equal shapes, got {tuple(student_hidden.shape)} and "
            f"{tuple(teacher_hidden.shape)}; project the student first"
        )
    per_token = (student_hidden - teacher_hidden).pow(2).mean(dim=-1)
    return masked_mean(per_token, mask if reduction == "valid" else None)
