"""``method=distilbert_mlm``: DistilBERT's general (pre-training) distillation, Sanh et al. (2019)."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims, EncoderFeatures, FeatureRequest
from distill_zoo.losses import cosine_loss, kl_div
from distill_zoo.objectives import checks
from distill_zoo.objectives.base import Objective, of_teacher

IGNORE_INDEX = -100
#: Where L_kd is averaged (see the class docstring).
KD_POSITIONS = ("all", "masked")


class DistilBERTMLMObjective(Objective):
    """L = 5·L_kd + 2·L_mlm + 1·L_cos on masked-LM outputs over the vocabulary.

    - L_kd (the paper's L_ce, logged ``loss_kd`` as in every method): T²·KL(teacher ‖
      student) of the vocabulary distributions, mean over **all non-pad tokens**
      (default, as the HF ``distillation/`` code) or only the masked positions
      (``kd_positions="masked"``). T = 2.
    - L_mlm: cross-entropy against the original tokens at masked positions
      (``batch["mlm_labels"]``, −100 elsewhere).
    - L_cos: 1 − cos between last hidden states over non-pad tokens (equal widths).

    Both models see the same corrupted input. Needs masked-LM models (vocabulary logits)
    and batches masked by :class:`~distill_zoo.data.masking.DistilBertMasker`.
    """

    default_weights = {"kd": 5.0, "mlm": 2.0, "cos": 1.0}
    vocabulary_logits = True

    def __init__(
        self, weights: Mapping[str, float] | None = None, temperature: float = 2.0, kd_positions: str = "all"
    ) -> None:
        super().__init__(weights)
        self.temperature = checks.positive("temperature", temperature)
        self.kd_positions = checks.choice("kd_positions", kd_positions, KD_POSITIONS)

    def configure(self, student: EncoderDims, teacher: EncoderDims | None) -> None:
        teacher = of_teacher(teacher)
        if self.active("cos") and student.hidden_size != teacher.hidden_size:
            raise ConfigError(
                f"L_cos compares hidden states directly: student width {student.hidden_size} != teacher "
                f"{teacher.hidden_size}; keep the teacher's width or set method.weights.cos=0"
            )

    def student_request(self) -> FeatureRequest:
        return FeatureRequest(
            logits=self.active("kd") or self.active("mlm"), hidden_states=(-1,) if self.active("cos") else ()
        )

    def teacher_request(self) -> FeatureRequest:
        return FeatureRequest(logits=self.active("kd"), hidden_states=(-1,) if self.active("cos") else ())

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        if "mlm_labels" not in batch:
            raise ConfigError("distilbert_mlm needs masked batches: set data.masking (e.g. {mode: frequency})")
        mask, terms = student.attention_mask, {}
        if student.logits is not None and student.logits.dim() != 3:
            raise ConfigError("distilbert_mlm needs masked-LM models (teacher=*_mlm) that return vocabulary logits")
        if self.active("kd"):
            positions = mask if self.kd_positions == "all" else (batch["mlm_labels"] != IGNORE_INDEX).long()
            terms["kd"] = kl_div(
                student.requested_logits(), of_teacher(teacher).requested_logits(), self.temperature, positions
            )
        if self.active("mlm"):
            logits, labels = student.requested_logits(), batch["mlm_labels"]
            terms["mlm"] = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        if self.active("cos"):
            terms["cos"] = cosine_loss(student.hidden(-1), of_teacher(teacher).hidden(-1), mask)
        return self.combine(terms)
