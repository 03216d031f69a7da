"""The comparison table printed at the end of a run."""

from __future__ import annotations

from distill_zoo.pipeline.record import RunRecord


def retention(student: dict[str, float], teacher: dict[str, float], metric: str) -> float | None:
    """student/teacher for ``metric``; None when the teacher's score is 0 (e.g. MCC of a constant)."""
    t = teacher.get(metric)
    return None if not t else student[metric] / t


def format_table(record: RunRecord) -> str:
    """A plain-text teacher vs student comparison."""
    main = record.main_metric
    rows = [("", "teacher", "student")]
    for name, value in record.teacher.metrics.items():
        rows.append((name, f"{value:.4f}", f"{record.student.metrics[name]:.4f}"))
    for key, fmt in (("params", "{:,}"), ("params_non_embedding", "{:,}"), ("latency_ms_median", "{:.2f}")):
        rows.append((key, fmt.format(getattr(record.teacher, key)), fmt.format(getattr(record.student, key))))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width[i]) if i == 0 else cell.rjust(width[i]) for i, cell in enumerate(r)) for r in rows
    ]
    footer = (
        f"retention ({main}) = {record.retention:.3f}"
        if record.retention is not None
        else f"retention ({main}) undefined"
    )
    title = (
        f"{record.task} ({record.eval_split}) | method={record.method} seed={record.seed} "
        f"init={record.student_init} teacher={record.teacher_entry}"
    )
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([title, rule, *lines, rule, footer])
