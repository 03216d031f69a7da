"""``method=none``: the student trained on gold labels only, the control for every comparison."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from distill_zoo.features import EncoderFeatures, FeatureRequest
from distill_zoo.losses import task_loss
from distill_zoo.objectives.base import Objective


class SupervisedObjective(Objective):
    """L = CE(y, softmax(z_S)), or MSE(z_S, y) for regression. Reads no teacher."""

    needs_teacher = False
    default_weights = {"task": 1.0}

    def teacher_request(self) -> FeatureRequest:
        return FeatureRequest()

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        return self.combine({"task": task_loss(student.requested_logits(), batch["labels"])})
