"""Run objectives on real tiny encoders: features through the wrapper, a few optimiser steps."""

from __future__ import annotations

import copy

import torch

from distill_zoo.models import Encoder, FrozenEncoder
from distill_zoo.objectives import Objective
from tests.conftest import padded_batch, tiny_bert


def pair(student_layers=2, teacher_layers=4, student_hidden=32, teacher_hidden=32, heads=2, copy_teacher=False):
    teacher = tiny_bert(num_layers=teacher_layers, hidden_size=teacher_hidden, heads=heads, seed=2)
    if copy_teacher:
        student = copy.deepcopy(teacher)
    else:
        student = tiny_bert(num_layers=student_layers, hidden_size=student_hidden, heads=heads, seed=1)
    return Encoder(student.train()), FrozenEncoder(teacher)


def losses(objective: Objective, student: Encoder, teacher: FrozenEncoder, batch=None) -> dict[str, torch.Tensor]:
    objective.configure(student.dims, teacher.dims)
    batch = batch or padded_batch()
    return objective(student(batch, objective.student_request()), teacher(batch, objective.teacher_request()), batch)


def train_steps(objective: Objective, student: Encoder, teacher: FrozenEncoder, steps: int = 40) -> list[float]:
    objective.configure(student.dims, teacher.dims)
    params = [*student.parameters(), *objective.parameters()]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    batch = padded_batch(8, 10, seed=3)
    history = []
    for _ in range(steps):
        out = objective(student(batch, objective.student_request()), teacher(batch, objective.teacher_request()), batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        history.append(float(out["loss"].detach()))
    return history
