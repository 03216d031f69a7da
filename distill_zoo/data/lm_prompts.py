"""Prompt/completion rows for causal-LM training (``data.source`` other than ``corpus``).

A training line becomes a prompt, its first ``prompt_tokens`` tokens, and a completion: the
rest of the line (with its end-of-text token), at most ``completion_tokens`` of it. Lines of
no more than ``prompt_tokens`` tokens make no row. Every prompt of a run has the same length,
so prompts are never padded and the student can complete a batch of them at once.

* ``teacher_generations`` (sequence-level KD, Kim & Rush 2016): the completion is the
  teacher's, generated once per prompt set, teacher and generation settings, and cached.
* ``on_policy`` (GKD, Agarwal et al. 2024): the line's own completion, which the training
  loop replaces by the student's samples in a fraction λ of the batches.

Only completion tokens are targets: ``loss_mask`` is 0 on the prompt and on padding.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, load_from_disk

from distill_zoo.data.corpus import pad_rows
from distill_zoo.errors import DataError
from distill_zoo.locks import MISSING, lock_unless_complete

#: What ``data.source`` can be.
SOURCES = ("corpus", "teacher_generations", "on_policy")

#: ``{"input_ids": list[int], "prompt_length": int}``: a prompt and its completion.
PromptRow = dict[str, Any]
#: Prompts in, completions out (one list of token ids per prompt, in order).
Completer = Callable[[list[list[int]]], list[list[int]]]


def prompt_rows(
    pieces: list[list[int]], end_of_text: int, prompt_tokens: int, completion_tokens: int, max_prompts: int | None
) -> list[PromptRow]:
    """Rows ``{"input_ids": prompt + completion, "prompt_length": prompt_tokens}`` of the lines
    (token ids without end of text) longer than ``prompt_tokens``, at most ``max_prompts`` of them."""
    rows: list[PromptRow] = []
    for ids in pieces:
        tokens = [*ids, end_of_text]
        if len(tokens) <= prompt_tokens + 1:  # the end-of-text token alone is no completion
            continue
        rows.append({"input_ids": tokens[: prompt_tokens + completion_tokens], "prompt_length": prompt_tokens})
        if max_prompts is not None and len(rows) == max_prompts:
            break
    if not rows:
        raise DataError(
            f"no training line is longer than data.prompt_tokens={prompt_tokens} tokens; lower it or give longer lines"
        )
    return rows


def with_completions(rows: list[PromptRow], completions: list[list[int]]) -> list[PromptRow]:
    """``rows`` with each prompt followed by its new completion instead of the line's own."""
    if len(completions) != len(rows):
        raise ValueError(f"{len(completions)} completions for {len(rows)} prompts")
    out: list[PromptRow] = []
    for row, completion in zip(rows, completions):
        length = int(row["prompt_length"])
        prompt = list(row["input_ids"])[:length]
        out.append({"input_ids": prompt + completion, "prompt_length": length})
    return out


class PromptCollate:
    """Right-padded batches of prompt/completion rows; ``loss_mask`` marks completion tokens only."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[PromptRow]) -> dict[str, torch.Tensor]:
        ids, mask = pad_rows(rows, self.pad_id)
        prompt = torch.tensor([int(r["prompt_length"]) for r in rows])
        positions = torch.arange(ids.shape[1])
        loss_mask = mask * (positions[None, :] >= prompt[:, None]).long()
        return {"input_ids": ids, "attention_mask": mask, "loss_mask": loss_mask, "prompt_length": prompt}


def cached_completions(folder: Path, rows: list[PromptRow], completer: Completer, key: dict[str, Any]) -> Dataset:
    """``rows`` completed by ``completer``, made once and kept in ``folder`` (a dataset on disk,
    with ``key.json`` saying what made it). The caller puts everything the completions depend
    on into ``folder``'s name; the folder appears whole or not at all."""
    folder.parent.mkdir(parents=True, exist_ok=True)

    def problem() -> str | None:
        return None if (folder / "key.json").is_file() else MISSING

    with lock_unless_complete(folder, problem) as found:  # DDP ranks and parallel jobs generate once
        if found is not None:
            tmp = folder.with_name(folder.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)  # left by a killed run
            print(f"[data] generating completions for {len(rows)} prompts once -> {folder}")
            prompts = [list(r["input_ids"])[: int(r["prompt_length"])] for r in rows]
            completed = with_completions(rows, completer(prompts))
            Dataset.from_list(completed).save_to_disk(str(tmp))
            (tmp / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True, default=str))
            tmp.replace(folder)
    return load_from_disk(str(folder))
