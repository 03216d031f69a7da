"""DistilBERT's own initialisation: a ``DistilBert*`` student from a BERT teacher's layers.

Sanh et al. (2019): the student keeps one layer out of two, and the teacher's word and
position embeddings, embedding LayerNorm and masked-LM head; DistilBERT has no
token-type embeddings and no pooler, so those are dropped.
"""

from __future__ import annotations

import torch
from transformers import (
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForSequenceClassification,
    PreTrainedModel,
)

from distill_zoo.errors import ConfigError
from distill_zoo.models.dims import encoder_dims

#: DistilBERT layer parameter <- BERT layer parameter (both relative to one layer).
LAYER_NAMES = {
    "attention.q_lin": "attention.self.query",
    "attention.k_lin": "attention.self.key",
    "attention.v_lin": "attention.self.value",
    "attention.out_lin": "attention.output.dense",
    "sa_layer_norm": "attention.output.LayerNorm",
    "ffn.lin1": "intermediate.dense",
    "ffn.lin2": "output.dense",
    "output_layer_norm": "output.LayerNorm",
}
EMBEDDING_NAMES = {
    "distilbert.embeddings.word_embeddings": "bert.embeddings.word_embeddings",
    "distilbert.embeddings.position_embeddings": "bert.embeddings.position_embeddings",
    "distilbert.embeddings.LayerNorm": "bert.embeddings.LayerNorm",
}
MLM_NAMES = {
    "vocab_transform": "cls.predictions.transform.dense",
    "vocab_layer_norm": "cls.predictions.transform.LayerNorm",
}


def distilbert_from_bert(teacher: PreTrainedModel, layers: list[int], num_labels: int = 2) -> PreTrainedModel:
    """A DistilBERT model (masked-LM if the teacher is one, else a classifier) from BERT layers."""
    if teacher.config.model_type != "bert":
        raise ConfigError(f"a DistilBERT student is initialised from a BERT teacher, not {teacher.config.model_type!r}")
    dims = encoder_dims(teacher.config)
    config = DistilBertConfig(
        vocab_size=teacher.config.vocab_size,
        max_position_embeddings=teacher.config.max_position_embeddings,
        dim=dims.hidden_size,
        n_layers=len(layers),
        n_heads=dims.num_heads,
        hidden_dim=dims.intermediate_size,
        pad_token_id=teacher.config.pad_token_id,
    )
    config.num_labels = num_labels  # a PretrainedConfig property, not a DistilBertConfig argument
    masked_lm = hasattr(teacher, "cls")
    student = (DistilBertForMaskedLM if masked_lm else DistilBertForSequenceClassification)(config)
    source, target = teacher.state_dict(), student.state_dict()
    mapping = dict(EMBEDDING_NAMES)
    for i, t in enumerate(layers):
        mapping.update(
            {f"distilbert.transformer.layer.{i}.{d}": f"bert.encoder.layer.{t}.{b}" for d, b in LAYER_NAMES.items()}
        )
    if masked_lm:
        mapping.update(MLM_NAMES)
    with torch.no_grad():
        for d, b in mapping.items():
            for suffix in (".weight", ".bias"):
                if d + suffix in target:
                    target[d + suffix].copy_(source[b + suffix])
        if masked_lm:
            target["vocab_projector.bias"].copy_(source["cls.predictions.bias"])
    student.load_state_dict(target)
    return student
