"""Choose a token-level divergence by name, over the whole vocabulary or the teacher's top k.

The divergences themselves, with their papers and conventions (temperature on both sides,
no T² factor, mean over the tokens where the mask is 1), are in
:mod:`distill_zoo.losses.token_kl` and :mod:`distill_zoo.losses.token_distance`; the top-k
buckets in :mod:`distill_zoo.losses.token_top_k`.
"""

from __future__ import annotations

from torch import Tensor

from distill_zoo.losses._reduce import masked_mean
from distill_zoo.losses._token_math import check_same_shape, log_probs
from distill_zoo.losses.token_distance import adaptive_kl_per_token, total_variation_per_token
from distill_zoo.losses.token_kl import (
    forward_kl_per_token,
    generalized_jsd_per_token,
    reverse_kl_per_token,
    skew_forward_kl_per_token,
    skew_reverse_kl_per_token,
)
from distill_zoo.losses.token_top_k import TeacherTopK, collapse_to_topk, teacher_top_k

#: Names :func:`token_divergence` accepts: forward KL, reverse KL, generalised JSD (``beta``),
#: skew forward / reverse KL (``alpha``), total variation, adaptive KL (``mu``).
TOKEN_DIVERGENCES = ("fkl", "rkl", "jsd", "skew_fkl", "skew_rkl", "tvd", "akl")


def per_token_divergence(
    name: str,
    student_log_probs: Tensor,
    teacher_log_probs: Tensor,
    beta: float = 0.5,
    alpha: float = 0.1,
    mu: float = 0.5,
    akl_head: str = "paper",
) -> Tensor:
    """The divergence ``name`` between normalised log-probabilities (…, V), unreduced (…)."""
    s, t = student_log_probs, teacher_log_probs
    if name == "fkl":
        return forward_kl_per_token(s, t)
    if name == "rkl":
        return reverse_kl_per_token(s, t)
    if name == "jsd":
        return generalized_jsd_per_token(s, t, beta)
    if name == "skew_fkl":
        return skew_forward_kl_per_token(s, t, alpha)
    if name == "skew_rkl":
        return skew_reverse_kl_per_token(s, t, alpha)
    if name == "tvd":
        return total_variation_per_token(s, t)
    if name == "akl":
        return adaptive_kl_per_token(s, t, mu, akl_head)
    raise ValueError(f"unknown divergence {name!r}; choose one of {', '.join(TOKEN_DIVERGENCES)}")


def token_divergence(
    name: str,
    student_logits: Tensor,
    teacher_logits: Tensor | TeacherTopK,
    mask: Tensor | None = None,
    temperature: float = 1.0,
    beta: float = 0.5,
    alpha: float = 0.1,
    mu: float = 0.5,
    top_k: int | None = None,
    akl_head: str = "paper",
) -> Tensor:
    """The divergence ``name`` (one of :data:`TOKEN_DIVERGENCES`) per token, mean over ``mask``.

    Args:
        name: ``fkl``, ``rkl``, ``jsd`` (with ``beta``), ``skew_fkl`` / ``skew_rkl`` (with
            ``alpha``), ``tvd`` or ``akl`` (with ``mu`` and ``akl_head``: ``paper`` or
            the authors' ``code``, see :func:`~distill_zoo.losses.token_distance.adaptive_kl`).
        student_logits: (B, L, V).
        teacher_logits: (B, L, V) logits, or a :class:`TeacherTopK` (e.g. from a cache), in
            which case the divergence is taken over its k + 1 buckets.
        mask: (B, L), 1 for the tokens that count.
        temperature: T on both sides (no T² factor); must equal a TeacherTopK's own T.
        top_k: with full teacher logits, take the divergence over the teacher's top k plus a
            tail bucket instead of the whole vocabulary (k = V gives the full value).

    Returns:
        A scalar, the mean over the valid tokens.
    """
    if name not in TOKEN_DIVERGENCES:
        raise ValueError(f"unknown divergence {name!r}; choose one of {', '.join(TOKEN_DIVERGENCES)}")
    if isinstance(teacher_logits, TeacherTopK):
        if top_k is not None:
            raise ValueError("pass top_k with full teacher logits, or a TeacherTopK, not both")
        if temperature != teacher_logits.temperature:
            raise ValueError(
                f"temperature {temperature} differs from the TeacherTopK's {teacher_logits.temperature}; "
                "build the top k at the temperature of the loss"
            )
        log_s, log_t = collapse_to_topk(student_logits, teacher_logits)
    elif top_k is not None:
        check_same_shape(student_logits, teacher_logits)
        log_s, log_t = collapse_to_topk(student_logits, teacher_top_k(teacher_logits, top_k, temperature))
    else:
        log_s, log_t = log_probs(student_logits, teacher_logits, temperature)
    return masked_mean(per_token_divergence(name, log_s, log_t, beta=beta, alpha=alpha, mu=mu, akl_head=akl_head), mask)
