"""MobileBERT's moment transfer against explicit loops, for each norm."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.losses import moment_mse


def test_moment_norms_match_loops():
    g = torch.Generator().manual_seed(4)
    s = torch.randn(2, 3, 8, generator=g, dtype=torch.float64)
    t = torch.randn(2, 3, 6, generator=g, dtype=torch.float64) * 3 + 1
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    rows = [(b, i) for b in range(2) for i in range(3) if mask[b, i]]

    def stats(x, b, i):
        values = x[b, i].tolist()
        mu = sum(values) / len(values)
        return mu, sum((v - mu) ** 2 for v in values) / len(values)

    gaps = [(stats(s, b, i)[0] - stats(t, b, i)[0], stats(s, b, i)[1] - stats(t, b, i)[1]) for b, i in rows]
    expected = {
        "l2": (sum(m * m for m, _ in gaps), sum(v * v for _, v in gaps)),
        "l1": (sum(abs(m) for m, _ in gaps), sum(abs(v) for _, v in gaps)),
        "reference": (sum(m * m for m, _ in gaps), sum(abs(v) for _, v in gaps)),
    }
    for norm, (mean_total, var_total) in expected.items():
        mean, var = moment_mse(s, t, mask, norm=norm)
        assert mean.item() == pytest.approx(mean_total / len(rows), rel=1e-10), norm
        assert var.item() == pytest.approx(var_total / len(rows), rel=1e-10), norm
    assert moment_mse(s, t, mask)[1].item() == pytest.approx(expected["l2"][1] / len(rows), rel=1e-10)
    with pytest.raises(ValueError, match="moment norm"):
        moment_mse(s, t, mask, norm="l3")
