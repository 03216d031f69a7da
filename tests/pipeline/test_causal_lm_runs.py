"""Causal-LM runs end to end on a tiny Llama-style teacher: every objective trains and is scored
by perplexity, agreement and generation speed; mismatched methods and data fail before training."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.report import build_report
from distill_zoo.report.metrics import score
from distill_zoo.report.predictions import read_predictions
from distill_zoo.report.tables import terminal_text
from tests.conftest import compose, record_at, run_job

LINES = [f"review {i}: the film {i % 11} was {'good' if i % 3 else 'slow'} and the cast did well" for i in range(300)]


@pytest.fixture
def lm_run(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINES) + "\nthe film 3 was a charming journey and the cast did well\n")
    dev = tmp_path / "dev.tsv"
    dev.write_text("sentence\tlabel\nthe film 3 was a charming journey .\t1\na tender , slow film .\t0\n")

    def overrides(*extra: str) -> list[str]:
        return [
            "teacher=tiny_causal",
            "student=half",
            "data=lm_corpus",
            f"data.path={corpus}",
            f"data.eval_text={dev}",
            "data.block_size=16",
            "data.batch_size=8",
            "trainer=debug",
            "logger=csv",
            "eval.latency_runs=2",
            "eval.latency_warmup=1",
            "eval.generation_new_tokens=4",
            *extra,
        ]

    def run(*extra: str, where: Path | None = None):
        run_job(overrides(*extra), where or tmp_path)
        return record_at((where or tmp_path) / "out")

    run.compose = lambda *extra: compose(overrides(*extra), tmp_path)  # type: ignore[attr-defined]
    return run


def rescored(cfg, student_dir: Path) -> dict[str, float]:
    """Held-out perplexities of the run's teacher (rebuilt: a random teacher comes from a fixed
    seed) and saved student, and their top-1 agreement, one target token at a time."""
    from transformers import AutoModelForCausalLM

    from distill_zoo.pipeline.builders import build_datamodule, build_tokenizer
    from distill_zoo.pipeline.context import pretrained_teacher
    from tests.pipeline.test_lm_eval import scored_one_by_one

    tokenizer = build_tokenizer(cfg)
    datamodule = build_datamodule(cfg, tokenizer)
    datamodule.setup("fit")
    batches = list(datamodule.heldout_dataloader())
    models = {
        "teacher": pretrained_teacher(cfg, 2).eval(),
        "student": AutoModelForCausalLM.from_pretrained(student_dir),
    }
    scored = {role: scored_one_by_one(model, batches, len(tokenizer)) for role, model in models.items()}
    counts = scored["teacher"][1]
    same = sum(a == b for t, s in zip(scored["teacher"][2], scored["student"][2]) for a, b in zip(t, s))
    return {
        "teacher": math.exp(sum(scored["teacher"][0]) / sum(counts)),
        "student": math.exp(sum(scored["student"][0]) / sum(counts)),
        "agreement": same / sum(counts),
    }


GPT2 = ("teacher.model.family=gpt2", "teacher.model.num_kv_heads=null")


@pytest.mark.parametrize(
    ("method", "terms", "signal", "family"),
    [
        ("distilgpt2", {"train/loss_kd", "train/loss_clm", "train/loss_cos"}, "live", GPT2),
        ("distilgpt2", {"train/loss_kd", "train/loss_clm", "train/loss_cos"}, "live", ()),
        ("lm_kd_by/akl", {"train/loss_div"}, "live", ()),
        ("clm", {"train/loss_clm"}, "none", ()),
    ],
)
def test_every_objective_trains_and_is_scored_by_perplexity(
    lm_run, tmp_path, monkeypatch, method, terms, signal, family
):
    """On a tiny GPT-2 (learned positions) and a tiny Llama (rotary, grouped-query heads)."""
    from tests.helpers.clocks import layer_clock

    with layer_clock(monkeypatch):  # every transformer block takes 1 ms
        record = lm_run(f"method={method}", *family)
    assert record.main_metric == "ppl_heldout" and record.task is None
    for side in (record.teacher, record.student):
        assert set(side.metrics) == {"ppl_heldout", "ppl_eval_text"}
        assert all(value > 1 for value in side.metrics.values())
        assert set(side.generation_tokens_per_s) == {"batch1", "batch8"}
    assert terms <= set(record.final_losses) and record.teacher_signal == signal
    again = rescored(lm_run.compose(f"method={method}", *family), tmp_path / "out" / "student")
    assert record.teacher.metrics["ppl_heldout"] == pytest.approx(again["teacher"], rel=1e-5)
    assert record.student.metrics["ppl_heldout"] == pytest.approx(again["student"], rel=1e-5)
    assert record.agreement == pytest.approx(again["agreement"])
    assert record.retention == pytest.approx(again["teacher"] / again["student"], rel=1e-5)  # lower is better
    # On a clock where a block takes 1 ms, each side's own forward latency and decoding speed:
    # 4 teacher blocks, 2 student blocks.
    assert record.teacher.latency_ms_median == pytest.approx(4.0)
    assert record.student.latency_ms_median == pytest.approx(2.0)
    assert record.speedup == pytest.approx(2.0)  # new tokens per second at batch 1, student over teacher
    assert record.student.params < record.teacher.params, "half the layers"


@pytest.mark.parametrize(
    ("family", "method", "source"),
    [((), "clm", "teacher_generations"), (GPT2, "lm_kd_by/jsd", "on_policy")],
)
def test_training_text_from_the_teachers_or_the_students_completions(lm_run, tmp_path, family, method, source):
    """Sequence-level KD (clm on the teacher's completions, made once) and GKD (every batch the
    student's own); held-out perplexity is scored on the corpus's blocks either way."""
    record = lm_run(
        f"method={method}",
        f"data.source={source}",
        *family,
        "data.prompt_tokens=4",
        "data.completion_tokens=6",
        "data.max_prompts=40",
        "data.on_policy_fraction=1.0",
    )
    assert record.data["source"] == source and record.student.metrics["ppl_heldout"] > 1
    if source == "on_policy":
        assert record.budget["on_policy_examples"] == record.budget["examples_seen"] > 0
        assert "train/on_policy" not in record.final_losses
    else:
        assert len(list((tmp_path / "cache").rglob("generations/*/key.json"))) == 1


@pytest.fixture
def own_process_group():
    """In-process distributed runs leave a process group (holding a port) and MASTER_ADDR/PORT
    in the environment; later subprocess tests would inherit the port. Undo both."""
    import os

    import torch.distributed as dist

    saved = dict(os.environ)
    yield
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    os.environ.clear()
    os.environ.update(saved)


def test_a_sharded_run_saves_and_scores_the_whole_student(lm_run, tmp_path, own_process_group):
    """strategy=fsdp (one CPU process here) trains the student DDP trains (both put Lightning's
    distributed sampler around the data order); the gathered weights are saved and scored."""
    import torch
    from transformers import AutoModelForCausalLM

    plain = lm_run("method=lm_kd", "strategy=ddp", "trainer.accelerator=cpu", where=tmp_path / "plain")
    sharded = lm_run("method=lm_kd", "strategy=fsdp", "trainer.accelerator=cpu", where=tmp_path / "fsdp")
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "plain" / "out" / "student").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "fsdp" / "out" / "student").state_dict()
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=name)
    assert sharded.student.metrics["ppl_heldout"] == pytest.approx(plain.student.metrics["ppl_heldout"], rel=1e-4)
    assert sharded.teacher.metrics == pytest.approx(plain.teacher.metrics, rel=1e-6), "the teacher reloaded whole"
    assert "FullyShardedStrategy" in str(sharded.trainer_options)


def test_on_policy_data_needs_a_method_that_reads_the_teacher(lm_run):
    with pytest.raises(ConfigError, match="data.source=on_policy trains on the student's own samples"):
        lm_run("method=clm", "data.source=on_policy")


def test_the_report_compares_perplexities_with_an_interval_over_held_out_blocks(lm_run, tmp_path):
    """Runs save per-block NLLs; the report recomputes each student's perplexity from them and
    gives the distilled row a paired interval against the clm control over two seeds, lower
    being better; one seed alone gets no interval."""
    records = {
        (m, seed): lm_run(f"method={m}", f"seed={seed}", where=tmp_path / "sweep" / f"{m.replace('/', '_')}_{seed}")
        for m in ("clm", "lm_kd_by/fkl")
        for seed in (1, 2)
    }
    predictions = read_predictions(tmp_path / "sweep" / "clm_1" / "out")
    assert predictions is not None and predictions.split == "heldout" and (predictions.labels > 0).all()
    for role in ("teacher", "student"):
        recorded = getattr(records["clm", 1], role).metrics["ppl_heldout"]
        assert score("ppl_heldout", predictions.labels, getattr(predictions, role)) == pytest.approx(recorded, rel=1e-9)
    report = build_report([tmp_path / "sweep"], baseline="clm", replicates=200)
    (row,) = [r for r in report.rows if r.method == "lm_kd_fkl"]
    # Tiny models timed over a handful of calls may be flagged unstable: that note is not this test's subject.
    assert row.metric == "ppl_heldout" and [n for n in row.notes if not n.startswith("latency unstable")] == []
    ppl = {key: r.student.metrics["ppl_heldout"] for key, r in records.items()}
    assert row.delta == pytest.approx(sum(ppl["lm_kd_by/fkl", s] - ppl["clm", s] for s in (1, 2)) / 2)
    assert row.ci_low is not None and row.ci_high is not None and row.ci_low < row.delta < row.ci_high
    assert "Lower is better for ppl_heldout" in terminal_text(report)
    assert row.task == "corpus:corpus.txt", "the corpus by its file name, not this machine's path"
    single = build_report([tmp_path / "sweep" / "clm_1", tmp_path / "sweep" / "lm_kd_by_fkl_1"], baseline="clm")
    (alone,) = [r for r in single.rows if r.method == "lm_kd_fkl"]
    assert alone.ci_low is None and alone.ci_high is None, "one seed gives no interval"


def test_an_encoder_method_with_a_causal_teacher_fails_before_training(lm_run, tmp_path):
    with pytest.raises(ConfigError, match="distils encoders, but the teacher is a causal language model"):
        lm_run("method=kd")
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_a_causal_method_needs_raw_text(tmp_path):
    with pytest.raises(ConfigError, match="trains on raw text: use data=lm_corpus"):
        run_job(["teacher=tiny_causal", "student=half", "method=clm", "trainer=debug"], tmp_path)
