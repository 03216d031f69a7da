"""Student builders, chosen by ``conf/student/*.yaml``.

Each builder is called as ``builder(teacher=<fine-tuned teacher>, num_labels=<task>)``
plus the options in its config file.
"""

from __future__ import annotations

import copy

from transformers import PreTrainedModel

from distill_zoo.features import check_layer_list
from distill_zoo.models.classifier import load_classifier
from distill_zoo.models.dims import encoder_dims, set_encoder_dims
from distill_zoo.models.layer_selection import copy_with_layers, select_layers


def from_teacher_layers(
    teacher: PreTrainedModel,
    num_labels: int,
    num_layers: int | None = None,
    layers: list[int] | None = None,
) -> PreTrainedModel:
    """DistilBERT's initialisation: same width, a subset of the teacher's layers.

    Args:
        teacher: the (fine-tuned) teacher.
        num_labels: task labels (must match the teacher's head, which is copied).
        num_layers: student depth; None means half the teacher's (rounded up).
        layers: explicit 0-based teacher layers to copy, strictly increasing; overrides
            ``num_layers``.
    """
    return copy_with_layers(teacher, _teacher_layers(teacher, num_layers, layers))


def _teacher_layers(teacher: PreTrainedModel, num_layers: int | None, layers: list[int] | None) -> list[int]:
    """The 0-based teacher layers a student starts from: ``layers`` checked, or spread out."""
    depth = encoder_dims(teacher.config).num_layers
    if layers is None:
        return select_layers(depth, num_layers or (depth + 1) // 2)
    return check_layer_list(layers, depth, "student.model.layers")


def from_config(
    teacher: PreTrainedModel,
    num_labels: int,
    num_layers: int | None,
    hidden_size: int,
    num_heads: int,
    intermediate_size: int,
) -> PreTrainedModel:
    """A randomly initialised student of the teacher's family and vocabulary, new sizes.

    ``num_layers=None`` keeps the teacher's depth: MiniLM's teacher assistant (the
    teacher's depth, the student's width).
    """
    config = copy.deepcopy(teacher.config)
    num_layers = num_layers or encoder_dims(teacher.config).num_layers
    config.num_labels = num_labels
    set_encoder_dims(
        config,
        num_layers=num_layers,
        hidden_size=hidden_size,
        num_heads=num_heads,
        intermediate_size=intermediate_size,
    )
    return type(teacher)(config)  # the teacher's head type: classifier, or masked LM in general runs


def from_pretrained(
    teacher: PreTrainedModel, num_labels: int, name_or_path: str, trust_remote_code: bool = False
) -> PreTrainedModel:
    """A student loaded from a saved checkpoint (e.g. a previous run's ``student/``).

    A checkpoint whose classification head has another label count (a general stage's
    placeholder head, or another task's) keeps its encoder and gets a fresh head.
    ``trust_remote_code`` as in :func:`~distill_zoo.models.load_classifier` (off by default).
    """
    del teacher
    return load_classifier(name_or_path, num_labels, replace_head=True, trust_remote_code=trust_remote_code)


def distilbert_student(
    teacher: PreTrainedModel, num_labels: int, num_layers: int | None = None, layers: list[int] | None = None
) -> PreTrainedModel:
    """DistilBERT's initialisation into a ``DistilBert*`` model: teacher layers chosen as in
    :func:`from_teacher_layers`, embeddings and MLM head copied, token types dropped."""
    from distill_zoo.models.distilbert_init import distilbert_from_bert

    return distilbert_from_bert(teacher, _teacher_layers(teacher, num_layers, layers), num_labels)
