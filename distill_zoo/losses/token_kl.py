"""KL-family divergences per token of a causal LM: forward, reverse, generalised JSD, skew KL.

Conventions (shared with :mod:`distill_zoo.losses.token_distance`):

* logits are (B, L, V), vocabulary last ((N, V) works too); ``mask`` is (B, L), 1 for the
  tokens that count; the result is the mean over those tokens of the per-token divergence.
* p = softmax(z / T) on both sides, in at least float32. **No T² factor**: the causal-LM
  papers cited below train at T = 1 and TRL's GKD loss divides by T without rescaling;
  :func:`~distill_zoo.losses.kl_div` is the T²-scaled (Hinton) KL.
* Nothing is detached: the teacher never needs a gradient (run it under ``no_grad``), the
  student gets one. Shapes that differ raise ``ValueError``.
* Each ``*_per_token`` twin takes normalised log-probabilities (…, V) instead of logits (for
  instance the (B, L, k + 1) buckets of :func:`~distill_zoo.losses.collapse_to_topk`) and
  returns the unreduced (…) values.
"""

from __future__ import annotations

from torch import Tensor

from distill_zoo.losses._reduce import masked_mean
from distill_zoo.losses._token_math import check_fraction, check_same_shape, kl_per_token, log_mixture, log_probs

_LOG_PROBS = "log-probabilities"


def forward_kl_per_token(student_log_probs: Tensor, teacher_log_probs: Tensor) -> Tensor:
    """KL(p_t ‖ p_s) = Σ_v p_t,v (log p_t,v − log p_s,v) per position."""
    check_same_shape(student_log_probs, teacher_log_probs, _LOG_PROBS)
    return kl_per_token(teacher_log_probs, student_log_probs)


def reverse_kl_per_token(student_log_probs: Tensor, teacher_log_probs: Tensor) -> Tensor:
    """KL(p_s ‖ p_t) = Σ_v p_s,v (log p_s,v − log p_t,v) per position."""
    check_same_shape(student_log_probs, teacher_log_probs, _LOG_PROBS)
    return kl_per_token(student_log_probs, teacher_log_probs)


def generalized_jsd_per_token(student_log_probs: Tensor, teacher_log_probs: Tensor, beta: float = 0.5) -> Tensor:
    """β · KL(p_t ‖ m) + (1 − β) · KL(p_s ‖ m), m = β p_t + (1 − β) p_s; β = 0 is forward KL, β = 1 reverse KL."""
    check_same_shape(student_log_probs, teacher_log_probs, _LOG_PROBS)
    check_fraction("beta", beta)
    if beta == 0:
        return kl_per_token(teacher_log_probs, student_log_probs)
    if beta == 1:
        return kl_per_token(student_log_probs, teacher_log_probs)
    log_m = log_mixture(teacher_log_probs, student_log_probs, beta)
    return beta * kl_per_token(teacher_log_probs, log_m) + (1 - beta) * kl_per_token(student_log_probs, log_m)


def skew_forward_kl_per_token(student_log_probs: Tensor, teacher_log_probs: Tensor, alpha: float = 0.1) -> Tensor:
    """KL(p_t ‖ α p_t + (1 − α) p_s) per position; α = 0 is forward KL."""
    check_same_shape(student_log_probs, teacher_log_probs, _LOG_PROBS)
    check_fraction("alpha", alpha)
    return kl_per_token(teacher_log_probs, log_mixture(teacher_log_probs, student_log_probs, alpha))


def skew_reverse_kl_per_token(student_log_probs: Tensor, teacher_log_probs: Tensor, alpha: float = 0.1) -> Tensor:
    """KL(p_s ‖ α p_s + (1 − α) p_t) per position; α = 0 is reverse KL."""
    check_same_shape(student_log_probs, teacher_log_probs, _LOG_PROBS)
    check_fraction("alpha", alpha)
    return kl_per_token(student_log_probs, log_mixture(student_log_probs, teacher_log_probs, alpha))


def forward_kl(
    student_logits: Tensor, teacher_logits: Tensor, mask: Tensor | None = None, temperature: float = 1.0
) -> Tensor:
    """Forward KL per token, Hinton et al. (2015) KD at every position (mode-covering; the
    word-level KD of Kim & Rush 2016):  L = mean_tokens Σ_v p_t,v (log p_t,v − log p_s,v).

    Shapes: logits (B, L, V), mask (B, L) → scalar. No T² factor (see the module docstring)."""
    return masked_mean(forward_kl_per_token(*log_probs(student_logits, teacher_logits, temperature)), mask)


def reverse_kl(
    student_logits: Tensor, teacher_logits: Tensor, mask: Tensor | None = None, temperature: float = 1.0
) -> Tensor:
    """Reverse KL per token (mode-seeking; the divergence MiniLLM, Gu et al. 2024, minimises at
    sequence level):  L = mean_tokens Σ_v p_s,v (log p_s,v − log p_t,v).

    Shapes: logits (B, L, V), mask (B, L) → scalar. No T² factor."""
    return masked_mean(reverse_kl_per_token(*log_probs(student_logits, teacher_logits, temperature)), mask)


def generalized_jsd(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
) -> Tensor:
    """Generalised Jensen–Shannon divergence of GKD (Agarwal et al. 2024, "On-Policy Distillation
    of Language Models", eq. 1), per token, with P = teacher and Q = student:

        JSD(β) = β · KL(p_t ‖ m) + (1 − β) · KL(p_s ‖ m),   m = β · p_t + (1 − β) · p_s.

    The formula itself tends to 0 at both ends (JSD(β)/β → KL(p_t ‖ p_s) as β → 0 and
    JSD(β)/(1 − β) → KL(p_s ‖ p_t) as β → 1), so, as in TRL's ``GKDTrainer.generalized_jsd_loss``,
    the endpoints are special-cased: **β = 0 is forward KL(p_t ‖ p_s), β = 1 reverse KL(p_s ‖ p_t)**.
    β = 0.5 is the ordinary JSD. Shapes: logits (B, L, V), mask (B, L) → scalar. No T² factor.
    """
    log_s, log_t = log_probs(student_logits, teacher_logits, temperature)
    return masked_mean(generalized_jsd_per_token(log_s, log_t, beta), mask)


def skew_forward_kl(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor | None = None,
    alpha: float = 0.1,
    temperature: float = 1.0,
) -> Tensor:
    """α-skew KL of DistiLLM (Ko et al. 2024, "DistiLLM: Towards Streamlined Distillation for
    Large Language Models"), per token:  SKL_α = KL(p_t ‖ α p_t + (1 − α) p_s).

    α = 0 is forward KL; α > 0 bounds the log-ratio by log(1/α) where the student gives a token
    ~0. Default α = 0.1 as in the paper. The value is the true KL (DistiLLM's code drops the
    constant teacher entropy; the gradient is the same). Shapes: (B, L, V), mask (B, L) → scalar."""
    log_s, log_t = log_probs(student_logits, teacher_logits, temperature)
    return masked_mean(skew_forward_kl_per_token(log_s, log_t, alpha), mask)


def skew_reverse_kl(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor | None = None,
    alpha: float = 0.1,
    temperature: float = 1.0,
) -> Tensor:
    """α-skew reverse KL of DistiLLM (Ko et al. 2024), per token:
    SRKL_α = KL(p_s ‖ α p_s + (1 − α) p_t); α = 0 is reverse KL, default α = 0.1.

    Shapes: logits (B, L, V), mask (B, L) → scalar. No T² factor."""
    log_s, log_t = log_probs(student_logits, teacher_logits, temperature)
    return masked_mean(skew_reverse_kl_per_token(log_s, log_t, alpha), mask)
