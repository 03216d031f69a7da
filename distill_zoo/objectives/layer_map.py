"""Which student layer learns from which teacher layer: ``uniform``, ``last`` or explicit lists.

Resolved and validated once, before training.

One numbering for every list a user writes: an explicit ``layer_map`` (TinyBERT and
MobileBERT alike), ``student.model.layers`` and MiniLM's ``teacher_layer`` /
``student_layer`` (−1 = the last) name **0-based transformer layers**. Teacher layer
j's output is hidden-state index j + 1; the embedding output (hidden-state index 0) is
never listed, and TinyBERT's embedding pair 0 ↔ 0 is implicit. So ``[1, 3, 5]`` for a 6-layer
teacher and a 3-layer student reads teacher hidden states 2, 4, 6 and attention layers
1, 3, 5 in both methods. A list with an entry outside 0..N_t − 1, a repeated layer or
an order that is not strictly increasing is rejected
(:func:`~distill_zoo.features.check_layer_list`).

The resolved pairs are internal: :func:`hidden_map` returns hidden-state indices
(0 = embedding output, i = output of layer i, counted from 1), :func:`attention_map`
0-based layers.
"""

from __future__ import annotations

from collections.abc import Sequence

from distill_zoo.errors import ConfigError
from distill_zoo.features import check_layer_list

LayerSpec = str | Sequence[int]


def _stride(num_student: int, num_teacher: int) -> int:
    if num_teacher % num_student:
        raise ConfigError(
            f"a uniform layer map needs the teacher depth ({num_teacher}) to be a multiple of the "
            f"student depth ({num_student}); give an explicit list of 0-based teacher layers instead"
        )
    return num_teacher // num_student


def hidden_map(spec: LayerSpec, num_student: int, num_teacher: int, embeddings: bool = True) -> list[tuple[int, int]]:
    """(student, teacher) hidden-state index pairs.

    ``uniform``: TinyBERT's g(m) = m·k with k = N_t/N_s (0 ↔ 0 is the embedding pair).
    ``last``: the last layers only. A list gives one 0-based teacher layer j per student
    layer m, paired as hidden states m + 1 ↔ j + 1. ``embeddings`` adds the 0 ↔ 0 pair.
    """
    if spec == "uniform":
        k = _stride(num_student, num_teacher)
        pairs = [(m, m * k) for m in range(1, num_student + 1)]
    elif spec == "last":
        pairs = [(num_student, num_teacher)]
    elif isinstance(spec, str):
        raise ConfigError(f"layer map must be 'uniform', 'last' or a list of teacher layers, got {spec!r}")
    else:
        pairs = [(m + 1, j + 1) for m, j in enumerate(_validated(spec, num_student, num_teacher))]
    return ([(0, 0)] if embeddings else []) + pairs


def attention_map(spec: LayerSpec, num_student: int, num_teacher: int) -> list[tuple[int, int]]:
    """(student, teacher) 0-based attention layer pairs.

    ``uniform``: student layer i ↔ teacher layer i·k + k − 1, the last of each block of
    k (TinyBERT; 4 ← 12 uses teacher layers 2, 5, 8, 11, i.e. 3, 6, 9, 12 counted from 1).
    ``last``: last ↔ last. A list gives the 0-based teacher layer for each student layer.
    """
    if spec == "uniform":
        k = _stride(num_student, num_teacher)
        return [(i, i * k + k - 1) for i in range(num_student)]
    if spec == "last":
        return [(num_student - 1, num_teacher - 1)]
    if isinstance(spec, str):
        raise ConfigError(f"layer map must be 'uniform', 'last' or a list of teacher layers, got {spec!r}")
    return list(enumerate(_validated(spec, num_student, num_teacher)))


def _validated(spec: Sequence[int], num_student: int, num_teacher: int) -> list[int]:
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
