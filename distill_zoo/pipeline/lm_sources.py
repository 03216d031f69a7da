"""Where a causal-LM run's training text comes from (``data.source``), wired before training.

* ``corpus``: packed blocks of the corpus; nothing to wire.
* ``teacher_generations``: sequence-level KD. The datamodule gets a completer that runs the
  teacher's ``generate`` (on the GPU when there is one) for every training prompt, once: the
  completions are cached under the teacher (its class, config and a digest of its weights,
  not the folder it was read from), the prompts and the generation settings.
* ``on_policy``: GKD. The shared module gets :class:`~distill_zoo.training.on_policy.OnPolicyBatches`.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from distill_zoo.data.lm_corpus import LMCorpusDataModule
from distill_zoo.errors import ConfigError
from distill_zoo.models.fingerprint import model_identity
from distill_zoo.models.generation import GenerationSettings, complete_all
from distill_zoo.objectives import Objective
from distill_zoo.training.on_policy import OnPolicyBatches


def generation_settings(datamodule: LMCorpusDataModule) -> GenerationSettings:
    """``data.generation`` (less its ``seed``) with ``data.completion_tokens`` new tokens; a bad option fails here."""
    options = {k: v for k, v in datamodule.generation.items() if k != "seed"}
    try:
        return GenerationSettings(max_new_tokens=datamodule.completion_tokens, **options)
    except TypeError as err:
        known = ", ".join(f for f in GenerationSettings.__dataclass_fields__ if f != "max_new_tokens")
        raise ConfigError(f"data.generation: {err}; its options are {known} and seed") from err


def wire_source(datamodule: LMCorpusDataModule, objective: Objective, teacher: PreTrainedModel) -> None:
    """Check ``data.source`` against the method and give the datamodule what it generates with."""
    settings = generation_settings(datamodule)
    if datamodule.source == "on_policy" and not objective.needs_teacher:
        raise ConfigError(
            f"data.source=on_policy trains on the student's own samples as the teacher scores them, "
            f"but {type(objective).__name__} reads no teacher; use data.source=corpus or "
            "teacher_generations for method=clm"
        )
    if datamodule.source != "teacher_generations":
        return
    seed = int(datamodule.generation.get("seed", 0))
    end = datamodule.end_of_text

    def completer(prompts: list[list[int]]) -> list[list[int]]:
        device = next(teacher.parameters()).device
        teacher.to("cuda" if torch.cuda.is_available() else "cpu")  # type: ignore[arg-type]  # wrapped .to
        try:
            return complete_all(teacher, prompts, settings, end, seed, desc="teacher completions")
        finally:
            teacher.to(device)  # type: ignore[arg-type]  # transformers' wrapped .to

    datamodule.set_completer(completer, {"teacher": model_identity(teacher), "generation": settings.describe()})


def on_policy_batches(datamodule: object, seed: int) -> OnPolicyBatches | None:
    """The module's on-policy sampler for ``data.source=on_policy``, else None."""
    if not isinstance(datamodule, LMCorpusDataModule) or datamodule.source != "on_policy":
        return None
    return OnPolicyBatches(datamodule.on_policy_fraction, generation_settings(datamodule), seed, datamodule.end_of_text)
