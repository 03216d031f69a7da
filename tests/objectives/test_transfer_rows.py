"""A batch that mixes labelled rows with transfer rows (no label): in every task objective the
supervised term reads the labelled rows only, and every teacher term reads all rows."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.labels import UNLABELLED_CLASS, labelled_rows
from distill_zoo.losses import task_loss
from tests.objectives.test_term_names import CASES, objective, run, shared_batch
from tests.objectives.zoo_helpers import pair

TASK_CASES = sorted(c for c in CASES if c != "distilbert_mlm")
#: Rows 1 and 3 of the shared batch come from the transfer set.
TRANSFER_ROWS = [1, 3]


@pytest.fixture(scope="module")
def classifiers():
    return pair(student_layers=2, teacher_layers=4)


def _with_transfer_rows(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    mixed = dict(batch)
    mixed["labels"] = batch["labels"].clone()
    mixed["labels"][TRANSFER_ROWS] = UNLABELLED_CLASS
    return mixed


@pytest.mark.parametrize("case", TASK_CASES)
def test_task_terms_read_labelled_rows_and_teacher_terms_read_all(case, tmp_path, classifiers):
    obj = objective(case, tmp_path)
    labelled = shared_batch()
    full, s, t = run(obj, classifiers, labelled)
    mixed, _, _ = run(obj, classifiers, _with_transfer_rows(labelled))
    keep = [i for i in range(len(labelled["labels"])) if i not in TRANSFER_ROWS]
    for name, value in mixed.items():
        if name == "loss":
            continue
        if name == "loss_task" and case != "pseudo_label":
            # the mean over the labelled rows alone, an explicit loop over them
            per_row = [
                torch.nn.functional.cross_entropy(s.logits[i : i + 1], labelled["labels"][i : i + 1]) for i in keep
            ]
            expected = obj.weights["task"] * torch.stack(per_row).mean()
            assert value.item() == pytest.approx(expected.item(), rel=1e-5), (case, name)
            assert value.item() != pytest.approx(full[name].item(), rel=1e-4), (case, "the transfer rows were read")
        elif name != "loss_task":
            assert value.item() == pytest.approx(full[name].item(), rel=1e-6), (case, name)
    assert mixed["loss"].item() == pytest.approx(sum(v.item() for k, v in mixed.items() if k != "loss"), rel=1e-5)


def test_pseudo_label_learns_the_teachers_class_on_transfer_rows(tmp_path, classifiers):
    obj = objective("pseudo_label", tmp_path)
    batch = _with_transfer_rows(shared_batch())
    out, s, t = run(obj, classifiers, batch)
    targets = [
        int(t.logits[i].argmax()) if i in TRANSFER_ROWS else int(batch["labels"][i])
        for i in range(len(batch["labels"]))
    ]
    per_row = [torch.nn.functional.cross_entropy(s.logits[i : i + 1], torch.tensor([y])) for i, y in enumerate(targets)]
    assert out["loss_task"].item() == pytest.approx(torch.stack(per_row).mean().item(), rel=1e-5)
    assert set(out) == {"loss", "loss_task"}  # hard targets only: no soft term


def test_pseudo_label_regression_targets_are_the_teachers_scores():
    from distill_zoo.losses import pseudo_labels

    labels = torch.tensor([0.5, float("nan"), 4.0])
    teacher = torch.tensor([[1.0], [2.5], [3.0]])
    assert pseudo_labels(labels, teacher).tolist() == [0.5, 2.5, 4.0]


def test_a_batch_of_transfer_rows_only_has_a_zero_task_loss_that_still_backpropagates():
    logits = torch.randn(3, 2, requires_grad=True)
    loss = task_loss(logits, torch.full((3,), UNLABELLED_CLASS))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None and not logits.grad.any()


def test_regression_rows_without_a_score_are_skipped():
    pred = torch.tensor([[1.0], [9.0], [3.0]])
    labels = torch.tensor([2.0, float("nan"), 1.0])
    assert task_loss(pred, labels).item() == pytest.approx(((1 - 2) ** 2 + (3 - 1) ** 2) / 2)
    assert labelled_rows(labels).tolist() == [True, False, True]
    assert labelled_rows(torch.tensor([0, UNLABELLED_CLASS, 1])).tolist() == [True, False, True]
