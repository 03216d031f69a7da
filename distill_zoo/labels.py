"""The label a transfer-set row carries: none.

A task batch may mix labelled rows with unlabelled transfer rows (``data.transfer``).
Transfer rows carry a sentinel in ``labels``, so that every supervised term (through
:func:`distill_zoo.losses.task_loss`) reads the labelled rows only, whatever the
objective, while teacher terms read every row. The sentinel is PyTorch's ``ignore_index``
for class labels and NaN for regression scores.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: The class label of a row without one (``F.cross_entropy``'s default ``ignore_index``).
UNLABELLED_CLASS = -100
#: The regression score of a row without one.
UNLABELLED_SCORE = math.nan


def unlabelled(is_regression: bool) -> float | int:
    """The sentinel label of a row without one, for a task of that kind."""
    return UNLABELLED_SCORE if is_regression else UNLABELLED_CLASS


def labelled_rows(labels: Tensor) -> Tensor:
    """(B,) bool: which rows of a batch carry a gold label."""
    if torch.is_floating_point(labels):
        return ~torch.isnan(labels)
    return labels != UNLABELLED_CLASS
