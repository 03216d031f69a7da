"""Transfer sets: the rows each source gives, the leakage filter, the draw, the mixed epoch and
the cycled one, and a clear error for every bad option."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.data import GlueDataModule, get_task
from distill_zoo.data.sampling import EpochShuffle, LengthGroupedShuffle
from distill_zoo.data.transfer import TransferOptions, build_transfer_set
from distill_zoo.data.tsv import read_glue_tsv
from distill_zoo.errors import ConfigError, DataError
from distill_zoo.labels import UNLABELLED_CLASS
from distill_zoo.models import resolve_pretrained
from tests.conftest import TOKENIZER

SST2 = get_task("sst2")
RTE = get_task("rte")


def _squashed(text: str) -> str:
    """An independent, cruder match key than the filter's: letters and digits only, lowercased,
    PTB's split clitics undone by dropping every space ("wo n't" and "won't" -> "wont")."""
    text = re.sub(r"-[lr][rsc]b-", "", text.lower())
    return re.sub(r"[^a-z0-9]", "", text)


@pytest.fixture(scope="module")
def sst2_dev(shared_data):
    return [str(r["sentence"]) for r in read_glue_tsv(shared_data / "glue" / "sst2" / "dev.tsv", SST2)]


def test_the_movie_review_corpus_leaks_no_sst2_dev_sentence(shared_data, sst2_dev):
    corpus = shared_data / "corpus" / "rt_snippets.txt"
    options = TransferOptions.parse({"source": "corpus", "path": str(corpus)}, SST2)
    rows, counts = build_transfer_set(options, SST2, [], sst2_dev)
    needles = [_squashed(s) for s in sst2_dev if len(_squashed(s)) >= 20]
    squashed = [(_squashed(str(r["sentence"])), r["sentence"]) for r in rows]
    leaked = [text for key, text in squashed if any(n in key for n in needles)]
    assert leaked == []
    # the corpus holds most dev sentences: the filter must have found them
    assert counts.eval_overlap > 0.7 * len(sst2_dev)
    assert counts.read == counts.eval_overlap + counts.kept and counts.kept == len(rows) > 5000
    assert counts.eval_texts == len(set(sst2_dev))
    assert all(r["label"] == UNLABELLED_CLASS for r in rows)


def test_train_rest_is_the_training_split_beyond_the_labelled_subset(shared_data):
    dm = GlueDataModule(
        "rte", root=str(shared_data), max_train_samples=200, subset_seed=3, transfer={"source": "train_rest"}
    )
    examples = dm.load_examples()
    everything = read_glue_tsv(shared_data / "glue" / "rte" / "train.tsv", RTE)
    key = lambda r: (r["sentence1"], r["sentence2"])  # noqa: E731
    labelled = Counter(key(r) for r in examples["train"])
    transfer = Counter(key(r) for r in examples["transfer"])
    counts = dm.transfer_counts
    assert counts is not None and counts.read == len(everything) - 200
    assert sum(transfer.values()) == counts.kept == counts.read - counts.eval_overlap
    # labels withheld, texts kept: labelled and transfer rows are disjoint draws of the
    # training rows (RTE's train split itself holds 2 repeated pairs, hence multisets)
    assert labelled + transfer <= Counter(key(r) for r in everything)
    assert all(r["label"] == UNLABELLED_CLASS for r in examples["transfer"])


def test_max_samples_draws_after_the_filter_the_same_rows_for_every_seed(shared_data):
    def draw(subset_seed: int, seed: int) -> list[str]:
        dm = GlueDataModule(
            "rte",
            root=str(shared_data),
            max_train_samples=100,
            seed=seed,
            transfer={"source": "train_rest", "max_samples": 500, "subset_seed": subset_seed},
        )
        return [str(r["sentence1"]) for r in dm.load_examples()["transfer"]]

    first = draw(0, seed=1)
    assert len(first) == 500 and first == draw(0, seed=2)
    assert first != draw(1, seed=1)


def test_eval_test_file_texts_are_held_out(tmp_path):
    dm = GlueDataModule("demo", root=str(tmp_path), max_train_samples=16, transfer={"source": "train_rest"})
    base = dm.load_examples()["transfer"]
    victim = str(base[0]["sentence"])
    test_file = tmp_path / "test.tsv"
    test_file.write_text(f"sentence\tlabel\n{victim.upper()}\t1\n")
    held = GlueDataModule("demo", root=str(tmp_path), max_train_samples=16, transfer={"source": "train_rest"})
    held.held_out_files = (str(test_file),)
    kept = [str(r["sentence"]) for r in held.load_examples()["transfer"]]
    assert victim not in kept and len(kept) < len(base)
    assert held.transfer_counts.eval_overlap > dm.transfer_counts.eval_overlap


def test_a_file_of_lines_pairs_or_tsv_columns(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("a fine film\n\n  a dull one  \n")
    rows, counts = build_transfer_set(TransferOptions.parse({"source": "file", "path": str(lines)}, SST2), SST2, [], [])
    assert [r["sentence"] for r in rows] == ["a fine film", "a dull one"] and counts.read == 2
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a man sleeps\ta person rests\n")
    rows, _ = build_transfer_set(TransferOptions.parse({"source": "file", "path": str(pairs)}, RTE), RTE, [], [])
    assert rows == [{"sentence1": "a man sleeps", "sentence2": "a person rests", "label": UNLABELLED_CLASS}]
    table = tmp_path / "table.tsv"
    table.write_text("id\thyp\tprem\n1\tit rains\tthe sky is grey\n")
    options = TransferOptions.parse({"source": "file", "path": str(table), "columns": ["prem", "hyp"]}, RTE)
    rows, _ = build_transfer_set(options, RTE, [], [])
    assert rows[0]["sentence1"] == "the sky is grey" and rows[0]["sentence2"] == "it rains"
    stsb = get_task("stsb")
    rows, _ = build_transfer_set(TransferOptions.parse({"source": "file", "path": str(pairs)}, stsb), stsb, [], [])
    assert rows[0]["label"] != rows[0]["label"]  # NaN: a regression row without a score


def test_a_pair_is_dropped_when_either_text_holds_an_eval_text(tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("clean one\tclean two\nclean three\tIt 's a Test sentence .\n")
    options = TransferOptions.parse({"source": "file", "path": str(pairs)}, RTE)
    rows, counts = build_transfer_set(options, RTE, [], ["it's a test sentence"])
    assert [r["sentence1"] for r in rows] == ["clean one"] and counts.eval_overlap == 1


@pytest.mark.parametrize(
    ("options", "task", "message"),
    [
        ({"source": "web"}, SST2, "must be one of"),
        ({"source": "file"}, SST2, "needs data.transfer.path"),
        ({"source": "train_rest", "path": "x.txt"}, SST2, "drop data.transfer.path"),
        ({"source": "corpus", "path": "x.txt"}, RTE, "sentence pairs"),
        ({"source": "file", "path": "x", "columns": ["a"]}, RTE, "names 1 column"),
        ({"source": "corpus", "path": "x", "columns": ["a"]}, SST2, "is for source=file"),
        ({"source": "train_rest", "max_samples": 0}, SST2, "positive integer"),
        ({"source": "train_rest", "max_sample": 5}, SST2, "unknown data.transfer option"),
    ],
)
def test_bad_options_name_the_fix(options, task, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        TransferOptions.parse(options, task)


def test_bad_sources_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="missing transfer file"):
        build_transfer_set(
            TransferOptions.parse({"source": "file", "path": str(tmp_path / "no.txt")}, SST2), SST2, [], []
        )
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="holds no text"):
        build_transfer_set(TransferOptions.parse({"source": "file", "path": str(empty)}, SST2), SST2, [], [])
    leaky = tmp_path / "leaky.txt"
    leaky.write_text("The dev sentence.\n")
    with pytest.raises(DataError, match="transfer set is empty"):
        build_transfer_set(
            TransferOptions.parse({"source": "file", "path": str(leaky)}, SST2), SST2, [], ["dev sentence"]
        )
    with pytest.raises(ConfigError, match="set data.max_train_samples below"):
        GlueDataModule("demo", root=str(tmp_path), transfer={"source": "train_rest"}).load_examples()
    with pytest.raises(ConfigError, match="set one of them"):
        GlueDataModule("demo", root=str(tmp_path), transfer={"source": "train_rest"}, augment={"mlm": "x"})


def _datamodule(tmp_path, serve_transfer: bool, **options) -> GlueDataModule:
    dm = GlueDataModule(
        "demo",
        root=str(tmp_path),
        max_train_samples=16,
        batch_size=8,
        transfer={"source": "train_rest", "max_samples": 60},
        **options,
    )
    dm.serve_transfer = serve_transfer
    dm.set_tokenizer(AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER)))
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("group_by_length", [True, False])
def test_an_objective_without_a_teacher_cycles_its_labelled_rows_for_as_many_batches(tmp_path, group_by_length):
    mixed = _datamodule(tmp_path, True, group_by_length=group_by_length)
    cycled = _datamodule(tmp_path, False, group_by_length=group_by_length)
    mixed_batches, cycled_batches = list(mixed.train_dataloader()), list(cycled.train_dataloader())
    assert len(mixed_batches) == len(cycled_batches) == -(-(16 + 60) // 8)
    seen = torch.cat([b["example_index"] for b in mixed_batches])
    assert sorted(seen.tolist()) == list(range(76))  # every labelled and transfer row once
    labels = torch.cat([b["labels"] for b in mixed_batches])
    assert int((labels != UNLABELLED_CLASS).sum()) == 16
    cycled_seen = torch.cat([b["example_index"] for b in cycled_batches]).tolist()
    assert len(cycled_seen) == 76 and set(cycled_seen) == set(range(16))
    if group_by_length:  # passes are sorted by length together: each row 4 or 5 times
        assert all(cycled_seen.count(i) in (4, 5) for i in range(16))
    else:  # whole passes first, then a partial one
        assert all(cycled_seen[:64].count(i) == 4 for i in range(16))
    assert bool((torch.cat([b["labels"] for b in cycled_batches]) != UNLABELLED_CLASS).all())
    assert mixed.rows_per_epoch() == {"labelled": 16, "transfer": 60, "distinct_labelled": 16}
    assert cycled.rows_per_epoch() == {"labelled": 76, "transfer": 0, "distinct_labelled": 16}
    with mixed.original_train():  # the teacher's fine-tuning: the labelled rows, once
        assert sum(len(b["labels"]) for b in mixed.train_dataloader()) == 16


@pytest.mark.parametrize("grouped", [False, True])
def test_a_cycled_epoch_is_whole_shuffles_cut_to_length(grouped):
    lengths = [3, 9, 4, 7, 5]
    if grouped:
        sampler = LengthGroupedShuffle(lengths, batch_size=2, seed=4, epoch=1, pool_batches=2, length=12)
    else:
        sampler = EpochShuffle(5, seed=4, epoch=1, length=12)
    order = list(sampler)
    assert len(sampler) == len(order) == 12
    if not grouped:
        assert sorted(order[:5]) == sorted(order[5:10]) == list(range(5))
    assert all(order.count(i) in (2, 3) for i in range(5))
    assert order == list(sampler)  # a function of (seed, epoch)
    plain = EpochShuffle(5, seed=4, epoch=1)
    assert list(plain) == order[:5] if not grouped else len(list(plain)) == 5
