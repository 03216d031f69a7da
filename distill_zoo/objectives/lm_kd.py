"""``method=lm_kd`` and ``method=clm``: token-level distillation of causal language models, and its control."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from distill_zoo.features import EncoderFeatures, FeatureRequest
from distill_zoo.losses import token_divergence
from distill_zoo.losses.token_distance import AKL_HEADS
from distill_zoo.objectives import checks
from distill_zoo.objectives.base import Objective, of_teacher
from distill_zoo.objectives.next_token import clm_loss, next_token_logits, predicted_positions

#: ``method.divergence`` values, as :func:`~distill_zoo.losses.token_divergence` names them.
DIVERGENCES = ("fkl", "rkl", "jsd", "skew_fkl", "skew_rkl", "tvd", "akl")


class CausalLMObjective(Objective):
    """Base of the causal-LM objectives: vocabulary logits per token, trimmed to the tokenizer.

    ``vocab_columns`` is set by the pipeline after its vocabulary check: the number of
    logit columns both models give for real tokens (padded embedding rows are dropped).
    """

    vocabulary_logits = True
    causal = True
    head_terms: tuple[str, ...] = ()
    vocab_columns: int | None = None

    def logits(self, features: EncoderFeatures) -> Tensor:
        """(B, L-1, V) next-token logits over the shared vocabulary."""
        return next_token_logits(features.logits, self.vocab_columns)


class LMKDObjective(CausalLMObjective):
    """L = w_div · D(p_t ‖ p_s) + w_clm · L_clm, per predicted token (mean over them).

    The divergence term is logged as ``loss_div`` (not ``loss_kd``, which always means
    T²·KL(teacher ‖ student)), the next-token cross-entropy as ``loss_clm``.

    D is ``divergence``: forward KL (``fkl``, Hinton's KD per token), reverse KL (``rkl``,
    MiniLLM's objective without its policy gradient), generalised JSD with ``beta`` (GKD),
    skew forward/reverse KL with ``alpha`` (DistiLLM), total variation (``tvd``) or adaptive
    KL (``akl``, with ``mu``; ``akl_head`` ``paper``, the default, or the authors' ``code``
    for where the head ends); temperature T on both sides. ``top_k`` keeps only the
    teacher's k most likely tokens per position plus one bucket for the rest of its mass.
    The functions and their conventions are in :mod:`distill_zoo.losses`.
    """

    default_weights = {"div": 1.0, "clm": 0.0}

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        divergence: str = "fkl",
        temperature: float = 1.0,
        beta: float = 0.5,
        alpha: float = 0.1,
        mu: float = 0.5,
        top_k: int | None = None,
        akl_head: str = "paper",
    ) -> None:
        super().__init__(weights)
        self.divergence = checks.choice("divergence", divergence, DIVERGENCES)
        self.temperature = checks.positive("temperature", temperature)
        self.beta = checks.fraction("beta", beta)
        self.alpha = checks.fraction("alpha", alpha)
        self.mu = checks.fraction("mu", mu)
        self.top_k = None if top_k is None else checks.count("top_k", top_k)
        self.akl_head = checks.choice("akl_head", akl_head, AKL_HEADS)

    def student_request(self) -> FeatureRequest:
        return FeatureRequest(logits=True)

    def teacher_request(self) -> FeatureRequest:
        return FeatureRequest(logits=self.active("div"))

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        logits, mask, terms = self.logits(student), predicted_positions(batch), {}
        if self.active("div"):
            terms["div"] = token_divergence(
                self.divergence,
                logits,
                self.logits(of_teacher(teacher)),
                mask,
                temperature=self.temperature,
                beta=self.beta,
                alpha=self.alpha,
                mu=self.mu,
                top_k=self.top_k,
                akl_head=self.akl_head,
            )
        if self.active("clm"):
            terms["clm"] = clm_loss(logits, batch)
        return self.combine(terms)


class CLMObjective(CausalLMObjective):
    """``method=clm``: the student on the language-modelling loss alone (no teacher): the control
    every causal-LM distillation row is compared against."""

    needs_teacher = False
    default_weights = {"clm": 1.0}

    def teacher_request(self) -> FeatureRequest:
        return FeatureRequest()

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        return self.combine({"clm": clm_loss(self.logits(student), batch)})
