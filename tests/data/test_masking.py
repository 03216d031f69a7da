"""DistilBERT masking statistics on a large batch."""

from __future__ import annotations

import math

import pytest
import torch

from distill_zoo.data.masking import IGNORE_INDEX, DistilBertMasker, mask_generator

VOCAB, MASK, CLS, SEP, PAD = 1000, 3, 1, 2, 0


def batch(rows=64, length=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, VOCAB, (rows, length), generator=g)
    mask = torch.ones(rows, length, dtype=torch.long)
    for i in range(rows):
        real = length - (i % 40)
        ids[i, 0], ids[i, real - 1] = CLS, SEP
        ids[i, real:], mask[i, real:] = PAD, 0
    return ids, mask


def masker(**kw):
    return DistilBertMasker(VOCAB, MASK, special_ids=[PAD, CLS, SEP, MASK], **kw)


def test_rates_on_a_large_batch():
    ids, mask = batch()
    corrupted, labels = masker()(ids, mask, torch.Generator().manual_seed(1))
    chosen = labels != IGNORE_INDEX
    assert int(chosen.sum()) == math.ceil(0.15 * int(mask.sum()))
    assert not chosen[mask == 0].any(), "padding is never chosen"
    assert not chosen[(ids == CLS) | (ids == SEP)].any(), "special tokens are never chosen"
    assert torch.equal(labels[chosen], ids[chosen])
    n = int(chosen.sum())
    masked = (corrupted[chosen] == MASK).float().mean().item()
    kept = (corrupted[chosen] == ids[chosen]).float().mean().item()
    assert masked == pytest.approx(0.8, abs=0.03)
    assert kept == pytest.approx(0.1 + 0.1 / VOCAB, abs=0.03)
    assert 1 - masked - kept == pytest.approx(0.1, abs=0.03)
    assert torch.equal(corrupted[~chosen], ids[~chosen])
    assert n > 1000


def test_rare_tokens_are_favoured_by_count_power():
    ids, mask = batch(rows=128)
    counts = torch.ones(VOCAB)
    counts[10:500] = 1000.0  # frequent half
    corrupted, labels = masker(token_counts=counts)(ids, mask, torch.Generator().manual_seed(2))
    chosen = labels[labels != IGNORE_INDEX]
    rare_share_chosen = (chosen >= 500).float().mean().item()
    real = ids[(mask == 1) & (ids >= 10)]
    rare_share_batch = (real >= 500).float().mean().item()
    assert rare_share_batch == pytest.approx(0.5, abs=0.05)
    assert rare_share_chosen > 0.9, "count^-0.7 makes a 1000x rarer token ~126x likelier"
    uniform = masker(token_counts=counts, mode="uniform")(ids, mask, torch.Generator().manual_seed(2))[1]
    assert (uniform[uniform != IGNORE_INDEX] >= 500).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_reproducible_from_the_seed_and_new_each_draw():
    ids, mask = batch(rows=8)
    m = masker()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    first = m(ids, mask, g1)
    assert all(torch.equal(a, b) for a, b in zip(first, m(ids, mask, g2)))
    assert not torch.equal(first[1], m(ids, mask, g1)[1]), "the next epoch draws new masks"


def test_mask_streams_per_seed_epoch_worker_and_rank():
    ids, mask = batch(rows=8)
    m = masker()
    draw = lambda *key, **kw: m(ids, mask, mask_generator(*key, **kw))[1]  # noqa: E731
    base = draw(0, 0, 0)
    assert torch.equal(base, draw(0, 0, 0)), "one key, one stream"
    for other in (draw(1, 0, 0), draw(0, 1, 0), draw(0, 0, 1), draw(0, 0, 0, rank=1)):
        assert not torch.equal(base, other)
    assert not torch.equal(draw(1, 0, 0), draw(0, 1, 0)), "keys are hashed, not added"
