"""Entry point: compose the config with Hydra and run the pipeline. Wiring only."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from distill_zoo.errors import DistillZooError


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from distill_zoo.pipeline import run

    try:
        record = run(cfg, list(HydraConfig.get().overrides.task))
    except DistillZooError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    finally:
        # One crashed job must not leave a W&B run open for the next job of a multirun.
        import wandb

        if wandb.run is not None:
            wandb.finish()
    # The objective of hparams_search sweepers (Optuna): the student's dev score.
    if record is None or record.main_metric is None:
        return None
    return float(record.student.metrics[record.main_metric])


if __name__ == "__main__":
    main()
