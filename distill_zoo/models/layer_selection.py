"""DistilBERT-style student initialisation: keep a spread-out subset of teacher layers."""

from __future__ import annotations

import copy
import math

from transformers import PreTrainedModel

from distill_zoo.errors import ConfigError
from distill_zoo.features import check_layer_list
from distill_zoo.models.dims import encoder_dims, set_encoder_dims, transformer_layers


def select_layers(num_teacher_layers: int, num_student_layers: int) -> list[int]:
    """0-based teacher layers a student of ``num_student_layers`` starts from.

    Spreads the student over the teacher, always keeping the first and last layers:
    index i takes teacher layer round(i · (N_t − 1)/(N_s − 1)), ties rounded down.
    This reproduces DistilBERT's choice for 12 → 6, [0, 2, 4, 7, 9, 11] (Sanh et al.
    2019, "one out of two"), and gives [0, 2, 5] for 6 → 3 and [0, 11] for 12 → 2.
    """
    if not 1 <= num_student_layers <= num_teacher_layers:
        raise ConfigError(
            f"a student initialised from teacher layers needs 1..{num_teacher_layers} layers, got {num_student_layers}"
        )
    if num_student_layers == 1:
        return [num_teacher_layers - 1]
    step = (num_teacher_layers - 1) / (num_student_layers - 1)
    return [math.ceil(i * step - 0.5) for i in range(num_student_layers)]


def copy_with_layers(teacher: PreTrainedModel, layers: list[int]) -> PreTrainedModel:
    """A copy of ``teacher`` that keeps only the given 0-based transformer layers, in order.

    ``layers`` must be strictly increasing 0-based teacher layers
    (:func:`~distill_zoo.features.check_layer_list`). Embeddings (with their LayerNorm),
    pooler and classification head are copied too; for causal LMs the final norm and the
    LM head (tied embeddings stay tied, since the student is built with the teacher's config).

    The student is constructed fresh with the smaller depth, so every block's ``layer_idx``
    (the slot GPT-2's and Llama's key/value cache uses) runs 0..n−1, and per-layer config
    lists (``layer_types``) keep the entries of the chosen layers.
    """
    layers = check_layer_list(layers, encoder_dims(teacher.config).num_layers, "student.model.layers")
    config = copy.deepcopy(teacher.config)
    set_encoder_dims(config, num_layers=len(layers))
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = [config.layer_types[i] for i in layers]
    student = type(teacher)(config)
    teacher_state = teacher.state_dict()
    student_state = student.state_dict()
    kept = {k: v for k, v in teacher_state.items() if k in student_state and v.shape == student_state[k].shape}
    student.load_state_dict(kept, strict=False)
    source_layers = transformer_layers(teacher)
    for target, index in zip(transformer_layers(student), layers):
        target.load_state_dict(source_layers[index].state_dict())
    return student
