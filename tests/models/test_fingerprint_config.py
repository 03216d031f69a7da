"""Equal weights under a config that computes otherwise are another teacher: the identity
that keys the teacher's caches holds the config."""

from __future__ import annotations

import copy

import torch

from distill_zoo.models.fingerprint import model_identity, weights_digest
from tests.conftest import padded_batch, tiny_bert


def test_a_config_change_that_changes_the_outputs_changes_the_identity():
    model = tiny_bert().eval()
    other = copy.deepcopy(model)
    other.config.hidden_act = "relu"  # read at call time by the feed-forward activation
    for layer in other.bert.encoder.layer:
        layer.intermediate.intermediate_act_fn = torch.nn.ReLU()
    batch = padded_batch()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        assert not torch.allclose(model(**inputs).logits, other(**inputs).logits)
    assert weights_digest(other) == weights_digest(model), "the weights are the same"
    assert model_identity(other) != model_identity(model)
