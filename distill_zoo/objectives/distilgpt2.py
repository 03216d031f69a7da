"""``method=distilgpt2``: DistilGPT2's recipe (Sanh et al. 2019's DistilBERT loss on a causal LM)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims, EncoderFeatures, FeatureRequest
from distill_zoo.losses import cosine_loss, kl_div
from distill_zoo.objectives import checks
from distill_zoo.objectives.base import of_teacher
from distill_zoo.objectives.lm_kd import CausalLMObjective
from distill_zoo.objectives.next_token import clm_loss, predicted_positions


class DistilGPT2Objective(CausalLMObjective):
    """L = 5·L_kd + 2·L_clm + 1·L_cos, as Hugging Face's ``distillation/`` recipe for DistilGPT2.

    - L_kd: T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) per predicted token, mean over them, T = 2.
      Departure: the reference averages over every non-pad position, the last included;
      here the last position of a sequence (which predicts no token inside it) is left out,
      as in every causal-LM term of distill_zoo.
    - L_clm: next-token cross-entropy of the student, mean over predicted tokens.
    - L_cos: 1 − cos between the last hidden states over real tokens (equal widths; the
      student keeps the teacher's width, as with DistilGPT2's half-depth init).

    The recipe also freezes learned position embeddings (GPT-2's ``wpe``): that is the
    student config's ``freeze_position_embeddings`` (on in ``experiment=distilgpt2``).
    """

    default_weights = {"kd": 5.0, "clm": 2.0, "cos": 1.0}

    def __init__(self, weights: Mapping[str, float] | None = None, temperature: float = 2.0) -> None:
        super().__init__(weights)
        self.temperature = checks.positive("temperature", temperature)

    def configure(self, student: EncoderDims, teacher: EncoderDims | None) -> None:
        teacher = of_teacher(teacher)
        if self.active("cos") and student.hidden_size != teacher.hidden_size:
            raise ConfigError(
                f"L_cos compares hidden states directly: student width {student.hidden_size} != teacher "
                f"{teacher.hidden_size}; keep the teacher's width (student=half) or set method.weights.cos=0"
            )

    def student_request(self) -> FeatureRequest:
        return FeatureRequest(logits=True, hidden_states=(-1,) if self.active("cos") else ())

    def teacher_request(self) -> FeatureRequest:
        return FeatureRequest(logits=self.active("kd"), hidden_states=(-1,) if self.active("cos") else ())

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        logits, terms = self.logits(student), {}
        if self.active("kd"):
            teacher_logits = self.logits(of_teacher(teacher))
            terms["kd"] = kl_div(logits, teacher_logits, self.temperature, predicted_positions(batch))
        if self.active("clm"):
            terms["clm"] = clm_loss(logits, batch)
        if self.active("cos"):
            terms["cos"] = cosine_loss(student.hidden(-1), of_teacher(teacher).hidden(-1), student.attention_mask)
        return self.combine(terms)
