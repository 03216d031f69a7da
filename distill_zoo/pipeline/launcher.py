"""Hydra's local launcher and basic sweeper, but one failing job does not stop a sweep.

Hydra's ``BasicSweeper`` refuses the whole sweep when one job's config cannot be
composed (a bad value in the sweep), its ``BasicLauncher`` stops when a job exits; and the sweeper re-raises a
failed job's error once the batch ends, so ``on_multirun_end`` (the sweep summary)
never runs. :class:`IsolatingLauncher` runs every job; a failed one leaves
``failed.json`` in its folder (written by :mod:`distill_zoo.pipeline.job`, or here when
its config could not even be composed) and returns NaN, which the basic sweeper ignores
and the Optuna sweeper records as a failed trial. ``run.py`` exits 1 when any job failed.

SIGTERM and Ctrl-C still stop the sweep (they are not job failures).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, filter_overrides, run_job
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from distill_zoo.pipeline.record import FAILED, write_json

log = logging.getLogger(__name__)

#: Jobs of this process's multiruns that failed: (job number, folder, error).
FAILED_JOBS: list[tuple[int, str, str]] = []


class IsolatingSweeper(Sweeper):
    """Hydra's basic sweeper without its up-front check that every job's config composes:
    that check ends the whole sweep on one bad value, before any job runs. The launcher
    composes each job itself and records one that cannot be composed as a failed job.

    It wraps a ``BasicSweeper`` rather than subclassing it: Hydra's plugin scan re-imports
    its own modules, so a subclass made at import time can end up with a stale base class.
    """

    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        self._basic = BasicSweeper(max_batch_size=max_batch_size, params=params)
        self._basic.validate_batch_is_legal = lambda batch: None  # type: ignore[method-assign]

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self._basic.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self._basic.sweep(arguments)


class IsolatingLauncher(Launcher):
    """Runs the jobs of a sweep one after another in this process; failures stay in their job."""

    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        returns = []
        for offset, overrides in enumerate(job_overrides):
            index = initial_job_idx + offset
            log.info(f"\t#{index} : {' '.join(filter_overrides(overrides))}")
            returns.append(self._run_one(index, list(overrides), sweep_dir))
        return returns

    def _run_one(self, index: int, overrides: list[str], sweep_dir: Path) -> JobReturn:
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        try:
            config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        except HydraException as err:
            folder = sweep_dir / f"{index}_uncomposable"
            folder.mkdir(parents=True, exist_ok=True)
            message = str(err).split("\nConfig search path:")[0]
            write_json(
                folder / FAILED,
                {
                    "error": message,
                    "type": type(err).__name__,
                    "exit_code": 2,
                    "overrides": overrides,
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
            )
            print(f"error: job #{index} ({' '.join(overrides)}): {message}")
            return self._failed(index, str(folder), message, overrides)
        with open_dict(config):
            config.hydra.job.id = index
            config.hydra.job.num = index
        result = run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        if result.status == JobStatus.FAILED:
            error = result._return_value
            return self._failed(index, str(config.hydra.runtime.output_dir), str(error), overrides, result)
        return result

    @staticmethod
    def _failed(
        index: int, folder: str, error: str, overrides: list[str], result: JobReturn | None = None
    ) -> JobReturn:
        FAILED_JOBS.append((index, folder, error.splitlines()[0] if error else "failed"))
        # COMPLETED with NaN: the sweeper must not re-raise the error and end the sweep.
        ret = result or JobReturn(overrides=overrides)
        ret.status = JobStatus.COMPLETED
        ret.return_value = math.nan
        return ret
