"""Total variation and adaptive KL per token of a causal LM.

Same conventions as :mod:`distill_zoo.losses.token_kl`: logits (B, L, V), mask (B, L), p =
softmax(z / T) on both sides without a T² factor, mean over the tokens where mask is 1, and
``*_per_token`` twins over normalised log-probabilities (…, V) (e.g. top-k buckets).
"""

from __future__ import annotations

import torch
from torch import Tensor

from distill_zoo.losses._reduce import masked_mean
from distill_zoo.losses._token_math import check_fraction, check_same_shape, kl_per_token, log_probs

_LOG_PROBS = "log-probabilities"


def total_variation_per_token(student_log_probs: Tensor, teacher_log_probs: Tensor) -> Tensor:
    """½ Σ_v |p_t,v − p_s,v| per position, in [0, 1]."""
    check_same_shape(student_log_probs, teacher_log_probs, _LOG_PROBS)
    return 0.5 * (teacher_log_probs.exp() - student_log_probs.exp()).abs().sum(-1)


#: Where AKL's head ends (``akl_head``): ``paper`` (default) or the authors' ``code``.
AKL_HEADS = ("paper", "code")


def adaptive_kl_weights(
    student_log_probs: Tensor, teacher_log_probs: Tensor, mu: float = 0.5, head: str = "paper"
) -> Tensor:
    """AKL's forward-KL weight g_head / (g_head + g_tail) per position, without gradient.

    ``head="paper"`` (default): the head is the smallest set of the teacher's most likely
    tokens whose mass reaches μ (a token is in it when the mass of the tokens ranked before it
    is < μ; μ = 0 leaves it empty). ``head="code"``, as the authors' reference code: a token is
    in the head when the mass up to and including it is ≤ μ, and the top-1 token always is, so
    the token that crosses μ goes to the tail unless it is the top-1. A position where student
    and teacher agree (both gaps 0) gets ½."""
    check_same_shape(student_log_probs, teacher_log_probs, _LOG_PROBS)
    check_fraction("mu", mu)
    if head not in AKL_HEADS:
        raise ValueError(f"akl_head must be one of {', '.join(AKL_HEADS)}, got {head!r}")
    with torch.no_grad():
        p_t, p_s = teacher_log_probs.exp(), student_log_probs.exp()
        sorted_t, order = p_t.sort(dim=-1, descending=True)
        mass_through = sorted_t.cumsum(-1)
        if head == "paper":
            in_head = (mass_through - sorted_t) < mu
        else:
            in_head = mass_through <= mu
            in_head[..., 0] = True
        gap = (sorted_t - p_s.gather(-1, order)).abs()
        g_head, g_tail = (gap * in_head).sum(-1), (gap * ~in_head).sum(-1)
        total = g_head + g_tail
        return torch.where(total > 0, g_head / total.clamp_min(torch.finfo(total.dtype).tiny), 0.5)


def adaptive_kl_per_token(
    student_log_probs: Tensor, teacher_log_probs: Tensor, mu: float = 0.5, head: str = "paper"
) -> Tensor:
    """w · KL(p_t ‖ p_s) + (1 − w) · KL(p_s ‖ p_t) per position, w = :func:`adaptive_kl_weights` (detached)."""
    w_head = adaptive_kl_weights(student_log_probs, teacher_log_probs, mu, head)
    forward = kl_per_token(teacher_log_probs, student_log_probs)
    reverse = kl_per_token(student_log_probs, teacher_log_probs)
    return w_head * forward + (1 - w_head) * reverse


def total_variation(
    student_logits: Tensor, teacher_logits: Tensor, mask: Tensor | None = None, temperature: float = 1.0
) -> Tensor:
    """Total variation distance per token, one of the f-divergences of Wen et al. (2023),
    "f-Divergence Minimization for Sequence-Level Knowledge Distillation", applied per token:

        TVD = mean_tokens ½ Σ_v |p_t,v − p_s,v|   (symmetric, bounded by 1).

    Shapes: logits (B, L, V), mask (B, L) → scalar. No T² factor."""
    return masked_mean(total_variation_per_token(*log_probs(student_logits, teacher_logits, temperature)), mask)


def adaptive_kl(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor | None = None,
    mu: float = 0.5,
    temperature: float = 1.0,
    head: str = "paper",
) -> Tensor:
    """Adaptive KL (Wu et al. 2024, "Rethinking Kullback-Leibler Divergence in Knowledge
    Distillation for Large Language Models", arXiv:2404.02657), per token:

        sort p_t descending; head H = the smallest prefix with Σ_H p_t ≥ μ, tail = the rest;
        g_head = Σ_{v∈H} |p_t,v − p_s,v|,  g_tail = Σ_{v∉H} |p_t,v − p_s,v|;
        AKL = g_head/(g_head + g_tail) · KL(p_t ‖ p_s) + g_tail/(g_head + g_tail) · KL(p_s ‖ p_t).

    FKL fits the head first and RKL the tail, so each is weighted by the gap it would close.
    The weights are per token and **detached** (the authors' ``get_ratio`` computes them from
    ``student_probs.detach()``), so the gradient is that of the two weighted KLs. Default μ = 0.5.
    The authors' code puts the token that crosses μ in the tail unless it is the top-1; the
    default ``head="paper"`` puts it in the head (the smallest set reaching μ), ``head="code"``
    follows the code. Shapes: (B, L, V), mask (B, L) → scalar.
    """
    log_s, log_t = log_probs(student_logits, teacher_logits, temperature)
    return masked_mean(adaptive_kl_per_token(log_s, log_t, mu, head), mask)
