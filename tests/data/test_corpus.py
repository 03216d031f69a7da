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
    dm = CorpusDataModule(
        path=str(shared_data / "corpus" / "rt_snippets.txt"), max_lines=300, cache_dir=str(tmp_path / "cache"), **kw
    )
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


def same_lines(tmp_path, tokenizer, seed=0, num_workers=0):
    """A corpus of 48 identical lines: every batch holds the same ids, so only the masks can differ."""
    corpus = tmp_path / "same.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog while the cat sleeps in the sun\n" * 48)
    dm = CorpusDataModule(
        path=str(corpus),
        pack=False,
        max_length=32,
        batch_size=8,
        seed=seed,
        num_workers=num_workers,
        cache_dir=str(tmp_path / "cache"),
        masking={"mode": "uniform"},
    )
    dm.set_tokenizer(tokenizer)
    dm.setup()
    return dm


def epochs(dm, count=2):
    """The masked-position labels of every batch, per epoch, with Lightning's set_epoch between epochs."""
    loader = dm.train_dataloader()
    out = []
    for epoch in range(count):
        loader.sampler.set_epoch(epoch)
        out.append([batch["mlm_labels"] for batch in loader])
    return out


def test_masks_differ_between_epochs_and_workers_and_repeat_with_the_seed(tmp_path, tokenizer):
    first = epochs(same_lines(tmp_path, tokenizer, num_workers=2))
    assert len(first[0]) == 6
    assert not torch.equal(first[0][0], first[1][0]), "epoch 1 draws new masks"
    assert not torch.equal(first[0][0], first[0][1]), "worker 1 does not repeat worker 0's masks"
    assert not torch.equal(first[0][0], first[0][2]), "each worker's stream moves on between its batches"
    again = epochs(same_lines(tmp_path, tokenizer, num_workers=2))
    assert all(torch.equal(a, b) for e, f in zip(first, again) for a, b in zip(e, f)), "the seed reproduces them"
    other = epochs(same_lines(tmp_path, tokenizer, seed=1, num_workers=2))
    assert not torch.equal(first[0][0], other[0][0])
    serial = epochs(same_lines(tmp_path, tokenizer, num_workers=0))
    assert not torch.equal(serial[0][0], serial[1][0]) and not torch.equal(serial[0][0], serial[0][1])


def test_lightning_sets_the_epoch_before_workers_start(tmp_path, tokenizer):
    import lightning as L

    class Recorder(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.seen: list[tuple[int, torch.Tensor]] = []

        def training_step(self, batch, batch_idx):
            self.seen.append((self.current_epoch, batch["mlm_labels"]))
            return self.w.sum() * 0.0

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = same_lines(tmp_path, tokenizer, num_workers=2)
    recorder = Recorder()
    L.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(recorder, datamodule=dm)
    (e0, a), (_, b), (e1, c), _ = recorder.seen
    assert (e0, e1) == (0, 1)
    assert not torch.equal(a, b), "two workers, two streams"
    assert not torch.equal(a, c), "the second epoch masks anew"


def test_unreadable_or_empty_corpus_files(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"first line\nsecond caf\xe9 line\n")
    with pytest.raises(DataError, match=r"latin.txt, line 2: byte b'\\xe9' at offset 21 is not valid UTF-8"):
        CorpusDataModule(path=str(latin)).lines()
    blank = tmp_path / "blank.txt"
    for content in ("", "\n  \n\t\n"):
        blank.write_text(content)
        with pytest.raises(DataError, match=r"blank.txt has no text \(every line is blank\)"):
            CorpusDataModule(path=str(blank)).lines()
    with pytest.raises(ConfigError, match="max_lines must be at least 1"):
        CorpusDataModule(path=str(blank), max_lines=0)
