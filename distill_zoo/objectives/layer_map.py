"""Which student layer learns from which teacher layer: ``uniform``, ``last`` or explicit lists.

Resolved and validated once, before training. Hidden-state maps use hidden-state
indices (0 = embedding output, i = output of layer i); attention maps use 0-based
layers.
"""

from __future__ import annotations

from collections.abc import Sequence

from distill_zoo.errors import ConfigError

LayerSpec = str | Sequence[int]


def _stride(num_student: int, num_teacher: int) -> int:
    if num_teacher % num_student:
        raise ConfigError(
            f"a uniform layer map needs the teacher depth ({num_teacher}) to be a multiple of the "
            f"student depth ({num_student}); give an explicit list of teacher layers instead"
        )
    return num_teacher // num_student


def hidden_map(spec: LayerSpec, num_student: int, num_teacher: int, embeddings: bool = True) -> list[tuple[int, int]]:
    """(student, teacher) hidden-state index pairs.

    ``uniform``: TinyBERT's g(m) = m·k with k = N_t/N_s (0 ↔ 0 is the embedding pair).
    ``last``: the last layers only. A list gives the teacher index for student layers
    1..N_s. ``embeddings`` adds the 0 ↔ 0 pair.
    """
    if spec == "uniform":
        k = _stride(num_student, num_teacher)
        pairs = [(m, m * k) for m in range(1, num_student + 1)]
    elif spec == "last":
        pairs = [(num_student, num_teacher)]
    elif isinstance(spec, str):
        raise ConfigError(f"layer map must be 'uniform', 'last' or a list of teacher layers, got {spec!r}")
    else:
        pairs = list(zip(range(1, num_student + 1), _validated(spec, num_student, 1, num_teacher, "hidden-state")))
    return ([(0, 0)] if embeddings else []) + pairs


def attention_map(spec: LayerSpec, num_student: int, num_teacher: int) -> list[tuple[int, int]]:
    """(student, teacher) 0-based attention layer pairs.

    ``uniform``: student layer i ↔ teacher layer i·k + k − 1, the last of each block of
    k (TinyBERT; 4 ← 12 uses teacher layers 2, 5, 8, 11, i.e. 3, 6, 9, 12 counted from 1).
    ``last``: last ↔ last. A list gives the teacher layer for each student layer.
    """
    if spec == "uniform":
        k = _stride(num_student, num_teacher)
        return [(i, i * k + k - 1) for i in range(num_student)]
    if spec == "last":
        return [(num_student - 1, num_teacher - 1)]
    if isinstance(spec, str):
        raise ConfigError(f"layer map must be 'uniform', 'last' or a list of teacher layers, got {spec!r}")
    return list(enumerate(_validated(spec, num_student, 0, num_teacher - 1, "attention")))


def _validated(spec: Sequence[int], num_student: int, low: int, high: int, kind: str) -> list[int]:
    layers = [int(x) for x in spec]
    if len(layers) != num_student:
        raise ConfigError(f"explicit {kind} layer map {layers} needs one teacher layer per student layer ({num_student})")
    bad = [x for x in layers if not low <= x <= high]
    if bad:
        raise ConfigError(f"teacher {kind} layer(s) {bad} out of range {low}..{high} in layer map {layers}")
    return layers


def require_equal_heads(student_heads: int, teacher_heads: int, method: str) -> None:
    """Attention-map losses compare heads one to one."""
    if student_heads != teacher_heads:
        raise ConfigError(
            f"{method} compares attention heads one to one, but the student has {student_heads} heads "
            f"and the teacher {teacher_heads}; give the student {teacher_heads} heads or set the "
            "attention weight to 0"
        )
