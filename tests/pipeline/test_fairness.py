"""Comparisons compare like with like: teacher cache keys, paired seeds, student init, heads."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline import prepare_run, run_pipeline
from distill_zoo.pipeline.builders import build_datamodule
from distill_zoo.pipeline.teacher_stage import is_cached, teacher_cache_key
from tests.conftest import TINY_RUN, compose, run_job


def key(cfg) -> str:
    return teacher_cache_key(cfg, build_datamodule(cfg).train_digest())


CHANGES_THE_TEACHER = [
    "trainer.limit_train_batches=2",
    "teacher.finetune.max_steps=3",
    "trainer.accumulate_grad_batches=2",
    "trainer.precision=bf16-mixed",
    "trainer.gradient_clip_val=0.5",
    "trainer.deterministic=true",
    "trainer.devices=2",
    "trainer.num_nodes=2",
    "data.max_length=32",
    "data.batch_size=8",
    "data.group_by_length=false",
    "data.length_pool_batches=7",
    "teacher.finetune.max_epochs=2",
    "teacher.finetune.optimizer.lr=0.01",
    "teacher.model.num_layers=3",
]
LEAVES_THE_TEACHER = [
    "trainer.max_steps=-1",  # Lightning's default, spelled out
    "trainer.max_steps=3",  # the student's budget: the teacher has its own (teacher.finetune.max_steps)
    "teacher.finetune.max_steps=null",  # no limit, spelled out
    "trainer.max_epochs=7",
    "trainer.log_every_n_steps=3",
    "trainer.limit_val_batches=1",
    "data.num_workers=1",
    "data.eval_batch_size=8",
    "data.max_eval_samples=16",
    "seed=5",
    "method=kd",
    "method=tinybert",
    "student=half",
    "optimizer.lr=0.5",
    "data.transfer={source: train_rest}",  # the teacher learns the labelled rows only
]


@pytest.mark.parametrize("override", CHANGES_THE_TEACHER)
def test_teacher_key_covers_every_option_that_changes_its_weights(tmp_path, override):
    assert key(compose([*TINY_RUN, override], tmp_path)) != key(compose(TINY_RUN, tmp_path))


@pytest.mark.parametrize("override", LEAVES_THE_TEACHER)
def test_teacher_key_ignores_what_cannot_change_it(tmp_path, override):
    assert key(compose([*TINY_RUN, override], tmp_path)) == key(compose(TINY_RUN, tmp_path))


def test_a_debug_teacher_is_never_reused_by_a_full_run(tmp_path):
    small = [o for o in TINY_RUN if o != "trainer=debug"]
    debug = compose([*small, "trainer=debug", "stages=[teacher]"], tmp_path)
    run_pipeline(debug)
    full = compose([*small, "trainer.max_epochs=1", "stages=[teacher]"], tmp_path)
    assert key(full) != key(debug)
    run_pipeline(full)
    entries = sorted((tmp_path / "cache" / "teachers").glob("*/entry.json"))
    assert len(entries) == 2
    for path in entries:
        entry = json.loads(path.read_text())
        assert entry["key"] == path.parent.name and "acc" in entry["metrics"]
        assert entry["description"]["trainer"].get("limit_train_batches") in (4, None)  # None: the default, dropped
    # A run that is not allowed to train the teacher and has no entry of its own refuses.
    with pytest.raises(ConfigError, match="no cached teacher"):
        prepare_run(
            compose([*small, "trainer.max_epochs=1", "teacher.finetune.max_steps=2", "stages=[distill,eval]"], tmp_path)
        )


def test_results_name_the_teacher_entry_and_its_metrics(tmp_path):
    cfg = compose([*TINY_RUN, "method=kd"], tmp_path)
    record = run_pipeline(cfg)
    entry_dir = tmp_path / "cache" / "teachers" / record.teacher_entry
    assert is_cached(entry_dir) and record.teacher.path == str(entry_dir)
    entry = json.loads((entry_dir / "entry.json").read_text())
    assert entry["description"]["data"]["max_length"] == cfg.data.max_length
    assert record.teacher_source == json.loads(json.dumps(entry["description"]["teacher"]))


def _first_batches(cfg, n: int = 3) -> list[dict[str, torch.Tensor]]:
    ctx = prepare_run(cfg)
    ctx.datamodule.train_seed = cfg.seed
    ctx.datamodule.setup("fit")
    torch.manual_seed(123)  # whatever the global stream holds, the order must not change
    loader = iter(ctx.datamodule.train_dataloader())
    return [next(loader) for _ in range(n)]


def test_data_order_of_a_seed_is_the_same_for_every_method(tmp_path):
    narrow = [*TINY_RUN, "student.model.hidden_size=16", "student.model.intermediate_size=32"]
    kd = _first_batches(compose([*narrow, "method=kd"], tmp_path))
    tinybert = _first_batches(compose([*narrow, "method=tinybert"], tmp_path))  # builds projections
    for a, b in zip(kd, tinybert):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    other_seed = _first_batches(compose([*narrow, "method=kd", "seed=2"], tmp_path))
    assert not all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(kd, other_seed))


def test_student_init_and_dropout_stream_are_the_same_for_every_method(tmp_path, monkeypatch):
    """Two methods of one seed, dropout 0.1 in teacher and student (the random student copies
    the teacher's config). The first run fine-tunes the teacher, drawing its dropout masks from
    the global stream; the second reuses the cached teacher and builds projections. Both start
    distilling from identical student weights, global RNG state and student dropout masks."""
    from distill_zoo.training import DistillationModule

    class Stop(Exception):
        pass

    seen: dict[str, tuple] = {}
    original = DistillationModule.training_step

    def spy(self, batch, batch_idx):
        if type(self.objective).__name__ == "SupervisedObjective":  # the teacher's fine-tuning
            return original(self, batch, batch_idx)
        rng = torch.get_rng_state().clone()
        state = {k: v.detach().clone() for k, v in self.student.model.state_dict().items()}
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
        with torch.no_grad():  # in training mode: two calls, two dropout masks
            masked = [self.student.model(**inputs).logits for _ in range(2)]
        seen[type(self.objective).__name__] = (state, rng, batch["input_ids"].clone(), *masked)
        raise Stop  # after recording the first step

    monkeypatch.setattr(DistillationModule, "training_step", spy)
    narrow = [
        *TINY_RUN,
        "teacher.model.dropout=0.1",
        "student.model.hidden_size=16",
        "student.model.intermediate_size=32",
    ]
    for method in ("kd", "tinybert"):  # tinybert draws W_e and W_h (16 -> 32)
        cfg = compose([*narrow, "logger=none", f"method={method}"], tmp_path)
        cfg.paths.output_dir = str(tmp_path / method)  # one teacher cache, two run folders
        with pytest.raises(Stop):
            run_pipeline(cfg)
    assert sorted(p.name for p in (tmp_path / "cache" / "teachers").glob("*/entry.json")) == ["entry.json"]
    kd, tinybert = seen["KDObjective"], seen["TinyBERTObjective"]
    assert kd[0].keys() == tinybert[0].keys()
    assert all(torch.equal(kd[0][k], tinybert[0][k]) for k in kd[0])
    assert torch.equal(kd[1], tinybert[1]) and torch.equal(kd[2], tinybert[2])
    assert not torch.equal(kd[3], kd[4]), "dropout is on in the student"
    assert torch.equal(kd[3], tinybert[3]) and torch.equal(kd[4], tinybert[4]), "the same dropout masks"


def test_student_init_pretrained_vs_finetuned(tmp_path):
    base = [*TINY_RUN, "student=half", "teacher.model.num_layers=4", "method=none", "stages=[teacher]"]
    run_pipeline(compose(base, tmp_path))
    from distill_zoo.models import load_classifier
    from distill_zoo.pipeline.context import make_student
    from distill_zoo.pipeline.teacher_stage import read_entry

    pre_ctx = prepare_run(compose([*base, "student.init=pretrained"], tmp_path))
    fine_cfg = compose([*base, "student.init=finetuned"], tmp_path)
    fine_ctx = prepare_run(fine_cfg)
    assert fine_ctx.student is None  # built from the fine-tuned teacher after the teacher stage
    finetuned = load_classifier(str(read_entry(fine_ctx.teacher.path).path), 2)
    fine = make_student(fine_cfg, finetuned, 2)
    pre = pre_ctx.student
    pretrained = pre_ctx.teacher_model
    # Layer 0 of both comes from teacher layer 0: pretrained weights vs fine-tuned weights.
    q = lambda m: m.bert.encoder.layer[0].attention.self.query.weight  # noqa: E731
    assert torch.equal(q(pre), q(pretrained)) and torch.equal(q(fine), q(finetuned))
    assert not torch.equal(q(pre), q(fine))
    # The fine-tuned init keeps the teacher's trained head; the pretrained init draws a fresh one.
    assert torch.equal(fine.classifier.weight, finetuned.classifier.weight)
    assert not torch.equal(pre.classifier.weight, pretrained.classifier.weight)
    with pytest.raises(ConfigError, match="student.init must be one of"):
        prepare_run(compose([*base, "student.init=teacher"], tmp_path))


def test_init_is_recorded_and_the_control_is_teacher_free_by_default(tmp_path):
    record = run_pipeline(compose([*TINY_RUN, "student=half", "teacher.model.num_layers=4", "method=none"], tmp_path))
    assert record.student_init == "pretrained"
    assert record.student_config["init"] == "pretrained"


def test_a_task_run_that_would_leave_the_head_untrained_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="untrained head"):
        prepare_run(compose([*TINY_RUN, "method=tinybert", "method.stage=intermediate"], tmp_path))
    with pytest.raises(ConfigError, match="untrained head"):
        prepare_run(compose([*TINY_RUN, "method=minilm", "method.weights.task=0", "callbacks=none"], tmp_path))
    assert not (tmp_path / "out").exists()


def test_minilm_in_a_task_run_trains_its_head(tmp_path):
    """MiniLM distils relations, then fine-tunes the head, within the run's own step budget."""
    cfg = compose(
        [
            *TINY_RUN,
            "method=minilm",
            "student=half",
            "teacher.model.num_layers=4",
            "logger=csv",
            "trainer.max_epochs=2",
        ],
        tmp_path,
    )  # 2 epochs x 4 batches
    ctx = prepare_run(cfg)
    head_before = ctx.student.classifier.weight.detach().clone()
    record = run_pipeline(cfg)
    from transformers import AutoModelForSequenceClassification

    head_after = AutoModelForSequenceClassification.from_pretrained(record.student.path).classifier.weight
    assert not torch.allclose(head_before, head_after)
    assert record.budget["steps_done"] == 8
    rows = next((tmp_path / "out" / "csv").rglob("metrics.csv")).read_text().splitlines()
    header = rows[0].split(",")
    logged = [dict(zip(header, r.split(","))) for r in rows[1:]]
    assert any(r.get("train/loss_at") for r in logged) and any(r.get("train/loss_task") for r in logged)


def test_student_init_must_suit_the_builder(tmp_path):
    with pytest.raises(ConfigError, match=r"student.init must be one of \['random'\] for student=tiny"):
        prepare_run(compose([*TINY_RUN, "student.init=finetuned"], tmp_path))


def test_a_corpus_run_keeps_the_copied_masked_lm_head(tmp_path):
    """DistilBERT's general init copies embeddings and the MLM head; no fresh head there."""
    cfg = compose(
        [
            "experiment=distilbert_general",
            "teacher=tiny_mlm",
            "teacher.model.num_layers=4",
            "student=half",
            "data.max_lines=20",
            "logger=none",
        ],
        tmp_path,
    )
    ctx = prepare_run(cfg)
    student, teacher = ctx.student, ctx.teacher_model
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight)
    assert torch.equal(student.cls.predictions.transform.dense.weight, teacher.cls.predictions.transform.dense.weight)


def test_validation_leaves_the_global_stream_alone(tmp_path):
    """Validation settings must not shift the dropout masks of the steps after it."""
    ctx = prepare_run(compose(TINY_RUN, tmp_path))
    ctx.datamodule.setup("fit")
    before = torch.get_rng_state().clone()
    for _ in ctx.datamodule.val_dataloader():
        pass
    assert torch.equal(before, torch.get_rng_state())


def test_teacher_subset_is_its_own_and_students_on_a_budget_share_it(tmp_path):
    """teacher.finetune.max_train_samples=null: one teacher on the full split for every student budget."""
    full = ["teacher.finetune.max_train_samples=null"]
    small = prepare_run(compose([*TINY_RUN, *full, "data.max_train_samples=16"], tmp_path))
    larger = prepare_run(compose([*TINY_RUN, *full, "data.max_train_samples=48"], tmp_path))
    following = prepare_run(compose([*TINY_RUN, "data.max_train_samples=16"], tmp_path))
    everything = len(
        build_datamodule(compose([*TINY_RUN, "data.max_train_samples=null"], tmp_path)).load_examples()["train"]
    )
    assert len(small.datamodule.load_examples()["train"]) == 16
    assert len(small.teacher_data.load_examples()["train"]) == everything > 48
    assert small.teacher.key == larger.teacher.key  # the students' budgets do not enter the teacher
    assert following.teacher_data is following.datamodule and following.teacher.key != small.teacher.key
    assert small.teacher.description["train_examples"] == small.teacher_data.train_digest()


@pytest.mark.slow
def test_the_teacher_trains_for_its_own_budget_never_the_students_max_steps(tmp_path):
    def teacher_weights(name: str, *extra: str) -> dict[str, torch.Tensor]:
        cache = tmp_path / name
        run_job([*TINY_RUN, "stages=[teacher]", f"paths.cache_dir={cache}", *extra], tmp_path / f"run-{name}")
        (weights,) = (cache / "teachers").glob("*/model.safetensors")
        return load_file(weights)

    default = teacher_weights("default")
    assert _same(teacher_weights("student-budget", "trainer.max_steps=1"), default)
    assert not _same(teacher_weights("own-budget", "teacher.finetune.max_steps=1"), default)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
