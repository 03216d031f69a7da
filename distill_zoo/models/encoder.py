"""One wrapper for teacher and student: run a Hugging Face encoder, return requested features."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel

from distill_zoo.features import EncoderFeatures, FeatureRequest
from distill_zoo.models.dims import EncoderDims, encoder_dims

#: Batch keys the encoder consumes; everything else (labels, ids) is left to objectives.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class Encoder(nn.Module):
    """A Hugging Face sequence classifier that answers :class:`FeatureRequest` s.

    Hidden states are indexed Hugging Face's way (0 = embedding output). Only the
    requested entries are kept in the returned :class:`EncoderFeatures`.
    """

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model
        self.dims: EncoderDims = encoder_dims(model.config)
        accepted = inspect.signature(model.forward).parameters
        self._input_keys = tuple(k for k in MODEL_INPUTS if k in accepted)

    def forward(self, batch: Mapping[str, Tensor], request: FeatureRequest) -> EncoderFeatures:
        request = request.resolve(self.dims.num_layers)
        inputs = {k: batch[k] for k in self._input_keys if k in batch}
        if request.attentions:
            out = self._run_eager(inputs, bool(request.hidden_states))
        else:
            out = self.model(**inputs, output_hidden_states=bool(request.hidden_states), return_dict=True)
        return EncoderFeatures(
            attention_mask=batch["attention_mask"],
            num_layers=self.dims.num_layers,
            logits=out.logits if request.logits else None,
            hidden_states={i: out.hidden_states[i] for i in request.hidden_states},
            attentions={i: out.attentions[i] for i in request.attentions},
        )


    def _run_eager(self, inputs: dict[str, Tensor], hidden: bool):
        """Attention probabilities need the eager kernel; the fused one is restored afterwards."""
        previous = self.model.config._attn_implementation
        self.model.set_attn_implementation("eager")
        try:
            return self.model(**inputs, output_hidden_states=hidden, output_attentions=True, return_dict=True)
        finally:
            self.model.set_attn_implementation(previous)


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
