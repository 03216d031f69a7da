"""The contract every distillation objective follows."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping
from typing import TypeVar

from torch import Tensor, nn

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims, EncoderFeatures, FeatureRequest

_Side = TypeVar("_Side", EncoderDims, EncoderFeatures)


def of_teacher(teacher: _Side | None) -> _Side:
    """The teacher's dims or features. Never None for an objective that ``needs_teacher``:
    the LightningModule refuses to build one without a teacher, so None is a caller's bug."""
    if teacher is None:
        raise ValueError("this objective reads the teacher, but it was given none")
    return teacher


def add_up(values: Iterable[Tensor]) -> Tensor:
    """The sum of one or more tensors (``sum`` would start from the int 0)."""
    return functools.reduce(operator.add, values)


class Objective(nn.Module):
    """A distillation objective: declares the features it reads, returns weighted terms.

    Subclasses hold hyper-parameters (and any learnable projections, which train with
    the student); the math lives in :mod:`distill_zoo.losses`.

    ``forward(student, teacher, batch)`` returns ``{"loss": total, "loss_<term>": ...}``
    with each term already multiplied by its weight, so the terms add up to ``loss``.
    A term whose weight is 0 is not computed.
    """

    #: Whether the objective reads the teacher at all (the ``none`` baseline does not).
    needs_teacher: bool = True
    #: Whether its logits are over the vocabulary (masked-LM), which a corpus run provides,
    #: rather than over a task's labels, which it does not.
    vocabulary_logits: bool = False

    #: Term names and their default weights; ``weights=`` overrides may only use these names.
    default_weights: Mapping[str, float] = {}
    #: Terms that train the classifier head (read task logits or labels). A task run whose
    #: final student gets none of them would be compared with an untrained head.
    head_terms: tuple[str, ...] = ("kd", "soft_ce", "task")

    def __init__(self, weights: Mapping[str, float] | None = None, defaults: Mapping[str, float] | None = None) -> None:
        super().__init__()
        defaults = dict(self.default_weights if defaults is None else defaults)
        unknown = sorted(set(weights or {}) - set(defaults))
        if unknown:
            raise ConfigError(
                f"unknown loss term(s) {unknown} for {type(self).__name__}; its terms are {sorted(defaults)}"
            )
        self.weights = {name: float(w) for name, w in {**defaults, **(weights or {})}.items()}
        negative = {k: w for k, w in self.weights.items() if w < 0}
        if negative:
            raise ConfigError(f"loss weights must be >= 0, got {negative}")
        if not any(self.weights.values()):
            raise ConfigError(f"every loss weight is 0 ({self.weights}): nothing would be trained")
        self._bound: tuple[EncoderDims, EncoderDims | None] | None = None

    def active(self, term: str) -> bool:
        """Whether ``term`` has a non-zero weight."""
        return self.weights.get(term, 0.0) != 0.0

    def student_request(self) -> FeatureRequest:
        """Features read from the student."""
        return FeatureRequest(logits=True)

    def teacher_request(self) -> FeatureRequest:
        """Features read from the teacher."""
        return FeatureRequest(logits=True)

    @property
    def trains_head(self) -> bool:
        """Whether some active term trains the task head (see :attr:`head_terms`)."""
        return any(self.active(t) for t in self.head_terms)

    def bind(self, student: EncoderDims, teacher: EncoderDims | None) -> None:
        """:meth:`configure` once per student/teacher pair: binding again to the same pair
        keeps the projections already made (and the random numbers already drawn)."""
        if self._bound != (student, teacher):
            self.configure(student, teacher)
            self._bound = (student, teacher)

    def configure(self, student: EncoderDims, teacher: EncoderDims | None) -> None:
        """Bind to a student/teacher pair before training: resolve layer maps, create
        projections, and raise :class:`~distill_zoo.errors.ConfigError` if the pair cannot work."""

    def combine(self, terms: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Weight the unweighted ``terms`` and add them up into ``loss``."""
        if not terms:
            raise RuntimeError(
                f"{type(self).__name__} computed no term in this step (weights {self.weights}); a phase "
                "schedule must not enter a phase without active terms"
            )
        weighted = {f"loss_{name}": self.weights[name] * value for name, value in terms.items()}
        total = add_up(weighted.values())
        return {"loss": total, **weighted}

    def forward(
        self, student: EncoderFeatures, teacher: EncoderFeatures | None, batch: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        raise NotImplementedError
