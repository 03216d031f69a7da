"""The TextBrewer comparison: without the optional package it stops with the install command
before building a model; with it, both sides compute the same loss and make the same update."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from distill_zoo.bench import textbrewer as bench
from distill_zoo.bench.__main__ import BENCHMARKS, OPTIONAL, main
from distill_zoo.bench.harness import Pair, random_batch
from distill_zoo.models.students import from_teacher_layers
from tests.conftest import tiny_bert


def test_without_textbrewer_one_line_names_the_install_command_before_any_model(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textbrewer", None)  # `import textbrewer` now raises ImportError

    def no_models(size: str) -> Pair:
        raise AssertionError("a model was built before the missing package was reported")

    monkeypatch.setattr(bench, "make_pair", no_models)
    assert main(["textbrewer", "--size", "tiny"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "pip install --no-deps textbrewer==0.2.1.post1 tensorboardX" in lines[0]


def test_all_leaves_out_the_optional_benchmark():
    assert "textbrewer" in OPTIONAL and "textbrewer" not in BENCHMARKS


def test_tiny_run_checks_equal_first_step_losses_and_prints_its_fields(capsys):
    pytest.importorskip("textbrewer")
    assert main(["textbrewer", "--size", "tiny"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["bench"] == "textbrewer" and line["size"] == "tiny"
    losses = line["first_step_loss"]
    assert losses["distill_zoo"] > 0 and abs(losses["distill_zoo"] - losses["textbrewer"]) < 1e-5
    for key in ("median_round_ms", "samples_per_s", "peak_rss_mib"):
        assert set(line[key]) == {"distill_zoo", "textbrewer"}
    assert set(line["by_order"]) == {"distill_zoo first", "textbrewer first"}
    assert all(v > 0 for v in line["samples_per_s"].values())
    assert isinstance(line["ratio"], float) and line["ratio"] > 0
    assert line["textbrewer"] == "0.2.1.post1"


def test_one_round_leaves_both_students_with_the_same_weights(tmp_path):
    """Same optimiser, schedule, clipping and batches: after 2 steps the students agree
    (no dropout here, so no random stream has to line up)."""
    pytest.importorskip("textbrewer")
    teacher = tiny_bert(num_layers=4, seed=0)
    pair = Pair(teacher.eval(), from_teacher_layers(teacher, 2, num_layers=2).train(), teacher.config.vocab_size)
    batches = [random_batch(pair.vocab_size, 4, 12, seed=i) for i in range(2)]
    ours, theirs = bench.DistillZooSide(pair, 2), bench.TextBrewerSide(pair, 2, str(tmp_path))
    assert ours.pairs == [(0, 1)]
    ours.round(batches)
    theirs.round(batches)
    trained = dict(ours.module.student.model.named_parameters())
    moved = 0.0
    for name, param in theirs.student.named_parameters():
        torch.testing.assert_close(trained[name], param, rtol=0, atol=1e-6)
        moved = max(moved, (param - dict(pair.student.named_parameters())[name]).abs().max().item())
    assert moved > 1e-5  # both really trained
    assert not list(tmp_path.iterdir())  # TextBrewer wrote no checkpoint
