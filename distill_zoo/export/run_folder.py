"""A finished task run, read back: its record, saved config and command, and its dev data.

Export checks an artefact against the numbers the run itself measured, so it needs a run that
measured some: a task run whose eval stage wrote ``results.json`` (its record holds the resolved
config), with the ``student/`` folder and the ``provenance.json`` that every run writes. Anything else is
refused in one line (:class:`~distill_zoo.errors.ConfigError`, exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedTokenizerBase

from distill_zoo.data import GlueDataModule
from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.builders import build_datamodule
from distill_zoo.pipeline.record import RunRecord, read_record
from distill_zoo.pipeline.rundir import PROVENANCE

RESULTS = "results.json"
STUDENT = "student"
#: Dev sentences timed for latency, as the eval stage times them.
LATENCY_EXAMPLES = 32


@dataclass(frozen=True)
class FinishedRun:
    """What export reads from a run folder.

    Attributes:
        path: the run folder.
        record: its ``results.json``.
        config: its resolved config, as the run saw it (the record's copy of ``.hydra/resolved.yaml``).
        provenance: its ``provenance.json`` (``command``, ``git_commit``, ...).
    """

    path: Path
    record: RunRecord
    config: DictConfig
    provenance: dict[str, Any]

    @property
    def student_dir(self) -> Path:
        return self.path / STUDENT


def read_run(path: Path) -> FinishedRun:
    """The finished task run in ``path``; ConfigError naming what is missing otherwise."""
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder; give a run folder (the one holding results.json)")
    if not (path / RESULTS).is_file():
        if (path / "chain.json").is_file():
            raise ConfigError(f"{path} is a chain's folder; export one of its stage folders (each has {RESULTS})")
        raise ConfigError(f"{path} is not a finished run: it has no {RESULTS} (a run writes it when its eval ends)")
    try:
        record = read_record(path / RESULTS)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"{path / RESULTS} cannot be read: {err}") from err
    if record.task is None:
        raise ConfigError(
            f"{path} is a corpus (general) run: it has no task and no dev metric to check an export against; "
            "export a task run (e.g. a task stage distilled from it)"
        )
    if not record.student.metrics:
        raise ConfigError(f"{path} has no dev metrics for its student; run its eval stage first (stages=[eval])")
    if not (path / STUDENT).is_dir():
        raise ConfigError(f"{path} has no {STUDENT}/ folder: there is no student to export")
    if not (path / PROVENANCE).is_file():
        raise ConfigError(
            f"{path} has no {PROVENANCE}, which names the command that made the run for the model card "
            "(runs write it since distill_zoo recorded provenance); rerun it with this distill_zoo"
        )
    provenance = json.loads((path / PROVENANCE).read_text())
    config = OmegaConf.create(record.config)
    return FinishedRun(path, record, config, provenance)


def dev_datamodule(run: FinishedRun, tokenizer: PreTrainedTokenizerBase) -> GlueDataModule:
    """The run's dev split, tokenised by ``tokenizer`` exactly as the run tokenised it (same task,
    subset, ``max_length``, batch size), from the run's own config through the project's builder."""
    # Only dev is read: augmentation (which would rebuild TinyBERT's augmented set) is off and the
    # training split is cut to one example. Neither touches dev, whose subset has its own draw.
    cfg = OmegaConf.merge(run.config, {"data": {"augment": None, "max_train_samples": 1}})
    assert isinstance(cfg, DictConfig), "a merge of mappings is a mapping"
    datamodule = build_datamodule(cfg, tokenizer)
    datamodule.setup("validate")
    return datamodule


def latency_inputs(datamodule: GlueDataModule) -> list[Mapping[str, torch.Tensor]]:
    """The first dev sentences, one unpadded example each, as the eval stage times them."""
    assert datamodule.tokenizer is not None, "dev_datamodule sets the tokenizer"
    tokenizer, spec = datamodule.tokenizer, datamodule.spec
    rows = datamodule.load_examples()["dev"][:LATENCY_EXAMPLES]
    texts = [tuple(row[f] for f in spec.text_fields) for row in rows]
    return [tokenizer(*t, return_tensors="pt", truncation=True, max_length=datamodule.max_length) for t in texts]
