"""Token-level LM divergences and top-k buckets against explicit float64 loops over (b, t, v)."""

from __future__ import annotations

import math

import pytest
import torch

from distill_zoo.losses import (
    TOKEN_DIVERGENCES,
    TeacherTopK,
    adaptive_kl,
    collapse_to_topk,
    forward_kl,
    generalized_jsd,
    per_token_divergence,
    reverse_kl,
    skew_forward_kl,
    skew_reverse_kl,
    teacher_top_k,
    token_divergence,
    total_variation,
)
from distill_zoo.losses._reduce import masked_mean
from distill_zoo.losses.token_distance import adaptive_kl_weights

FUNCTIONS = {
    "fkl": forward_kl,
    "rkl": reverse_kl,
    "jsd": generalized_jsd,
    "skew_fkl": skew_forward_kl,
    "skew_rkl": skew_reverse_kl,
    "tvd": total_variation,
    "akl": adaptive_kl,
}
CUSTOM = {"jsd": {"beta": 0.3}, "skew_fkl": {"alpha": 0.25}, "skew_rkl": {"alpha": 0.25}, "akl": {"mu": 0.7}}
B, L, V = 3, 5, 11
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])


def assert_close(got, expected, rtol=1e-7, atol=1e-12):
    """torch.allclose with the tolerances spelled out (torch.testing costs half a second to import)."""
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert torch.allclose(got, expected, rtol=rtol, atol=atol), (got - expected).abs().max()


# ---- the slow reference: one token's two probability lists at a time ----


def softmax(row, T=1.0):
    z = [x / T for x in row]
    top = max(z)
    e = [math.exp(x - top) for x in z]
    return [x / sum(e) for x in e]


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def mix(w, p, q):
    return [w * a + (1 - w) * b for a, b in zip(p, q)]


def akl_weight(p_s, p_t, mu, head_rule="paper"):
    """g_head / (g_head + g_tail), the head being the teacher's likeliest tokens until their mass
    reaches mu (paper), or those whose mass through them stays <= mu, the top-1 always (code)."""
    head, mass = set(), 0.0
    for rank, v in enumerate(sorted(range(len(p_t)), key=lambda v: -p_t[v])):
        if head_rule == "paper" and mass >= mu:
            break
        if head_rule == "code" and rank > 0 and mass + p_t[v] > mu:
            break
        head.add(v)
        mass += p_t[v]
    g_head = sum(abs(p_t[v] - p_s[v]) for v in head)
    g_tail = sum(abs(p_t[v] - p_s[v]) for v in range(len(p_t)) if v not in head)
    return 0.5 if g_head + g_tail == 0 else g_head / (g_head + g_tail)


def divergence(name, p_s, p_t, beta=0.5, alpha=0.1, mu=0.5):
    if name == "fkl":
        return kl(p_t, p_s)
    if name == "rkl":
        return kl(p_s, p_t)
    if name == "jsd":
        m = mix(beta, p_t, p_s)
        return beta * kl(p_t, m) + (1 - beta) * kl(p_s, m)
    if name == "skew_fkl":
        return kl(p_t, mix(alpha, p_t, p_s))
    if name == "skew_rkl":
        return kl(p_s, mix(alpha, p_s, p_t))
    if name == "tvd":
        return 0.5 * sum(abs(a - b) for a, b in zip(p_t, p_s))
    w = akl_weight(p_s, p_t, mu)
    return w * kl(p_t, p_s) + (1 - w) * kl(p_s, p_t)


def bucketed(p, top):
    """p over the chosen ids plus one bucket for everything else (= 1 − Σ p over the ids)."""
    return [p[v] for v in top] + [sum(p[v] for v in range(len(p)) if v not in top)]


def slow(name, s, t, mask, T=1.0, k=None, **options):
    values = []
    for b in range(s.shape[0]):
        for i in range(s.shape[1]):
            if not mask[b, i]:
                continue
            p_s, p_t = softmax(s[b, i].tolist(), T), softmax(t[b, i].tolist(), T)
            if k is not None:
                top = sorted(range(len(p_t)), key=lambda v: -p_t[v])[:k]
                p_s, p_t = bucketed(p_s, top), bucketed(p_t, top)
            values.append(divergence(name, p_s, p_t, **options))
    return sum(values) / len(values)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors this small gain nothing from a second intra-op thread, and on a busy machine its
    barrier waits cost milliseconds per op; the setting is put back after this module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(7)
    s = 2 * torch.randn(B, L, V, generator=g, dtype=torch.float64)
    t = 2 * torch.randn(B, L, V, generator=g, dtype=torch.float64)
    return s, t


# ---- values ----


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
@pytest.mark.parametrize("T, custom", [(1.0, False), (2.5, True)], ids=["T1-defaults", "T2.5-custom"])
def test_matches_the_loop_with_padding(logits, name, T, custom):
    s, t = logits
    options = CUSTOM.get(name, {}) if custom else {}
    expected = slow(name, s, t, MASK, T, **options)
    assert FUNCTIONS[name](s, t, MASK, temperature=T, **options).item() == pytest.approx(expected, rel=1e-10)
    assert token_divergence(name, s, t, MASK, temperature=T, **options).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
def test_zero_when_the_student_is_the_teacher(logits, name):
    _, t = logits
    assert token_divergence(name, t.clone(), t, MASK, temperature=2.0).item() == pytest.approx(0.0, abs=1e-12)
    assert token_divergence(name, t.clone(), t, MASK, top_k=4).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
def test_nonnegative_per_token_on_random_inputs(name):
    g = torch.Generator().manual_seed(11)
    for scale in (0.1, 1.0, 10.0):
        s, t = (scale * torch.randn(4, 6, 17, generator=g, dtype=torch.float64) for _ in range(2))
        values = per_token_divergence(name, s.log_softmax(-1), t.log_softmax(-1), **CUSTOM.get(name, {}))
        assert values.shape == (4, 6) and (values >= -1e-12).all() and (values > 0).any()
        assert name != "tvd" or (values <= 1).all()


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
def test_padded_positions_do_not_change_the_value(logits, name):
    s, t = logits
    noisy_s, noisy_t = s.clone(), t.clone()
    noisy_s[MASK == 0] = 1e4 * torch.randn(int((MASK == 0).sum()), V, dtype=torch.float64)
    noisy_t[MASK == 0] = -1e4 * torch.randn(int((MASK == 0).sum()), V, dtype=torch.float64)
    for top_k in (None, 4):
        clean = token_divergence(name, s, t, MASK, top_k=top_k).item()
        noisy = token_divergence(name, noisy_s, noisy_t, MASK, top_k=top_k).item()
        assert noisy == pytest.approx(clean, rel=1e-12)


# ---- gradients ----


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
@pytest.mark.parametrize("top_k", [None, 4])
def test_the_gradient_reaches_the_student_only(logits, name, top_k):
    s, t = logits
    student = s.clone().requires_grad_(True)
    teacher_leaf = t.clone().requires_grad_(True)
    token_divergence(name, student, teacher_leaf.detach(), MASK, temperature=1.5, top_k=top_k).backward()
    assert teacher_leaf.grad is None
    assert student.grad is not None and torch.isfinite(student.grad).all()
    assert (student.grad[MASK == 0] == 0).all() and (student.grad[MASK == 1].abs().sum(-1) > 0).all()


@pytest.mark.parametrize("head", ["paper", "code"])
def test_akl_heads_of_the_paper_and_of_the_authors_code_against_a_loop(logits, head):
    s, t = logits
    expected = [
        [akl_weight(softmax(s[b, i].tolist()), softmax(t[b, i].tolist()), 0.3, head) for i in range(L)]
        for b in range(B)
    ]
    w = adaptive_kl_weights(s.log_softmax(-1), t.log_softmax(-1), 0.3, head)
    assert_close(w, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)


def test_the_token_crossing_mu_is_head_in_the_paper_and_tail_in_the_code():
    t = torch.tensor([0.4, 0.35, 0.25]).log()
    s = torch.tensor([0.2, 0.5, 0.3]).log()
    # mu = 0.5: the paper's head is {0, 1} (0.4 < 0.5 before token 1); the code's is {0} (0.75 > 0.5)
    assert adaptive_kl_weights(s, t, 0.5, "paper").item() == pytest.approx((0.2 + 0.15) / 0.4)
    assert adaptive_kl_weights(s, t, 0.5, "code").item() == pytest.approx(0.2 / 0.4)
    assert adaptive_kl_weights(s, t, 0.0, "code").item() == pytest.approx(0.2 / 0.4), "the top-1 always"
    assert adaptive_kl_weights(s, t, 0.0, "paper").item() == 0.0
    with pytest.raises(ValueError, match="akl_head must be one of paper, code"):
        adaptive_kl_weights(s, t, 0.5, "authors")


def test_akl_weights_are_per_token_and_detached(logits):
    s, t = logits
    expected = [
        [akl_weight(softmax(s[b, i].tolist()), softmax(t[b, i].tolist()), 0.5) for i in range(L)] for b in range(B)
    ]
    w = adaptive_kl_weights(s.log_softmax(-1), t.log_softmax(-1))
    assert_close(w, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)
    student = s.clone().requires_grad_(True)
    adaptive_kl(student, t, MASK).backward()
    constant = s.clone().requires_grad_(True)
    log_s, log_t = constant.log_softmax(-1), t.log_softmax(-1)
    fkl, rkl = per_token_divergence("fkl", log_s, log_t), per_token_divergence("rkl", log_s, log_t)
    masked_mean(w * fkl + (1 - w) * rkl, MASK).backward()
    assert_close(student.grad, constant.grad, rtol=1e-10, atol=1e-14)


# ---- endpoints ----


def test_jsd_endpoints_are_forward_and_reverse_kl(logits):
    s, t = logits
    fkl, rkl = forward_kl(s, t, MASK).item(), reverse_kl(s, t, MASK).item()
    assert generalized_jsd(s, t, MASK, beta=0.0).item() == pytest.approx(fkl, rel=1e-12)
    assert generalized_jsd(s, t, MASK, beta=1.0).item() == pytest.approx(rkl, rel=1e-12)
    # the special-cased endpoints are the limits of JSD(β)/β and JSD(β)/(1 − β)
    eps = 1e-6
    assert generalized_jsd(s, t, MASK, beta=eps).item() / eps == pytest.approx(fkl, rel=1e-4)
    assert generalized_jsd(s, t, MASK, beta=1 - eps).item() / eps == pytest.approx(rkl, rel=1e-4)
    assert generalized_jsd(s, t, MASK).item() == pytest.approx(generalized_jsd(t, s, MASK).item(), rel=1e-12)


def test_skew_at_alpha_zero_is_the_plain_kl_and_at_one_is_zero(logits):
    s, t = logits
    assert skew_forward_kl(s, t, MASK, alpha=0.0).item() == pytest.approx(forward_kl(s, t, MASK).item(), rel=1e-12)
    assert skew_reverse_kl(s, t, MASK, alpha=0.0).item() == pytest.approx(reverse_kl(s, t, MASK).item(), rel=1e-12)
    assert skew_forward_kl(s, t, MASK, alpha=1.0).item() == 0.0
    assert skew_reverse_kl(s, t, MASK, alpha=1.0).item() == 0.0


# ---- top k ----


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
def test_top_k_equal_to_the_vocabulary_is_the_full_divergence(logits, name):
    s, t = logits
    grads = []
    for top_k in (None, V):
        student = s.clone().requires_grad_(True)
        value = token_divergence(name, student, t, MASK, temperature=2.0, top_k=top_k, **CUSTOM.get(name, {}))
        value.backward()
        grads.append((value.item(), student.grad))
    assert grads[1][0] == pytest.approx(grads[0][0], rel=1e-10)
    assert_close(grads[1][1], grads[0][1], rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
@pytest.mark.parametrize("k", [1, 4])
def test_top_k_matches_the_bucketed_loop(logits, name, k):
    s, t = logits
    options = CUSTOM.get(name, {})
    got = token_divergence(name, s, t, MASK, temperature=1.5, top_k=k, **options).item()
    assert got == pytest.approx(slow(name, s, t, MASK, 1.5, k=k, **options), rel=1e-10)


def test_collapse_to_topk_gives_two_distributions_over_k_plus_one_buckets(logits):
    s, t = logits
    topk = teacher_top_k(t, 4, temperature=2.0)
    assert topk.indices.shape == topk.log_probs.shape == (B, L, 4) and topk.tail_log_prob.shape == (B, L)
    student, teacher = collapse_to_topk(s, topk)
    assert student.shape == teacher.shape == (B, L, 5)
    ones = torch.ones(B, L, dtype=torch.float64)
    assert_close(student.exp().sum(-1), ones)
    assert_close(teacher.exp().sum(-1), ones)
    p_t, p_s = softmax(t[1, 2].tolist(), 2.0), softmax(s[1, 2].tolist(), 2.0)
    top = sorted(range(V), key=lambda v: -p_t[v])[:4]
    assert topk.indices[1, 2].tolist() == top
    assert teacher[1, 2].exp().tolist() == pytest.approx(bucketed(p_t, top), rel=1e-12)
    assert student[1, 2].exp().tolist() == pytest.approx(bucketed(p_s, top), rel=1e-12)


def test_a_tiny_tail_mass_stays_accurate():
    """Tail masses far below float64's 1e-16 resolution of 1 − Σ come out right."""
    t = torch.zeros(1, 1, V, dtype=torch.float64)
    t[..., 0] = 40.0
    topk = teacher_top_k(t, 1)
    exact = math.log(V - 1) - math.log(math.exp(40.0) + V - 1)  # about log(4e-17)
    assert topk.tail_log_prob.item() == pytest.approx(exact, rel=1e-12)
    student, _ = collapse_to_topk(t.float(), topk)
    assert student[0, 0, -1].item() == pytest.approx(exact, rel=1e-5)
    # from stored log-probabilities alone: log(1 − exp(x)) by −expm1 near x = 0, log1p far from it
    near_one = torch.tensor([[[math.log1p(-math.exp(exact))]]], dtype=torch.float64)  # about −4e-17
    stored = TeacherTopK.from_log_probs(topk.indices, near_one)
    assert stored.tail_log_prob.item() == pytest.approx(exact, rel=1e-12)
    far = TeacherTopK.from_log_probs(topk.indices, torch.tensor([[[exact]]], dtype=torch.float64))
    assert far.tail_log_prob.item() == pytest.approx(math.log1p(-math.exp(exact)), rel=1e-12)


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
def test_a_stored_teacher_top_k_gives_the_same_value(logits, name):
    s, t = logits
    full = teacher_top_k(t, 4, temperature=2.0)
    stored = TeacherTopK.from_log_probs(full.indices.int(), full.log_probs.float(), temperature=2.0)
    assert_close(stored.tail_log_prob, full.tail_log_prob.float(), rtol=1e-5, atol=1e-6)
    expected = token_divergence(name, s, t, MASK, temperature=2.0, top_k=4)
    got = token_divergence(name, s, TeacherTopK(full.indices, full.log_probs, full.tail_log_prob, 2.0), MASK, 2.0)
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)
    assert token_divergence(name, s, stored, MASK, 2.0).item() == pytest.approx(expected.item(), rel=1e-4)


# ---- robustness ----


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
def test_a_token_both_models_rule_out_keeps_value_and_gradient_finite(logits, name):
    s, t = logits
    s, t = s.clone(), t.clone()
    s[..., 0] = t[..., 0] = float("-inf")
    expected = slow(name, s[..., 1:], t[..., 1:], MASK)
    for top_k in (None, V):
        student = s.clone().requires_grad_(True)
        value = token_divergence(name, student, t, MASK, top_k=top_k)
        value.backward()
        assert value.item() == pytest.approx(expected, rel=1e-10)
        assert student.grad is not None and torch.isfinite(student.grad).all() and (student.grad[..., 0] == 0).all()


def test_half_precision_logits_are_computed_in_float32(logits):
    s, t = logits
    for name in TOKEN_DIVERGENCES:
        low = token_divergence(name, s.bfloat16(), t.bfloat16(), MASK, top_k=4)
        assert low.dtype == torch.float32
        reference = token_divergence(name, s.bfloat16().double(), t.bfloat16().double(), MASK, top_k=4)
        assert low.item() == pytest.approx(reference.item(), rel=1e-4)


# ---- errors ----


@pytest.mark.parametrize("name", TOKEN_DIVERGENCES)
def test_shape_mismatches_are_value_errors(logits, name):
    s, t = logits
    with pytest.raises(ValueError, match="differ in shape"):
        FUNCTIONS[name](s[..., :7], t, MASK)
    with pytest.raises(ValueError, match="differ in shape"):
        token_divergence(name, s, t[:, :4], MASK)
    with pytest.raises(ValueError, match="differ in shape"):
        token_divergence(name, s[..., :7], t, MASK, top_k=3)
    with pytest.raises(ValueError, match="differ in shape"):
        per_token_divergence(name, s.log_softmax(-1), t[..., :7].log_softmax(-1))
    with pytest.raises(ValueError, match="does not match"):
        FUNCTIONS[name](s, t, MASK[:, :4])


def test_top_k_shapes_and_options_are_checked(logits):
    s, t = logits
    topk = teacher_top_k(t, 3)
    with pytest.raises(ValueError, match="same"):
        TeacherTopK(topk.indices, topk.log_probs[..., :2], topk.tail_log_prob)
    with pytest.raises(ValueError, match="tail log-probability"):
        TeacherTopK(topk.indices, topk.log_probs, topk.tail_log_prob[:, :2])
    with pytest.raises(ValueError, match="do not match the teacher's top-k"):
        collapse_to_topk(s[:, :4], topk)
    with pytest.raises(ValueError, match="do not match the teacher's top-k"):
        collapse_to_topk(s[..., :2], topk)
    for k in (0, V + 1):
        with pytest.raises(ValueError, match=f"top_k must lie in 1..{V}"):
            token_divergence("fkl", s, t, MASK, top_k=k)
    with pytest.raises(ValueError, match="not both"):
        token_divergence("fkl", s, topk, MASK, top_k=3)
    with pytest.raises(ValueError, match="differs from the TeacherTopK"):
        token_divergence("fkl", s, topk, MASK, temperature=2.0)
    with pytest.raises(ValueError, match="unknown divergence 'kl'"):
        token_divergence("kl", s, t, MASK)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        forward_kl(s, t, MASK, temperature=0.0)
    for function, option in [(generalized_jsd, "beta"), (skew_forward_kl, "alpha"), (adaptive_kl, "mu")]:
        with pytest.raises(ValueError, match=f"{option} must lie in"):
            function(s, t, MASK, **{option: 1.5})
