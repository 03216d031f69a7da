"""Stage ``eval`` for causal language models: perplexity, agreement with the teacher, generation speed.

* **Perplexity** of teacher and student on the held-out corpus blocks (text training never
  saw) and on the extra eval text (SST-2's dev sentences by default): exp of the mean
  next-token negative log-likelihood over every predicted token (``loss_mask`` of the
  target, the first token of a sequence is never a target), in float64 sums.
* **Top-1 agreement**: the share of held-out predicted positions where the student's most
  likely next token is the teacher's. Both models score each held-out batch in one pass.
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
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from distill_zoo.data.lm_corpus import LMCorpusDataModule
from distill_zoo.pipeline.eval_stage import parameter_counts
from distill_zoo.pipeline.latency import paired_cpu_latency

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


def _scored(model: PreTrainedModel, batch: dict[str, Tensor], vocab_columns: int) -> tuple[Tensor, Tensor, Tensor]:
    """(B, L-1) next-token NLLs (float64), argmax tokens and target weights of one batch."""
    logits = _next_token_logits(model, batch, vocab_columns)
    targets = batch["input_ids"][:, 1:].to(logits.device)
    weights = batch["loss_mask"][:, 1:].to(logits.device).double()
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").double()
    return nll * weights, logits.argmax(-1), weights


@torch.inference_mode()
def sequence_nll(
    models: Mapping[str, PreTrainedModel], loader: DataLoader, vocab_columns: int, desc: str
) -> tuple[dict[str, list[float]], list[int], float | None]:
    """One pass over ``loader`` scoring every model on the same batch.

    Returns:
        per model, per sequence (in loader order) the sum of its next-token NLLs over the
        target tokens; the number of target tokens of each sequence; and, with exactly two
        models, the share of target positions where their argmax next tokens agree (else None).
    """
    for model in models.values():
        model.eval()
    sums: dict[str, list[float]] = {name: [] for name in models}
    counts: list[int] = []
    same = 0
    for batch in tqdm(loader, desc=desc, unit="batch", leave=False):
        argmax = []
        for name, model in models.items():
            nll, top, weights = _scored(model, batch, vocab_columns)
            sums[name] += nll.sum(1).tolist()
            argmax.append(top.to(weights.device))
        counts += weights.sum(1).long().tolist()
        if len(argmax) == 2:
            same += int(((argmax[0] == argmax[1]) & weights.bool()).sum())
    agreement = same / max(sum(counts), 1) if len(models) == 2 else None
    return sums, counts, agreement


def perplexity_of(sums: list[float], counts: list[int]) -> float:
    """exp(Σ NLL / #targets): the perplexity of sequences scored by :func:`sequence_nll`."""
    if sum(counts) == 0:
        raise ValueError("no target tokens to score perplexity on")
    return math.exp(math.fsum(sums) / sum(counts))


def perplexity(model: PreTrainedModel, loader: DataLoader, vocab_columns: int, desc: str) -> float:
    """exp(Σ NLL / #targets) over every target token of ``loader`` (see the module docstring)."""
    sums, counts, _ = sequence_nll({"model": model}, loader, vocab_columns, desc)
    return perplexity_of(sums["model"], counts)


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
    latency_threads: int = 1,
) -> dict[str, Any]:
    """Both models' perplexities, sizes, batch-1 forward latency and generation speed, their
    top-1 agreement, and per held-out block target-token counts and NLL sums:
    ``{"teacher": {...}, "student": {...}, "agreement": float, "predictions": {...}}``."""
    datamodule.setup("fit")
    heldout, extra = datamodule.heldout_dataloader(), datamodule.eval_text_dataloader()
    prompts = [ids[:PROMPT_TOKENS] for ids in datamodule.prompt_rows()]
    models = {"teacher": teacher, "student": student}
    for model in models.values():
        model.to(_accelerator())  # type: ignore[arg-type]  # transformers' wrapped .to
    per_block, counts, agreement = sequence_nll(models, heldout, vocab_columns, "held-out perplexity and agreement")
    extra_sums, extra_counts, _ = (
        sequence_nll(models, extra, vocab_columns, "eval-text perplexity") if extra is not None else ({}, [], None)
    )
    sides: dict[str, Any] = {}
    for role, model in models.items():
        metrics = {"ppl_heldout": perplexity_of(per_block[role], counts)}
        if extra is not None:
            metrics["ppl_eval_text"] = perplexity_of(extra_sums[role], extra_counts)
        sides[role] = {"metrics": metrics, **parameter_counts(model)}
    examples: list[Mapping[str, Tensor]] = [
        {"input_ids": torch.tensor([p]), "attention_mask": torch.ones(1, len(p), dtype=torch.long)} for p in prompts
    ]
    latency = paired_cpu_latency(models, examples, latency_runs, latency_warmup, latency_threads)
    for role, model in (("teacher", teacher), ("student", student)):
        sides[role].update(latency[role])
        runs = max(1, latency_runs // 10)
        sides[role]["generation_tokens_per_s"] = {
            f"batch{b}": generation_tokens_per_s(model, prompts, b, new_tokens, runs, min(1, latency_warmup))
            for b in GENERATION_BATCHES
        }
    # The report's paired bootstrap resamples held-out blocks: their token counts are its
    # "labels", each model's per-block NLL sums its "predictions" (see report.metrics).
    predictions = {"split": "heldout", "task": "ppl_heldout", "labels": counts, **per_block}
    return {**sides, "agreement": cast(float, agreement), "predictions": predictions}


def _accelerator() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
