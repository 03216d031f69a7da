"""The command line of ``python -m distill_zoo.export RUN_DIR --format hf|onnx|int8``.

The student of a finished task run goes out as a Hugging Face folder, fp32 ONNX or int8 ONNX,
with its tokenizer and a model card. The artefact is then scored on the run's dev set and timed
at batch 1 on the CPU *as exported* (loaded back with transformers, or run with ONNX Runtime),
and both figures are set next to what the run measured: a conversion that changed predictions
shows up as a difference in points, not in production.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from transformers import AutoTokenizer

from distill_zoo.errors import ConfigError, DistillZooError
from distill_zoo.export.card import model_card
from distill_zoo.export.formats import FORMATS, RUNTIME, load_model, write_model
from distill_zoo.export.hub import hub_token, push
from distill_zoo.export.measure import Measurement, measure, points
from distill_zoo.export.run_folder import FinishedRun, dev_datamodule, read_run
from distill_zoo.models import load_classifier

CARD = "README.md"
#: Points of the main dev metric an export may lose against the run before it is refused.
DEFAULT_MAX_DROP = 1.0


class ExportRejected(DistillZooError):
    """The artefact scored too far below the run: not written under ``--out``.
    ``comparison``: the run-vs-export lines for the terminal."""

    exit_code = 5

    def __init__(self, message: str, comparison: str) -> None:
        super().__init__(message)
        self.comparison = comparison


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m distill_zoo.export",
        description="Export a finished run's student (Hugging Face, ONNX fp32 or ONNX int8) with its tokenizer "
        "and a model card; its dev score and CPU latency are measured again on the exported artefact.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished task run's folder (results.json, student/)")
    p.add_argument("--format", required=True, choices=FORMATS, help="hf | onnx | int8")
    p.add_argument("--out", default=None, help="where the export goes (default: RUN_DIR/export-<format>)")
    p.add_argument("--push-to-hub", default=None, metavar="REPO", help="then upload it to this Hub model repo")
    p.add_argument(
        "--max-drop",
        type=float,
        default=DEFAULT_MAX_DROP,
        metavar="POINTS",
        help="refuse an artefact whose main dev metric is more than this many points below the run's "
        f"(default {DEFAULT_MAX_DROP:g}); it is kept as <out>.rejected and the exit code is {ExportRejected.exit_code}",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Export; 0 when written (and pushed), 2 on bad input (nothing written), 5 when the artefact
    scores more than ``--max-drop`` points below the run (kept as ``<out>.rejected``, not pushed)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    try:
        if args.max_drop < 0:
            raise ConfigError(f"--max-drop {args.max_drop:g} is negative; give the points an export may lose (e.g. 1)")
        token = hub_token() if args.push_to_hub else None
        run = read_run(Path(args.run_dir))
        out = Path(args.out) if args.out else run.path / f"export-{args.format}"
        if out.exists():
            raise ConfigError(f"{out} already exists; delete it, or give the export another folder (--out)")
        command = ["python", "-m", "distill_zoo.export", *argv]
        measured = export_run(run, args.format, out, command, args.max_drop)
    except ExportRejected as err:
        print(err.comparison)
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except DistillZooError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(comparison(run, args.format, measured))
    print(f"wrote {out} ({', '.join(sorted(p.name for p in out.iterdir()))})")
    if token is not None:
        url = push(out, args.push_to_hub, token, f"distill_zoo export ({args.format}) of a {run.record.method} run")
        print(f"pushed to {url}")
    return 0


def export_run(
    run: FinishedRun, fmt: str, out: Path, command: list[str], max_drop: float = DEFAULT_MAX_DROP
) -> Measurement:
    """Write ``run``'s student to ``out`` as ``fmt`` with its tokenizer and card, measuring the
    artefact on the way. Built in ``<out>.partial``, moved into place only when complete and
    within ``max_drop`` points of the run's main dev metric; else moved to ``<out>.rejected``
    and :class:`ExportRejected` raised."""
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        AutoTokenizer.from_pretrained(run.student_dir).save_pretrained(tmp)
        # Dev is tokenised by the tokenizer as shipped, so the score covers it too.
        datamodule = dev_datamodule(run, AutoTokenizer.from_pretrained(tmp))
        num_labels = datamodule.spec.num_labels
        sample = next(iter(datamodule.val_dataloader()))
        print(f"[export] writing the student as {fmt}")
        write_model(fmt, load_classifier(str(run.student_dir), num_labels), sample, tmp)
        print(f"[export] scoring the {fmt} artefact on {run.record.eval_split} and timing it")
        options = run.config.eval
        artefact = load_model(fmt, tmp, num_labels)
        measured = measure(artefact, datamodule, options.latency_runs, options.latency_warmup)
        model_card(run, fmt, measured, command).save(tmp / CARD)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    drop = main_metric_drop(run, measured)
    if drop > max_drop:
        rejected = out.with_name(out.name + ".rejected")
        if rejected.exists():
            shutil.rmtree(rejected)
        tmp.replace(rejected)
        metric = run.record.main_metric
        raise ExportRejected(
            f"the {fmt} artefact scores {drop:.2f} points of {metric} below the run, more than --max-drop "
            f"{max_drop:g}; it was not written to {out} (kept for inspection in {rejected}). Check the conversion, "
            "or pass a larger --max-drop to accept it",
            comparison(run, fmt, measured),
        )
    tmp.replace(out)
    return measured


def main_metric_drop(run: FinishedRun, measured: Measurement) -> float:
    """How many points the artefact lost on the run's main metric (negative: it gained)."""
    metric = run.record.main_metric
    if metric is None or metric not in measured.metrics:
        raise ConfigError(f"{run.path}'s record names no main metric the export measures ({metric!r})")
    return -points(run.record.student.metrics[metric], measured.metrics[metric])


def comparison(run: FinishedRun, fmt: str, measured: Measurement) -> str:
    """The run's student figures next to the export's, for the terminal."""
    student = run.record.student
    record = run.record
    lines = [f"{record.task} ({record.eval_split}, {measured.examples} examples): run vs export ({RUNTIME[fmt]})"]
    for name, value in sorted(student.metrics.items()):
        lines.append(
            f"  {name}: run {value:.4f}  export {measured.metrics[name]:.4f}  "
            f"({points(value, measured.metrics[name]):+.2f} points)"
        )
    lines.append(
        f"  latency, batch 1 CPU median: run {student.latency_ms_median or float('nan'):.2f} ms  "
        f"export {measured.latency_ms_median:.2f} ms ({measured.latency_threads} threads)"
    )
    return "\n".join(lines)
