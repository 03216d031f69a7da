"""The shared wrapper returns exactly the requested features; the teacher stays frozen."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.features import FeatureRequest
from distill_zoo.models import Encoder, FrozenEncoder
from tests.conftest import padded_batch, tiny_bert


def test_returns_exactly_the_requested_features():
    enc = Encoder(tiny_bert(num_layers=3).eval())
    batch = padded_batch()
    out = enc(batch, FeatureRequest(logits=False, hidden_states=(0, -1), attentions=(1,)))
    assert out.logits is None
    assert sorted(out.hidden_states) == [0, 3]
    assert sorted(out.attentions) == [1]
    assert out.attentions[1].shape == (4, 2, 9, 9)
    assert torch.equal(out.hidden(-1), out.hidden_states[3])
    with pytest.raises(KeyError, match="not requested"):
        out.hidden(1)


def test_features_match_plain_hugging_face_outputs():
    model = tiny_bert(num_layers=2).eval()
    batch = padded_batch()
    ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    out = Encoder(model)(batch, FeatureRequest(logits=True, hidden_states=(1, 2)))
    torch.testing.assert_close(out.logits, ref.logits)
    torch.testing.assert_close(out.hidden_states[1], ref.hidden_states[1])


def test_out_of_range_layer_is_a_config_error():
    with pytest.raises(ConfigError, match="out of range"):
        Encoder(tiny_bert(num_layers=2))(padded_batch(), FeatureRequest(hidden_states=(5,)))


def test_frozen_teacher_stays_in_eval_mode_without_gradients():
    teacher = FrozenEncoder(tiny_bert())
    teacher.train()
    assert not teacher.training and not any(m.training for m in teacher.modules())
    assert not any(p.requires_grad for p in teacher.parameters())
    out = teacher(padded_batch(), FeatureRequest(logits=True))
    assert not out.logits.requires_grad
