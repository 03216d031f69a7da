"""The model card (``README.md``) of an export: what the student is, how it was made, and what
the artefact itself scores and costs, next to what the run measured.

Everything comes from the run's own record, config and provenance, so the card names no path of
the exporting machine beyond those the run recorded.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml
from huggingface_hub import ModelCard, ModelCardData

from distill_zoo.export.formats import LIBRARY, RUNTIME
from distill_zoo.export.measure import Measurement, points
from distill_zoo.export.run_folder import FinishedRun
from distill_zoo.pipeline.record import git_commit, hardware

_INIT = {
    "pretrained": "the pre-trained teacher's layers, fresh classification head",
    "finetuned": "the fine-tuned teacher's layers, pooler and head",
    "random": "random weights",
    "checkpoint": "a pre-trained checkpoint",
}


def model_card(run: FinishedRun, fmt: str, measured: Measurement, export_command: list[str]) -> ModelCard:
    """The card of ``run``'s student exported as ``fmt`` and measured as ``measured``."""
    record = run.record
    data = ModelCardData(
        library_name=LIBRARY[fmt],
        pipeline_tag="text-classification",
        tags=["distillation", record.method, str(record.task), fmt],
        metrics=sorted(record.student.metrics),
    )
    body = "\n\n".join(
        [
            f"# {record.task} student distilled with `{record.method}` ({fmt})",
            _model(run),
            _block("## Method", f"`{record.method}`, with these options:", record.method_config),
            _block(
                "## Data",
                f"Task `{record.task}`, scored on `{record.eval_split}`; subset and tokenisation:",
                record.data,
            ),
            _metrics(run, fmt, measured),
            _cost(run, fmt, measured),
            _provenance(run, export_command),
        ]
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def _model(run: FinishedRun) -> str:
    record = run.record
    start = _INIT.get(record.student_init, record.student_init)
    base = record.teacher_source.get("model", {}).get("name_or_path") or record.student_config.get("model", {}).get(
        "name_or_path"
    )
    lines = [
        "## Model",
        "",
        f"- Student: `{record.student_name}`, initialised from {start} (`student_init={record.student_init}`)"
        + (f"; base model `{base}`" if base and record.student_init != "random" else ""),
        f"- Teacher: cache entry `{record.teacher_entry}`, teacher option `{record.teacher_source.get('name')}`",
    ]
    return "\n".join(lines) + "\n\n" + _yaml({"student": record.student_config, "teacher": record.teacher_source})


def _metrics(run: FinishedRun, fmt: str, measured: Measurement) -> str:
    rows = [
        f"| {name} | {value:.4f} | {measured.metrics[name]:.4f} | {points(value, measured.metrics[name]):+.2f} |"
        for name, value in sorted(run.record.student.metrics.items())
    ]
    return "\n".join(
        [
            f"## Dev metrics ({run.record.eval_split}, {measured.examples} examples)",
            "",
            f"The run scored its student in PyTorch; the export column is this folder's model run with "
            f"{RUNTIME[fmt]} over the same examples, tokenised as the run tokenised them.",
            "",
            "| metric | run | export | difference (points) |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def _cost(run: FinishedRun, fmt: str, measured: Measurement) -> str:
    student = run.record.student
    return "\n".join(
        [
            "## Size and latency",
            "",
            f"- Parameters: {student.params:,} ({student.params_non_embedding:,} outside the embeddings)",
            "- Batch-1 CPU latency over the first dev sentences, median (p90):",
            f"  - run, PyTorch: {_ms(student.latency_ms_median)} ({_ms(student.latency_ms_p90)}), "
            f"{student.latency_threads} threads, on {run.record.hardware}",
            f"  - export, {RUNTIME[fmt]}: {_ms(measured.latency_ms_median)} ({_ms(measured.latency_ms_p90)}), "
            f"{measured.latency_threads} threads, on {hardware()}",
        ]
    )


def _provenance(run: FinishedRun, export_command: list[str]) -> str:
    return "\n".join(
        [
            "## How it was made",
            "",
            "The run:",
            "",
            f"```bash\n{shlex.join(['python', *run.provenance['command']])}\n```",
            "",
            "This export:",
            "",
            f"```bash\n{shlex.join(export_command)}\n```",
            "",
            f"- distill_zoo commit of the run: `{run.record.git_commit}`; of the export: `{git_commit()}`",
        ]
    )


def _block(title: str, text: str, payload: dict[str, Any]) -> str:
    return f"{title}\n\n{text}\n\n{_yaml(payload)}"


def _yaml(payload: dict[str, Any]) -> str:
    return f"```yaml\n{yaml.safe_dump(payload, sort_keys=False).rstrip()}\n```"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"
