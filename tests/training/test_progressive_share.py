"""The prediction phase's share of the steps lies strictly between 0 and 1: the layer phases
and the prediction phase each get steps."""

from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.training import ProgressiveTransfer


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1, 1.5])
def test_a_share_that_leaves_a_phase_without_steps_is_refused(share):
    with pytest.raises(ConfigError, match="prediction_share must lie in"):
        ProgressiveTransfer(prediction_share=share)


@pytest.mark.parametrize("share", [0.01, 0.5, 0.99])
def test_a_share_inside_the_interval_is_kept(share):
    assert ProgressiveTransfer(prediction_share=share).prediction_share == share
