"""TinyBERT data augmentation with a tiny masked-LM and a small GloVe file."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.data import GlueDataModule
from distill_zoo.data.augment import STOP_WORDS, Augmenter, cached_augment, load_glove, split_words
from distill_zoo.models import random_masked_lm, resolve_pretrained
from tests.conftest import TOKENIZER


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))


@pytest.fixture(scope="module")
def mlm():
    torch.manual_seed(0)
    return random_masked_lm(TOKENIZER, num_layers=1, hidden_size=32, num_heads=2, intermediate_size=64)


def test_words_are_split_from_punctuation_like_the_basic_tokenizer(tokenizer):
    from transformers import BertTokenizerLegacy

    text = "A fine movie. Don't miss it!"
    assert split_words(text, tokenizer) == ["A", "fine", "movie", ".", "Don", "'", "t", "miss", "it", "!"]
    slow = BertTokenizerLegacy.from_pretrained(resolve_pretrained(TOKENIZER))
    assert split_words(text, slow) == ["a", "fine", "movie", ".", "don", "'", "t", "miss", "it", "!"]
    assert slow.basic_tokenizer.tokenize(text) == split_words(text, slow), "the slow tokenizer's own split"


def test_stop_words_and_punctuation_are_kept_content_words_get_candidates(mlm, tokenizer):
    words = split_words("the film was unforgettably good, not a movie.", tokenizer)
    assert words == ["the", "film", "was", "unforgettably", "good", ",", "not", "a", "movie", "."]
    assert len(tokenizer.tokenize("unforgettably")) > 1
    options = Augmenter(mlm, tokenizer, top_k=5).candidates(words)
    assert [i for i, c in enumerate(options) if c] == [1, 4, 8], "film, good and movie (split off its '.')"
    assert all(len(options[i]) == 5 for i in (1, 4, 8))
    assert all(c.isalpha() and len(tokenizer.tokenize(c)) == 1 for c in options[1])
    assert "film" not in options[1]
    assert {"the", "was", "not", "a"} <= STOP_WORDS
    custom = Augmenter(mlm, tokenizer, top_k=5, stop_words=["FILM"]).candidates(words)
    assert custom[1] == [] and custom[0] and custom[6], "a custom list replaces the default one"


def test_copies_are_distinct_and_differ_from_the_original(mlm, tokenizer):
    examples = [{"sentence": "a fine and moving film.", "label": 1}, {"sentence": "dull and slow", "label": 0}]
    out = Augmenter(mlm, tokenizer, copies=6, p=0.5, top_k=2).augment(examples, ("sentence",))
    assert out[:2] == examples
    first = [e["sentence"] for e in out[2:] if e["label"] == 1]
    assert 1 <= len(first) <= 6 and len(set(first)) == len(first), "duplicate draws are dropped"
    assert "a fine and moving film ." not in first, "a draw that changes nothing is dropped"
    for text in first:
        words = text.split()
        assert len(words) == 6 and words[0] == "a" and words[2] == "and" and words[5] == "."
    assert len(out) == 2 + len(first) + sum(e["label"] == 0 for e in out[2:])
    one = Augmenter(mlm, tokenizer, copies=5, p=1.0, top_k=1).augment(examples[:1], ("sentence",))
    assert len(one) == 2, "with one candidate per word and p = 1 every draw is the same copy"
    assert Augmenter(mlm, tokenizer, copies=5, p=0.0).augment(examples, ("sentence",)) == examples


def test_replacement_rate_is_p(mlm, tokenizer):
    aug = Augmenter(mlm, tokenizer, p=0.4)
    words, options = ["a", "b", "c", "d", "e"], [["x"], ["y"], [], ["z"], ["w"]]
    rng = random.Random(0)
    draws = [aug.replace_words(words, options, rng) for _ in range(2000)]
    assert all(d[2] == "c" for d in draws), "a word without candidates is kept"
    changed = sum(d[i] != words[i] for d in draws for i in (0, 1, 3, 4)) / (2000 * 4)
    assert changed == pytest.approx(0.4, abs=0.02)


def test_sentence_pairs_change_one_text_per_copy(mlm, tokenizer):
    example = {
        "sentence1": "the plot is clever and fresh",
        "sentence2": "critics praised the clever script",
        "label": 1,
    }
    out = Augmenter(mlm, tokenizer, copies=4, p=0.6, top_k=3).augment([example], ("sentence1", "sentence2"))
    assert out[0] == example
    copies = out[1:]
    first_only = [e for e in copies if e["sentence2"] == example["sentence2"]]
    second_only = [e for e in copies if e["sentence1"] == example["sentence1"]]
    assert first_only and second_only
    assert len(first_only) + len(second_only) == len(copies), "no copy changes both texts"
    assert copies == first_only + second_only, "first the first text's versions, then the second's"
    assert all(e["label"] == 1 for e in copies)


def test_glove_neighbours_for_multi_piece_words(mlm, tokenizer, tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("unforgettably 1.0 0.0\nmemorably 0.9 0.1\nbanana 0.0 1.0\n")
    aug = Augmenter(mlm, tokenizer, top_k=1, glove=load_glove(glove))
    assert aug.candidates(["unforgettably", "."]) == [["memorably"], []]


def test_augmented_sets_are_cached_under_every_setting(mlm, tokenizer, tmp_path, monkeypatch):
    examples = [{"sentence": "a fine film", "label": 1}]
    aug = Augmenter(mlm, tokenizer, copies=2)
    first = cached_augment(aug, examples, ("sentence",), tmp_path, "k")
    variants = [
        Augmenter(mlm, tokenizer, copies=2, stop_words=["film"]),
        Augmenter(mlm, tokenizer, copies=2, p=0.5),
        Augmenter(mlm, tokenizer, copies=3),
        Augmenter(mlm, tokenizer, copies=2, seed=1),
        Augmenter(mlm, tokenizer, copies=2, glove={"fine": torch.ones(2)}),
    ]
    for variant in variants:
        cached_augment(variant, examples, ("sentence",), tmp_path, "k")
    assert len(list(tmp_path.glob("*.json"))) == 1 + len(variants), "each setting has its own cache entry"
    monkeypatch.setattr(Augmenter, "augment", lambda *a, **k: pytest.fail("recomputed"))
    assert cached_augment(Augmenter(mlm, tokenizer, copies=2), examples, ("sentence",), tmp_path, "k") == first


def test_datamodule_distils_on_augmented_data_but_fine_tunes_the_teacher_on_the_original(
    mlm, tokenizer, tmp_path, shared_data
):
    folder = tmp_path / "mlm"
    mlm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    dm = GlueDataModule(
        "sst2",
        root=str(shared_data),
        max_train_samples=6,
        max_eval_samples=4,
        augment={"mlm": str(folder), "copies": 2, "p": 0.4, "top_k": 5},
        cache_dir=str(tmp_path),
    )
    dm.set_tokenizer(tokenizer)
    dm.setup("fit")
    assert 6 < len(dm.train_dataloader().dataset) <= 6 * 3
    dm.extra_train = False
    assert len(dm.train_dataloader().dataset) == 6
    assert any((tmp_path / "augmented").glob("*.json"))
