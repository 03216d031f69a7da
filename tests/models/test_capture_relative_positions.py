"""Scores recomputed as QKᵀ/√d leave out relative-position terms: an encoder that has them
gets its logits and hidden states, and a refusal for attention features."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.features import FeatureRequest
from distill_zoo.models import Encoder
from tests.conftest import tiny_bert


@pytest.mark.parametrize("kind", ["relative_key", "relative_key_query"])
@pytest.mark.parametrize(
    "request_", [FeatureRequest(attentions=(0,)), FeatureRequest(scores=(1,)), FeatureRequest(qkv=(0,))]
)
def test_attention_features_of_relative_position_encoders_are_refused(batch, kind, request_):
    model = tiny_bert().eval()
    model.config.position_embedding_type = kind
    with pytest.raises(ConfigError, match="absolute position embeddings only"):
        Encoder(model)(batch, request_)


def test_outputs_that_need_no_recomputed_attention_are_still_served(batch):
    model = tiny_bert().eval()
    model.config.position_embedding_type = "relative_key"
    out = Encoder(model)(batch, FeatureRequest(logits=True, hidden_states=(1,)))
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        plain = model(**inputs, output_hidden_states=True)
    torch.testing.assert_close(out.logits, plain.logits)
    torch.testing.assert_close(out.hidden_states[1], plain.hidden_states[1])
