"""A Hydra callback: print (and save) the sweep's summary when a multirun ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from distill_zoo.errors import ConfigError


class SweepSummary(Callback):
    """After ``python run.py -m ...``: the summary of every job, in the terminal and in
    ``<sweep dir>/summary.txt``. A sweep whose runs cannot be merged says why; failed jobs
    are listed after it."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from distill_zoo.pipeline.launcher import FAILED_JOBS
        from distill_zoo.pipeline.summary import summary_text

        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        try:
            text = summary_text(sweep_dir)
        except ConfigError as err:
            text = f"no summary: {err}"
        if FAILED_JOBS:
            lines = [f"  #{index} {folder}: {error}" for index, folder, error in FAILED_JOBS]
            text += f"\n\n{len(FAILED_JOBS)} job(s) failed (failed.json in each folder):\n" + "\n".join(lines)
        (sweep_dir / "summary.txt").write_text(text + "\n")
        print("\n" + text)
