"""Chains of runs: MiniLM's teacher assistant and TinyBERT's two steps, end to end on tiny models."""

from __future__ import annotations

import json

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.chain import stage_overrides
from tests.conftest import TINY_RUN, compose, record_at, run_job

TA = [
    *TINY_RUN,
    "experiment=minilm_ta",
    "teacher.model.num_layers=4",
    "teacher.model.hidden_size=32",
    "teacher.model.num_heads=2",
    "student.model.num_layers=2",
    "student.model.hidden_size=16",
    "student.model.num_heads=2",
    "student.model.intermediate_size=32",
    "logger=none",
]


def test_minilm_teacher_assistant_chain(tmp_path):
    results = run_job(TA, tmp_path)
    out = tmp_path / "out"
    assistant, final = record_at(out / "0_assistant"), record_at(out / "1_student")
    assert results == final
    assert (assistant.stage.name, assistant.stage.index, assistant.stage.final) == ("assistant", 0, False)
    assert (final.stage.pipeline, final.stage.index, final.stage.count, final.stage.final) == ("minilm_ta", 1, 2, True)
    from transformers import AutoConfig

    # The assistant: the teacher's depth and the student's width.
    a_model = AutoConfig.from_pretrained(out / "0_assistant" / "student")
    assert (a_model.num_hidden_layers, a_model.hidden_size) == (4, 16)
    # Stage 2 is taught by the assistant, unchanged, and builds the 2 x 16 student.
    assert final.teacher_source["model"]["name_or_path"] == str(out / "0_assistant" / "student")
    assert final.teacher_source["finetune"] is None and final.teacher_entry is None
    s_model = AutoConfig.from_pretrained(out / "1_student" / "student")
    assert (s_model.num_hidden_layers, s_model.hidden_size) == (2, 16)
    assert final.teacher.params == assistant.student.params
    chain = json.loads((out / "chain.json").read_text())
    assert chain["pipeline"] == "minilm_ta" and [s["stage"] for s in chain["stages"]] == ["assistant", "student"]


def test_finished_stages_are_not_run_again(tmp_path, capsys):
    overrides = [*TINY_RUN, "experiment=tinybert_two_step", "student=half", "teacher.model.num_layers=4", "logger=none"]
    run_job(overrides, tmp_path)
    first = (tmp_path / "out" / "0_intermediate" / "results.json").stat().st_mtime_ns
    second = record_at(tmp_path / "out" / "1_prediction")
    assert second.method_config["stage"] == "prediction" and second.stage.final
    assert record_at(tmp_path / "out" / "0_intermediate").method_config["stage"] == "intermediate"
    capsys.readouterr()
    run_job(overrides, tmp_path)
    assert "already finished" in capsys.readouterr().out
    assert (tmp_path / "out" / "0_intermediate" / "results.json").stat().st_mtime_ns == first
    # The same folder with another config is not "finished": refused before anything trains.
    with pytest.raises(ConfigError, match=r"finished stage run with another config \(.*; seed: 1 vs 2"):
        run_job([*overrides, "seed=2"], tmp_path)
    assert (tmp_path / "out" / "0_intermediate" / "results.json").stat().st_mtime_ns == first


def test_tinybert_projections_are_carried_from_stage_to_stage(tmp_path):
    """The reference keeps its fitting layers from one distillation stage to the next."""
    narrow = ["student=tiny", "student.model.hidden_size=16", "student.model.intermediate_size=32"]
    run_job([*TINY_RUN, "experiment=tinybert_two_step", *narrow, "logger=none"], tmp_path)
    saved = torch.load(tmp_path / "out" / "0_intermediate" / "student" / "objective_state.pt", weights_only=True)
    assert saved["objective"] == "TinyBERTObjective" and "proj_hidn.weight" in saved["state"]
    from distill_zoo.pipeline import prepare_run

    cfg = compose(
        [
            *TINY_RUN,
            "student=previous",
            f"student.model.name_or_path={tmp_path / 'out' / '0_intermediate' / 'student'}",
            "method=tinybert",
            "method.stage=all",
        ],
        tmp_path / "again",
    )
    ctx = prepare_run(cfg)
    assert torch.equal(ctx.objective.proj_hidn.weight, saved["state"]["proj_hidn.weight"])
    fresh = prepare_run(compose([*TINY_RUN, *narrow, "method=tinybert"], tmp_path / "fresh"))
    assert not torch.equal(fresh.objective.proj_hidn.weight, saved["state"]["proj_hidn.weight"])


def test_a_stage_that_picks_a_group_takes_it_whole():
    from pathlib import Path

    from omegaconf import OmegaConf

    stage = OmegaConf.create({"name": "task", "previous_as": "student", "overrides": ["method=none"]})
    out = stage_overrides(
        ["data=sst2", "method=tinybert", "method.stage=all", "student.model.layers=[0,2]", "seed=3"],
        stage,
        Path("/x"),
        "prev",
    )
    assert out == [
        "data=sst2",
        "seed=3",
        "method=none",
        "student=previous",
        "student.model.name_or_path='prev'",
        "paths.output_dir='/x'",
    ]


def test_bad_chain_roles(tmp_path):
    with pytest.raises(ConfigError, match="previous_as must be one of"):
        run_job([*TINY_RUN, "experiment=tinybert_two_step", "chain.1.previous_as=assistant"], tmp_path)
    assert not (tmp_path / "out").exists(), "no stage may run before the chain is validated"


def test_a_stage_config_goes_through_the_schema(tmp_path):
    """A stage composes its own config: a misspelt key in its overrides gets the schema's
    message (the nearest valid key), as a run's own config does, and that stage never trains."""
    with pytest.raises(ConfigError, match="temprature.*temperature"):
        run_job([*TINY_RUN, "experiment=tinybert_two_step", "chain.0.overrides=['+method.temprature=2']"], tmp_path)
    assert not list((tmp_path / "out").glob("*/results.json"))
