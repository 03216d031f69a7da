"""Capture Q/K/V projections of chosen layers with forward hooks; derive attention from them.

The encoder itself is untouched: its attention keeps whatever kernel it uses (SDPA by
default), and layers nobody asked about carry no hook at all. Scores are recomputed
as QKᵀ/√d from the captured projections, which is exactly what the attention kernel
computes before its mask and softmax for absolute-position encoders.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel

from distill_zoo.errors import ConfigError
from distill_zoo.models.dims import transformer_layers

#: Attribute names of the query, key and value projections per family (BERT/RoBERTa, DistilBERT).
_PROJECTIONS = (("query", "key", "value"), ("q_lin", "k_lin", "v_lin"))


def qkv_projections(model: PreTrainedModel) -> list[tuple[nn.Linear, nn.Linear, nn.Linear]]:
    """(query, key, value) Linear modules of every transformer layer, in order."""
    found = []
    for layer in transformer_layers(model):
        modules = dict(layer.named_modules())
        for names in _PROJECTIONS:
            q, k, v = [next((m for n, m in modules.items() if n.split(".")[-1] == name), None) for name in names]
            if isinstance(q, nn.Linear) and isinstance(k, nn.Linear) and isinstance(v, nn.Linear):
                found.append((q, k, v))
                break
        else:
            raise ConfigError(f"cannot find query/key/value projections in {type(layer).__name__}")
    return found


def check_absolute_positions(config) -> None:
    """Scores recomputed from Q and K omit relative-position terms: refuse such encoders."""
    kind = getattr(config, "position_embedding_type", "absolute")
    if kind not in (None, "absolute"):
        raise ConfigError(f"attention capture supports absolute position embeddings only, this model uses {kind!r}")


@contextmanager
def capture_qkv(
    projections: list[tuple[nn.Linear, nn.Linear, nn.Linear]], layers: tuple[int, ...]
) -> Iterator[dict[tuple[int, str], Tensor]]:
    """While active, records ``{(layer, "q"|"k"|"v"): (B, L, D)}`` for ``layers``."""
    captured: dict[tuple[int, str], Tensor] = {}
    handles = []

    def hook(key: tuple[int, str]):
        def record(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            captured[key] = output

        return record

    for layer in layers:
        for role, linear in zip("qkv", projections[layer]):
            handles.append(linear.register_forward_hook(hook((layer, role))))
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def attention_scores(queries: Tensor, keys: Tensor, num_heads: int) -> Tensor:
    """(B, L, D) queries and keys -> (B, H, L, L) pre-softmax scores QKᵀ/√d_head."""
    batch, length, width = queries.shape
    head = width // num_heads
    q = queries.view(batch, length, num_heads, head).transpose(1, 2)
    k = keys.view(batch, length, num_heads, head).transpose(1, 2)
    return q @ k.transpose(-1, -2) / math.sqrt(head)


def attention_probs(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over real keys; padded keys get probability 0."""
    keys = mask.bool()[:, None, None, :]
    probs = torch.softmax(scores.masked_fill(~keys, torch.finfo(scores.dtype).min), dim=-1)
    return probs.masked_fill(~keys, 0.0)
