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
    return p


def main(argv: list[str] | None = None) -> int:
    """Export; 0 when written (and pushed), 2 on bad input (nothing written)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    try:
        token = hub_token() if args.push_to_hub else None
        run = read_run(Path(args.run_dir))
        out = Path(args.out) if args.out else run.path / f"export-{args.format}"
        if out.exists():
            raise ConfigError(f"{out} already exists; delete it, or give the export another folder (--out)")
        measured = export_run(run, args.format, out, ["python", "-m", "distill_zoo.export", *argv])
    except DistillZooError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(comparison(run, args.format, measured))
    print(f"wrote {out} ({', '.join(sorted(p.name for p in out.iterdir()))})")
    if token is not None:
        url = push(out, args.push_to_hub, token, f"distill_zoo export ({args.format}) of a {run.record.method} run")
        print(f"pushed to {url}")
    return 0


def export_run(run: FinishedRun, fmt: str, out: Path, command: list[str]) -> Measurement:
    """Write ``run``'s student to ``out`` as ``fmt`` with its tokenizer and card, measuring the
    artefact on the way. Built in ``<out>.partial``, moved into place only when complete."""
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
    tmp.replace(out)
    return measured


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
