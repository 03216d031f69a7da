"""One wrapper for teacher and student: run a Hugging Face encoder, return requested features."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel

from distill_zoo.features import EncoderFeatures, FeatureRequest
from distill_zoo.models.capture import (
    attention_probs,
    attention_scores,
    capture_qkv,
    check_absolute_positions,
    qkv_projections,
)
from distill_zoo.models.dims import EncoderDims, encoder_dims

#: Batch keys the encoder consumes; everything else (labels, ids) is left to objectives.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class Encoder(nn.Module):
    """A Hugging Face sequence classifier that answers :class:`FeatureRequest` s.

    Hidden states are indexed Hugging Face's way (0 = embedding output). Only the
    requested entries are computed and kept in the returned :class:`EncoderFeatures`:
    attention features come from hooks on the requested layers' Q/K/V projections,
    so every layer keeps the model's fused attention kernel.
    """

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model
        self.dims: EncoderDims = encoder_dims(model.config)
        accepted = inspect.signature(model.forward).parameters
        self._input_keys = tuple(k for k in MODEL_INPUTS if k in accepted)
        self._qkv: list | None = None  # found on first use: families without Q/K/V still run

    @property
    def _projections(self) -> list:
        """(query, key, value) projections of every layer."""
        if self._qkv is None:
            self._qkv = qkv_projections(self.model)
        return self._qkv

    def forward(self, batch: Mapping[str, Tensor], request: FeatureRequest) -> EncoderFeatures:
        request = request.resolve(self.dims.num_layers)
        inputs = {k: batch[k] for k in self._input_keys if k in batch}
        layers = request.attention_layers
        if layers:
            check_absolute_positions(self.model.config)
        with capture_qkv(self._projections if layers else [], layers) as captured:
            out = self.model(**inputs, output_hidden_states=bool(request.hidden_states), return_dict=True)
        mask = batch["attention_mask"]
        scores = {
            i: attention_scores(captured[(i, "q")], captured[(i, "k")], self.dims.num_heads)
            for i in set(request.scores) | set(request.attentions)
        }
        return EncoderFeatures(
            attention_mask=mask,
            num_layers=self.dims.num_layers,
            logits=out.logits if request.logits else None,
            hidden_states={i: out.hidden_states[i] for i in request.hidden_states},
            attentions={i: attention_probs(scores[i], mask) for i in request.attentions},
            scores={i: scores[i] for i in request.scores},
            queries={i: captured[(i, "q")] for i in request.qkv},
            keys={i: captured[(i, "k")] for i in request.qkv},
            values={i: captured[(i, "v")] for i in request.qkv},
        )


class FrozenEncoder(Encoder):
    """The teacher: always in eval mode, no parameter requires a gradient, runs under no_grad."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__(model)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenEncoder:
        """Ignore Lightning's ``model.train()``: dropout stays off in the teacher."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, batch: Mapping[str, Tensor], request: FeatureRequest) -> EncoderFeatures:
        return super().forward(batch, request)
