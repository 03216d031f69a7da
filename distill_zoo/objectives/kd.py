"""``method=kd``: Hinton, Vinyals and Dean (2015), "Distilling the Knowledge in a Neural Network"."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from distill_zoo.features import EncoderFeatures
from distill_zoo.losses import logit_kd, task_loss
from distill_zoo.objectives import checks
from distill_zoo.objectives.base import Objective, of_teacher


class KDObjective(Objective):
    """L = α · T² · KL(softmax(z_T/T) ‖ softmax(z_S/T)) + (1 − α) · CE(y, softmax(z_S)).

    For a regression task (one output) the soft term is MSE(z_S, z_T) and the hard
    term MSE(z_S, y). Logged terms: ``loss_kd`` (α-weighted soft term) and
    ``loss_task`` ((1 − α)-weighted hard term).

    Args:
        alpha: weight of the soft term, in [0, 1].
        temperature: T for both teacher and student in the soft term; the hard term
            uses T = 1.
    """

    default_weights = {"kd": 0.5, "task": 0.5}

    def __init__(self, alpha: float = 0.5, temperature: float = 2.0) -> None:
        checks.fraction("alpha", alpha)
        super().__init__({"kd": alpha, "task": 1.0 - alpha})
        self.temperature = checks.positive("temperature", temperature)

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        if self.active("kd"):
            terms["kd"] = logit_kd(student.requested_logits(), of_teacher(teacher).requested_logits(), self.temperature)
        if self.active("task"):
            terms["task"] = task_loss(student.requested_logits(), batch["labels"])
        return self.combine(terms)
