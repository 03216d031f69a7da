"""Architecture sizes and parts of Hugging Face models, whatever each family calls them.

Encoders (BERT, RoBERTa, DistilBERT) and causal language models (GPT-2: ``n_layer``,
``n_embd``, ``n_head``, ``n_inner``; Llama: ``num_key_value_heads``, ``intermediate_size``).
"""

from __future__ import annotations

from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from distill_zoo.errors import ConfigError
from distill_zoo.features import EncoderDims

#: Dropout fields per family, tried in order: BERT/RoBERTa, GPT-2, DistilBERT, Llama.
_DROPOUT_FIELDS = (
    ("hidden_dropout_prob", "attention_probs_dropout_prob"),
    ("resid_pdrop", "embd_pdrop", "attn_pdrop"),
    ("dropout", "attention_dropout"),
    ("attention_dropout",),
)


def encoder_dims(config: PretrainedConfig) -> EncoderDims:
    """Sizes of the model described by ``config``; ``num_heads`` counts query heads.

    GPT-2's and DistilBERT's names are mapped by their configs, except the feed-forward
    width: GPT-2's ``n_inner`` (None means 4 × width), DistilBERT's ``hidden_dim``.
    """
    return EncoderDims(
        num_layers=config.num_hidden_layers,
        hidden_size=config.hidden_size,
        num_heads=config.num_attention_heads,
        intermediate_size=intermediate_size(config),
    )


def intermediate_size(config: PretrainedConfig) -> int:
    """Width of the feed-forward block's inner layer."""
    if hasattr(config, "intermediate_size"):
        return config.intermediate_size
    if hasattr(config, "n_inner"):
        return config.n_inner or 4 * config.hidden_size
    return config.hidden_dim


def key_value_heads(config: PretrainedConfig) -> int:
    """Key/value heads: fewer than the query heads under grouped-query attention (Llama)."""
    return getattr(config, "num_key_value_heads", None) or config.num_attention_heads


def set_encoder_dims(config: PretrainedConfig, **sizes: int) -> None:
    """Set depth/width fields on ``config`` in place, whatever the family calls them.

    Keys: ``num_layers``, ``hidden_size``, ``num_heads``, ``intermediate_size`` and, for
    families with grouped-query attention, ``num_kv_heads``. A config with an explicit
    ``head_dim`` (Llama) gets ``hidden_size // num_heads`` when either changes.
    """
    for key, value in sizes.items():
        if key == "intermediate_size" and not hasattr(config, "intermediate_size"):
            key = "n_inner" if hasattr(config, "n_inner") else "hidden_dim"
        elif key == "num_layers":
            key = "num_hidden_layers"
        elif key == "num_heads":
            key = "num_attention_heads"
        elif key == "num_kv_heads":
            if not hasattr(config, "num_key_value_heads"):
                raise ConfigError(f"{config.model_type} has no grouped-query attention: leave num_kv_heads unset")
            key = "num_key_value_heads"
        setattr(config, key, value)
    if hasattr(config, "head_dim") and {"hidden_size", "num_heads"} & set(sizes):
        config.head_dim = config.hidden_size // config.num_attention_heads


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The ModuleList of transformer blocks of a Hugging Face model, found by its length."""
    if not isinstance(model, PreTrainedModel):
        raise TypeError(f"expected a Hugging Face model, got {type(model).__name__}")
    depth = model.config.num_hidden_layers
    for module in model.base_model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == depth:
            return module
    raise ValueError(f"could not find the {depth} transformer layers of {type(model).__name__}")


def position_embeddings(model: PreTrainedModel) -> nn.Embedding | None:
    """The learned absolute position table (GPT-2's ``wpe``, BERT's ``position_embeddings``),
    or None for a model without one (Llama's rotary positions have no parameters)."""
    for name, module in model.base_model.named_modules():
        if isinstance(module, nn.Embedding) and name.split(".")[-1] in ("wpe", "position_embeddings"):
            return module
    return None


def set_dropout(config: PretrainedConfig, rate: float) -> None:
    """Set every dropout rate of the family (Llama has attention dropout only)."""
    for names in _DROPOUT_FIELDS:
        if all(hasattr(config, name) for name in names):
            for name in names:
                setattr(config, name, rate)
            return
    raise ConfigError(f"do not know the dropout fields of {config.model_type!r} configs")
