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
from distill_zoo.losses.supervised import logit_kd, logit_soft_ce, regression_mse, task_loss

__all__ = [
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
