"""The raw-text corpus: packing, truncation, caching, counts and masked batches."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.data.corpus import CorpusDataModule
from distill_zoo.errors import ConfigError, DataError
from distill_zoo.models import resolve_pretrained
from tests.conftest import TOKENIZER


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))


def make(tmp_path, shared_data, tokenizer, **kw):
    dm = CorpusDataModule(path=str(shared_data / "corpus" / "rt_snippets.txt"), max_lines=300,
                          cache_dir=str(tmp_path / "cache"), **kw)
    dm.set_tokenizer(tokenizer)
    dm.setup()
    return dm


def test_packed_blocks_are_full_and_wrapped(tmp_path, shared_data, tokenizer):
    dm = make(tmp_path, shared_data, tokenizer, max_length=32)
    blocks = dm.blocks["input_ids"]
    assert all(len(b) == 32 for b in blocks)
    assert all(b[0] == tokenizer.cls_token_id and b[-1] == tokenizer.sep_token_id for b in blocks)
    inner = [t for b in blocks for t in b[1:-1]]
    first_line = tokenizer(dm.lines()[0], add_special_tokens=False)["input_ids"]
    assert inner[: len(first_line)] == first_line
    assert int(dm.token_counts.sum()) == 32 * len(blocks)


def test_truncation_keeps_one_line_per_example(tmp_path, shared_data, tokenizer):
    dm = make(tmp_path, shared_data, tokenizer, max_length=16, pack=False)
    assert len(dm.blocks) == 300
    assert max(len(b) for b in dm.blocks["input_ids"]) <= 16


def test_tokenisation_is_cached(tmp_path, shared_data, tokenizer):
    make(tmp_path, shared_data, tokenizer, max_length=32)
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1
    again = make(tmp_path, shared_data, tokenizer, max_length=32)
    assert str(cached[0]) in again.blocks.cache_files[0]["filename"]
    make(tmp_path, shared_data, tokenizer, max_length=64)
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_masked_batches(tmp_path, shared_data, tokenizer):
    dm = make(tmp_path, shared_data, tokenizer, max_length=64, batch_size=16, masking={"mode": "frequency"})
    batch = next(iter(dm.train_dataloader()))
    chosen = batch["mlm_labels"] != -100
    assert chosen.any() and torch.equal(batch["mlm_labels"][chosen], batch["original_ids"][chosen])
    assert (batch["input_ids"][chosen] == tokenizer.mask_token_id).float().mean() > 0.6
    again = next(iter(dm.train_dataloader()))
    assert torch.equal(batch["mlm_labels"], again["mlm_labels"]), "reproducible from the seed"


def test_bad_corpus_settings(tmp_path, tokenizer):
    with pytest.raises(ConfigError, match="exactly one"):
        CorpusDataModule()
    dm = CorpusDataModule(path=str(tmp_path / "missing.txt"))
    with pytest.raises(DataError, match="missing corpus file"):
        dm.lines()
