"""Learnable width projections, trained with the student and saved with the objective."""

from __future__ import annotations

from torch import nn


def make_projection(student_width: int, teacher_width: int) -> nn.Module:
    """W: D_s -> D_t, or the identity when the widths already match (nothing to learn)."""
    if student_width == teacher_width:
        return nn.Identity()
    return nn.Linear(student_width, teacher_width)
