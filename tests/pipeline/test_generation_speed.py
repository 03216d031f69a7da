"""Decoding speed on a clock where every transformer block takes 1 ms: ``new_tokens`` tokens
per row whatever the model predicts (end of text ignored), so tokens/s is exact."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.models import random_causal_lm
from distill_zoo.pipeline.lm_eval import generation_tokens_per_s
from tests.helpers.clocks import layer_clock


@pytest.mark.parametrize("batch_size", [1, 3])
def test_tokens_per_second_count_every_row_and_every_requested_token(monkeypatch, batch_size):
    torch.manual_seed(0)
    model = random_causal_lm("gpt2", vocab_size=64, num_layers=2).eval()
    prompts = [[5, 6, 7, 8], [9, 10, 11, 8], [13, 14, 15, 8]]
    # Make the token greedy decoding picks first after each prompt the end of text: a decoder
    # that stopped there would time one step, not ``new_tokens``.
    first = model.generate(input_ids=torch.tensor(prompts), max_new_tokens=1, do_sample=False, pad_token_id=0)
    end_of_text = int(first[0, -1])
    assert (first[:, -1] == end_of_text).all(), "every row would stop at once"
    model.generation_config.eos_token_id = end_of_text
    new_tokens, layers = 5, 2
    with layer_clock(monkeypatch):
        speed = generation_tokens_per_s(model, prompts, batch_size, new_tokens, runs=3, warmup=1)
    # One forward of the whole batch per new token, each through 2 blocks of 1 ms.
    assert speed == pytest.approx(batch_size * new_tokens / (new_tokens * layers / 1000.0))
