"""Config details the builders set: initialiser scale, head width after a resize, the special
ids of a random causal LM, which position table a freeze reaches, every dropout of a family."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.models import random_causal_lm, random_classifier
from distill_zoo.models.dims import set_dropout, set_encoder_dims
from distill_zoo.models.students import from_teacher_layers
from tests.conftest import TOKENIZER, tiny_bert


@pytest.mark.parametrize("scale", [0.02, 0.3])
def test_a_random_classifier_is_initialised_at_the_requested_scale(scale):
    torch.manual_seed(0)
    model = random_classifier(TOKENIZER, 2, hidden_size=64, intermediate_size=256, initializer_range=scale)
    assert model.config.initializer_range == scale
    weight = model.bert.encoder.layer[0].intermediate.dense.weight  # 256 x 64 normal draws
    assert float(weight.detach().std()) == pytest.approx(scale, rel=0.05)


def test_the_head_width_follows_a_new_width_or_a_new_head_count():
    config = random_causal_lm("llama", vocab_size=64, hidden_size=32, num_heads=2).config
    assert config.head_dim == 16
    set_encoder_dims(config, num_heads=4)
    assert config.head_dim == 8
    set_encoder_dims(config, hidden_size=64)
    assert config.head_dim == 16
    set_encoder_dims(config, num_layers=1)  # depth alone leaves the head width
    assert config.head_dim == 16


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_random_causal_lm_begins_and_ends_text_with_its_last_vocabulary_entry(family):
    config = random_causal_lm(family, vocab_size=64).config
    assert config.bos_token_id == config.eos_token_id == 63


def test_freezing_positions_reaches_an_encoders_position_table():
    student = from_teacher_layers(tiny_bert(num_layers=4), num_labels=2, freeze_position_embeddings=True)
    frozen = {name for name, p in student.named_parameters() if not p.requires_grad}
    assert frozen == {"bert.embeddings.position_embeddings.weight"}
    auto = from_teacher_layers(tiny_bert(num_layers=4), num_labels=2, freeze_position_embeddings="auto")
    assert {name for name, p in auto.named_parameters() if not p.requires_grad} == frozen


def test_every_dropout_of_gpt2_is_set():
    config = random_causal_lm("gpt2", vocab_size=64).config
    set_dropout(config, 0.25)
    assert (config.resid_pdrop, config.embd_pdrop, config.attn_pdrop) == (0.25, 0.25, 0.25)
    model = random_causal_lm("gpt2", vocab_size=64, dropout=0.3)
    rates = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert rates == {0.3}
