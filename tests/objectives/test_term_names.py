"""One name per quantity: every method config logs the same formula under the same name."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.features import FeatureRequest
from distill_zoo.losses import cosine_loss, kl_div, logit_kd, soft_cross_entropy, task_loss
from distill_zoo.models import Encoder, FrozenEncoder, random_masked_lm
from distill_zoo.pipeline.builders import build_objective
from tests.conftest import ROOT, TOKENIZER, compose, padded_batch
from tests.objectives.zoo_helpers import pair

METHODS = sorted(p.stem for p in (ROOT / "conf" / "method").glob("*.yaml"))

#: Every term name a method may use (README, "Methods"); each names one formula:
#: kd = T²·KL(teacher ‖ student) of logits (MSE to the teacher for regression),
#: soft_ce = TinyBERT's soft cross-entropy, task = loss on gold labels, pt = PKD's patient loss, ...
VOCABULARY = {
    "kd",
    "soft_ce",
    "task",
    "mlm",
    "cos",
    "embd",
    "attn",
    "hidn",
    "fmt",
    "at",
    "vr",
    "qq",
    "kk",
    "vv",
    "mean",
    "var",
    "pt",
    "clm",
    "div",
}

#: Each method config with every one of its terms switched on (tiny models: width 32, 2 heads).
CASES = {
    "kd": [],
    "distilbert": [],
    "distilbert_mlm": [],
    "tinybert": [],
    "mobilebert": ["method.weights.mean=1", "method.weights.var=1", "method.weights.task=1"],
    "minilm": ["method.weights={kd: 1.0, task: 1.0}"],
    "minilm_v2": ["method.relation_heads=4", "method.weights={kd: 1.0, task: 1.0}"],
    "pkd": [],
    "none": [],
    "pseudo_label": [],
}
#: Causal-LM methods (per-token vocabulary logits), checked on tiny causal LMs.
CAUSAL_CASES = {"clm": [], "distilgpt2": [], "lm_kd": ["method.weights={div: 1.0, clm: 1.0}"]}


def objective(case: str, tmp_path, extra: tuple[str, ...] = ()):
    return build_objective(compose([f"method={case}", *CASES[case], *extra], tmp_path))


@pytest.fixture(scope="module")
def classifiers():
    return pair(student_layers=2, teacher_layers=4)


@pytest.fixture(scope="module")
def masked_lms():
    torch.manual_seed(0)
    student = random_masked_lm(TOKENIZER, num_layers=2, hidden_size=32, num_heads=2, intermediate_size=64, dropout=0.0)
    teacher = random_masked_lm(TOKENIZER, num_layers=4, hidden_size=32, num_heads=2, intermediate_size=64, dropout=0.0)
    return Encoder(student), FrozenEncoder(teacher)


def shared_batch() -> dict[str, torch.Tensor]:
    batch = padded_batch()
    batch["mlm_labels"] = torch.full_like(batch["input_ids"], -100)
    batch["mlm_labels"][:, 1] = batch["input_ids"][:, 1]
    return batch


def run(obj, models, batch):
    student, teacher = models
    obj.configure(student.dims, teacher.dims)
    out = obj(
        student(batch, obj.student_request()),
        teacher(batch, obj.teacher_request()) if obj.needs_teacher else None,
        batch,
    )
    request = FeatureRequest(logits=True, hidden_states=(-1,))
    return out, student(batch, request), teacher(batch, request)


def test_every_method_config_has_a_case():
    assert set(METHODS) == set(CASES) | set(CAUSAL_CASES)


@pytest.mark.parametrize("case", sorted(CAUSAL_CASES))
def test_causal_methods_use_the_shared_names(case, tmp_path):
    """``kd`` is T²·KL of next-token logits (DistilGPT2), ``clm`` the next-token cross-entropy,
    ``div`` lm_kd's chosen divergence, ``cos`` the cosine of last hidden states."""
    from distill_zoo.models import random_causal_lm
    from distill_zoo.objectives.next_token import clm_loss, predicted_positions

    obj = build_objective(compose([f"method={case}", *CAUSAL_CASES[case]], tmp_path))
    torch.manual_seed(0)
    student = Encoder(random_causal_lm("llama", num_layers=2))
    teacher = FrozenEncoder(random_causal_lm("llama", num_layers=4))
    batch = padded_batch()
    batch["loss_mask"] = batch["attention_mask"]
    obj.configure(student.dims, teacher.dims)
    out = obj(student(batch, obj.student_request()), teacher(batch, obj.teacher_request()), batch)
    logged = {k.removeprefix("loss_") for k in out if k != "loss"}
    assert logged <= VOCABULARY and logged == {k for k, w in obj.weights.items() if w}, (case, sorted(logged))
    s, t = (m(batch, FeatureRequest(logits=True, hidden_states=(-1,))) for m in (student, teacher))
    positions = predicted_positions(batch)
    reference = {
        "kd": lambda: kl_div(s.logits[:, :-1], t.logits[:, :-1], getattr(obj, "temperature", 1.0), positions),
        "clm": lambda: clm_loss(s.logits[:, :-1], batch),
        "cos": lambda: cosine_loss(s.hidden(-1), t.hidden(-1), batch["attention_mask"]),
    }
    for term in logged & set(reference):
        expected = obj.weights[term] * reference[term]()
        assert out[f"loss_{term}"].item() == pytest.approx(expected.item(), rel=1e-5), (case, term)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_name_is_the_same_formula_in_every_method(case, tmp_path, classifiers, masked_lms):
    obj = objective(case, tmp_path)
    assert set(obj.weights) <= VOCABULARY, f"{case} has term(s) {sorted(set(obj.weights) - VOCABULARY)}"
    batch = shared_batch()
    out, s, t = run(obj, masked_lms if obj.vocabulary_logits else classifiers, batch)
    logged = {k.removeprefix("loss_") for k in out if k != "loss"}
    assert logged <= VOCABULARY and logged == {k for k, w in obj.weights.items() if w}, (case, sorted(logged))
    mask = batch["attention_mask"]
    reference = {
        "kd": lambda: (
            kl_div(s.logits, t.logits, obj.temperature, mask)
            if obj.vocabulary_logits
            else logit_kd(s.logits, t.logits, obj.temperature)
        ),
        "soft_ce": lambda: soft_cross_entropy(s.logits, t.logits, obj.temperature),
        "task": lambda: task_loss(s.logits, batch["labels"]),
        "cos": lambda: cosine_loss(s.hidden(-1), t.hidden(-1), mask),
    }
    for term in logged & set(reference):
        expected = obj.weights[term] * reference[term]()
        assert out[f"loss_{term}"].item() == pytest.approx(expected.item(), rel=1e-5), (case, term)


def test_loss_kd_is_one_quantity_across_methods(tmp_path, classifiers):
    """kd, distilbert, mobilebert (no phase), minilm and pkd log T²·KL of the same logits as ``loss_kd``."""
    batch = shared_batch()
    per_weight = {}
    for case in ("kd", "distilbert", "mobilebert", "minilm", "pkd"):
        obj = objective(case, tmp_path, ("method.temperature=2.0",))
        assert getattr(obj, "phase", None) is None
        out, s, t = run(obj, classifiers, batch)
        per_weight[case] = out["loss_kd"].item() / obj.weights["kd"]
    expected = logit_kd(s.logits, t.logits, 2.0).item()
    assert per_weight == pytest.approx(dict.fromkeys(per_weight, expected), rel=1e-5)


def test_tinybert_logs_soft_cross_entropy_under_its_own_name(tmp_path, classifiers):
    obj = objective("tinybert", tmp_path, ("method.stage=prediction",))
    out, s, t = run(obj, classifiers, shared_batch())
    assert set(out) == {"loss", "loss_soft_ce"}
    assert out["loss_soft_ce"].item() == pytest.approx(soft_cross_entropy(s.logits, t.logits).item(), rel=1e-5)
    # not a KL: it exceeds KL(teacher ‖ student) by the teacher's entropy
    assert out["loss_soft_ce"].item() > kl_div(s.logits, t.logits).item() + 1e-3
