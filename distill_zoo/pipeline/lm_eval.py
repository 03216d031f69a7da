"""Stage ``eval`` for causal language models: perplexity, agreement with the teacher, generation speed.

* **Perplexity** of teacher and student on the held-out corpus blocks (text training never
  saw) and on the extra eval text (SST-2's dev sentences by default): exp of the mean
  next-token negative log-likelihood over every predicted token (``loss_mask`` of the
  target, the first token of a sequence is never a target), in float64 sums.
* **Top-1 agreement**: the share of held-out predicted positions where the student's most
  likely next token is the teacher's.
* **Generation speed** on the CPU: greedy decoding of ``new_tokens`` tokens (end of text
  ignored, so every call makes the same number) from the first eval sentences, at batch 1
  and 8; new tokens per second, median over ``runs`` timed calls after ``warmup``.

Logits are compared over the tokenizer's ``vocab_columns`` (padded vocabularies trimmed).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from distill_zoo.data.lm_corpus import LMCorpusDataModule
from distill_zoo.pipeline.eval_stage import cpu_latency_ms, parameter_counts

#: Batch sizes of the generation-speed measurement.
GENERATION_BATCHES = (1, 8)
#: Prompt length (tokens) for latency and generation: the start of each eval sentence or held-out block.
PROMPT_TOKENS = 16


def _device(model: PreTrainedModel) -> torch.device:
    return next(model.parameters()).device


def _next_token_logits(model: PreTrainedModel, batch: dict[str, Tensor], vocab_columns: int) -> Tensor:
    """(B, L-1, V) logits of the tokens at positions 1..L-1, float32, vocabulary trimmed."""
    device = _device(model)
    out = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
    return out.logits[:, :-1, :vocab_columns].float()


@torch.inference_mode()
def perplexity(model: PreTrainedModel, loader: DataLoader, vocab_columns: int, desc: str) -> float:
    """exp(Σ NLL / #targets) over every target token of ``loader`` (see the module docstring)."""
    model.eval()
    total, count = 0.0, 0
    for batch in tqdm(loader, desc=desc, unit="batch", leave=False):
        logits = _next_token_logits(model, batch, vocab_columns)
        targets = batch["input_ids"][:, 1:].to(logits.device)
        weights = batch["loss_mask"][:, 1:].to(logits.device).double()
        nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").double()
        total += float((nll * weights).sum())
        count += int(weights.sum())
    if count == 0:
        raise ValueError("no target tokens to score perplexity on")
    return math.exp(total / count)


@torch.inference_mode()
def top1_agreement(teacher: PreTrainedModel, student: PreTrainedModel, loader: DataLoader, vocab_columns: int) -> float:
    """Share of target positions where the student's argmax next token equals the teacher's."""
    teacher.eval()
    student.eval()
    same, count = 0, 0
    for batch in tqdm(loader, desc="agreement", unit="batch", leave=False):
        t = _next_token_logits(teacher, batch, vocab_columns).argmax(-1)
        s = _next_token_logits(student, batch, vocab_columns).argmax(-1).to(t.device)
        weights = batch["loss_mask"][:, 1:].to(t.device).bool()
        same += int(((t == s) & weights).sum())
        count += int(weights.sum())
    return same / max(count, 1)


@torch.inference_mode()
def generation_tokens_per_s(
    model: PreTrainedModel, prompts: list[list[int]], batch_size: int, new_tokens: int, runs: int, warmup: int
) -> float:
    """New tokens per second of greedy decoding on the CPU, ``batch_size`` prompts per call."""
    model = model.to("cpu").eval()  # type: ignore[arg-type]  # transformers' wrapped .to
    rows = [prompts[i % len(prompts)] for i in range(batch_size)]
    width = max(len(r) for r in rows)
    pad = 0
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])  # left padding for decoding
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    options: dict[str, Any] = {
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,
        "do_sample": False,
        "pad_token_id": pad,
    }
    timings = []
    for i in tqdm(range(warmup + runs), desc=f"generate (batch {batch_size})", leave=False):
        start = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=mask, **options)  # type: ignore[operator]  # GenerationMixin
        if i >= warmup:
            timings.append(time.perf_counter() - start)
    return batch_size * new_tokens / statistics.median(timings)


def evaluate_lm_pair(
    teacher: PreTrainedModel,
    student: PreTrainedModel,
    datamodule: LMCorpusDataModule,
    vocab_columns: int,
    latency_runs: int,
    latency_warmup: int,
    new_tokens: int,
) -> dict[str, Any]:
    """Both models' perplexities, sizes, batch-1 forward latency and generation speed, and their
    top-1 agreement: ``{"teacher": {...}, "student": {...}, "agreement": float}``."""
    datamodule.setup("fit")
    heldout, extra = datamodule.heldout_dataloader(), datamodule.eval_text_dataloader()
    prompts = [ids[:PROMPT_TOKENS] for ids in datamodule.prompt_rows()]
    sides: dict[str, Any] = {}
    for role, model in (("teacher", teacher), ("student", student)):
        model.to(_accelerator())  # type: ignore[arg-type]  # transformers' wrapped .to
        metrics = {"ppl_heldout": perplexity(model, heldout, vocab_columns, f"{role} held-out perplexity")}
        if extra is not None:
            metrics["ppl_eval_text"] = perplexity(model, extra, vocab_columns, f"{role} eval-text perplexity")
        sides[role] = {"metrics": metrics, **parameter_counts(model)}
    agreement = top1_agreement(teacher, student, heldout, vocab_columns)
    for role, model in (("teacher", teacher), ("student", student)):
        examples: list[Mapping[str, Tensor]] = [
            {"input_ids": torch.tensor([p]), "attention_mask": torch.ones(1, len(p), dtype=torch.long)} for p in prompts
        ]
        latency = cpu_latency_ms(model, examples, latency_runs, latency_warmup)
        sides[role].update(latency_ms_median=latency["latency_ms_median"], latency_ms_p90=latency["latency_ms_p90"])
        runs = max(1, latency_runs // 10)
        sides[role]["generation_tokens_per_s"] = {
            f"batch{b}": generation_tokens_per_s(model, prompts, b, new_tokens, runs, min(1, latency_warmup))
            for b in GENERATION_BATCHES
        }
    return {**sides, "agreement": agreement}


def _accelerator() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
