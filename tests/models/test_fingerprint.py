"""The weights digest that keys the teacher's caches changes with any single weight."""

from __future__ import annotations

import copy

import torch

from distill_zoo.models import load_classifier, random_causal_lm
from distill_zoo.models.fingerprint import model_identity, weights_digest
from tests.conftest import tiny_bert


def test_the_digest_changes_when_any_single_weight_changes():
    model = tiny_bert()
    digest = weights_digest(model)
    assert weights_digest(copy.deepcopy(model)) == digest, "the same weights, the same digest"
    for name, tensor in model.state_dict().items():
        if not tensor.is_floating_point():
            continue
        with torch.no_grad():
            flat = tensor.view(-1)
            position = flat.numel() // 2
            kept = flat[position].clone()
            flat[position] = kept + 1e-3 * (kept.abs() + 1)
            assert weights_digest(model) != digest, name
            flat[position] = kept
    assert weights_digest(model) == digest


def test_the_identity_leaves_out_the_folder_but_not_the_dtype_or_a_tied_head(tmp_path):
    model = tiny_bert()
    model.save_pretrained(tmp_path / "a")
    model.save_pretrained(tmp_path / "b")

    first, second = load_classifier(str(tmp_path / "a"), 2), load_classifier(str(tmp_path / "b"), 2)
    assert model_identity(first) == model_identity(second), "the path it was read from is not content"
    assert weights_digest(copy.deepcopy(model).to(torch.bfloat16)) != weights_digest(model)
    torch.manual_seed(0)
    tied = random_causal_lm("gpt2", tie_word_embeddings=True)
    torch.manual_seed(0)
    untied = random_causal_lm("gpt2", tie_word_embeddings=False)
    with torch.no_grad():
        untied.lm_head.weight.copy_(tied.lm_head.weight)
    assert untied.state_dict().keys() == tied.state_dict().keys()
    assert weights_digest(untied) != weights_digest(tied), "tying shows even with equal values"
