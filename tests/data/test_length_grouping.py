"""Length-grouped training batches: the documented rule, a function of (seed, epoch), less padding."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.data import GlueDataModule
from distill_zoo.data.sampling import EpochShuffle, LengthGroupedShuffle, ResumableLoader, epoch_generator
from distill_zoo.models import resolve_pretrained
from tests.conftest import TOKENIZER


def _reference_order(lengths: list[int], batch_size: int, seed: int, epoch: int, pool_batches: int) -> list[int]:
    """The rule written out one step at a time: the epoch's random order, pools sorted longest
    first (ties keep the random order), full batches shuffled, the short batch last."""
    generator = epoch_generator(seed, epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        members = order[start : start + pool]
        by_length: list[int] = []
        for index in members:  # insertion sort, stable: equal lengths keep their random order
            at = len(by_length)
            while at > 0 and lengths[by_length[at - 1]] < lengths[index]:
                at -= 1
            by_length.insert(at, index)
        for first in range(0, len(by_length), batch_size):
            batches.append(by_length[first : first + batch_size])
    short = []
    if batches and len(batches[-1]) < batch_size:
        short = batches.pop()
    picks = torch.randperm(len(batches), generator=generator).tolist()
    return [i for pick in picks for i in batches[pick]] + short


def _lengths(n: int, seed: int = 0) -> list[int]:
    draw = random.Random(seed)
    return [draw.randint(3, 60) for _ in range(n)]


@pytest.mark.parametrize(
    ("n", "batch_size", "pool_batches"), [(100, 8, 3), (96, 8, 3), (50, 8, 100), (7, 8, 2), (40, 4, 1), (33, 1, 5)]
)
def test_the_order_follows_the_rule_and_holds_each_example_once(n, batch_size, pool_batches):
    lengths = _lengths(n)
    for epoch in (0, 1):
        sampler = LengthGroupedShuffle(lengths, batch_size, seed=5, pool_batches=pool_batches)
        sampler.set_epoch(epoch)
        order = list(sampler)
        assert order == _reference_order(lengths, batch_size, 5, epoch, pool_batches)
        assert sorted(order) == list(range(n)) and len(sampler) == n


def test_the_order_depends_on_seed_and_epoch_only():
    lengths = _lengths(300)
    sampler = LengthGroupedShuffle(lengths, 16, seed=1, pool_batches=4)
    first = list(sampler)
    torch.manual_seed(99)  # the global stream does not move it
    assert list(LengthGroupedShuffle(lengths, 16, seed=1, pool_batches=4)) == first
    sampler.set_epoch(3)
    third = list(sampler)
    assert third != first and list(LengthGroupedShuffle(lengths, 16, seed=1, epoch=3, pool_batches=4)) == third
    assert list(LengthGroupedShuffle(lengths, 16, seed=2, pool_batches=4)) != first


def test_batches_hold_similar_lengths_and_only_the_last_may_be_short():
    lengths, batch_size = _lengths(1000), 32
    grouped = list(LengthGroupedShuffle(lengths, batch_size, seed=0, pool_batches=100))
    plain = list(EpochShuffle(len(lengths), seed=0))

    def padded(order: list[int]) -> int:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    real = sum(lengths)
    # Uniform lengths 3..60: random batches pad to about 1.9x the real tokens; sorted pools to almost 1x.
    assert padded(grouped) < 1.1 * real < 0.6 * padded(plain)
    starts = [lengths[grouped[i]] for i in range(0, 992, batch_size)]
    assert starts != sorted(starts, reverse=True), "the batches are shuffled, not served longest first"
    for first in range(0, len(grouped), batch_size):  # 31 full batches, then the short one of 8
        served = [lengths[i] for i in grouped[first : first + batch_size]]
        assert served == sorted(served, reverse=True), "a served batch is one slice of a sorted pool"


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        LengthGroupedShuffle([3, 4], 0, seed=0)
    with pytest.raises(ValueError, match="must be positive"):
        LengthGroupedShuffle([3, 4], 2, seed=0, pool_batches=0)


@pytest.fixture(scope="module")
def demo_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))


def _served_lengths(loader) -> list[list[int]]:
    return [batch["attention_mask"].sum(dim=1).tolist() for batch in loader]


def test_the_datamodule_groups_training_batches_and_a_resumed_epoch_continues_them(tmp_path, demo_tokenizer):
    dm = GlueDataModule("demo", root=str(tmp_path), batch_size=8, seed=3, length_pool_batches=10)
    dm.set_tokenizer(demo_tokenizer)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert isinstance(loader.sampler, LengthGroupedShuffle)
    batches = _served_lengths(loader)
    spread = sum(max(b) - min(b) for b in batches) / len(batches)
    plain = GlueDataModule("demo", root=str(tmp_path), batch_size=8, seed=3, group_by_length=False)
    plain.set_tokenizer(demo_tokenizer)
    plain.setup("fit")
    assert type(plain.train_dataloader().sampler) is EpochShuffle
    plain_batches = _served_lengths(plain.train_dataloader())
    assert spread < 0.5 * sum(max(b) - min(b) for b in plain_batches) / len(plain_batches)
    assert sorted(n for b in batches for n in b) == sorted(n for b in plain_batches for n in b)
    resumed = ResumableLoader(
        loader.dataset, batch_size=8, sampler=loader.sampler, collate_fn=loader.collate_fn, skip_batches=5
    )
    assert _served_lengths(resumed) == batches[5:]


def test_under_ddp_each_ranks_batches_are_grouped_too(tmp_path, demo_tokenizer):
    """Lightning deals a custom sampler's order out to the ranks in turn (no reshuffle): the
    grouping unit is the global batch, so each rank's batch still holds similar lengths."""
    from types import SimpleNamespace

    from lightning.fabric.utilities.distributed import DistributedSamplerWrapper

    from distill_zoo.bench.grouping import padded_positions

    dm = GlueDataModule("demo", root=str(tmp_path), batch_size=8, seed=3, length_pool_batches=10)
    dm.set_tokenizer(demo_tokenizer)
    dm.setup("fit")
    lengths = [len(row) for row in dm.datasets["train"]["input_ids"]]
    single = dm.train_sampler("train", 0)
    dm.trainer = SimpleNamespace(world_size=2, current_epoch=0)
    sampler = dm.train_sampler("train", 0)
    assert isinstance(sampler, LengthGroupedShuffle) and sampler.batch_size == 16

    def per_rank_positions(order_sampler) -> int:
        ranks = [list(DistributedSamplerWrapper(order_sampler, num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
        return sum(padded_positions(rank, lengths, 8) for rank in ranks)

    # Padding beyond the real tokens (seen: 630 grouped by global batch, 2,758 by a rank's
    # batch, whose ranks then mix two shuffled groups, 5,234 random).
    padding = {
        name: per_rank_positions(order) - sum(lengths)
        for name, order in (("global", sampler), ("rank", single), ("random", EpochShuffle(len(lengths), 3)))
    }
    assert padding["global"] < 0.5 * padding["rank"] < 0.5 * padding["random"], padding


def test_the_benchmark_counts_each_batch_at_its_longest_row():
    from distill_zoo.bench.grouping import padded_positions

    # Batches [0, 1] and [2]: 2 rows of 5, then 1 row of 2; in another order [2, 1] and [0]: 2 x 5 + 3.
    assert padded_positions([0, 1, 2], [3, 5, 2], 2) == 12
    assert padded_positions([2, 1, 0], [3, 5, 2], 2) == 13


def test_evaluation_batches_go_longest_first_and_predictions_come_back_in_file_order(tmp_path):
    from torch.utils.data import DataLoader

    from distill_zoo.data.sampling import LengthOrder
    from distill_zoo.pipeline.eval_stage import predict
    from tests.conftest import tiny_bert

    assert list(LengthOrder([3, 9, 3, 9, 1])) == [1, 3, 0, 2, 4]  # ties keep file order
    dm = GlueDataModule("demo", root=str(tmp_path), eval_batch_size=16)
    dm.set_tokenizer(AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER)))
    dm.setup("validate")
    sorted_batches = list(dm.val_dataloader())
    lengths = [len(r) for r in dm.datasets["dev"]["input_ids"]]
    in_file_order = [lengths[i : i + 16] for i in range(0, len(lengths), 16)]
    padded = sum(b["input_ids"].numel() for b in sorted_batches)
    assert padded == sum(
        len(c) * max(c) for c in [sorted(lengths, reverse=True)[i : i + 16] for i in range(0, len(lengths), 16)]
    )
    assert padded < sum(len(c) * max(c) for c in in_file_order)
    model = tiny_bert(num_layers=2)
    plain = DataLoader(dm.datasets["dev"].with_format("torch"), batch_size=1)  # file order, no padding
    got, expected = predict(model, dm.val_dataloader(), "sorted"), predict(model, plain, "plain")
    assert got.labels.tolist() == expected.labels.tolist() == [r["label"] for r in dm.load_examples()["dev"]]
    assert got.predicted.tolist() == expected.predicted.tolist()
    torch.testing.assert_close(got.probabilities, expected.probabilities, atol=1e-5, rtol=1e-5)
