"""GKD's on-policy batches: a seeded fraction of the batches, completed by the student from the
batch's own prompts, with only the student's tokens as targets."""

from __future__ import annotations

import torch

from distill_zoo.data.lm_prompts import PromptCollate
from distill_zoo.models.generation import GenerationSettings
from distill_zoo.training.on_policy import OnPolicyBatches
from tests.models.test_causal_lm import tiny_lm

END = 3


def prompt_batch() -> dict[str, torch.Tensor]:
    rows = [{"input_ids": [10 + i, 11, 12, 13, 14, 15, END], "prompt_length": 4} for i in range(3)]
    return PromptCollate(END)(rows)


def sampler(fraction: float, seed: int = 1) -> OnPolicyBatches:
    return OnPolicyBatches(fraction, GenerationSettings(max_new_tokens=5), seed, END)


def test_the_share_of_on_policy_batches_follows_the_fraction_and_the_seed_alone():
    steps = [(step, idx) for step in range(200) for idx in range(2)]
    assert not any(sampler(0.0).is_on_policy(*s) for s in steps)
    assert all(sampler(1.0).is_on_policy(*s) for s in steps)
    picks = [sampler(0.3).is_on_policy(*s) for s in steps]
    assert 0.22 < sum(picks) / len(picks) < 0.38
    assert picks == [sampler(0.3).is_on_policy(*s) for s in steps], "the same batches for every method of a seed"
    assert picks != [sampler(0.3, seed=2).is_on_policy(*s) for s in steps]


def test_an_on_policy_batch_keeps_the_prompts_and_targets_only_the_students_tokens():
    model = tiny_lm("gpt2", vocab_size=40).train()
    batch = prompt_batch()
    new, generated = sampler(1.0)(model, batch, step=0, batch_idx=0)
    assert generated and model.training
    assert torch.equal(new["input_ids"][:, :4], batch["input_ids"][:, :4])
    assert new["loss_mask"][:, :4].sum() == 0
    assert torch.equal(new["loss_mask"][:, 4:], new["attention_mask"][:, 4:])
    again, _ = sampler(1.0)(model, batch, step=0, batch_idx=0)
    assert torch.equal(again["input_ids"], new["input_ids"]), "the sampling stream is the batch's position"
    kept, generated = sampler(0.0)(model, batch, step=0, batch_idx=0)
    assert not generated and kept is batch
