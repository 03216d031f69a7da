"""With gradient accumulation a checkpoint holds an optimiser-step boundary, so a resume loses no batch."""

from __future__ import annotations

import pytest

from distill_zoo.objectives import KDObjective
from tests.training.resumable import KillAt, differing, killed_then_resumed, train

#: How the checkpoint a resume reads was written: every 2 optimiser steps, on the clock
#: (due at every batch end), or when SIGTERM stopped the run.
TRIGGERS = {
    "every_n_steps": ({"every_n_steps": 2}, "kill"),
    "every_n_minutes": ({"every_n_minutes": 1e-9}, "kill"),
    "sigterm": ({"every_n_steps": 2}, "sigterm"),
}


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
def test_killed_mid_accumulation_resumes_to_the_uninterrupted_weights(tmp_path, trigger):
    """accumulate_grad_batches=2, dropout on; stopped after batch 5, the first half of step 3."""
    checkpoint, kind = TRIGGERS[trigger]
    options = {"objective": KDObjective, "schedule": list, "steps": 4, "accumulate": 2, "checkpoint": checkpoint}
    _, want = train(tmp_path / "whole", **options)
    got = killed_then_resumed(tmp_path / "killed", KillAt(batch=5, kind=kind), **options)
    assert differing(got, want) == []
