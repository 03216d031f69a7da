"""Which student layer learns from which teacher layer: ``uniform``, ``last``, PKD's ``skip``, or explicit lists.

Resolved and validated once, before training.

One numbering for every list a user writes: an explicit ``layer_map`` (TinyBERT,
MobileBERT and PKD alike), ``student.model.layers`` and MiniLM's ``teacher_layer`` /
``student_layer`` (−1 = the last) name **0-based transformer layers**. Teacher layer
j's output is hidden-state index j + 1; the embedding output (hidden-state index 0) is
never listed, and TinyBERT's embedding pair 0 ↔ 0 is implicit. So ``[1, 3, 5]`` for a 6-layer
teacher and a 3-layer student reads teacher hidden states 2, 4, 6 and attention layers
1, 3, 5 in both methods. A list with an entry outside 0..N_t − 1, a repeated layer or
an order that is not strictly increasing is rejected
(:func:`~distill_zoo.features.check_layer_list`).

The resolved pairs are internal: :func:`hidden_map` returns hidden-state indices
(0 = embedding output, i = output of layer i, counted from 1), :func:`attention_map`
and :func:`patient_map` (PKD's ``skip`` / ``last``) 0-based layers.
"""

from __future__ import annotations

from collections.abc import Sequence

from distill_zoo.errors import ConfigError
from distill_zoo.features import check_layer_list

LayerSpec = str | Sequence[int]
#: The named maps of :func:`hidden_map` and :func:`attention_map` (TinyBERT, MobileBERT).
NAMED_MAPS = ("uniform", "last")
#: PKD's named maps (:func:`patient_map`).
PATIENT_MAPS = ("skip", "last")


def check_spec(spec: LayerSpec, names: Sequence[str]) -> LayerSpec:
    """``spec`` if it is one of the map ``names`` or not a string; an explicit list is checked
    against the depths later, in :func:`hidden_map` and friends. Objectives call this in their
    constructors so that a misspelt map fails before any model is loaded."""
    if isinstance(spec, str) and spec not in names:
        named = ", ".join(repr(n) for n in names)
        raise ConfigError(f"method.layer_map must be {named} or a list of 0-based teacher layers, got {spec!r}")
    return spec


def _stride(num_student: int, num_teacher: int, what: str = "a uniform layer map") -> int:
    if num_teacher % num_student:
        raise ConfigError(
            f"{what} needs the teacher depth ({num_teacher}) to be a multiple of the "
            f"student depth ({num_student}); give an explicit list of 0-based teacher layers instead"
        )
    return num_teacher // num_student


def hidden_map(spec: LayerSpec, num_student: int, num_teacher: int, embeddings: bool = True) -> list[tuple[int, int]]:
    """(student, teacher) hidden-state index pairs.

    ``uniform``: TinyBERT's g(m) = m·k with k = N_t/N_s (0 ↔ 0 is the embedding pair).
    ``last``: the last layers only. A list gives one 0-based teacher layer j per student
    layer m, paired as hidden states m + 1 ↔ j + 1. ``embeddings`` adds the 0 ↔ 0 pair.
    """
    if check_spec(spec, NAMED_MAPS) == "uniform":
        k = _stride(num_student, num_teacher)
        pairs = [(m, m * k) for m in range(1, num_student + 1)]
    elif spec == "last":
        pairs = [(num_student, num_teacher)]
    else:
        pairs = [(m + 1, j + 1) for m, j in enumerate(_validated(spec, num_student, num_teacher))]
    return ([(0, 0)] if embeddings else []) + pairs


def attention_map(spec: LayerSpec, num_student: int, num_teacher: int) -> list[tuple[int, int]]:
    """(student, teacher) 0-based attention layer pairs.

    ``uniform``: student layer i ↔ teacher layer i·k + k − 1, the last of each block of
    k (TinyBERT; 4 ← 12 uses teacher layers 2, 5, 8, 11, i.e. 3, 6, 9, 12 counted from 1).
    ``last``: last ↔ last. A list gives the 0-based teacher layer for each student layer.
    """
    if check_spec(spec, NAMED_MAPS) == "uniform":
        k = _stride(num_student, num_teacher)
        return [(i, i * k + k - 1) for i in range(num_student)]
    if spec == "last":
        return [(num_student - 1, num_teacher - 1)]
    return list(enumerate(_validated(spec, num_student, num_teacher)))


def patient_map(spec: LayerSpec, num_student: int, num_teacher: int) -> list[tuple[int, int]]:
    """(student, teacher) 0-based layer pairs of PKD's patient term (Sun et al. 2019).

    Student layers 0..N_s − 2 only: the last layer's [CLS] feeds the classifier, which the
    KD term already covers, so neither model's last layer is matched.
    ``skip`` (PKD-Skip): student layer m ↔ teacher layer (m + 1)·k − 1 with k = N_t/N_s,
    i.e. the ``uniform`` attention map without its last pair; 12 → 6 reads teacher layers
    1, 3, 5, 7, 9 (the paper's 2, 4, 6, 8, 10, counted from 1).
    ``last`` (PKD-Last): the N_s − 1 teacher layers just below the last; 12 → 6 reads
    6..10 (the paper's 7..11). Not TinyBERT's and MobileBERT's ``last``, which pairs the
    final layers only. A list gives N_s − 1 0-based teacher layers, one per student
    layer but the last.
    """
    check_spec(spec, PATIENT_MAPS)
    if num_student > num_teacher:
        raise ConfigError(
            f"pkd's patient term needs a student no deeper than its teacher, got a {num_student}-layer student "
            f"and a {num_teacher}-layer teacher; use a shallower student or set method.beta=0 (plain KD)"
        )
    if num_student < 2:
        raise ConfigError(
            "pkd's patient term matches the student's layers below its last, and a 1-layer student has none; "
            "use a student with at least 2 layers or set method.beta=0 (plain KD)"
        )
    if spec == "skip":
        k = _stride(num_student, num_teacher, "pkd's layer_map=skip")
        return [(m, (m + 1) * k - 1) for m in range(num_student - 1)]
    if spec == "last":
        return [(m, num_teacher - num_student + m) for m in range(num_student - 1)]
    layers = check_layer_list(spec, num_teacher, "method.layer_map")
    if len(layers) != num_student - 1:
        raise ConfigError(
            f"method.layer_map {layers} needs one 0-based teacher layer per student layer but the last (the KD "
            f"term covers the last): {num_student - 1} layers for a {num_student}-layer student, got {len(layers)}"
        )
    return list(enumerate(layers))


def _validated(spec: LayerSpec, num_student: int, num_teacher: int) -> list[int]:
    layers = check_layer_list(spec, num_teacher, "method.layer_map")
    if len(layers) != num_student:
        raise ConfigError(
            f"method.layer_map {layers} needs one teacher layer per student layer: {num_student} "
            f"0-based teacher layers, got {len(layers)}"
        )
    return layers


def require_equal_heads(student_heads: int, teacher_heads: int, method: str) -> None:
    """Attention-map losses compare heads one to one."""
    if student_heads != teacher_heads:
        raise ConfigError(
            f"{method} compares attention heads one to one, but the student has {student_heads} heads "
            f"and the teacher {teacher_heads}; give the student {teacher_heads} heads or set the "
            "attention weight to 0"
        )
