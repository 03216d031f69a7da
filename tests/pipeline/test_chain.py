"""Chains of runs: MiniLM's teacher assistant and TinyBERT's two steps, end to end on tiny models."""

from __future__ import annotations

import json

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline import run
from tests.conftest import TINY_RUN, compose

TA = [
    *TINY_RUN, "experiment=minilm_ta", "teacher.model.num_layers=4", "teacher.model.hidden_size=32",
    "teacher.model.num_heads=2", "student.model.num_layers=2", "student.model.hidden_size=16",
    "student.model.num_heads=2", "student.model.intermediate_size=32", "logger=none",
]


def test_minilm_teacher_assistant_chain(tmp_path):
    results = run(compose(TA, tmp_path))
    out = tmp_path / "out"
    assistant = json.loads((out / "0_assistant" / "results.json").read_text())
    final = json.loads((out / "1_student" / "results.json").read_text())
    assert results == final
    a_cfg, s_cfg = assistant["config"], final["config"]
    # The assistant: the teacher's depth and the student's width.
    assert a_cfg["student"]["model"]["num_layers"] is None
    from transformers import AutoConfig

    a_model = AutoConfig.from_pretrained(out / "0_assistant" / "student")
    assert (a_model.num_hidden_layers, a_model.hidden_size) == (4, 16)
    # Stage 2 is taught by the assistant, unchanged, and builds the 2 x 16 student.
    assert s_cfg["teacher"]["model"]["name_or_path"] == str(out / "0_assistant" / "student")
    assert s_cfg["teacher"]["finetune"] is None
    s_model = AutoConfig.from_pretrained(out / "1_student" / "student")
    assert (s_model.num_hidden_layers, s_model.hidden_size) == (2, 16)
    assert final["teacher"]["params"] == assistant["student"]["params"]
    chain = json.loads((out / "chain.json").read_text())
    assert [s["stage"] for s in chain["stages"]] == ["assistant", "student"]


def test_finished_stages_are_not_run_again(tmp_path, capsys):
    cfg = compose([*TINY_RUN, "experiment=tinybert_two_step", "student=half", "teacher.model.num_layers=4", "logger=none"], tmp_path)
    run(cfg)
    first = (tmp_path / "out" / "0_intermediate" / "results.json").stat().st_mtime_ns
    second = (tmp_path / "out" / "1_prediction" / "results.json").read_text()
    assert json.loads(second)["config"]["method"]["stage"] == "prediction"
    capsys.readouterr()
    run(cfg)
    assert "already finished" in capsys.readouterr().out
    assert (tmp_path / "out" / "0_intermediate" / "results.json").stat().st_mtime_ns == first


def test_bad_chain_roles(tmp_path):
    cfg = compose([*TINY_RUN, "experiment=tinybert_two_step", "chain.1.previous_as=assistant"], tmp_path)
    with pytest.raises(ConfigError, match="previous_as must be one of"):
        run(cfg)
    assert not (tmp_path / "out").exists(), "no stage may run before the chain is validated"
