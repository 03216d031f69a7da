"""Completions of causal language models for prompts: the text of sequence-level KD (the
teacher's) and of on-policy distillation (the student's).

Every prompt of a call has the same length (the data cuts prompts to ``prompt_tokens``), so
no prompt is padded. A completion is the generated tokens up to and including the first
end-of-text token, at most ``max_new_tokens`` of them. Sampling draws from a generator
seeded by the caller, inside :func:`torch.random.fork_rng`, so the global stream (dropout)
is the same whether or not a run generates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from distill_zoo.errors import ConfigError


@dataclass(frozen=True)
class GenerationSettings:
    """How completions are decoded (``data.generation`` in the config).

    Attributes:
        max_new_tokens: at most this many tokens per completion (``data.completion_tokens``).
        do_sample: sample (True) or decode greedily (False).
        temperature / top_p / top_k: the sampling distribution; ``top_k=0`` keeps every token.
        batch_size: prompts per ``generate`` call.
    """

    max_new_tokens: int = 48
    do_sample: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError(
                "data.completion_tokens and data.generation.batch_size must be at least 1, got "
                f"{self.max_new_tokens} and {self.batch_size}"
            )
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ConfigError(
                "data.generation needs temperature > 0, 0 < top_p <= 1 and top_k >= 0, got "
                f"{self.temperature}, {self.top_p}, {self.top_k}"
            )

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def cut_at_end(generated: list[int], end_of_text: int) -> list[int]:
    """The tokens up to and including the first ``end_of_text`` (padding after it dropped)."""
    return generated[: generated.index(end_of_text) + 1] if end_of_text in generated else generated


@torch.no_grad()
def complete(
    model: PreTrainedModel,
    prompts: Tensor,
    settings: GenerationSettings,
    end_of_text: int,
    seed: int,
) -> list[list[int]]:
    """One ``generate`` call: the completion of each row of ``prompts`` (B, P), cut at end of text.

    The model is put in eval mode for the call (no dropout while sampling) and back after."""
    was_training = model.training
    model.eval()
    options: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "do_sample": settings.do_sample,
        "pad_token_id": end_of_text,
        "eos_token_id": end_of_text,
    }
    if settings.do_sample:
        options.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
    devices = [prompts.device] if prompts.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            out = model.generate(  # type: ignore[operator]  # GenerationMixin
                input_ids=prompts, attention_mask=torch.ones_like(prompts), **options
            )
    finally:
        model.train(was_training)
    width = prompts.shape[1]
    return [cut_at_end(row[width:].tolist(), end_of_text) for row in out]


def complete_all(
    model: PreTrainedModel,
    prompts: list[list[int]],
    settings: GenerationSettings,
    end_of_text: int,
    seed: int,
    desc: str = "generate",
) -> list[list[int]]:
    """:func:`complete` over ``prompts`` in batches of ``settings.batch_size``; batch i samples
    with seed ``seed + i``, so a completion does not depend on the batches after it."""
    device = next(model.parameters()).device
    size = settings.batch_size
    out: list[list[int]] = []
    for i, start in enumerate(tqdm(range(0, len(prompts), size), desc=desc, unit="batch", leave=False)):
        chunk = torch.tensor(prompts[start : start + size], device=device)
        out += complete(model, chunk, settings, end_of_text, seed + i)
    return out
