"""The teacher's top-k tokens per position plus one tail bucket, for cheaper token-level KD.

Keeping (or caching) the teacher's whole distribution over a large vocabulary is costly. With
its k most likely tokens i_1..i_k per position and the mass it leaves outside them, both
distributions collapse onto k + 1 buckets:

    p'_j = p_{i_j} (j = 1..k),   p'_{k+1} = 1 − Σ_j p_{i_j}   (for teacher and student alike),

so every divergence stays a divergence between two proper distributions, and with k = V it
is the full one. The student's tail is its mass outside the *teacher's* top k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from distill_zoo.losses._token_math import check_same_shape, log1mexp, log_mass_outside, log_softmax_at


@dataclass(frozen=True, eq=False)
class TeacherTopK:
    """The teacher's k most likely tokens per position, at ``temperature``.

    Attributes:
        indices: (B, L, k) vocabulary ids, most likely first.
        log_probs: (B, L, k) log p_t at those ids (softmax over the whole vocabulary at T).
        tail_log_prob: (B, L) log of the mass outside them, log(1 − Σ_j p_t,i_j); the dtype's
            lowest finite value when nothing is left (k = V).
        temperature: the T the log-probabilities were taken at; the student is put at the same T.
    """

    indices: Tensor
    log_probs: Tensor
    tail_log_prob: Tensor
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.indices.shape != self.log_probs.shape or self.indices.dim() < 1:
            raise ValueError(
                f"top-k indices {tuple(self.indices.shape)} and log-probabilities "
                f"{tuple(self.log_probs.shape)} must have the same (..., k) shape"
            )
        if self.tail_log_prob.shape != self.indices.shape[:-1]:
            raise ValueError(
                f"tail log-probability {tuple(self.tail_log_prob.shape)} must be {tuple(self.indices.shape[:-1])}, "
                "the top-k shape without k"
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")

    @property
    def k(self) -> int:
        return self.indices.shape[-1]

    @classmethod
    def from_log_probs(cls, indices: Tensor, log_probs: Tensor, temperature: float = 1.0) -> TeacherTopK:
        """From stored top-k log-probabilities alone (e.g. a teacher cache): the tail is
        log(1 − exp(logsumexp(log_probs))), by log1p/−expm1 so it stays accurate near both 0 and 1."""
        tail = log1mexp(torch.logsumexp(log_probs, dim=-1)).clamp_min(torch.finfo(log_probs.dtype).min)
        return cls(indices, log_probs, tail, temperature)


def teacher_top_k(teacher_logits: Tensor, k: int, temperature: float = 1.0) -> TeacherTopK:
    """The teacher's top k of softmax(z / T) per position, from its full (B, L, V) logits.

    The tail mass is summed over the other V − k log-probabilities (logsumexp), exact even
    when it is tiny. Raises ``ValueError`` unless 1 ≤ k ≤ V."""
    vocab = teacher_logits.shape[-1]
    if isinstance(k, bool) or not 1 <= k <= vocab:
        raise ValueError(f"top_k must lie in 1..{vocab} (the vocabulary), got {k!r}")
    log_t = log_softmax_at(teacher_logits, temperature)
    log_probs, indices = log_t.topk(k, dim=-1)
    return TeacherTopK(indices, log_probs, log_mass_outside(log_t, indices), temperature)


def collapse_to_topk(student_logits: Tensor, topk: TeacherTopK) -> tuple[Tensor, Tensor]:
    """Student and teacher log-probabilities over the teacher's top k plus the tail bucket.

    Args:
        student_logits: (B, L, V), put at ``topk.temperature``.
        topk: the teacher's :class:`TeacherTopK`, (B, L, k).

    Returns:
        (student, teacher) normalised log-probabilities (B, L, k + 1), tail last: any
        ``*_per_token`` divergence takes them as they are. The student's tail is
        logsumexp of its log-probabilities outside the teacher's indices (no 1 − Σ
        cancellation); the gradient reaches the student logits through all k + 1 buckets.
    """
    if student_logits.shape[:-1] != topk.indices.shape[:-1] or topk.k > student_logits.shape[-1]:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} do not match the teacher's top-k "
            f"{tuple(topk.indices.shape)}: the positions must agree and k must not exceed the vocabulary"
        )
    log_s, index = log_softmax_at(student_logits, topk.temperature), topk.indices.long()
    student = torch.cat([log_s.gather(-1, index), log_mass_outside(log_s, index)[..., None]], -1)
    teacher = torch.cat([topk.log_probs, topk.tail_log_prob[..., None]], -1).to(student.dtype)
    return student, teacher


def top_k_buckets(
    student_logits: Tensor, teacher_logits: Tensor, k: int, temperature: float = 1.0
) -> tuple[Tensor, Tensor]:
    """``collapse_to_topk(student_logits, teacher_top_k(teacher_logits, k, temperature))``:
    (student, teacher) log-probabilities (B, L, k + 1) from two full (B, L, V) logits."""
    check_same_shape(student_logits, teacher_logits)
    return collapse_to_topk(student_logits, teacher_top_k(teacher_logits, k, temperature))
