"""Caches of what a teacher computes are keyed by its weights, not by the folder they sit in:
a teacher folder overwritten with other weights (a chain stage rerun) never reuses the old
teacher's outputs or completions, while the same weights elsewhere share them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.models import random_causal_lm, resolve_pretrained
from tests.conftest import TINY_RUN, TOKENIZER, run_job, tiny_bert


def _entries(cache: Path) -> int:
    return len(list((cache / "teacher_outputs").glob("*/meta.json")))


@pytest.mark.slow
def test_teacher_outputs_follow_the_weights_of_an_as_is_teacher_folder(tmp_path):
    folder = tmp_path / "teacher"
    tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))

    def run(name: str, source: Path, *extra: str) -> int:
        overrides = [
            *TINY_RUN,
            "teacher=previous",
            f"teacher.model.name_or_path={source}",
            "method=kd",
            "teacher_cache=logits",
            f"paths.output_dir={tmp_path / 'runs' / name}",
            *extra,
        ]
        run_job(overrides, tmp_path)
        return _entries(tmp_path / "cache")

    for seed in (0, 1):
        shutil.rmtree(folder, ignore_errors=True)
        tiny_bert(seed=seed).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        assert run(f"seed{seed}", folder) == seed + 1, "other weights at the same path make a new entry"
    elsewhere = tmp_path / "copy"
    tiny_bert(seed=1).save_pretrained(elsewhere)
    tokenizer.save_pretrained(elsewhere)
    assert run("copy", elsewhere) == 2, "the same weights in another folder share the entry"
    assert run("short", elsewhere, "data.max_length=16") == 3, "only the tokenisation changed: a new entry"


@pytest.mark.slow
def test_completions_follow_the_weights_of_an_as_is_causal_teacher(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"review {i}: the film {i % 7} was {'good' if i % 3 else 'slow'}" for i in range(80)))
    folder = tmp_path / "teacher"
    tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))
    for number in (0, 1):
        shutil.rmtree(folder, ignore_errors=True)
        torch.manual_seed(number)
        random_causal_lm("llama", num_layers=2, hidden_size=32, num_heads=2).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        overrides = [
            "teacher=hub_causal",
            f"teacher.model.name_or_path={folder}",
            "student=half",
            "method=clm",
            "data=lm_corpus",
            f"data.path={corpus}",
            "data.block_size=16",
            "data.source=teacher_generations",
            "data.prompt_tokens=4",
            "data.completion_tokens=4",
            "data.max_prompts=8",
            "trainer=debug",
            "trainer.limit_train_batches=1",
            "logger=csv",
            "stages=[distill]",
            f"paths.output_dir={tmp_path / 'runs' / str(number)}",
        ]
        run_job(overrides, tmp_path)
        made = list((tmp_path / "cache" / "lm_corpus").glob("*/generations/*/key.json"))
        assert len(made) == number + 1, "a teacher folder holding other weights completes the prompts anew"
