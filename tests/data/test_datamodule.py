"""The datamodule: demo set, fixed subsets, tokenised padded batches."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.data import GlueDataModule
from distill_zoo.data.demo import HELD_OUT_FROM, NEGATIVE, POSITIVE, demo_examples, write_demo_dataset
from distill_zoo.errors import ConfigError
from distill_zoo.models import resolve_pretrained
from tests.conftest import TOKENIZER


def test_demo_set_is_deterministic_balanced_and_distinct(tmp_path):
    a, b = demo_examples(300, seed=0), demo_examples(300, seed=0)
    assert a == b
    assert Counter(y for _, y in a) == {0: 150, 1: 150}
    assert len({t for t, _ in a}) == 300
    write_demo_dataset(tmp_path)
    train = (tmp_path / "glue/demo/train.tsv").read_text().splitlines()
    dev = (tmp_path / "glue/demo/dev.tsv").read_text().splitlines()
    assert train[0] == "sentence\tlabel" and len(train) == 601 and len(dev) == 201
    assert not {r.split("\t")[0] for r in train[1:]} & {r.split("\t")[0] for r in dev[1:]}
    held_out = POSITIVE[HELD_OUT_FROM:] + NEGATIVE[HELD_OUT_FROM:]
    assert not any(phrase in row for row in train for phrase in held_out)
    assert any(phrase in row for row in dev for phrase in held_out)


def test_changed_data_changes_the_digest(tmp_path, shared_data):
    a = GlueDataModule("sst2", root=str(shared_data), max_train_samples=20)
    b = GlueDataModule("sst2", root=str(shared_data), max_train_samples=20, subset_seed=1)
    assert a.train_digest() != b.train_digest()
    assert a.train_digest() == GlueDataModule("sst2", root=str(shared_data), max_train_samples=20).train_digest()


def test_subset_is_the_same_for_every_run(shared_data):
    a = GlueDataModule("sst2", root=str(shared_data), max_train_samples=50, max_eval_samples=20)
    b = GlueDataModule("sst2", root=str(shared_data), max_train_samples=50, max_eval_samples=20)
    assert a.load_examples() == b.load_examples()
    assert len(a.examples["train"]) == 50 and len(a.examples["dev"]) == 20


def test_batches_are_padded_and_labelled(shared_data):
    dm = GlueDataModule(
        "stsb", root=str(shared_data), max_train_samples=16, max_eval_samples=8, batch_size=4, max_length=24
    )
    dm.set_tokenizer(AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER)))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape[0] == 4 and batch["input_ids"].shape[1] <= 24
    assert batch["labels"].dtype == torch.float32
    assert (batch["token_type_ids"] == 1).any(), "sentence pairs get segment ids"
    assert batch["attention_mask"].sum(1).min() >= 2


def test_bad_source_settings():
    with pytest.raises(ConfigError, match="data.root"):
        GlueDataModule("sst2", root=None, source="local")
    with pytest.raises(ConfigError, match="auto, local or hub"):
        GlueDataModule("sst2", source="web")


def test_hub_rows_are_renamed_to_the_task_fields(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name):
        calls.append((path, name))
        rows = {"question": ["why?", "how?"], "sentence": ["because.", "so."], "label": [0, 1], "idx": [0, 1]}
        return datasets.DatasetDict(
            {"train": datasets.Dataset.from_dict(rows), "validation": datasets.Dataset.from_dict(rows)}
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    dm = GlueDataModule("qnli")
    assert dm.source == "hub"
    examples = dm.load_examples()
    assert calls == [("nyu-mll/glue", "qnli")]
    assert examples["train"][0] == {"sentence1": "why?", "sentence2": "because.", "label": 0}


def test_unreachable_hub_says_how_to_use_a_local_folder(monkeypatch):
    import datasets

    from distill_zoo.errors import DataError

    def offline(path, name):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="point data.root at a local GLUE folder"):
        GlueDataModule("sst2").load_examples()


def _train_order(dm: GlueDataModule, epochs: int = 1) -> list[list[int]]:
    """Indices (in file order) of the training examples as train_dataloader serves them, per epoch
    (``set_epoch`` called before each, as Lightning does)."""
    index = {tuple(row): i for i, row in enumerate(dm.datasets["train"]["input_ids"])}
    assert len(index) == len(dm.datasets["train"]), "the order test needs distinct examples"
    loader = dm.train_dataloader()
    orders = []
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        order = []
        for batch in loader:
            for ids, mask in zip(batch["input_ids"], batch["attention_mask"]):
                order.append(index[tuple(ids[mask.bool()].tolist())])
        orders.append(order)
    return orders


@pytest.fixture(scope="module")
def demo_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))


def _demo_module(root, tokenizer, seed: int) -> GlueDataModule:
    dm = GlueDataModule("demo", root=str(root), max_train_samples=40, batch_size=8, seed=seed)
    dm.set_tokenizer(tokenizer)
    dm.setup("fit")
    return dm


def test_training_order_is_a_seeded_shuffle(tmp_path, demo_tokenizer):
    dm = _demo_module(tmp_path, demo_tokenizer, seed=0)
    n = len(dm.datasets["train"])
    first, second = _train_order(dm, epochs=2)
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n)), "every example once per epoch"
    assert first != list(range(n)), "the training loader must shuffle"
    assert second != first, "a new order every epoch"
    torch.manual_seed(1234)  # the global RNG must not move the order of a seed
    assert _train_order(_demo_module(tmp_path, demo_tokenizer, seed=0), epochs=2) == [first, second]
    other = _train_order(_demo_module(tmp_path, demo_tokenizer, seed=1))[0]
    assert sorted(other) == list(range(n)) and other != first
    dm.train_seed = 1  # the teacher stage sets its own seed on the attribute
    assert _train_order(dm)[0] == other


def test_dev_is_served_once_longest_first_with_each_examples_file_position(tmp_path, demo_tokenizer):
    dm = _demo_module(tmp_path, demo_tokenizer, seed=0)
    served, index = [], []
    for batch in dm.val_dataloader():
        served += [ids[mask.bool()].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]
        index += batch["example_index"].tolist()
    in_file = dm.datasets["dev"]["input_ids"]
    assert sorted(index) == list(range(len(in_file))) and [in_file[i] for i in index] == served
    assert [len(s) for s in served] == sorted((len(s) for s in in_file), reverse=True)
