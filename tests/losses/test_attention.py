"""Attention and relation losses against explicit loops (float64, padding, random shapes)."""

from __future__ import annotations

import math

import pytest
import torch

from distill_zoo.losses import attention_kl, attention_mse, hidden_mse, relation_kl


def ragged(batch, length, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, length + 1, (batch,), generator=g)
    lengths[0] = length
    return (torch.arange(length)[None] < lengths[:, None]).long()


def scores(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3


def slow_attention_mse(s, t, mask):
    total, count = 0.0, 0
    B, H, L, _ = s.shape
    for b in range(B):
        for h in range(H):
            for q in range(L):
                for k in range(L):
                    if mask[b, q] and mask[b, k]:
                        total += (s[b, h, q, k] - t[b, h, q, k]).item() ** 2
                        count += 1
    return total / count


def slow_softmax(row):
    m = max(row)
    e = [math.exp(x - m) for x in row]
    return [x / sum(e) for x in e]


def slow_attention_kl(s, t, mask, cross_entropy=False):
    total, count = 0.0, 0
    B, H, L, _ = s.shape
    for b in range(B):
        keys = [k for k in range(L) if mask[b, k]]
        for h in range(H):
            for q in keys:
                ps = slow_softmax([s[b, h, q, k].item() for k in keys])
                pt = slow_softmax([t[b, h, q, k].item() for k in keys])
                total += sum(a * ((0 if cross_entropy else math.log(a)) - math.log(c)) for a, c in zip(pt, ps))
                count += 1
    return total / count


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attention_mse_matches_loop(seed):
    g = torch.Generator().manual_seed(seed)
    B, H, L = (int(x) for x in torch.randint(1, 5, (3,), generator=g) + torch.tensor([0, 0, 2]))
    s, t, mask = scores((B, H, L, L), seed), scores((B, H, L, L), seed + 10), ragged(B, L, seed)
    assert attention_mse(s, t, mask).item() == pytest.approx(slow_attention_mse(s, t, mask), rel=1e-10)


def test_attention_mse_reference_reduction_zeroes_padded_keys_and_averages_everything():
    s, t, mask = scores((2, 2, 4, 4), 0), scores((2, 2, 4, 4), 1), ragged(2, 4, 3)
    keys = mask[:, None, None, :].double()
    expected = ((s * keys - t * keys) ** 2).mean()
    assert attention_mse(s, t, mask, reduction="reference").item() == pytest.approx(expected.item(), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attention_kl_matches_loop(seed):
    s, t, mask = scores((3, 2, 5, 5), seed), scores((3, 2, 5, 5), seed + 10), ragged(3, 5, seed)
    assert attention_kl(s, t, mask).item() == pytest.approx(slow_attention_kl(s, t, mask), rel=1e-10)
    ce = attention_kl(s, t, mask, cross_entropy=True).item()
    assert ce == pytest.approx(slow_attention_kl(s, t, mask, cross_entropy=True), rel=1e-10)
    assert ce > attention_kl(s, t, mask).item()


def test_padding_length_does_not_change_attention_losses():
    s, t, mask = scores((2, 2, 4, 4), 0), scores((2, 2, 4, 4), 1), ragged(2, 4, 5)

    def pad(x, fill):
        out = torch.full((2, 2, 7, 7), fill, dtype=x.dtype)
        out[:, :, :4, :4] = x
        return out

    longer = torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], 1)
    for loss in (attention_mse, attention_kl):
        assert loss(pad(s, 50.0), pad(t, -50.0), longer).item() == pytest.approx(loss(s, t, mask).item(), rel=1e-10)


def test_zero_when_equal():
    t, mask = scores((2, 3, 4, 4), 0), ragged(2, 4, 1)
    for loss in (attention_mse, attention_kl):
        assert loss(t.clone(), t, mask).item() == pytest.approx(0.0, abs=1e-12)


def student_gradient(loss, s, t, *args):
    s = s.clone().requires_grad_(True)
    loss(s, t, *args).backward()
    return s.grad


def test_student_gradients_match_closed_forms():
    """The losses do not detach the teacher (it runs under no_grad); the student's gradient must be
    right: KL → (p_S − p_T)/rows over real (query, key), the cross-entropy form the same;
    MSE → 2(s − t)/count over the counted entries; padding gets none."""
    s, t, mask = scores((3, 2, 5, 5), 7), scores((3, 2, 5, 5), 8), ragged(3, 5, 2)
    assert (mask == 0).any()
    m = mask.double()
    pairs = (m[:, :, None] * m[:, None, :])[:, None].expand_as(s)
    rows = 2 * m.sum()  # heads · real query rows

    def probs(x):
        return torch.softmax(x.masked_fill(mask[:, None, None, :] == 0, float("-inf")), -1)

    kl = (probs(s) - probs(t)) * pairs / rows
    torch.testing.assert_close(student_gradient(attention_kl, s, t, mask), kl, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(student_gradient(attention_kl, s, t, mask, True), kl, rtol=1e-10, atol=1e-14)
    mse = 2 * (s - t) * pairs / pairs.sum()
    torch.testing.assert_close(student_gradient(attention_mse, s, t, mask), mse, rtol=1e-10, atol=1e-14)
    keys = m[:, None, None, :].expand_as(s)
    reference = 2 * (s - t) * keys / s.numel()
    torch.testing.assert_close(
        student_gradient(attention_mse, s, t, mask, "reference"), reference, rtol=1e-10, atol=1e-14
    )


def test_head_mismatch_is_an_error():
    with pytest.raises(ValueError, match="equal head counts"):
        attention_kl(torch.randn(1, 2, 3, 3), torch.randn(1, 4, 3, 3))


def slow_relation_kl(xs, xt, heads, mask):
    """Split each token's vector into `heads` chunks; relation = softmax(x_i . x_j / sqrt(d_r))."""
    total, count = 0.0, 0
    B, L, _ = xs.shape
    for b in range(B):
        keys = [k for k in range(L) if mask[b, k]]
        for a in range(heads):
            for q in keys:
                rows = []
                for x in (xs, xt):
                    d = x.shape[-1] // heads

                    def chunk(i, x=x, b=b, a=a, d=d):
                        return x[b, i, a * d : (a + 1) * d].tolist()

                    rows.append(
                        slow_softmax([sum(u * v for u, v in zip(chunk(q), chunk(k))) / math.sqrt(d) for k in keys])
                    )
                ps, pt = rows
                total += sum(p * (math.log(p) - math.log(r)) for p, r in zip(pt, ps))
                count += 1
    return total / count


@pytest.mark.parametrize(("ds", "dt", "heads"), [(8, 8, 2), (6, 12, 3), (12, 8, 4)])
def test_relation_kl_matches_loop_with_different_widths(ds, dt, heads):
    g = torch.Generator().manual_seed(ds + dt)
    xs = torch.randn(2, 5, ds, generator=g, dtype=torch.float64)
    xt = torch.randn(2, 5, dt, generator=g, dtype=torch.float64)
    mask = ragged(2, 5, 4)
    assert relation_kl(xs, xt, heads, mask).item() == pytest.approx(slow_relation_kl(xs, xt, heads, mask), rel=1e-10)


def test_relation_kl_splits_tokens_not_model_heads():
    """With one relation head, all features interact: differs from splitting into two heads."""
    xs, xt = torch.randn(1, 4, 8, dtype=torch.float64), torch.randn(1, 4, 8, dtype=torch.float64)
    assert relation_kl(xs, xt, 1).item() != pytest.approx(relation_kl(xs, xt, 2).item())
    with pytest.raises(ValueError, match="not divisible"):
        relation_kl(xs, xt, 3)


def test_hidden_mse_reference_reduction_includes_padding():
    s, t = torch.randn(2, 4, 3, dtype=torch.float64), torch.randn(2, 4, 3, dtype=torch.float64)
    mask = ragged(2, 4, 2)
    assert hidden_mse(s, t, mask, reduction="reference").item() == pytest.approx(((s - t) ** 2).mean().item())


def test_padding_length_does_not_change_relation_kl():
    g = torch.Generator().manual_seed(9)
    xs, xt = (
        torch.randn(2, 4, 8, generator=g, dtype=torch.float64),
        torch.randn(2, 4, 12, generator=g, dtype=torch.float64),
    )
    mask = ragged(2, 4, 6)
    longer = torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], 1)
    pad_s, pad_t = torch.randn(2, 3, 8, dtype=torch.float64) * 50, torch.randn(2, 3, 12, dtype=torch.float64) * 50
    padded = relation_kl(torch.cat([xs, pad_s], 1), torch.cat([xt, pad_t], 1), 4, longer)
    assert padded.item() == pytest.approx(relation_kl(xs, xt, 4, mask).item(), rel=1e-10)
