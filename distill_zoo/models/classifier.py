"""Load or build Hugging Face sequence classifiers for a task."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.utils import logging as hf_logging

from distill_zoo.errors import ConfigError
from distill_zoo.models.dims import set_dropout, set_encoder_dims
from distill_zoo.models.pretrained import resolve_pretrained


def load_classifier(
    name_or_path: str,
    num_labels: int,
    dropout: float | None = None,
    replace_head: bool = False,
    trust_remote_code: bool = False,
) -> PreTrainedModel:
    """A sequence classifier with ``num_labels`` outputs from pretrained weights.

    A base encoder (no classification head in its checkpoint) gets a fresh head. A
    checkpoint that already has a classification head must have ``num_labels`` outputs,
    unless ``replace_head`` (then a head of another size is dropped for a fresh one).
    ``trust_remote_code`` runs Python shipped with the checkpoint: off unless a config
    asks for it (``+teacher.model.trust_remote_code=true``), since that code runs unchecked.
    """
    source = resolve_pretrained(name_or_path)
    config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    has_head = any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))
    if has_head and config.num_labels != num_labels and replace_head:
        print(f"[student] {name_or_path} has a {config.num_labels}-label head; the task has {num_labels}: fresh head")
        config.num_labels = num_labels
        if dropout is not None:
            set_dropout(config, dropout)
        return AutoModelForSequenceClassification.from_pretrained(
            source, config=config, ignore_mismatched_sizes=True, trust_remote_code=trust_remote_code
        )
    if has_head and config.num_labels != num_labels:
        raise ConfigError(
            f"{name_or_path} is a classifier with {config.num_labels} labels but the task has "
            f"{num_labels}; pick a checkpoint fine-tuned on this task, or a base encoder whose "
            "head will be trained from scratch"
        )
    config.num_labels = num_labels
    if dropout is not None:
        set_dropout(config, dropout)
    if has_head:
        return AutoModelForSequenceClassification.from_pretrained(
            source, config=config, trust_remote_code=trust_remote_code
        )
    # transformers reports the fresh head's weights as missing, in a table that reads like
    # an error; for a base encoder that is the expected outcome, said here in one line.
    with _quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            source, config=config, trust_remote_code=trust_remote_code
        )
    print(f"[model] {name_or_path}: pre-trained encoder, new {num_labels}-label classification head (expected)")
    return model


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def random_classifier(
    tokenizer_name_or_path: str,
    num_labels: int,
    num_layers: int = 2,
    hidden_size: int = 32,
    num_heads: int = 2,
    intermediate_size: int = 64,
    model_type: str = "bert",
    dropout: float = 0.1,
    initializer_range: float = 0.02,
) -> PreTrainedModel:
    """A randomly initialised classifier whose vocabulary matches a tokenizer's model.

    Used for tiny test models and random-init ablations; the vocabulary size and
    special-token ids come from ``tokenizer_name_or_path``'s config.
    """
    config = random_config(
        tokenizer_name_or_path,
        num_layers,
        hidden_size,
        num_heads,
        intermediate_size,
        model_type,
        dropout,
        initializer_range,
    )
    config.num_labels = num_labels
    return AutoModelForSequenceClassification.from_config(config)


def random_config(
    tokenizer_name_or_path: str,
    num_layers: int,
    hidden_size: int,
    num_heads: int,
    intermediate_size: int,
    model_type: str,
    dropout: float,
    initializer_range: float,
) -> PretrainedConfig:
    """An encoder config of the given sizes with the vocabulary of a tokenizer's model."""
    base = AutoConfig.from_pretrained(resolve_pretrained(tokenizer_name_or_path))
    config = AutoConfig.for_model(
        model_type,
        vocab_size=base.vocab_size,
        pad_token_id=base.pad_token_id,
        max_position_embeddings=base.max_position_embeddings,
    )
    set_encoder_dims(
        config,
        num_layers=num_layers,
        hidden_size=hidden_size,
        num_heads=num_heads,
        intermediate_size=intermediate_size,
    )
    set_dropout(config, dropout)
    config.initializer_range = initializer_range
    return config


def load_masked_lm(
    name_or_path: str, num_labels: int | None = None, trust_remote_code: bool = False
) -> PreTrainedModel:
    """A masked-LM model (vocabulary head) from pretrained weights; ``num_labels`` is ignored.

    The packaged MiniLM-L6 has no MLM head: masked-LM objectives need a teacher that does
    (e.g. ``bert-base-uncased`` from the Hub, or a local checkpoint). ``trust_remote_code``
    as in :func:`load_classifier`.
    """
    del num_labels
    source = resolve_pretrained(name_or_path)
    config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    if not any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in (config.architectures or [])):
        raise ConfigError(
            f"{name_or_path} has no masked-LM head (architectures {config.architectures}); "
            "distilbert_mlm needs a masked-LM teacher such as bert-base-uncased"
        )
    return AutoModelForMaskedLM.from_pretrained(source, trust_remote_code=trust_remote_code)


def random_masked_lm(
    tokenizer_name_or_path: str,
    num_labels: int | None = None,
    num_layers: int = 2,
    hidden_size: int = 32,
    num_heads: int = 2,
    intermediate_size: int = 64,
    model_type: str = "bert",
    dropout: float = 0.1,
    initializer_range: float = 0.02,
) -> PreTrainedModel:
    """A randomly initialised masked-LM model (tests); ``num_labels`` is ignored."""
    del num_labels
    config = random_config(
        tokenizer_name_or_path,
        num_layers,
        hidden_size,
        num_heads,
        intermediate_size,
        model_type,
        dropout,
        initializer_range,
    )
    return AutoModelForMaskedLM.from_config(config)
