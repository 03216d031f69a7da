"""Student builders, chosen by ``conf/student/*.yaml``.

Each builder is called as ``builder(teacher=<fine-tuned teacher>, num_labels=<task>)``
plus the options in its config file. The same builders serve causal LM teachers (GPT-2,
Llama), whose students are causal LMs of the same family; ``num_labels`` means nothing
to them and is ignored.
"""

from __future__ import annotations

import copy

from transformers import PreTrainedModel

from distill_zoo.errors import ConfigError
from distill_zoo.features import check_layer_list
from distill_zoo.models.causal_lm import is_causal_lm, load_causal_lm
from distill_zoo.models.classifier import load_classifier
from distill_zoo.models.dims import encoder_dims, key_value_heads, position_embeddings, set_encoder_dims
from distill_zoo.models.layer_selection import copy_with_layers, select_layers


def from_teacher_layers(
    teacher: PreTrainedModel,
    num_labels: int,
    num_layers: int | None = None,
    layers: list[int] | None = None,
    freeze_position_embeddings: bool | str = False,
) -> PreTrainedModel:
    """DistilBERT's initialisation: same width, a subset of the teacher's layers.

    For a causal LM this is DistilGPT2's: 12 -> 6 GPT-2 layers [0, 2, 4, 7, 9, 11], token
    and position embeddings, final norm and LM head copied (tied stays tied).

    Args:
        teacher: the (fine-tuned) teacher.
        num_labels: task labels (must match the teacher's head, which is copied); ignored
            for causal LMs.
        num_layers: student depth; None means half the teacher's (rounded up).
        layers: explicit 0-based teacher layers to copy, strictly increasing; overrides
            ``num_layers``.
        freeze_position_embeddings: keep the copied learned position table fixed during
            training (``requires_grad`` off), as DistilGPT2's recipe does; an error for
            models without one (Llama's rotary positions). ``"auto"``: freeze it where the
            model has one (``experiment=distilgpt2``, whatever the teacher's family).
    """
    if freeze_position_embeddings not in (True, False, "auto"):
        raise ConfigError(
            f"student.model.freeze_position_embeddings must be true, false or auto, got {freeze_position_embeddings!r}"
        )
    student = copy_with_layers(teacher, _teacher_layers(teacher, num_layers, layers))
    if freeze_position_embeddings:
        table = position_embeddings(student)
        if table is None and freeze_position_embeddings == "auto":
            return student
        if table is None:
            raise ConfigError(
                f"{student.config.model_type} has no learned position embeddings to freeze; "
                "set student.model.freeze_position_embeddings=false"
            )
        table.requires_grad_(False)
    return student


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
    num_kv_heads: int | None = None,
) -> PreTrainedModel:
    """A randomly initialised student of the teacher's family and vocabulary, new sizes.

    ``num_layers=None`` keeps the teacher's depth: MiniLM's teacher assistant (the
    teacher's depth, the student's width). ``num_kv_heads`` (grouped-query families such
    as Llama) must divide ``num_heads``; None keeps the teacher's key/value heads when
    they divide ``num_heads``. ``num_labels`` is ignored for causal LMs.
    """
    config = copy.deepcopy(teacher.config)
    num_layers = num_layers or encoder_dims(teacher.config).num_layers
    if not is_causal_lm(teacher):
        config.num_labels = num_labels
    sizes = {"num_layers": num_layers, "hidden_size": hidden_size, "num_heads": num_heads}
    if hasattr(config, "num_key_value_heads"):
        sizes["num_kv_heads"] = _kv_heads(teacher, num_heads, num_kv_heads)
    elif num_kv_heads is not None:
        raise ConfigError(f"{config.model_type} has no grouped-query attention: leave num_kv_heads unset")
    set_encoder_dims(config, intermediate_size=intermediate_size, **sizes)
    return type(teacher)(config)  # the teacher's head type: classifier, masked LM or causal LM


def _kv_heads(teacher: PreTrainedModel, num_heads: int, wanted: int | None) -> int:
    kv_heads = wanted if wanted is not None else key_value_heads(teacher.config)
    if num_heads % kv_heads:
        source = "num_kv_heads" if wanted is not None else "the teacher's key/value heads"
        raise ConfigError(
            f"{num_heads} query heads cannot share {kv_heads} key/value heads ({source}); "
            "set student.model.num_kv_heads to a divisor of num_heads"
        )
    return kv_heads


def from_pretrained(
    teacher: PreTrainedModel, num_labels: int, name_or_path: str, trust_remote_code: bool = False
) -> PreTrainedModel:
    """A student loaded from a saved checkpoint (e.g. a previous run's ``student/``).

    A checkpoint whose classification head has another label count (a general stage's
    placeholder head, or another task's) keeps its encoder and gets a fresh head.
    ``trust_remote_code`` as in :func:`~distill_zoo.models.load_classifier` (off by default).
    For a causal LM teacher the checkpoint is loaded as a causal LM (``num_labels`` ignored).
    """
    if is_causal_lm(teacher):
        return load_causal_lm(name_or_path, trust_remote_code=trust_remote_code)
    return load_classifier(name_or_path, num_labels, replace_head=True, trust_remote_code=trust_remote_code)


def distilbert_student(
    teacher: PreTrainedModel, num_labels: int, num_layers: int | None = None, layers: list[int] | None = None
) -> PreTrainedModel:
    """DistilBERT's initialisation into a ``DistilBert*`` model: teacher layers chosen as in
    :func:`from_teacher_layers`, embeddings and MLM head copied, token types dropped."""
    from distill_zoo.models.distilbert_init import distilbert_from_bert

    return distilbert_from_bert(teacher, _teacher_layers(teacher, num_layers, layers), num_labels)
