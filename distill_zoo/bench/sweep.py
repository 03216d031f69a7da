"""``sweep``: a 6-method sweep's wall time with the teacher-output cache (``auto``) vs without (``off``).

Each variant is one ``python run.py -m method=kd,distilbert,pkd,tinybert,mobilebert,minilm``
in a fresh process, as a user runs it, with the same data, seed, budget and teacher
cache folder. The fine-tuned teacher is made once before timing, so neither variant pays
for it; the ``auto`` sweep starts from an empty teacher-output cache and so pays for
computing the teacher's outputs (once per distinct request: methods that read the same
features share an entry). Reported: the whole sweep's wall seconds, and the sum of the
jobs' ``distill`` stage seconds from their ``results.json`` (caching included), without
the process start-up and evaluation both variants share. Rounds alternate the variants.

Full size: SST-2 (``$DISTILL_ZOO_DATA``), 1,000 training examples, 2 epochs, the packaged
MiniLM-L6 teacher and the default 3-layer student. Tiny (keeping it working): the built-in
demo set, tiny models, one method.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import distill_zoo
from distill_zoo.bench.harness import emit
from distill_zoo.errors import ConfigError

METHODS = ("kd", "distilbert", "pkd", "tinybert", "mobilebert", "minilm")
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "methods": METHODS,
        "rounds": 1,
        "overrides": ["data=sst2", "data.max_train_samples=1000", "trainer.max_epochs=2", "eval.latency_runs=20"],
    },
    "tiny": {
        "methods": ("kd",),
        "rounds": 1,
        "overrides": [
            "teacher=tiny",
            "student=tiny",
            "trainer=debug",
            "data.max_train_samples=64",
            "data.max_eval_samples=32",
            "eval.latency_runs=3",
            "eval.latency_warmup=1",
        ],
    },
}


def run(size: str) -> dict[str, Any]:
    opts = SIZES[size]
    entry = _entry_point()
    if size == "full" and not os.environ.get("DISTILL_ZOO_DATA"):
        raise ConfigError("the full sweep benchmark reads SST-2: set DISTILL_ZOO_DATA to the folder holding glue/sst2")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        common = [*opts["overrides"], f"paths.cache_dir={root / 'cache'}", "logger=csv", "seed=1"]
        _call(entry, ["stages=[teacher]", f"hydra.run.dir={root / 'teacher'}", *common])
        wall: dict[str, list[float]] = {"off": [], "auto": []}
        distill: dict[str, list[float]] = {"off": [], "auto": []}
        for round_index in range(opts["rounds"]):
            for mode in ("off", "auto"):
                shutil.rmtree(root / "cache" / "teacher_outputs", ignore_errors=True)
                sweep_dir = root / f"{mode}{round_index}"
                started = time.perf_counter()
                _call(
                    entry,
                    [
                        "-m",
                        f"method={','.join(opts['methods'])}",
                        f"teacher_cache={mode}",
                        f"hydra.sweep.dir={sweep_dir}",
                    ]
                    + common,
                )
                wall[mode].append(time.perf_counter() - started)
                distill[mode].append(_distill_seconds(sweep_dir, len(opts["methods"])))
    best = {mode: min(values) for mode, values in wall.items()}
    stage = {mode: min(values) for mode, values in distill.items()}
    return emit(
        "sweep",
        size,
        {
            "methods": list(opts["methods"]),
            "overrides": opts["overrides"],
            "sweep_s": best,
            "distill_stage_s": stage,
            "ratio_sweep": best["off"] / best["auto"],
            "ratio_distill": stage["off"] / stage["auto"],
            "note": "ratio = off / auto (above 1 the cache is faster); min over rounds",
        },
    )


def _entry_point() -> Path:
    """``run.py`` of a source checkout: the sweep runs exactly as a user starts it."""
    script = Path(distill_zoo.__file__).resolve().parents[1] / "run.py"
    if not script.is_file():
        raise ConfigError(f"the sweep benchmark runs run.py from a source checkout; not found at {script}")
    return script


def _call(script: Path, overrides: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(script), *overrides], cwd=script.parent, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"run.py {' '.join(overrides)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def _distill_seconds(sweep_dir: Path, jobs: int) -> float:
    records = sorted(sweep_dir.rglob("results.json"))
    if len(records) != jobs:
        raise RuntimeError(f"{sweep_dir}: {len(records)} results for {jobs} jobs")
    return sum(float(json.loads(p.read_text())["timings"]["distill_s"]) for p in records)
