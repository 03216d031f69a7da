"""Entry point: check the command line, compose the config with Hydra, run the job. Wiring only."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONFIG_DIR = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from distill_zoo.pipeline.job import run_job

    hydra_cfg = HydraConfig.get()
    record = run_job(cfg, list(hydra_cfg.overrides.task), multirun=hydra_cfg.mode == RunMode.MULTIRUN)
    # The objective of hparams_search sweepers (Optuna): the student's dev score.
    if record is None or record.main_metric is None:
        return None
    return float(record.student.metrics[record.main_metric])


def cli() -> int:
    """Refuse a single run's mistyped override before Hydra starts (exit 2, nothing written),
    run, and exit 1 if any job of a multirun failed."""
    from distill_zoo.errors import ConfigError
    from distill_zoo.pipeline.command_line import check_overrides, hydra_overrides
    from distill_zoo.pipeline.launcher import FAILED_JOBS

    overrides = hydra_overrides(sys.argv[1:])
    if overrides is not None:
        try:
            check_overrides(overrides, CONFIG_DIR)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return err.exit_code
    main()
    if FAILED_JOBS:
        print(f"{len(FAILED_JOBS)} job(s) failed:", file=sys.stderr)
        for index, folder, error in FAILED_JOBS:
            print(f"  #{index} {folder}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
