"""Architecture sizes read from any Hugging Face encoder config (BERT, RoBERTa, DistilBERT)."""

from __future__ import annotations

from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from distill_zoo.features import EncoderDims


def encoder_dims(config: PretrainedConfig) -> EncoderDims:
    """Sizes of the encoder described by ``config``; DistilBERT's names are mapped by the config."""
    intermediate = getattr(config, "intermediate_size", None) or config.hidden_dim
    return EncoderDims(
        num_layers=config.num_hidden_layers,
        hidden_size=config.hidden_size,
        num_heads=config.num_attention_heads,
        intermediate_size=intermediate,
    )


def set_encoder_dims(config: PretrainedConfig, **sizes: int) -> None:
    """Set depth/width fields on ``config`` in place, whatever the family calls them."""
    for key, value in sizes.items():
        if key == "intermediate_size" and not hasattr(config, "intermediate_size"):
            key = "hidden_dim"
        elif key == "num_layers":
            key = "num_hidden_layers"
        elif key == "num_heads":
            key = "num_attention_heads"
        setattr(config, key, value)


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The ModuleList of transformer blocks of a Hugging Face encoder, found by its length."""
    if not isinstance(model, PreTrainedModel):
        raise TypeError(f"expected a Hugging Face model, got {type(model).__name__}")
    depth = model.config.num_hidden_layers
    for module in model.base_model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == depth:
            return module
    raise ValueError(f"could not find the {depth} transformer layers of {type(model).__name__}")


def set_dropout(config: PretrainedConfig, rate: float) -> None:
    """Set hidden and attention dropout, under BERT's or DistilBERT's names."""
    if hasattr(config, "hidden_dropout_prob"):
        config.hidden_dropout_prob = config.attention_probs_dropout_prob = rate
    else:
        config.dropout = config.attention_dropout = rate
