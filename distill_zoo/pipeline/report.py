"""The comparison table printed at the end of a run."""

from __future__ import annotations

from pathlib import Path

from distill_zoo.pipeline.record import RunRecord

#: Metrics where lower is better (perplexities): their retention is teacher/student.
LOWER_IS_BETTER = ("ppl_heldout", "ppl_eval_text")


def retention(student: dict[str, float], teacher: dict[str, float], metric: str) -> float | None:
    """student/teacher for ``metric`` (teacher/student for a perplexity, so 1 is the teacher's
    quality and less is worse either way); None when the divisor is 0 (e.g. MCC of a constant)."""
    s, t = student.get(metric), teacher.get(metric)
    if metric in LOWER_IS_BETTER:
        return None if not s or t is None else t / s
    return None if not t or s is None else s / t


def format_table(record: RunRecord) -> str:
    """A plain-text teacher vs student comparison."""
    main = record.main_metric
    rows = [("", "teacher", "student")]
    for name, value in record.teacher.metrics.items():
        rows.append((name, f"{value:.4f}", f"{record.student.metrics[name]:.4f}"))
    for key, fmt in (("params", "{:,}"), ("params_non_embedding", "{:,}"), ("latency_ms_median", "{:.2f}")):
        rows.append((key, fmt.format(getattr(record.teacher, key)), fmt.format(getattr(record.student, key))))
    for key, rate in record.teacher.generation_tokens_per_s.items():
        student_rate = record.student.generation_tokens_per_s[key]
        rows.append((f"generated tokens/s ({key})", f"{rate:.1f}", f"{student_rate:.1f}"))
    if record.agreement is not None and record.teacher.generation_tokens_per_s:
        rows.append(("top-1 agreement with the teacher", "", f"{record.agreement:.4f}"))
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
        f"{record.task or Path(str(record.corpus)).name} ({record.eval_split or 'held-out text'}) | "
        f"method={record.method} seed={record.seed} "
        f"init={record.student_init} teacher={record.teacher_entry}"
    )
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([title, rule, *lines, rule, footer])
