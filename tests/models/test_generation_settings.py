"""The sampling settings reach ``generate``: a near-zero temperature samples the argmax
continuation, whatever the model's own generation defaults (GPT-2's top_k=50 ...)."""

from __future__ import annotations

import torch

from distill_zoo.models import random_causal_lm
from distill_zoo.models.generation import GenerationSettings, complete


def test_a_near_zero_temperature_samples_the_greedy_continuation():
    torch.manual_seed(0)
    model = random_causal_lm("gpt2", vocab_size=64).eval()
    with torch.no_grad():
        model.transformer.ln_f.weight.mul_(30.0)  # confident: the top token leads by a clear margin
    prompts = torch.tensor([[5, 6, 7, 8], [20, 21, 22, 23]])
    expected = []
    for row in prompts.tolist():  # argmax decoding, one token at a time
        ids = list(row)
        for _ in range(4):
            with torch.no_grad():
                ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1, :63].argmax()))
        expected.append(ids[len(row) :])
    cold = GenerationSettings(max_new_tokens=4, do_sample=True, temperature=1e-3, top_k=0)
    hot = GenerationSettings(max_new_tokens=4, do_sample=True, temperature=50.0, top_k=0)
    assert complete(model, prompts, cold, end_of_text=63, seed=1) == expected
    assert [complete(model, prompts, hot, end_of_text=63, seed=s) for s in range(3)] != [expected] * 3
