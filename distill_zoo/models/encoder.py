"""One wrapper for teacher and student: run a Hugging Face model, return requested features.

The same wrapper serves encoders (sequence classifiers, masked LMs) and causal language
models (GPT-2, Llama). For a causal LM:

* ``logits`` are per token, (B, L, V) over the model's (possibly padded) vocabulary;
* hidden states follow Hugging Face's ``output_hidden_states``: 0 is the embedding output
  (GPT-2: token + position embeddings; Llama: token embeddings), i in 1..N−1 the output of
  block i, and N (= −1) the output of block N *after the final norm* (GPT-2's ``ln_f``,
  Llama's RMSNorm): the input of the LM head, for both families. The un-normed output of
  the last block is not offered;
* attention features (GPT-2 and Llama only) are recomputed from captured projections as
  the model computes them (:mod:`~distill_zoo.models.capture`): Q and K after rotary
  embeddings, K and V expanded to the query heads; scores carry no mask, probabilities
  are causal (query t attends to real keys 0..t).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel

from distill_zoo.features import EncoderFeatures, FeatureRequest
from distill_zoo.models.capture import (
    AttentionTaps,
    attention_inputs,
    attention_probs,
    attention_scores,
    attention_taps,
    capture_qkv,
    check_capturable,
)
from distill_zoo.models.causal_lm import is_causal_lm
from distill_zoo.models.dims import EncoderDims, encoder_dims, key_value_heads

#: Batch keys the encoder consumes; everything else (labels, ids) is left to objectives.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: Batch keys a causal LM consumes: GPT-2 accepts token types too, but would add the
#: embedding of type 0 to every token, which it was never trained with.
CAUSAL_INPUTS = ("input_ids", "attention_mask")


class Encoder(nn.Module):
    """A Hugging Face classifier, masked LM or causal LM that answers :class:`FeatureRequest` s.

    Hidden states are indexed Hugging Face's way (0 = embedding output; for causal LMs
    see the module docstring). Only the requested entries are computed and kept in the
    returned :class:`EncoderFeatures`: attention features come from hooks on the
    requested layers' Q/K/V projections, so every layer keeps the model's fused
    attention kernel.
    """

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model
        self.dims: EncoderDims = encoder_dims(model.config)
        #: Whether ``model`` is a causal LM: per-token logits, causal attention probabilities.
        self.causal: bool = is_causal_lm(model)
        self._kv_heads = key_value_heads(model.config)
        accepted = inspect.signature(model.forward).parameters
        self._input_keys = tuple(k for k in (CAUSAL_INPUTS if self.causal else MODEL_INPUTS) if k in accepted)
        self._taps: list[AttentionTaps] | None = None  # found on first use: families without Q/K/V still run

    @property
    def _attention_taps(self) -> list[AttentionTaps]:
        """The hooked modules of every layer."""
        if self._taps is None:
            self._taps = attention_taps(self.model)
        return self._taps

    def forward(self, batch: Mapping[str, Tensor], request: FeatureRequest) -> EncoderFeatures:
        request = request.resolve(self.dims.num_layers)
        inputs = {k: batch[k] for k in self._input_keys if k in batch}
        layers = request.attention_layers
        if layers:
            check_capturable(self.model.config, self.causal)
        with capture_qkv(self._attention_taps if layers else [], layers) as captured:
            out = self.model(**inputs, output_hidden_states=bool(request.hidden_states), return_dict=True)
        mask = batch["attention_mask"]
        qkv = {i: attention_inputs(captured, i, self.dims.num_heads, self._kv_heads) for i in layers}
        scores = {
            i: attention_scores(qkv[i][0], qkv[i][1], self.dims.num_heads)
            for i in set(request.scores) | set(request.attentions)
        }
        return EncoderFeatures(
            attention_mask=mask,
            num_layers=self.dims.num_layers,
            logits=out.logits if request.logits else None,
            hidden_states={i: out.hidden_states[i] for i in request.hidden_states},
            attentions={i: attention_probs(scores[i], mask, self.causal) for i in request.attentions},
            scores={i: scores[i] for i in request.scores},
            queries={i: qkv[i][0] for i in request.qkv},
            keys={i: qkv[i][1] for i in request.qkv},
            values={i: qkv[i][2] for i in request.qkv},
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
