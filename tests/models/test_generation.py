"""Completions for prompts: cut at end of text, reproducible from their seed, and leaving the
global random stream and the model's mode as they were."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.models.generation import GenerationSettings, complete, complete_all, cut_at_end
from tests.models.test_causal_lm import tiny_lm

END = 3


def test_a_completion_ends_at_the_first_end_of_text():
    assert cut_at_end([5, 6, END, END, END], END) == [5, 6, END]
    assert cut_at_end([5, 6, 7], END) == [5, 6, 7]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_sampling_is_reproducible_from_its_seed_and_touches_no_other_stream(family):
    model = tiny_lm(family, vocab_size=50).train()
    prompts = torch.randint(4, 50, (4, 5), generator=torch.Generator().manual_seed(0))
    settings = GenerationSettings(max_new_tokens=6, batch_size=2)
    torch.manual_seed(123)
    a = complete(model, prompts, settings, END, seed=1)
    after_generation = torch.rand(3)
    torch.manual_seed(123)
    expected_stream = torch.rand(3)
    assert torch.equal(after_generation, expected_stream), "the global stream (dropout) is untouched"
    assert model.training, "the model is back in training mode"
    assert a == complete(model, prompts, settings, END, seed=1)
    assert a != complete(model, prompts, settings, END, seed=2)
    assert all(1 <= len(c) <= 6 and END not in c[:-1] for c in a)
    batched = complete_all(model, prompts.tolist(), settings, END, seed=1)
    assert batched[:2] == complete(model, prompts[:2], settings, END, seed=1), "batch i samples with seed + i"
    assert batched[2:] == complete(model, prompts[2:], settings, END, seed=2), "batch i samples with seed + i"
    twice = complete_all(model, [prompts[0].tolist()] * 4, settings, END, seed=1)
    assert twice[:2] != twice[2:], "two batches of one prompt draw other samples"
    model.eval()
    complete(model, prompts, settings, END, seed=1)
    assert not model.training, "a model in eval mode stays in eval mode"


def test_greedy_completion_is_the_argmax_continuation():
    model = tiny_lm("llama", vocab_size=50)
    prompts = torch.randint(4, 50, (1, 5), generator=torch.Generator().manual_seed(1))
    out = complete(model, prompts, GenerationSettings(max_new_tokens=1, do_sample=False), END, seed=0)
    with torch.no_grad():
        expected = model(input_ids=prompts).logits[0, -1].argmax().item()
    assert out == [[expected]]


def test_bad_generation_settings_are_refused():
    with pytest.raises(ConfigError, match="temperature > 0"):
        GenerationSettings(temperature=0.0)
    with pytest.raises(ConfigError, match="data.completion_tokens"):
        GenerationSettings(max_new_tokens=0)
