"""``method=pseudo_label``: the hard-label baseline of a transfer-set comparison.

The student learns the gold label of every labelled row and the teacher's argmax (its
predicted score, for regression) of every transfer row, with no soft targets. Against
``none`` it measures what more (teacher-labelled) text is worth; against ``kd`` what the
teacher's soft targets add on top, which is Hinton et al.'s (2015) claim ("Distilling the
Knowledge in a Neural Network", section 2). Self-training with hard pseudo-labels follows
Lee (2013), "Pseudo-Label", but the labels come from a fixed teacher, once per row.
Without a transfer set every row has a gold label and this is ``none``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from distill_zoo.features import EncoderFeatures
from distill_zoo.losses import pseudo_labels, task_loss
from distill_zoo.objectives.base import Objective, of_teacher


class PseudoLabelObjective(Objective):
    """L = CE(ŷ, softmax(z_S)) with ŷ = y on labelled rows and argmax z_T on transfer rows
    (MSE to y, or to the teacher's score, for regression). Logged term: ``loss_task``."""

    default_weights = {"task": 1.0}

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        targets = pseudo_labels(batch["labels"], of_teacher(teacher).requested_logits())
        return self.combine({"task": task_loss(student.requested_logits(), targets)})
