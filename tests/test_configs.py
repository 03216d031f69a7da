"""Every method x student option composes, instantiates and either works or fails clearly."""

from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.models import encoder_dims
from distill_zoo.pipeline.builders import build_datamodule, build_objective, build_pretrained_teacher, build_student
from tests.conftest import ROOT, compose, tiny_bert

METHODS = sorted(p.stem for p in (ROOT / "conf" / "method").glob("*.yaml"))
STUDENTS = sorted(p.stem for p in (ROOT / "conf" / "student").glob("*.yaml"))
DATA = sorted(p.stem for p in (ROOT / "conf" / "data").glob("*.yaml") if p.stem != "glue")


def test_the_expected_options_exist():
    assert {"kd", "distilbert", "none"} <= set(METHODS)
    assert {"half", "random", "tiny", "pretrained"} <= set(STUDENTS)
    assert {"demo", "sst2", "mrpc", "cola", "stsb", "rte", "qnli", "mnli", "qqp"} <= set(DATA)


@pytest.mark.parametrize("student", STUDENTS)
@pytest.mark.parametrize("method", METHODS)
def test_method_student_pair(tmp_path, method, student):
    extra = []
    if student in ("pretrained", "previous"):
        tiny_bert().save_pretrained(tmp_path / "ckpt")
        extra = [f"student.model.name_or_path={tmp_path / 'ckpt'}"]
    cfg = compose(["teacher=tiny", f"method={method}", f"student={student}", *extra], tmp_path)
    objective = build_objective(cfg)
    expected = {"none": "supervised", "minilm_v2": "minilm"}.get(method, method).replace("_", "")
    assert type(objective).__name__.lower().startswith(expected)
    assert type(objective).__name__.endswith("Objective")
    teacher = build_pretrained_teacher(cfg, 2)
    model = build_student(cfg, teacher, 2)
    assert model.config.num_labels == 2
    s, t = encoder_dims(model.config), encoder_dims(teacher.config)
    reason = incompatibility(method, s, t)
    if reason:
        with pytest.raises(ConfigError, match=reason):
            objective.configure(s, t)
    else:
        objective.configure(s, t)
        # Every index the objective will read exists on both models.
        objective.student_request().resolve(s.num_layers, "student")
        objective.teacher_request().resolve(t.num_layers, "teacher")


def incompatibility(method, s, t) -> str | None:
    """What each method cannot do with a pair (None: it must work)."""
    if method == "distilbert" and s.hidden_size != t.hidden_size:
        return "wide"
    if method in ("distilbert_mlm", "distilgpt2") and s.hidden_size != t.hidden_size:
        return "width"
    if method in ("tinybert", "mobilebert") and t.num_layers % s.num_layers:
        return "multiple of the student depth"
    if method in ("tinybert", "mobilebert", "minilm") and s.num_heads != t.num_heads:
        return "heads"
    if method == "minilm_v2" and (s.hidden_size % 48 or t.hidden_size % 48):
        return "relation heads"
    if method == "pkd":
        if s.num_layers > t.num_layers:
            return "no deeper than its teacher"
        if s.num_layers < 2:
            return "1-layer student"
        if t.num_layers % s.num_layers:
            return "multiple of the student depth"
        if s.hidden_size != t.hidden_size:
            return "wide"
    return None


@pytest.mark.parametrize("data", DATA)
def test_every_data_option_builds(tmp_path, data):
    cfg = compose([f"data={data}"], tmp_path)
    datamodule = build_datamodule(cfg)
    if data in ("corpus", "lm_corpus"):
        assert datamodule.path.endswith("corpus/rt_snippets.txt")
    else:
        assert datamodule.spec.name == data


@pytest.mark.parametrize("experiment", ["distilgpt2", "compare_lm_divergences"])
def test_the_causal_lm_experiments_compose(tmp_path, experiment):
    cfg = compose([f"experiment={experiment}"], tmp_path)
    assert cfg.teacher.name == "smollm2_135m" and cfg.data._target_.endswith("LMCorpusDataModule")
    assert cfg.student.model.freeze_position_embeddings == "auto" and cfg.method.name == "distilgpt2"


def test_methods_select_their_schedule(tmp_path):
    """Method callbacks are a config group of their own, chosen by the method and overridable."""
    assert list(compose(["method=mobilebert"], tmp_path).callbacks) == ["progressive"]
    assert list(compose(["method=minilm"], tmp_path).callbacks) == ["finetune"]
    assert dict(compose(["method=kd"], tmp_path).callbacks) == {}
    assert dict(compose(["method=mobilebert", "callbacks=none"], tmp_path).callbacks) == {}


def test_strategies_fill_in_the_trainer(tmp_path):
    assert compose(["strategy=single"], tmp_path).trainer.devices == 1
    ddp = compose(["strategy=ddp"], tmp_path).trainer
    assert ddp.strategy._target_.endswith("DDPStrategy") and ddp.num_nodes == 1
    assert compose(["strategy=ddp_multinode"], tmp_path).trainer.num_nodes == 2
