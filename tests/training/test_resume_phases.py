"""A run with a phase schedule, killed mid-phase and resumed, ends bit for bit where an uninterrupted run ends."""

from __future__ import annotations

import pytest

from distill_zoo.objectives import MiniLMObjective, MobileBERTObjective
from distill_zoo.training import FineTunePhase, ProgressiveTransfer
from tests.training.resumable import KillAt, differing, killed_then_resumed, train

SCHEDULES = {
    # 12 steps: layer0 for steps 0-3, layer1 for 4-7, prediction for 8-11.
    "progressive": (MobileBERTObjective, lambda: [ProgressiveTransfer(lower_lr_scale=0.1, prediction_share=1 / 3)]),
    # 12 steps: transfer for steps 0-5, fine-tuning for 6-11.
    "finetune_phase": (MiniLMObjective, lambda: [FineTunePhase(finetune_share=0.5)]),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_killed_mid_phase_resumes_to_the_uninterrupted_weights(tmp_path, name):
    """Checkpoints every 2 steps, killed after step 7: the resume starts from step 6, mid-phase for
    progressive (layer1), a phase start for finetune_phase, and the end of the first epoch."""
    objective, schedule = SCHEDULES[name]
    options = {"objective": objective, "schedule": schedule, "steps": 12}
    _, want = train(tmp_path / "whole", **options)
    got = killed_then_resumed(tmp_path / "killed", KillAt(batch=7), **options)
    assert differing(got, want) == []
