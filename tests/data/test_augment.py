"""TinyBERT data augmentation with a tiny masked-LM and a small GloVe file."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.data import GlueDataModule
from distill_zoo.data.augment import Augmenter, cached_augment, load_glove
from distill_zoo.models import random_masked_lm, resolve_pretrained
from tests.conftest import TOKENIZER


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))


@pytest.fixture(scope="module")
def mlm():
    torch.manual_seed(0)
    return random_masked_lm(TOKENIZER, num_layers=1, hidden_size=32, num_heads=2, intermediate_size=64)


def test_single_piece_words_get_mlm_candidates_multi_piece_words_are_kept(mlm, tokenizer):
    words = "the film was unforgettably good".split()
    assert len(tokenizer.tokenize("unforgettably")) > 1
    options = Augmenter(mlm, tokenizer, top_k=5).candidates(words)
    assert all(len(options[i]) == 5 for i in (0, 1, 2, 4))
    assert options[3] == []
    assert all(c.isalpha() and len(tokenizer.tokenize(c)) == 1 for c in options[1])
    assert "film" not in options[1]


def test_copies_probability_and_labels(mlm, tokenizer):
    examples = [{"sentence": "a fine and moving film", "label": 1}, {"sentence": "dull and slow", "label": 0}]
    out = Augmenter(mlm, tokenizer, copies=3, p=1.0, top_k=4).augment(examples, ("sentence",))
    assert len(out) == 2 + 2 * 3 and out[:2] == examples
    assert [e["label"] for e in out[2:]] == [1, 1, 1, 0, 0, 0]
    assert all(len(e["sentence"].split()) == len(examples[0]["sentence"].split()) for e in out[2:5])
    assert all(e["sentence"] != examples[0]["sentence"] for e in out[2:5]), "p=1 replaces every word"
    unchanged = Augmenter(mlm, tokenizer, copies=2, p=0.0).augment(examples, ("sentence",))
    assert [e["sentence"] for e in unchanged[2:4]] == [examples[0]["sentence"]] * 2
    rate = Augmenter(mlm, tokenizer, copies=200, p=0.4, top_k=4).augment_text("a b c d e", random.Random(0))
    changed = sum(w != o for s in rate for w, o in zip(s.split(), "a b c d e".split())) / (200 * 5)
    assert changed == pytest.approx(0.4, abs=0.05)


def test_glove_neighbours_for_multi_piece_words(mlm, tokenizer, tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("unforgettably 1.0 0.0\nmemorably 0.9 0.1\nbanana 0.0 1.0\n")
    aug = Augmenter(mlm, tokenizer, top_k=1, glove=load_glove(glove))
    assert aug.candidates(["unforgettably"]) == [["memorably"]]


def test_augmented_sets_are_cached(mlm, tokenizer, tmp_path, monkeypatch):
    examples = [{"sentence": "a fine film", "label": 1}]
    aug = Augmenter(mlm, tokenizer, copies=2)
    first = cached_augment(aug, examples, ("sentence",), tmp_path, "k")
    monkeypatch.setattr(Augmenter, "augment", lambda *a, **k: pytest.fail("recomputed"))
    assert cached_augment(aug, examples, ("sentence",), tmp_path, "k") == first


def test_datamodule_distils_on_augmented_data_but_fine_tunes_the_teacher_on_the_original(
    mlm, tokenizer, tmp_path, shared_data
):
    folder = tmp_path / "mlm"
    mlm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    dm = GlueDataModule("sst2", root=str(shared_data), max_train_samples=6, max_eval_samples=4,
                        augment={"mlm": str(folder), "copies": 2, "p": 0.4, "top_k": 5}, cache_dir=str(tmp_path))
    dm.set_tokenizer(tokenizer)
    dm.setup("fit")
    assert len(dm.train_dataloader().dataset) == 6 * 3
    dm.augmented_train = False
    assert len(dm.train_dataloader().dataset) == 6
    assert any((tmp_path / "augmented").glob("*.json"))
