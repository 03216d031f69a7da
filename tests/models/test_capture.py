"""Captured scores and Q/K/V against a manual recomputation; capture leaves outputs alone."""

from __future__ import annotations

import math

import torch

from distill_zoo.features import FeatureRequest
from distill_zoo.models import Encoder
from distill_zoo.models.dims import transformer_layers
from tests.conftest import padded_batch, tiny_bert


def test_scores_and_qkv_match_manual_recomputation_from_layer_weights():
    model = tiny_bert(num_layers=3, hidden_size=32, heads=4).eval()
    batch = padded_batch()
    out = Encoder(model)(batch, FeatureRequest(hidden_states=(0, 1, 2), scores=(1,), qkv=(2,)))
    assert sorted(out.scores) == [1] and sorted(out.values) == [2]
    for layer_index in (1, 2):
        attn = transformer_layers(model)[layer_index].attention.self
        h = out.hidden_states[layer_index]  # the layer's input
        q, k, v = (h @ lin.weight.T + lin.bias for lin in (attn.query, attn.key, attn.value))
        if layer_index == 2:
            torch.testing.assert_close(out.queries[2], q)
            torch.testing.assert_close(out.keys[2], k)
            torch.testing.assert_close(out.values[2], v)
        else:
            manual = torch.zeros(4, 4, 9, 9)
            d = 32 // 4
            for b in range(4):
                for head in range(4):
                    qs, ks = q[b, :, head * d : (head + 1) * d], k[b, :, head * d : (head + 1) * d]
                    manual[b, head] = qs @ ks.T / math.sqrt(d)
            torch.testing.assert_close(out.scores[1], manual, rtol=1e-4, atol=1e-5)


def test_attention_probabilities_match_hugging_face_eager_attention():
    model = tiny_bert(num_layers=2).eval()
    batch = padded_batch()
    ours = Encoder(model)(batch, FeatureRequest(attentions=(0, 1))).attentions
    model.set_attn_implementation("eager")
    ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_attentions=True).attentions
    rows, queries = batch["attention_mask"].bool().nonzero(as_tuple=True)
    for layer in (0, 1):
        torch.testing.assert_close(ours[layer][rows, :, queries], ref[layer][rows, :, queries], rtol=1e-4, atol=1e-6)
    assert torch.all(ours[0][..., batch["attention_mask"][0] == 0] == 0)


def test_capture_changes_nothing_and_keeps_the_fused_kernel():
    model = tiny_bert(num_layers=2).eval()
    batch = padded_batch()
    encoder = Encoder(model)
    plain = encoder(batch, FeatureRequest(logits=True)).logits
    captured = encoder(batch, FeatureRequest(logits=True, scores=(0, 1), qkv=(0,), attentions=(1,))).logits
    torch.testing.assert_close(plain, captured, rtol=0, atol=0)
    assert model.config._attn_implementation == "sdpa"
    taps = encoder._attention_taps
    assert all(not lin._forward_hooks for tap in taps for lin in tap.projections)
    assert all(not tap.attention._forward_pre_hooks for tap in taps)


def test_only_requested_layers_are_hooked():
    model = tiny_bert(num_layers=3).eval()
    encoder = Encoder(model)
    from distill_zoo.models.capture import capture_qkv

    with capture_qkv(encoder._attention_taps, (2,)) as captured:
        model(**{k: v for k, v in padded_batch().items() if k != "labels"})
    assert set(captured) == {(2, "q"), (2, "k"), (2, "v")}


def test_distilbert_family_capture():
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from distill_zoo.models.dims import set_encoder_dims

    config = AutoConfig.for_model("distilbert", vocab_size=3000, num_labels=2)
    set_encoder_dims(config, num_layers=2, hidden_size=32, num_heads=2, intermediate_size=64)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    out = Encoder(model)(padded_batch(), FeatureRequest(scores=(-1,), qkv=(0,)))
    assert out.scores[1].shape == (4, 2, 9, 9) and out.values[0].shape == (4, 9, 32)


def test_probabilities_are_zero_on_every_key_a_query_may_not_see():
    """Causal, left-padded: padding keys and future keys get 0, real queries sum to 1, and a
    padding query that sees no real key (position 0 of a padded row) gets all zeros."""
    from distill_zoo.models.capture import attention_probs

    scores = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    probs = attention_probs(scores, mask, causal=True)
    allowed = mask.bool()[:, None, None, :] & torch.ones(5, 5, dtype=torch.bool).tril()
    assert torch.all(probs[~allowed.expand_as(probs)] == 0)
    sums = probs.sum(-1)
    torch.testing.assert_close(sums[0], torch.ones(3, 5))
    torch.testing.assert_close(sums[1, :, 2:], torch.ones(3, 3))
    assert torch.all(probs[1, :, :2] == 0)  # padding queries 0 and 1 see only padding keys
    # Not causal: an all-padding row attends to nothing.
    assert torch.all(attention_probs(scores, torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]))[1] == 0)
