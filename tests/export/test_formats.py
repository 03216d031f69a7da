"""Each format's artefact loads as a user would load it and scores what the run's student scored."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill_zoo.export.formats import load_model
from distill_zoo.export.measure import measure
from distill_zoo.export.onnx import MODEL_FILE, OnnxClassifier
from distill_zoo.export.run_folder import dev_datamodule, read_run
from distill_zoo.models import load_classifier
from tests.helpers.clocks import FakeClock, costing, use_clock


def _remeasured(finished_run, out, fmt, clock=None, monkeypatch=None):
    """The artefact in ``out`` measured again; with ``clock``, each of its calls takes one
    millisecond per input token on that clock."""
    run = read_run(finished_run)
    datamodule = dev_datamodule(run, AutoTokenizer.from_pretrained(out))
    artefact = load_model(fmt, out, datamodule.spec.num_labels)
    if clock is not None and isinstance(artefact, OnnxClassifier):
        call = OnnxClassifier.__call__

        def timed(self, **batch):
            clock.advance(float(batch["input_ids"].shape[1]))
            return call(self, **batch)

        monkeypatch.setattr(OnnxClassifier, "__call__", timed)
    elif clock is not None:
        artefact.register_forward_pre_hook(
            costing(clock, lambda input_ids, **_: float(input_ids.shape[1])), with_kwargs=True
        )
    return run, datamodule, measure(artefact, datamodule, runs=3, warmup=1)


@pytest.mark.parametrize("fmt", ["hf", "onnx"])
def test_lossless_formats_score_exactly_what_the_run_scored(finished_run, exports, fmt, monkeypatch):
    export = exports[fmt]
    assert export.code == 0
    clock = FakeClock()
    use_clock(monkeypatch, clock)
    run, datamodule, measured = _remeasured(finished_run, export.out, fmt, clock, monkeypatch)
    assert measured.metrics == run.record.student.metrics
    # Timed: calls 2 to 4 (one warm-up), each one unpadded dev sentence through the artefact.
    tokenizer = AutoTokenizer.from_pretrained(export.out)
    rows = datamodule.load_examples()["dev"][1:4]
    lengths = sorted(
        len(tokenizer(row["sentence"], truncation=True, max_length=datamodule.max_length)["input_ids"]) for row in rows
    )
    assert measured.latency_ms_median == pytest.approx(lengths[1]) and measured.latency_ms_p90 == pytest.approx(
        lengths[2]
    )
    assert "(+0.00 points)" in export.stdout


def test_the_export_scores_the_written_artefact_not_the_runs_student(finished_run, tmp_path, monkeypatch, capsys):
    """An artefact that differs from the run's student (its head made to answer one class
    whatever the input) is what the export scores: its terminal line and card say so."""
    from distill_zoo.export import cli

    run = read_run(finished_run)
    datamodule = dev_datamodule(run, AutoTokenizer.from_pretrained(run.student_dir))
    labels = torch.cat([batch["labels"] for batch in datamodule.val_dataloader()])
    share = {c: float((labels == c).float().mean()) for c in (0, 1)}
    label = 0 if f"{share[0]:.4f}" != f"{run.record.student.metrics['acc']:.4f}" else 1
    write = cli.write_model

    def perturbed(fmt, model, sample, out):
        with torch.no_grad():
            model.classifier.bias.copy_(torch.tensor([100.0, -100.0] if label == 0 else [-100.0, 100.0]))
        write(fmt, model, sample, out)

    monkeypatch.setattr(cli, "write_model", perturbed)
    out = tmp_path / "export"
    assert cli.main([str(finished_run), "--format", "hf", "--out", str(out), "--max-drop", "100"]) == 0
    expected = f"{share[label]:.4f}"
    assert f"acc: run {run.record.student.metrics['acc']:.4f}  export {expected}" in capsys.readouterr().out
    row = next(line for line in ModelCard.load(out / "README.md").text.splitlines() if line.startswith("| acc"))
    assert expected in row


@pytest.mark.parametrize(("lost", "code"), [(1.5, 5), (0.5, 0)])
def test_an_export_that_loses_more_than_max_drop_points_is_refused(
    finished_run, tmp_path, monkeypatch, capsys, lost, code
):
    """The artefact's measured score, lowered by ``lost`` points: past the default 1 point it is
    kept aside as ``<out>.rejected`` and nothing is written under ``--out``; within it, written."""
    from distill_zoo.export import cli

    measure = cli.measure

    def lower(*args, **kwargs):
        measured = measure(*args, **kwargs)
        return replace(measured, metrics={k: v - lost / 100 for k, v in measured.metrics.items()})

    monkeypatch.setattr(cli, "measure", lower)
    out = tmp_path / "export"
    assert cli.main([str(finished_run), "--format", "hf", "--out", str(out)]) == code
    seen = capsys.readouterr()
    assert f"({-lost:+.2f} points)" in seen.out, "the comparison is printed either way"
    if code:
        assert f"scores {lost:.2f} points of acc below the run, more than --max-drop 1" in seen.err
        assert not out.exists() and (tmp_path / "export.rejected" / "README.md").is_file()
    else:
        assert (out / "README.md").is_file() and not (tmp_path / "export.rejected").exists()


def test_hf_export_loads_with_transformers_alone(exports):
    model = AutoModelForSequenceClassification.from_pretrained(exports["hf"].out)
    tokenizer = AutoTokenizer.from_pretrained(exports["hf"].out)
    assert model(**tokenizer("a fine film", return_tensors="pt")).logits.shape == (1, 2)


def test_fp32_onnx_logits_match_the_torch_student(finished_run, exports):
    run, datamodule, _ = _remeasured(finished_run, exports["onnx"].out, "onnx")
    student = load_classifier(str(run.student_dir), datamodule.spec.num_labels).eval()
    session = OnnxClassifier(exports["onnx"].out / MODEL_FILE, threads=1)
    assert set(session.inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    for batch in datamodule.val_dataloader():
        inputs = {k: v for k, v in batch.items() if k in session.inputs}
        with torch.inference_mode():
            expected = student(**inputs).logits
        got = session(**inputs)
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        assert torch.equal(got.argmax(-1), expected.argmax(-1))
    # Dynamic axes: one unpadded example of another length runs too.
    single = {k: v[:1, :5] for k, v in inputs.items()}
    torch.testing.assert_close(session(**single), student(**single).logits.detach(), atol=1e-4, rtol=1e-4)


def test_int8_is_measured_reported_and_smaller(finished_run, exports):
    export = exports["int8"]
    assert export.code == 0
    run, _, measured = _remeasured(finished_run, export.out, "int8")
    assert set(measured.metrics) == set(run.record.student.metrics)
    assert "points)" in export.stdout and "int8" in export.stdout
    row = next(line for line in ModelCard.load(export.out / "README.md").text.splitlines() if line.startswith("| acc"))
    assert f"{measured.metrics['acc']:.4f}" in row
    assert (export.out / MODEL_FILE).stat().st_size < (exports["onnx"].out / MODEL_FILE).stat().st_size / 2


@pytest.mark.parametrize("fmt", ["hf", "onnx", "int8"])
def test_every_export_ships_the_tokenizer_and_a_card(exports, fmt):
    names = {p.name for p in exports[fmt].out.iterdir()}
    assert {"README.md", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not (exports[fmt].out.parent / f"export-{fmt}.partial").exists()
