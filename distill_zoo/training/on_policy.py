"""On-policy batches (GKD, Agarwal et al. 2024, "On-Policy Distillation of Language Models:
Learning from Self-Generated Mistakes"): in a fraction λ of the training batches the student
completes the batch's prompts itself, and the objective then compares teacher and student on
the student's own tokens.

Which batches are on-policy, and the sampling of each, come from their own streams, seeded by
the run seed and the batch's position (optimiser step, batch index): every method of a seed
gets the same on-policy batches, a resumed run gets the ones it would have had, and the global
stream (dropout) is untouched. The student samples in eval mode, without gradients, at its
current parameters; GKD's loss takes no gradient through the sampling either.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from torch import Tensor
from transformers import PreTrainedModel

from distill_zoo.data.lm_prompts import PromptCollate
from distill_zoo.models.generation import GenerationSettings, complete

#: Offsets that keep the two streams apart from each other and from the others seeded by the run seed.
CHOICE_STREAM, SAMPLING_STREAM = 7001, 7002


class OnPolicyBatches:
    """Replace the completions of a fraction λ of the batches by the student's samples.

    Args:
        fraction: λ, the probability that a batch is on-policy (0: never, 1: always).
        settings: how the student decodes (``data.generation``; ``max_new_tokens`` is
            ``data.completion_tokens``).
        seed: the run seed.
        end_of_text: ends a completion; also pads the new batch.
    """

    def __init__(self, fraction: float, settings: GenerationSettings, seed: int, end_of_text: int) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"the on-policy fraction must lie in [0, 1], got {fraction}")
        self.fraction, self.settings, self.seed, self.end_of_text = fraction, settings, seed, end_of_text
        self.collate = PromptCollate(end_of_text)

    def is_on_policy(self, step: int, batch_idx: int) -> bool:
        """Whether the batch at (optimiser step, batch index) is the student's own."""
        draw = np.random.default_rng([self.seed, CHOICE_STREAM, step, batch_idx]).random()
        return bool(draw < self.fraction)

    def __call__(
        self, student: PreTrainedModel, batch: Mapping[str, Tensor], step: int, batch_idx: int
    ) -> tuple[Mapping[str, Tensor], bool]:
        """The batch to train on, and whether the student generated it."""
        if not self.is_on_policy(step, batch_idx):
            return batch, False
        lengths = batch["prompt_length"]
        width = int(lengths[0])
        if not bool((lengths == width).all()):
            raise ValueError("on-policy batches need prompts of one length (data.prompt_tokens)")
        prompts = batch["input_ids"][:, :width]
        sampling_seed = int(np.random.default_rng([self.seed, SAMPLING_STREAM, step, batch_idx]).integers(2**31))
        completions = complete(student, prompts, self.settings, self.end_of_text, sampling_seed)
        rows = [
            {"input_ids": prompt + completion, "prompt_length": width}
            for prompt, completion in zip(prompts.tolist(), completions)
        ]
        device = batch["input_ids"].device
        return {k: v.to(device) for k, v in self.collate(rows).items()}, True
