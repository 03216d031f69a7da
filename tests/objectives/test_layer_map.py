"""Layer maps, and the one layer numbering every config shares: 0-based transformer layers."""

from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.losses import hidden_mse, layer_norm_mse
from distill_zoo.models.students import distilbert_student, from_teacher_layers
from distill_zoo.objectives import MobileBERTObjective, TinyBERTObjective
from distill_zoo.objectives.layer_map import attention_map, hidden_map, require_equal_heads
from tests.conftest import padded_batch, tiny_bert
from tests.objectives.zoo_helpers import losses, pair


def test_tinybert_uniform_maps():
    assert hidden_map("uniform", 4, 12) == [(0, 0), (1, 3), (2, 6), (3, 9), (4, 12)]
    assert attention_map("uniform", 4, 12) == [(0, 2), (1, 5), (2, 8), (3, 11)]
    assert attention_map("uniform", 3, 6) == [(0, 1), (1, 3), (2, 5)]


def test_last_and_explicit_maps():
    assert hidden_map("last", 3, 6, embeddings=False) == [(3, 6)]
    assert attention_map("last", 3, 6) == [(2, 5)]
    # 0-based teacher layer j is hidden-state index j + 1; the embedding pair is implicit
    assert hidden_map([1, 3, 5], 3, 6) == [(0, 0), (1, 2), (2, 4), (3, 6)]
    assert attention_map([1, 3, 5], 3, 6) == [(0, 1), (1, 3), (2, 5)]
    assert attention_map([0, 1, 5], 3, 6) == [(0, 0), (1, 1), (2, 5)]


def test_an_explicit_list_equal_to_uniform_gives_the_uniform_pairs():
    assert hidden_map([1, 3, 5], 3, 6) == hidden_map("uniform", 3, 6)
    assert attention_map([1, 3, 5], 3, 6) == attention_map("uniform", 3, 6)


BAD_LISTS = [
    pytest.param(
        [2, 4, 6], r"\[6\] out of range 0\.\.5.*layers are 0-based: did you mean \[1, 3, 5\]\?", id="counted-from-1"
    ),
    pytest.param([0, 3, 6], r"\[6\] out of range 0\.\.5.*embedding output is never listed", id="past-the-end"),
    pytest.param([-1, 2, 4], r"\[-1\] out of range 0\.\.5", id="negative"),
    pytest.param([1, 1, 5], r"repeats layer\(s\) \[1\]; list each layer once", id="duplicate"),
    pytest.param([1, 5, 3], r"not strictly increasing; list the layers in order, e\.g\. \[1, 3, 5\]", id="unordered"),
    pytest.param([], "is empty", id="empty"),
]


@pytest.mark.parametrize("build", [hidden_map, attention_map])
@pytest.mark.parametrize(("layers", "message"), BAD_LISTS)
def test_bad_explicit_layer_maps_are_config_errors(build, layers, message):
    with pytest.raises(ConfigError, match="method.layer_map") as error:
        build(layers, 3, 6)
    assert error.match(message)


def test_the_0_based_hint_only_when_the_list_looks_counted_from_1():
    with pytest.raises(ConfigError) as error:
        attention_map([0, 3, 6], 3, 6)  # reaches N but starts at 0: not a shifted list
    assert "did you mean" not in str(error.value)


@pytest.fixture(scope="module")
def teacher6():
    return tiny_bert(num_layers=6, seed=3)


@pytest.mark.parametrize("builder", [from_teacher_layers, distilbert_student])
@pytest.mark.parametrize(("layers", "message"), BAD_LISTS)
def test_bad_student_layers_are_config_errors(teacher6, builder, layers, message):
    with pytest.raises(ConfigError, match="student.model.layers") as error:
        builder(teacher6, 2, layers=layers)
    assert error.match(message)


def test_other_impossible_maps_are_config_errors():
    with pytest.raises(ConfigError, match="multiple of the student depth"):
        hidden_map("uniform", 4, 6)
    with pytest.raises(ConfigError, match="one teacher layer per student layer"):
        hidden_map([2, 4], 3, 6)
    with pytest.raises(ConfigError, match="uniform"):
        attention_map("every-other", 3, 6)
    with pytest.raises(ConfigError, match="12 heads"):
        require_equal_heads(4, 12, "x")


def test_tinybert_and_mobilebert_read_the_same_teacher_layers_for_one_list():
    student, teacher = pair(student_layers=3, teacher_layers=6)
    tinybert = TinyBERTObjective(layer_map=[1, 3, 5], stage="intermediate")
    mobilebert = MobileBERTObjective(layer_map=[1, 3, 5])
    batch = padded_batch()
    tiny_out, mobile_out = losses(tinybert, student, teacher, batch), losses(mobilebert, student, teacher, batch)
    tiny_request, mobile_request = tinybert.teacher_request(), mobilebert.teacher_request()
    assert tiny_request.hidden_states == (0, 2, 4, 6)  # 0: the implicit embedding pair
    assert mobile_request.hidden_states == (2, 4, 6)
    assert tiny_request.scores == mobile_request.scores == (1, 3, 5)
    assert tinybert.student_request().hidden_states == (0, 1, 2, 3)
    assert mobilebert.student_request().hidden_states == (1, 2, 3)
    # the losses are computed on exactly those hidden states
    s = student(batch, tinybert.student_request().merge(mobilebert.student_request()))
    t = teacher(batch, tiny_request.merge(mobile_request))
    mask = batch["attention_mask"]
    hidn = sum(hidden_mse(s.hidden(m), t.hidden(j), mask) for m, j in ((1, 2), (2, 4), (3, 6)))
    fmt = sum(layer_norm_mse(s.hidden(m), t.hidden(j), mask) for m, j in ((1, 2), (2, 4), (3, 6)))
    assert tiny_out["loss_hidn"].item() == pytest.approx(hidn.item(), rel=1e-5)
    assert mobile_out["loss_fmt"].item() == pytest.approx(fmt.item(), rel=1e-5)
