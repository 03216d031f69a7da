"""``method=tinybert``: Jiao et al. (2020), "TinyBERT: Distilling BERT for Natural Language Understanding"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from distill_zoo.features import EncoderDims, EncoderFeatures, FeatureRequest
from distill_zoo.losses import attention_mse, hidden_mse, logit_soft_ce
from distill_zoo.losses.attention import REDUCTIONS
from distill_zoo.objectives import checks
from distill_zoo.objectives.base import Objective, add_up, of_teacher
from distill_zoo.objectives.layer_map import NAMED_MAPS, attention_map, check_spec, hidden_map, require_equal_heads
from distill_zoo.objectives.projection import make_projection

STAGES = {
    "intermediate": ("embd", "attn", "hidn"),
    "prediction": ("soft_ce",),
    "all": ("embd", "attn", "hidn", "soft_ce"),
}


class TinyBERTObjective(Objective):
    """L = L_embd + Σ_layers (L_attn + L_hidn) + L_soft_ce, each term weighted.

    - L_embd = MSE(E_S W_e, E_T), L_hidn = MSE(H_S W_h, H_T) over hidden states matched
      by g(m) = m·k (uniform map; embedding 0 ↔ 0).
    - L_attn = MSE between pre-softmax scores QKᵀ/√d; student layer i ↔ teacher layer
      i·k + k − 1. Needs equal head counts.
    - L_soft_ce (the paper's L_pred) = −Σ softmax(z_T/T)·log_softmax(z_S/T), T = 1,
      no T², no hard labels; MSE to the teacher for regression. Logged ``loss_soft_ce``,
      not ``loss_kd``: it differs from T²·KL by the teacher's entropy and the T².
    Layer terms are summed over layers, unweighted within a term (reference code).

    Args:
        weights: overrides of ``{"embd": 1, "attn": 1, "hidn": 1, "soft_ce": 1}``.
        stage: ``intermediate`` (step 1 of task distillation: embd + attn + hidn),
            ``prediction`` (step 2: soft_ce) or ``all``.
        layer_map: ``uniform``, ``last`` or a list of 0-based teacher layers, one per
            student layer (see :mod:`distill_zoo.objectives.layer_map`): student layer m
            reads teacher layer j's hidden state (index j + 1) and attention scores; the
            embedding pair 0 ↔ 0 is implicit.
        temperature: T of L_soft_ce.
        shared_projection: False (paper, default): W_e and W_h; True (reference code):
            one W for embeddings and all layers.
        reduction: ``valid`` (default) excludes padding from the MSEs and sums the
            soft cross-entropy over classes (the paper); ``reference`` averages the MSEs
            over padding and the soft cross-entropy over classes too (divided by C), as
            the huawei-noah code does.
    """

    default_weights = {"embd": 1.0, "attn": 1.0, "hidn": 1.0, "soft_ce": 1.0}

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        stage: str = "all",
        layer_map: str | Sequence[int] = "uniform",
        temperature: float = 1.0,
        shared_projection: bool = False,
        reduction: str = "valid",
    ) -> None:
        checks.choice("stage", stage, STAGES)
        merged = {**self.default_weights, **(weights or {})}
        super().__init__({k: (w if k in STAGES[stage] else 0.0) for k, w in merged.items()})
        self.stage, self.layer_map = stage, check_spec(layer_map, NAMED_MAPS)
        self.temperature = checks.positive("temperature", temperature)
        self.shared_projection, self.reduction = shared_projection, checks.choice("reduction", reduction, REDUCTIONS)
        self.hidden_pairs: list[tuple[int, int]] = []
        self.attention_pairs: list[tuple[int, int]] = []
        self.proj_embd: nn.Module = nn.Identity()
        self.proj_hidn: nn.Module = nn.Identity()

    def configure(self, student: EncoderDims, teacher: EncoderDims | None) -> None:
        teacher = of_teacher(teacher)
        self.hidden_pairs = hidden_map(self.layer_map, student.num_layers, teacher.num_layers)
        self.attention_pairs = attention_map(self.layer_map, student.num_layers, teacher.num_layers)
        if self.active("attn"):
            require_equal_heads(student.num_heads, teacher.num_heads, "tinybert's attention loss")
        self.proj_hidn = make_projection(student.hidden_size, teacher.hidden_size)
        self.proj_embd = (
            self.proj_hidn if self.shared_projection else make_projection(student.hidden_size, teacher.hidden_size)
        )

    def _requests(self, side: int) -> FeatureRequest:
        hidden = [
            p[side]
            for p in self.hidden_pairs
            if (p[0] == 0 and self.active("embd")) or (p[0] > 0 and self.active("hidn"))
        ]
        scores = [p[side] for p in self.attention_pairs] if self.active("attn") else []
        return FeatureRequest(logits=self.active("soft_ce"), hidden_states=tuple(hidden), scores=tuple(scores))

    def student_request(self) -> FeatureRequest:
        return self._requests(0)

    def teacher_request(self) -> FeatureRequest:
        return self._requests(1)

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        teacher = of_teacher(teacher)
        mask, terms = student.attention_mask, {}
        if self.active("embd"):
            terms["embd"] = hidden_mse(self.proj_embd(student.hidden(0)), teacher.hidden(0), mask, self.reduction)
        if self.active("hidn"):
            terms["hidn"] = add_up(
                hidden_mse(self.proj_hidn(student.hidden(s)), teacher.hidden(t), mask, self.reduction)
                for s, t in self.hidden_pairs
                if s > 0
            )
        if self.active("attn"):
            terms["attn"] = add_up(
                attention_mse(student.scores[s], teacher.scores[t], mask, self.reduction)
                for s, t in self.attention_pairs
            )
        if self.active("soft_ce"):
            terms["soft_ce"] = logit_soft_ce(
                student.requested_logits(),
                teacher.requested_logits(),
                self.temperature,
                reduction="reference" if self.reduction == "reference" else "mean",
            )
        return self.combine(terms)
