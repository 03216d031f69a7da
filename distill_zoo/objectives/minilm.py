"""``method=minilm``: MiniLM v1 (Wang et al. 2020) and MiniLMv2 (Wang et al. 2021)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims, EncoderFeatures, FeatureRequest
from distill_zoo.losses import attention_kl, logit_kd, relation_kl, task_loss
from distill_zoo.objectives import checks
from distill_zoo.objectives.base import Objective, of_teacher
from distill_zoo.objectives.layer_map import require_equal_heads

#: The papers' transfer terms (weight 1) plus the head terms of a task run: ``task``
#: (CE on labels, 1: MiniLM fine-tunes its student) and ``kd`` (T²·KL on the teacher's
#: logits, 0). A corpus run sets both to 0.
VERSION_TERMS = {
    "v1": {"at": 1.0, "vr": 1.0, "kd": 0.0, "task": 1.0},
    "v2": {"qq": 1.0, "kk": 1.0, "vv": 1.0, "kd": 0.0, "task": 1.0},
}
#: Phases of MiniLM's protocol (set by :class:`~distill_zoo.training.phases.FineTunePhase`).
PHASES = (None, "transfer", "finetune")


class MiniLMObjective(Objective):
    """Deep self-attention distillation of one layer.

    v1: L = KL(A_T ‖ A_S) + KL(VR_T ‖ VR_S) on the **last** layers, A = softmax(QKᵀ/√d_k),
    VR = softmax(VVᵀ/√d_k) per attention head; needs equal head counts, widths may differ.
    With the ``at`` weight at 0 the head counts may differ too (not in the paper): VR then
    splits both models' values into the student's head count, as v2 splits into
    ``relation_heads``, so that count must divide the teacher's width.

    v2: L = KL_QQ + KL_KK + KL_VV, relations R = softmax(X_r X_rᵀ/√d_r) over
    ``relation_heads`` heads made by splitting each token's concatenated Q (K, V)
    vector, separately for teacher and student; head counts need not match.

    All KLs average over heads and real query tokens; padded keys are excluded.
    MiniLM itself is task-agnostic: its student is fine-tuned afterwards. In a task run
    the ``finetune_phase`` callback reproduces that inside the run's budget (``phase``
    ``transfer``, then ``finetune`` on the head terms ``task``, 1 by default, and
    ``kd``, 0); without it every active term trains at once.

    Args:
        version: ``v1`` or ``v2``.
        weights: per-term weights (``at``/``vr`` for v1, ``qq``/``kk``/``vv`` for v2;
            ``kd``/``task`` for both).
        temperature: T of ``kd``.
        relation_heads: A_r for v2 (48 for base-size teachers in the paper); must divide
            both widths.
        teacher_layer: 0-based teacher layer (−1 = last; v2 uses an upper-middle one for
            large teachers).
        student_layer: 0-based student layer (−1 = last).
    """

    def __init__(
        self,
        version: str = "v1",
        weights: Mapping[str, float] | None = None,
        relation_heads: int = 48,
        teacher_layer: int = -1,
        student_layer: int = -1,
        temperature: float = 1.0,
    ) -> None:
        super().__init__(weights, defaults=VERSION_TERMS[checks.choice("version", version, VERSION_TERMS)])
        self.version, self.relation_heads = version, checks.count("relation_heads", relation_heads)
        self.teacher_layer, self.student_layer = teacher_layer, student_layer
        self.temperature = checks.positive("temperature", temperature)
        self.value_heads = 0  # v1: the attention head count, set by configure()
        #: None: every active term; ``transfer``: the relation terms; ``finetune``: the head terms.
        self.phase: str | None = None

    def _on(self, term: str) -> bool:
        """Whether ``term`` contributes in the current phase."""
        if self.phase not in PHASES:
            raise ValueError(f"minilm phase must be one of {PHASES}, got {self.phase!r}")
        if not self.active(term) or self.phase is None:
            return self.active(term)
        return (term in self.head_terms) == (self.phase == "finetune")

    def configure(self, student: EncoderDims, teacher: EncoderDims | None) -> None:
        teacher = of_teacher(teacher)
        for name, layer, dims in (("teacher", self.teacher_layer, teacher), ("student", self.student_layer, student)):
            if not -dims.num_layers <= layer < dims.num_layers:
                raise ConfigError(f"minilm {name}_layer {layer} is out of range for {dims.num_layers} layers")
        if self.version == "v1":
            if self.active("at"):
                require_equal_heads(student.num_heads, teacher.num_heads, "MiniLM v1 (use method.version=v2 otherwise)")
            self.value_heads = student.num_heads
            if self.active("vr") and teacher.hidden_size % self.value_heads:
                raise ConfigError(
                    f"minilm v1's value relation splits the teacher's values into the student's {self.value_heads} "
                    f"heads, which does not divide its width {teacher.hidden_size}; give the student a head count "
                    "that does, or use method.version=v2 with method.relation_heads"
                )
            return
        bad = [w for w in (student.hidden_size, teacher.hidden_size) if w % self.relation_heads]
        if bad:
            raise ConfigError(
                f"minilm v2 splits Q/K/V into {self.relation_heads} relation heads, which does not divide "
                f"hidden size(s) {bad}; set method.relation_heads to a common divisor of "
                f"{student.hidden_size} and {teacher.hidden_size}"
            )

    def student_request(self) -> FeatureRequest:
        return self._request(self.student_layer)

    def teacher_request(self) -> FeatureRequest:
        return self._request(self.teacher_layer)

    def _request(self, layer: int) -> FeatureRequest:
        scores = (layer,) if self._on("at") else ()
        relations = ("vr", "qq", "kk", "vv")
        qkv = (layer,) if any(self._on(t) for t in relations) else ()
        return FeatureRequest(logits=self._on("kd") or self._on("task"), scores=scores, qkv=qkv)

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        teacher = of_teacher(teacher)
        s, t = student.layer(self.student_layer), teacher.layer(self.teacher_layer)
        mask, terms = student.attention_mask, {}
        if self.version == "v1":
            if self._on("at"):
                terms["at"] = attention_kl(student.scores[s], teacher.scores[t], mask)
            if self._on("vr"):
                terms["vr"] = relation_kl(student.values[s], teacher.values[t], self.value_heads, mask)
        else:
            for term, side in (("qq", "queries"), ("kk", "keys"), ("vv", "values")):
                if self._on(term):
                    terms[term] = relation_kl(
                        getattr(student, side)[s], getattr(teacher, side)[t], self.relation_heads, mask
                    )
        if self._on("kd"):
            terms["kd"] = logit_kd(student.requested_logits(), teacher.requested_logits(), self.temperature)
        if self._on("task"):
            terms["task"] = task_loss(student.requested_logits(), batch["labels"])
        return self.combine(terms)
