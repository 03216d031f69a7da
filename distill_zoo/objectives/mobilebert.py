"""``method=mobilebert``: feature-map and attention transfer of Sun et al. (2020), "MobileBERT"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from distill_zoo.features import EncoderDims, EncoderFeatures, FeatureRequest
from distill_zoo.losses import attention_kl, layer_norm_mse, logit_kd, moment_mse, task_loss
from distill_zoo.losses.feature_map import MOMENT_NORMS
from distill_zoo.objectives import checks
from distill_zoo.objectives.base import Objective, of_teacher
from distill_zoo.objectives.layer_map import NAMED_MAPS, attention_map, check_spec, require_equal_heads
from distill_zoo.objectives.projection import make_projection


class MobileBERTObjective(Objective):
    """Layer-wise knowledge transfer, then prediction-layer distillation.

    Per matched layer (student layer i ↔ teacher layer by ``layer_map``):
    FMT = MSE(LN(W h_s), LN(h_t)) (parameter-free LayerNorm, embedding output excluded),
    AT = KL(A_T ‖ A_S) per head over attention distributions (equal head counts),
    optional ``mean``/``var`` moment transfer. Prediction: ``kd`` = T²·KL on logits
    (MSE for regression; the name every method uses for it), plus an optional ``task``
    term on labels.

    ``phase`` makes it progressive (set by
    :class:`~distill_zoo.training.progressive.ProgressiveTransfer`): ``None`` trains every
    term at once; ``l`` in 0..N_s−1 keeps only layer l's FMT/AT/moment terms; ``N_s``
    keeps only the prediction terms.

    Args:
        weights: overrides of ``{"fmt": 1, "at": 1, "mean": 0, "var": 0, "kd": 1, "task": 0}``.
        layer_map: ``uniform``, ``last`` or a list of 0-based teacher layers, one per
            student layer (see :mod:`distill_zoo.objectives.layer_map`): student layer i
            reads teacher layer j's attention and hidden state (index j + 1).
        temperature: T of ``kd``.
        cross_entropy_at: log AT in the reference code's cross-entropy form.
        moment_norm: how ``mean``/``var`` penalise the gaps (see :func:`moment_mse`):
            ``l2`` (default, squared), ``l1`` (absolute) or ``reference`` (squared mean
            gap, absolute variance gap, as the TensorFlow reference code).
    """

    default_weights = {"fmt": 1.0, "at": 1.0, "mean": 0.0, "var": 0.0, "kd": 1.0, "task": 0.0}
    layer_terms = ("fmt", "at", "mean", "var")

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        layer_map: str | Sequence[int] = "uniform",
        temperature: float = 1.0,
        cross_entropy_at: bool = False,
        moment_norm: str = "l2",
    ) -> None:
        super().__init__(weights)
        self.moment_norm = checks.choice("moment_norm", moment_norm, MOMENT_NORMS)
        self.layer_map, self.cross_entropy_at = check_spec(layer_map, NAMED_MAPS), cross_entropy_at
        self.temperature = checks.positive("temperature", temperature)
        self.pairs: list[tuple[int, int]] = []
        self.projections = nn.ModuleList()
        self.phase: int | None = None
        self.num_student_layers = 0

    def configure(self, student: EncoderDims, teacher: EncoderDims | None) -> None:
        teacher = of_teacher(teacher)
        self.pairs = attention_map(self.layer_map, student.num_layers, teacher.num_layers)
        self.num_student_layers = student.num_layers
        if self.active("at"):
            require_equal_heads(student.num_heads, teacher.num_heads, "mobilebert's attention transfer")
        self.projections = nn.ModuleList(make_projection(student.hidden_size, teacher.hidden_size) for _ in self.pairs)

    def layer_phases(self) -> list[int]:
        """Student layers that have a layer term to learn in a progressive schedule
        (with ``layer_map=last`` only the last one; none when every layer term is off)."""
        if not any(self.active(t) for t in self.layer_terms):
            return []
        return sorted({s for s, _ in self.pairs})

    def _on(self, term: str, layer: int | None = None) -> bool:
        """Whether ``term`` (for student ``layer``) contributes in the current phase."""
        if not self.active(term):
            return False
        if self.phase is None:
            return True
        if term in self.layer_terms:
            return layer == self.phase
        return self.phase >= self.num_student_layers

    def _pairs(self) -> list[tuple[int, int, int]]:
        return [(i, s, t) for i, (s, t) in enumerate(self.pairs) if any(self._on(x, s) for x in self.layer_terms)]

    def _request(self, side: int) -> FeatureRequest:
        pairs = self._pairs()
        hidden = tuple((s, t)[side] + 1 for _, s, t in pairs if any(self._on(x, s) for x in ("fmt", "mean", "var")))
        scores = tuple((s, t)[side] for _, s, t in pairs if self._on("at", s))
        return FeatureRequest(logits=self._on("kd") or self._on("task"), hidden_states=hidden, scores=scores)

    def student_request(self) -> FeatureRequest:
        return self._request(0)

    def teacher_request(self) -> FeatureRequest:
        return self._request(1)

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        teacher = of_teacher(teacher)
        mask = student.attention_mask
        terms: dict[str, Tensor] = {}
        for i, s, t in self._pairs():
            parts: dict[str, Tensor] = {}
            if self._on("fmt", s) or self._on("mean", s) or self._on("var", s):
                h_s, h_t = self.projections[i](student.hidden(s + 1)), teacher.hidden(t + 1)
                if self._on("fmt", s):
                    parts["fmt"] = layer_norm_mse(h_s, h_t, mask)
                if self._on("mean", s) or self._on("var", s):
                    parts["mean"], parts["var"] = moment_mse(h_s, h_t, mask, self.moment_norm)
            if self._on("at", s):
                parts["at"] = attention_kl(student.scores[s], teacher.scores[t], mask, self.cross_entropy_at)
            for name, value in parts.items():
                if self._on(name, s):
                    terms[name] = terms[name] + value if name in terms else value
        if self._on("kd"):
            terms["kd"] = logit_kd(student.requested_logits(), teacher.requested_logits(), self.temperature)
        if self._on("task"):
            terms["task"] = task_loss(student.requested_logits(), batch["labels"])
        return self.combine(terms)
