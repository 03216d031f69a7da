"""The real packaged teacher: SmolLM2-135M distilled into its 15-layer half for a few steps on the
corpus; the student's held-out perplexity falls from its half-init value."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.models import load_causal_lm
from distill_zoo.models.students import from_teacher_layers
from distill_zoo.pipeline.builders import build_datamodule, build_tokenizer
from distill_zoo.pipeline.lm_eval import perplexity
from tests.conftest import compose, record_at, run_job

OVERRIDES = [
    "experiment=distilgpt2",
    "data.max_lines=400",
    "data.block_size=32",
    "data.batch_size=2",
    "data.max_eval_texts=4",
    "trainer.max_steps=6",
    "optimizer.lr=1e-4",
    "logger=csv",
    "eval.latency_runs=2",
    "eval.latency_warmup=1",
    "eval.generation_new_tokens=4",
]


@pytest.mark.slow
def test_distilling_the_packaged_teacher_lowers_the_students_held_out_perplexity(tmp_path, shared_data):
    overrides = [*OVERRIDES, f"data.path={shared_data / 'corpus' / 'rt_snippets.txt'}"]
    overrides.append(f"data.eval_text={shared_data / 'glue' / 'sst2' / 'dev.tsv'}")
    cfg = compose(overrides, tmp_path)
    datamodule = build_datamodule(cfg, build_tokenizer(cfg))
    datamodule.setup("fit")
    teacher = load_causal_lm("smollm2-135m-instruct")
    student = from_teacher_layers(teacher, 2)
    assert student.config.num_hidden_layers == 15
    columns = len(datamodule.tokenizer)
    before = perplexity(student, datamodule.heldout_dataloader(), columns, "half init")
    teacher_ppl = perplexity(teacher, datamodule.heldout_dataloader(), columns, "teacher")
    del teacher, student
    torch.manual_seed(0)

    run_job(overrides, tmp_path)
    record = record_at(tmp_path / "out")
    after = record.student.metrics["ppl_heldout"]
    assert record.teacher.metrics["ppl_heldout"] == pytest.approx(teacher_ppl, rel=1e-4)
    assert after < 0.8 * before, f"held-out perplexity {before:.1f} at init, {after:.1f} after 6 steps"
    assert record.teacher.params == 134_515_008 and record.student.params < record.teacher.params
    assert record.final_losses.keys() >= {"train/loss_kd", "train/loss_clm", "train/loss_cos"}
