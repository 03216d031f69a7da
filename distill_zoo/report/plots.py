"""The report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot state).

``scores.png``: per task, each row's mean with its seed std as an error bar, every seed's
score as a dot, the teacher's score as a horizontal line, the baseline in its own colour.
``pareto.png``: per task, quality against cost (student batch-1 latency or parameters),
one labelled point per row, the Pareto front (no other row is both better and cheaper;
better is lower for the metrics of :data:`~distill_zoo.pipeline.report.LOWER_IS_BETTER`)
as a line, and the teacher as a star.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from distill_zoo.pipeline.report import LOWER_IS_BETTER
from distill_zoo.report.rows import Row

COLOR, BASELINE_COLOR, TEACHER_COLOR = "tab:blue", "tab:orange", "tab:gray"
COSTS = {
    "latency": ("latency_ms", "teacher_latency_ms", "student batch-1 CPU latency (ms)"),
    "params": ("params", "teacher_params", "parameters"),
}


def by_task(rows: list[Row]) -> dict[str, list[Row]]:
    """The rows with a score, per task, in table order."""
    tasks: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.mean is not None:
            tasks[row.task].append(row)
    return dict(tasks)


def _figure(panels: int) -> tuple[Figure, list]:
    fig = Figure(figsize=(max(6.0, 5.5 * panels), 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, max(panels, 1), squeeze=False)[0])


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(label, 24, break_long_words=False)) or label


def scores_figure(rows: list[Row]) -> Figure:
    """Each row's mean ± std over seeds, its seeds as dots, the teacher's score as a line."""
    tasks = by_task(rows)
    fig, axes = _figure(len(tasks))
    for ax, (task, task_rows) in zip(axes, tasks.items()):
        for x, row in enumerate(task_rows):
            color = BASELINE_COLOR if row.is_baseline else COLOR
            ax.errorbar(
                x,
                row.mean,
                yerr=row.std,
                fmt="s",
                color=color,
                capsize=5,
                markersize=7,
                zorder=3,
                label="baseline" if row.is_baseline else "method",
            )
            values = [row.scores[s] for s in sorted(row.scores)]
            ax.scatter(
                x + np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [x],
                values,
                s=14,
                color="black",
                alpha=0.6,
                zorder=4,
                label="seed",
            )
        teachers = sorted({(row.teacher_entry, row.teacher) for row in task_rows if row.teacher is not None}, key=str)
        for entry, value in teachers:
            ax.axhline(
                value,
                color=TEACHER_COLOR,
                linestyle="--",
                label="teacher" if len(teachers) == 1 else f"teacher {entry}",
            )
        ax.set_xticks(range(len(task_rows)), [_wrap(r.label) for r in task_rows], rotation=30, ha="right")
        for tick, row in zip(ax.get_xticklabels(), task_rows):
            if row.is_baseline:
                tick.set_fontweight("bold")
                tick.set_color(BASELINE_COLOR)
        ax.set_title(task)
        ax.set_ylabel(f"dev {task_rows[0].metric}")
        ax.grid(axis="y", alpha=0.3)
        _legend(ax)
    if not tasks:
        axes[0].text(0.5, 0.5, "no scores", ha="center", va="center")
    return fig


def pareto_front(costs: list[float], qualities: list[float], *, higher_is_better: bool) -> list[int]:
    """Indices of the points no other point beats (lower or equal cost and better
    quality, or equal quality and lower cost), by increasing cost.

    Better quality is higher when ``higher_is_better``, else lower (a perplexity)."""
    gains = [q if higher_is_better else -q for q in qualities]
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -gains[i]))
    front, best = [], -np.inf
    for i in order:
        if gains[i] > best:
            front.append(i)
            best = gains[i]
    return front


def pareto_figure(rows: list[Row], x: str = "latency") -> Figure:
    """Quality against ``x`` (``latency`` or ``params``) per row, the Pareto front, the teacher."""
    if x not in COSTS:
        raise ValueError(f"pareto x must be one of {sorted(COSTS)}, got {x!r}")
    cost_field, teacher_field, xlabel = COSTS[x]
    tasks = by_task(rows)
    fig, axes = _figure(len(tasks))
    for ax, (task, task_rows) in zip(axes, tasks.items()):
        placed = [r for r in task_rows if getattr(r, cost_field) is not None and r.mean is not None]
        costs, qualities = [getattr(r, cost_field) for r in placed], [r.mean for r in placed if r.mean is not None]
        for row, cost, quality in zip(placed, costs, qualities):
            ax.scatter(
                [cost],
                [quality],
                s=40,
                zorder=3,
                color=BASELINE_COLOR if row.is_baseline else COLOR,
                label="baseline" if row.is_baseline else "method",
            )
        for row, cost, quality in zip(placed, costs, qualities):
            ax.annotate(_wrap(row.label), (cost, quality), textcoords="offset points", xytext=(5, 4), fontsize=8)
        higher_is_better = task_rows[0].metric not in LOWER_IS_BETTER
        front = pareto_front(costs, qualities, higher_is_better=higher_is_better)
        if front:
            ax.plot(
                [costs[i] for i in front],
                [qualities[i] for i in front],
                color=COLOR,
                alpha=0.6,
                marker="o",
                markersize=11,
                markerfacecolor="none",
                label="Pareto front",
            )
        # One star per teacher entry, at the mean of its cost as measured beside each row's
        # students (every run times its teacher again; the spread is timing noise).
        teachers: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in task_rows:
            if getattr(r, teacher_field) is not None and r.teacher is not None:
                teachers[str(r.teacher_entry)].append((getattr(r, teacher_field), r.teacher))
        for entry, points in sorted(teachers.items()):
            cost, quality = (sum(p[i] for p in points) / len(points) for i in (0, 1))
            name = "teacher" if len(teachers) == 1 else f"teacher {entry}"
            ax.scatter([cost], [quality], marker="*", s=160, color=TEACHER_COLOR, zorder=3, label=name)
            ax.annotate(name, (cost, quality), textcoords="offset points", xytext=(5, -10), fontsize=8)
        if not placed:
            ax.text(0.5, 0.5, f"no {x} recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(task)
        ax.set_xlabel(xlabel)
        direction = "" if higher_is_better else "lower is better; "
        ax.set_ylabel(f"dev {task_rows[0].metric} ({direction}mean over seeds)")
        ax.grid(alpha=0.3)
        _legend(ax)
    if not tasks:
        axes[0].text(0.5, 0.5, "no scores", ha="center", va="center")
    return fig


def _legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="best")


def save_plots(rows: list[Row], out: Path, pareto_x: str = "latency") -> dict[str, Path]:
    """Write ``scores.png`` and ``pareto.png`` into ``out``; their paths by name."""
    paths = {"scores": out / "scores.png", "pareto": out / "pareto.png"}
    scores_figure(rows).savefig(paths["scores"], dpi=120)
    pareto_figure(rows, pareto_x).savefig(paths["pareto"], dpi=120)
    return paths
