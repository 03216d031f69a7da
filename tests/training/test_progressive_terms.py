"""In each phase of the progressive schedule the objective reads only that phase's terms, and
the parts of the student no phase term reaches (embeddings, classifier) are frozen until the
prediction phase: no gradient is computed for them, so none enters gradient clipping."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from distill_zoo.objectives import MobileBERTObjective
from distill_zoo.training import DistillationModule, ProgressiveTransfer
from tests.conftest import padded_batch, tiny_bert
from tests.training.resumable import quiet_trainer


class Requests(L.Callback):
    """What the objective asks of the student and the teacher at each optimiser step."""

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        objective, model = pl_module.objective, pl_module.student.model
        trainable = (model.bert.embeddings.word_embeddings.weight.requires_grad, model.classifier.weight.requires_grad)
        self.seen.append((objective.student_request(), objective.teacher_request(), trainable))


def test_the_prediction_phase_reads_logits_only_and_each_layer_phase_its_own_layer():
    L.seed_everything(0)
    module = DistillationModule(
        student=tiny_bert(num_layers=2, seed=1),
        objective=MobileBERTObjective(),
        teacher=tiny_bert(num_layers=4, seed=2),
        optimizer=lambda groups: torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.0),
    )
    requests = Requests()
    trainer = quiet_trainer(max_steps=6, callbacks=[ProgressiveTransfer(prediction_share=1 / 3), requests])
    trainer.fit(module, DataLoader([padded_batch(4, 8, seed=i) for i in range(6)], batch_size=None))
    # Uniform map of 2 student layers onto 4 teacher layers: student l reads teacher 2l + 1.
    for step, (student, teacher, trainable) in enumerate(requests.seen):
        assert trainable == ((True, True) if step >= 4 else (False, False)), step
        if step < 4:  # layer phases: student layer 0, then 1; hidden state l + 1, attention scores of l
            layer = step // 2
            assert student.hidden_states == (layer + 1,) and student.scores == (layer,), step
            assert teacher.hidden_states == (2 * layer + 2,) and teacher.scores == (2 * layer + 1,), step
            assert not student.logits and not teacher.logits, step
        else:  # the prediction phase: the logits and no layer feature
            assert student.logits and teacher.logits, step
            assert student.hidden_states == () and student.scores == (), step
            assert teacher.hidden_states == () and teacher.scores == (), step
