"""Capture Q/K/V projections of chosen layers with forward hooks; derive attention from them.

The model itself is untouched: its attention keeps whatever kernel it uses (SDPA by
default), and layers nobody asked about carry no hook at all. Scores are recomputed
as QKᵀ/√d_head from the captured projections, which is exactly what the attention
kernel computes before its mask and softmax:

* encoders with absolute positions (BERT, RoBERTa, DistilBERT): the projections as they are;
* GPT-2: its fused projection ``c_attn`` holds [Q | K | V] along the last dimension;
* Llama: rotary position embeddings are applied to Q and K (with the cos/sin the
  attention module received), and the K/V heads of grouped-query attention are repeated
  to the query heads (:func:`expand_kv_heads`), so Q, K and V are all (B, L, H·d_head).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers import PretrainedConfig, PreTrainedModel

from distill_zoo.errors import ConfigError
from distill_zoo.models.dims import transformer_layers

#: Attribute names of separate query, key and value projections (BERT/RoBERTa, DistilBERT, Llama).
_PROJECTIONS = (("query", "key", "value"), ("q_lin", "k_lin", "v_lin"), ("q_proj", "k_proj", "v_proj"))
#: Fused projections whose output is [Q | K | V] along the last dimension (GPT-2's Conv1D).
_FUSED = ("c_attn",)
#: Causal LM families whose captured attention is tested to equal the model's own.
CAPTURE_DECODERS = ("gpt2", "llama")


@dataclass(frozen=True)
class AttentionTaps:
    """The modules of one transformer layer that attention capture hooks.

    Attributes:
        projections: the (query, key, value) projections, or one fused projection.
        attention: the module that owns them; its ``position_embeddings`` keyword
            argument (rotary (cos, sin), each (B, L, d_head)) is recorded when given.
    """

    projections: tuple[nn.Module, ...]
    attention: nn.Module


def attention_taps(model: PreTrainedModel) -> list[AttentionTaps]:
    """The :class:`AttentionTaps` of every transformer layer, in order."""
    found = []
    for layer in transformer_layers(model):
        found.append(_layer_taps(layer))
    return found


def _layer_taps(layer: nn.Module) -> AttentionTaps:
    for owner in layer.modules():
        children = dict(owner.named_children())
        for names in _PROJECTIONS:
            trio = [children.get(name) for name in names]
            if all(isinstance(m, nn.Linear) for m in trio):
                return AttentionTaps(tuple(m for m in trio if m is not None), owner)
        for name in _FUSED:
            if name in children:
                return AttentionTaps((children[name],), owner)
    raise ConfigError(f"cannot find query/key/value projections in {type(layer).__name__}")


def qkv_projections(model: PreTrainedModel) -> list[tuple[nn.Module, nn.Module, nn.Module]]:
    """(query, key, value) Linear modules of every transformer layer, for families with
    separate projections (not GPT-2's fused one)."""
    trios = []
    for taps in attention_taps(model):
        if len(taps.projections) != 3:
            raise ConfigError(f"{type(model).__name__} has a fused Q/K/V projection; use attention_taps")
        q, k, v = taps.projections
        trios.append((q, k, v))
    return trios


def check_capturable(config: PretrainedConfig, causal: bool) -> None:
    """Refuse models whose attention the recomputed scores would not reproduce."""
    if not causal:
        check_absolute_positions(config)
        return
    if config.model_type not in CAPTURE_DECODERS:
        raise ConfigError(
            f"attention capture on causal language models supports {', '.join(CAPTURE_DECODERS)}, "
            f"not {config.model_type!r}; request logits and hidden states only"
        )
    if config.model_type == "gpt2" and (not config.scale_attn_weights or config.scale_attn_by_inverse_layer_idx):
        raise ConfigError("attention capture needs GPT-2's default scaling QKᵀ/√d (scale_attn_weights only)")


def check_absolute_positions(config: PretrainedConfig) -> None:
    """Scores recomputed from Q and K omit relative-position terms: refuse such encoders."""
    kind = getattr(config, "position_embedding_type", "absolute")
    if kind not in (None, "absolute"):
        raise ConfigError(f"attention capture supports absolute position embeddings only, this model uses {kind!r}")


@contextmanager
def capture_qkv(taps: list[AttentionTaps], layers: tuple[int, ...]) -> Iterator[dict[tuple[int, str], Tensor]]:
    """While active, records ``{(layer, "q"|"k"|"v"): (B, L, width)}`` for ``layers``, as
    the projections output them, and ``(layer, "cos"|"sin")`` for rotary models."""
    captured: dict[tuple[int, str], Tensor] = {}
    handles = []

    def record(layer: int, roles: str):
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            parts = output.split(output.shape[-1] // len(roles), dim=-1) if len(roles) > 1 else (output,)
            for role, part in zip(roles, parts):
                captured[(layer, role)] = part

        return hook

    def record_rotary(layer: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
            rotary = kwargs.get("position_embeddings")
            if rotary is not None:
                captured[(layer, "cos")], captured[(layer, "sin")] = rotary

        return hook

    for layer in layers:
        projections = taps[layer].projections
        roles = ("q", "k", "v") if len(projections) == 3 else ("qkv",)
        for role, module in zip(roles, projections):
            handles.append(module.register_forward_hook(record(layer, role)))
        handles.append(taps[layer].attention.register_forward_pre_hook(record_rotary(layer), with_kwargs=True))
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def attention_inputs(
    captured: dict[tuple[int, str], Tensor], layer: int, num_heads: int, num_kv_heads: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Q, K, V of ``layer`` as the attention product uses them, each (B, L, H·d_head):
    rotary embeddings applied to Q and K where the model has them, K/V heads expanded."""
    q, k, v = captured[(layer, "q")], captured[(layer, "k")], captured[(layer, "v")]
    if (layer, "cos") in captured:
        cos, sin = captured[(layer, "cos")], captured[(layer, "sin")]
        if cos.shape[-1] * num_heads != q.shape[-1]:
            raise ConfigError("attention capture supports rotary embeddings over the whole head (no partial rotary)")
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    return q, expand_kv_heads(k, num_kv_heads, num_heads), expand_kv_heads(v, num_kv_heads, num_heads)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary position embedding (Su et al. 2021, RoFormer) in the half-split layout of
    Hugging Face's Llama: each head's (x₁, x₂) halves become (x₁·cos − x₂·sin, x₂·cos + x₁·sin).

    Args:
        x: (B, L, heads·d_head) projections.
        cos / sin: (B or 1, L, d_head), the tables the attention module received.
    """
    batch, length, width = x.shape
    head = cos.shape[-1]
    heads = x.view(batch, length, width // head, head)
    first, second = heads.chunk(2, dim=-1)
    rotated = torch.cat((-second, first), dim=-1)
    return (heads * cos[:, :, None] + rotated * sin[:, :, None]).reshape(batch, length, width)


def expand_kv_heads(x: Tensor, num_kv_heads: int, num_heads: int) -> Tensor:
    """(B, L, H_kv·d) keys or values -> (B, L, H·d): grouped-query attention (Ainslie et al.
    2023) shares kv head j among query heads j·H/H_kv … (j+1)·H/H_kv − 1, so each kv head
    is repeated H/H_kv times in place (``repeat_interleave``, as Hugging Face's ``repeat_kv``)."""
    if num_kv_heads == num_heads:
        return x
    batch, length, width = x.shape
    heads = x.view(batch, length, num_kv_heads, width // num_kv_heads)
    return heads.repeat_interleave(num_heads // num_kv_heads, dim=2).reshape(batch, length, -1)


def attention_scores(queries: Tensor, keys: Tensor, num_heads: int) -> Tensor:
    """(B, L, D) queries and keys -> (B, H, L, L) pre-softmax scores QKᵀ/√d_head."""
    batch, length, width = queries.shape
    head = width // num_heads
    q = queries.view(batch, length, num_heads, head).transpose(1, 2)
    k = keys.view(batch, length, num_heads, head).transpose(1, 2)
    return q @ k.transpose(-1, -2) / math.sqrt(head)


def attention_probs(scores: Tensor, mask: Tensor, causal: bool = False) -> Tensor:
    """Softmax over real keys (and, when ``causal``, keys at or before the query); other
    keys get probability 0.

    Args:
        scores: (B, H, L, L) pre-softmax scores.
        mask: (B, L), 1 for real tokens.
        causal: whether query t may attend to keys 0..t only (causal language models).
    """
    keys = mask.bool()[:, None, None, :]
    if causal:
        length = scores.shape[-1]
        keys = keys & torch.ones(length, length, dtype=torch.bool, device=scores.device).tril()
    probs = torch.softmax(scores.masked_fill(~keys, torch.finfo(scores.dtype).min), dim=-1)
    return probs.masked_fill(~keys, 0.0)
