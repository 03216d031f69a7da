"""``method=distilbert``: task-level DistilBERT, "DistilBERT (D)" (Sanh et al. 2019)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims, EncoderFeatures, FeatureRequest
from distill_zoo.losses import cosine_loss, logit_kd, task_loss
from distill_zoo.objectives import checks
from distill_zoo.objectives.base import Objective, of_teacher


class DistilBERTObjective(Objective):
    """L = w_kd · T² · KL(z_T/T ‖ z_S/T) + w_task · L_task + w_cos · L_cos(h_S^last, h_T^last).

    ``L_cos`` is the mean over non-pad tokens of 1 − cos between the last hidden
    states (no projection: the student keeps the teacher's width, as in the paper).
    For regression tasks the soft term is MSE to the teacher's prediction.

    Defaults: T = 2 and w_kd = w_task = 0.5 are the paper's task-level ("D") settings
    (α_ce 0.5, α_task 0.5, T 2). w_cos = 0.1 keeps the paper's pre-training ratio
    α_cos/α_ce = 1/5 (5.0 / 2.0 / 1.0 there). Logged: ``loss_kd`` (the paper's L_ce,
    named ``kd`` as in every method), ``loss_task``, ``loss_cos``.

    Args:
        weights: overrides of ``{"kd": 0.5, "task": 0.5, "cos": 0.1}``; 0 skips a term.
        temperature: T of the soft term.
    """

    default_weights = {"kd": 0.5, "task": 0.5, "cos": 0.1}

    def __init__(self, weights: Mapping[str, float] | None = None, temperature: float = 2.0) -> None:
        super().__init__(weights)
        self.temperature = checks.positive("temperature", temperature)

    def student_request(self) -> FeatureRequest:
        return FeatureRequest(logits=True, hidden_states=(-1,) if self.active("cos") else ())

    def teacher_request(self) -> FeatureRequest:
        return FeatureRequest(logits=self.active("kd"), hidden_states=(-1,) if self.active("cos") else ())

    def configure(self, student: EncoderDims, teacher: EncoderDims | None) -> None:
        if self.active("cos") and teacher is not None and student.hidden_size != teacher.hidden_size:
            raise ConfigError(
                f"distilbert's cosine loss compares hidden states directly, but the student is "
                f"{student.hidden_size} wide and the teacher {teacher.hidden_size}; use a student "
                "of the teacher's width (student=half) or turn the term off with method.weights.cos=0"
            )

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        if self.active("kd"):
            terms["kd"] = logit_kd(student.requested_logits(), of_teacher(teacher).requested_logits(), self.temperature)
        if self.active("task"):
            terms["task"] = task_loss(student.requested_logits(), batch["labels"])
        if self.active("cos"):
            terms["cos"] = cosine_loss(student.hidden(-1), of_teacher(teacher).hidden(-1), student.attention_mask)
        return self.combine(terms)
