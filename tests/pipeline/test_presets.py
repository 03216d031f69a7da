"""The sweep presets compose into what they promise: every task-level method, the paper's
ablation rows, an Optuna search that persists, and a SLURM launcher."""

from __future__ import annotations

import pytest

from distill_zoo.pipeline.builders import build_objective
from tests.conftest import ROOT, base_overrides

#: Methods for raw text (masked-LM general distillation, causal LMs) are not task-level.
TEXT_METHODS = ("distilbert_mlm", "clm", "distilgpt2", "lm_kd")
TASK_METHODS = sorted(p.stem for p in (ROOT / "conf" / "method").glob("*.yaml") if p.stem not in TEXT_METHODS)


def compose_with_hydra(overrides: list[str], tmp_path):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=base_overrides(tmp_path) + overrides, return_hydra_config=True)


def swept(cfg, key: str) -> list[str]:
    return [v.strip() for v in str(cfg.hydra.sweeper.params[key]).split(",")]


#: The hard-label baseline differs from ``none`` only with a transfer set (compare_transfer).
TRANSFER_ONLY = ("pseudo_label",)


def test_compare_methods_sweeps_every_task_level_method_over_five_seeds(tmp_path):
    cfg = compose_with_hydra(["experiment=compare_methods"], tmp_path)
    assert sorted(swept(cfg, "method")) == [m for m in TASK_METHODS if m not in TRANSFER_ONLY]
    assert {"pkd", "minilm_v2", "none"} <= set(TASK_METHODS)
    assert swept(cfg, "seed") == ["1", "2", "3", "4", "5"]
    assert cfg.data.task == "sst2" and cfg.teacher.finetune.max_train_samples is None


@pytest.mark.parametrize("method", TASK_METHODS)
def test_every_method_of_the_comparison_shares_teacher_student_and_budget(tmp_path, method):
    base = compose_with_hydra(["experiment=compare_methods", "data.max_train_samples=8000"], tmp_path)
    cfg = compose_with_hydra(
        ["experiment=compare_methods", "data.max_train_samples=8000", f"method={method}"], tmp_path
    )
    for group in ("teacher", "student", "data", "trainer", "optimizer"):
        assert cfg[group] == base[group], group
    assert cfg.method.name == method
    build_objective(cfg)  # instantiates with the preset's settings


def test_compare_transfer_is_the_low_resource_protocol(tmp_path):
    cfg = compose_with_hydra(["experiment=compare_transfer"], tmp_path)
    methods = ["none", "pseudo_label", "kd", "distilbert", "pkd", "tinybert", "minilm_v2", "mobilebert"]
    assert swept(cfg, "method") == methods and swept(cfg, "seed") == ["1", "2", "3", "4", "5"]
    assert cfg.data.task == "sst2" and cfg.data.max_train_samples == 673  # 1 % of 67,349
    assert cfg.data.transfer.source == "train_rest" and cfg.data.transfer.max_samples >= 20000
    # the teacher learns the labelled rows only, like every student
    assert cfg.teacher.finetune.max_train_samples == cfg.data.max_train_samples


def test_compare_transfer_stsb_gives_the_students_the_teachers_step_budget(tmp_path):
    cfg = compose_with_hydra(["experiment=compare_transfer_stsb"], tmp_path)
    methods = ["none", "pseudo_label", "kd", "distilbert", "pkd", "tinybert", "minilm_v2", "mobilebert"]
    assert swept(cfg, "method") == methods and swept(cfg, "seed") == ["1", "2", "3", "4", "5"]
    assert cfg.data.task == "stsb" and cfg.data.max_train_samples == 575  # 10 % of 5,749
    assert cfg.data.transfer.source == "train_rest" and cfg.data.transfer.max_samples is None
    assert cfg.teacher.finetune.max_train_samples == 575
    # the teacher's budget: 10 epochs of ceil(575 / 32) = 18 batches; the students get as many steps
    teacher_steps = cfg.teacher.finetune.max_epochs * -(-575 // cfg.data.batch_size)
    assert cfg.trainer.max_steps == teacher_steps == 180
    assert cfg.trainer.max_epochs >= 2  # one epoch of labelled + transfer rows is 167 steps


EXPECTED_ROWS = {
    "full": ("distilbert", {"kd": 0.5, "task": 0.5, "cos": 0.1}, "pretrained"),
    "no_kd": ("distilbert_no_kd", {"kd": 0.0, "task": 0.5, "cos": 0.1}, "pretrained"),
    "no_cos": ("distilbert_no_cos", {"kd": 0.5, "task": 0.5, "cos": 0.0}, "pretrained"),
    "no_task": ("distilbert_no_task", {"kd": 0.5, "task": 0.0, "cos": 0.1}, "pretrained"),
    "random_init": ("distilbert_random_init", {"kd": 0.5, "task": 0.5, "cos": 0.1}, "random"),
}


@pytest.mark.parametrize("row", sorted(EXPECTED_ROWS))
def test_ablation_rows_are_the_papers(tmp_path, row):
    cfg = compose_with_hydra(["experiment=ablation_distilbert", f"ablation={row}"], tmp_path)
    name, weights, init = EXPECTED_ROWS[row]
    objective = build_objective(cfg)
    assert (cfg.method.name, objective.weights, cfg.student.init) == (name, weights, init)
    assert sorted(swept(cfg, "ablation")) == sorted(EXPECTED_ROWS)
    if row == "random_init":
        half = compose_with_hydra(["experiment=ablation_distilbert"], tmp_path).student
        # The same architecture as the layer-copy student (MiniLM-L6: 3 layers, 384 wide, 12 heads).
        assert (cfg.student.model.num_layers, cfg.student.model.hidden_size, cfg.student.model.num_heads) == (
            3,
            384,
            12,
        )
        assert half.name == "half"


def test_hparams_search_uses_a_persistent_optuna_study(tmp_path):
    cfg = compose_with_hydra(["hparams_search=distilbert_optuna", "data=sst2"], tmp_path)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.storage.startswith("sqlite:///") and sweeper.study_name == "distilbert_sst2_half"
    assert set(sweeper.params) == {"method.temperature", "method.weights.kd", "method.weights.cos", "optimizer.lr"}
    assert cfg.method.name == "distilbert"


def test_slurm_launcher_config_composes(tmp_path):
    cfg = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], tmp_path)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.max_num_timeout > 0 and launcher.gpus_per_node == 1


@pytest.mark.parametrize("preset", ["sweep_temperature", "sweep_loss_weights"])
def test_hyperparameter_sweeps_vary_one_knob_over_seeds(tmp_path, preset):
    cfg = compose_with_hydra([f"experiment={preset}"], tmp_path)
    knob = {"sweep_temperature": "method.temperature", "sweep_loss_weights": "method.alpha"}[preset]
    values = swept(cfg, knob)
    assert len(values) >= 4 and swept(cfg, "seed") == ["1", "2", "3"]
    for value in values:
        build_objective(compose_with_hydra([f"experiment={preset}", f"{knob}={value}"], tmp_path))


@pytest.mark.slow
def test_an_optuna_study_optimises_the_dev_score_and_resumes(tmp_path, monkeypatch, capsys):
    import optuna

    from tests.conftest import TINY_RUN
    from tests.helpers.cli import cli_in_process

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = [
        "-m",
        "hparams_search=distilbert_optuna",
        *TINY_RUN,
        "student=half",
        "teacher.model.num_layers=4",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    first = cli_in_process(args, monkeypatch, capsys)
    assert first.returncode == 0, first.stderr[-3000:]
    again = [*args[:-2], f"hydra.sweep.dir={tmp_path / 'sweep2'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    second = cli_in_process(again, monkeypatch, capsys)
    assert second.returncode == 0, second.stderr[-3000:]
    study = optuna.load_study(study_name="distilbert_demo_half", storage=storage)
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 4  # the second command resumed the study: 2 + 2 trials
    import json

    scores = sorted(
        json.loads(p.read_text())["student"]["metrics"]["acc"] for p in (tmp_path).glob("sweep*/*/results.json")
    )
    assert sorted(t.value for t in trials) == pytest.approx(scores)  # the objective is the dev score


def test_compare_lm_divergences_sweeps_every_divergence_and_both_controls(tmp_path):
    cfg = compose_with_hydra(["experiment=compare_lm_divergences"], tmp_path)
    divergences = [p.stem for p in (ROOT / "conf" / "method" / "lm_kd_by").glob("*.yaml")]
    assert sorted(swept(cfg, "method")) == sorted(["clm", "distilgpt2", *(f"lm_kd_by/{d}" for d in divergences)])
    assert len(divergences) == 7 and swept(cfg, "seed") == ["1", "2", "3"]
    for option in divergences:
        job = compose_with_hydra(["experiment=compare_lm_divergences", f"method=lm_kd_by/{option}"], tmp_path)
        assert build_objective(job).divergence == option
        assert job.method.name == f"lm_kd_{option}", "a name per divergence: one summary row each"
        assert job.student == cfg.student and job.data == cfg.data and job.trainer == cfg.trainer
