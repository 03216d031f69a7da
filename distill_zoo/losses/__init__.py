"""Pure distillation losses: tensor functions only, no Lightning, transformers or config.

``mask`` is always (B, L) with 1 for real tokens; masked-out positions never contribute.
"""

from distill_zoo.losses.attention import attention_kl, attention_mse
from distill_zoo.losses.cosine import cosine_loss
from distill_zoo.losses.feature_map import layer_norm_mse, moment_mse
from distill_zoo.losses.hidden_mse import hidden_mse
from distill_zoo.losses.kl_div import kl_div
from distill_zoo.losses.patient import patient_loss
from distill_zoo.losses.relation import relation_kl, relation_scores
from distill_zoo.losses.soft_cross_entropy import soft_cross_entropy
from distill_zoo.losses.supervised import logit_kd, logit_soft_ce, pseudo_labels, regression_mse, task_loss
from distill_zoo.losses.token_distance import adaptive_kl, total_variation
from distill_zoo.losses.token_divergence import TOKEN_DIVERGENCES, per_token_divergence, token_divergence
from distill_zoo.losses.token_kl import forward_kl, generalized_jsd, reverse_kl, skew_forward_kl, skew_reverse_kl
from distill_zoo.losses.token_top_k import TeacherTopK, collapse_to_topk, teacher_top_k, top_k_buckets

__all__ = [
    "TOKEN_DIVERGENCES",
    "TeacherTopK",
    "adaptive_kl",
    "collapse_to_topk",
    "forward_kl",
    "generalized_jsd",
    "per_token_divergence",
    "pseudo_labels",
    "reverse_kl",
    "skew_forward_kl",
    "skew_reverse_kl",
    "teacher_top_k",
    "token_divergence",
    "top_k_buckets",
    "total_variation",
    "attention_kl",
    "attention_mse",
    "cosine_loss",
    "hidden_mse",
    "kl_div",
    "layer_norm_mse",
    "logit_kd",
    "moment_mse",
    "patient_loss",
    "logit_soft_ce",
    "regression_mse",
    "relation_kl",
    "relation_scores",
    "soft_cross_entropy",
    "task_loss",
]
