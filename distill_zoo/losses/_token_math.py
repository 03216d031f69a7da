"""Log-space pieces shared by the token-level divergences (token_kl, token_distance, token_top_k).

Every helper works on the last axis (the vocabulary, or the k + 1 top-k buckets) and keeps
the value *and* the gradient finite where a probability is exactly 0 (a −inf logit, or an
empty top-k tail): an autograd NaN there would spread through log_softmax to every logit.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def check_same_shape(student: Tensor, teacher: Tensor, what: str = "logits") -> None:
    if student.shape != teacher.shape:
        raise ValueError(
            f"student {what} {tuple(student.shape)} and teacher {what} {tuple(teacher.shape)} differ in shape"
        )


def check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")


def log_softmax_at(logits: Tensor, temperature: float) -> Tensor:
    """log softmax(z / T) over the last axis, computed in at least float32 (bf16/fp16 logits are upcast)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    scaled = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if temperature != 1:
        scaled = scaled / temperature
    return F.log_softmax(scaled, dim=-1)


def log_probs(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """(log p_s, log p_t) at temperature T, after checking that the two shapes agree."""
    check_same_shape(student_logits, teacher_logits)
    return log_softmax_at(student_logits, temperature), log_softmax_at(teacher_logits, temperature)


def kl_per_token(log_p: Tensor, log_q: Tensor) -> Tensor:
    """KL(p ‖ q) = Σ_v p_v (log p_v − log q_v) over the last axis; 0 · log(0 / q) counts as 0."""
    p = log_p.exp()
    return (p * torch.where(p > 0, log_p - log_q, 0.0)).sum(-1)


def log_mixture(log_a: Tensor, log_b: Tensor, weight_a: float) -> Tensor:
    """log(w · a + (1 − w) · b) by logaddexp; where a and b are both 0 the result is the dtype's
    lowest finite value (probability 0) rather than −inf, whose logaddexp gradient is NaN."""
    if weight_a == 0:
        return log_b
    if weight_a == 1:
        return log_a
    floor = torch.finfo(log_a.dtype).min
    weighted_a = (log_a + math.log(weight_a)).clamp_min(floor)
    weighted_b = (log_b + math.log1p(-weight_a)).clamp_min(floor)
    return torch.logaddexp(weighted_a, weighted_b)


def log_mass_outside(log_p: Tensor, indices: Tensor) -> Tensor:
    """log Σ_{v ∉ indices} p_v per position, summed directly over the remaining entries (no
    1 − Σ cancellation). Nothing left (k = V) gives the dtype's lowest finite value, not −inf."""
    rest = log_p.scatter(-1, indices, float("-inf")).clamp_min(torch.finfo(log_p.dtype).min)
    return torch.logsumexp(rest, dim=-1)


def log1mexp(x: Tensor) -> Tensor:
    """log(1 − exp(x)) for x ≤ 0 (Mächler 2012): log(−expm1(x)) near 0, log1p(−exp(x)) below −log 2.
    Used on the teacher side only (its gradient is infinite at x = 0)."""
    x = x.clamp_max(0.0)
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))
