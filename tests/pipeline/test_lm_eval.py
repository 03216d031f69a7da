"""The causal-LM eval stage against explicit loops: perplexity over target tokens (not a mean
of per-sequence means), top-1 agreement over target positions, each model's own figures."""

from __future__ import annotations

import math

import pytest
import torch

from distill_zoo.models import random_causal_lm
from distill_zoo.pipeline.lm_eval import evaluate_lm_pair, perplexity, sequence_nll

VOCAB, COLUMNS = 64, 60  # 4 padded columns that belong to no token


def _model(seed: int, num_layers: int = 2):
    """A random GPT-2 whose final norm is scaled up: confident, so token NLLs spread widely."""
    torch.manual_seed(seed)
    model = random_causal_lm("gpt2", vocab_size=VOCAB, num_layers=num_layers).eval()
    with torch.no_grad():
        model.transformer.ln_f.weight.mul_(30.0)
    return model


def _batches() -> list[dict[str, torch.Tensor]]:
    """Two batches of sequences with 1 to 9 targets: right padding, and a prompt kept out of the loss."""
    g = torch.Generator().manual_seed(0)
    batches = []
    for lengths, prompt in (([10, 4, 7], 0), ([2, 9], 3)):
        width = max(lengths)
        ids = torch.randint(0, COLUMNS, (len(lengths), width), generator=g)
        mask = torch.zeros(len(lengths), width, dtype=torch.long)
        for row, n in enumerate(lengths):
            mask[row, :n] = 1
        loss_mask = mask.clone()
        loss_mask[:, :prompt] = 0
        batches.append({"input_ids": ids * mask, "attention_mask": mask, "loss_mask": loss_mask})
    return batches


def scored_one_by_one(model, batches, columns: int = COLUMNS) -> tuple[list[float], list[int], list[list[int]]]:
    """Per sequence, one target at a time: its NLL sum, its target count and its argmax tokens
    (over the first ``columns`` logits)."""
    sums, counts, tops = [], [], []
    for batch in batches:
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        for row in range(len(batch["input_ids"])):
            total, n, top = 0.0, 0, []
            for t in range(1, batch["input_ids"].shape[1]):
                if batch["loss_mask"][row, t]:
                    scores = logits[row, t - 1, :columns].double()
                    total -= float(scores.log_softmax(-1)[batch["input_ids"][row, t]])
                    n += 1
                    top.append(int(scores.argmax()))
            sums.append(total)
            counts.append(n)
            tops.append(top)
    return sums, counts, tops


def test_perplexity_is_over_every_target_token_and_agreement_over_target_positions():
    teacher, student = _model(0), _model(1, num_layers=1)
    batches = _batches()
    sums, counts, agreement = sequence_nll({"teacher": teacher, "student": student}, batches, COLUMNS, "test")
    teacher_sums, want_counts, teacher_top = scored_one_by_one(teacher, batches)
    student_sums, _, student_top = scored_one_by_one(student, batches)
    assert counts == want_counts == [9, 3, 6, 0, 6]  # unequal: a mean of per-sequence means differs
    assert sums["teacher"] == pytest.approx(teacher_sums, rel=1e-6)
    assert sums["student"] == pytest.approx(student_sums, rel=1e-6)
    same = sum(a == b for ta, sa in zip(teacher_top, student_top) for a, b in zip(ta, sa))
    assert agreement == pytest.approx(same / sum(want_counts))
    want = math.exp(sum(student_sums) / sum(want_counts))
    assert perplexity(student, batches, COLUMNS, "test") == pytest.approx(want, rel=1e-6)
    per_sequence = [s / n for s, n in zip(student_sums, want_counts) if n]
    assert abs(math.log(want) - sum(per_sequence) / len(per_sequence)) > 1e-3, "the two definitions must differ here"


def test_each_side_of_the_lm_report_is_its_own_models(tmp_path, monkeypatch):
    """Teacher (2 layers) and student (1 layer) differ: held-out and eval-text perplexities,
    latency and per-block sums are each model's own, the eval text's sentences of unequal length."""
    from distill_zoo.data.lm_corpus import LMCorpusDataModule
    from distill_zoo.models import load_tokenizer
    from tests.conftest import TOKENIZER
    from tests.helpers.clocks import layer_clock

    corpus, dev = tmp_path / "corpus.txt", tmp_path / "dev.tsv"
    corpus.write_text("\n".join(f"line {i}: the film {i % 7} was {'good' if i % 3 else 'slow'}" for i in range(80)))
    dev.write_text("sentence\tlabel\nthe film 3 was a charming journey .\t1\nslow .\t0\na tender , slow film .\t0\n")
    datamodule = LMCorpusDataModule(
        path=str(corpus), eval_text=str(dev), block_size=16, heldout_fraction=0.25, cache_dir=str(tmp_path / "cache")
    )
    datamodule.set_tokenizer(load_tokenizer(TOKENIZER))
    teacher, student = (random_causal_lm("llama", num_layers=n) for n in (2, 1))
    columns = 30522
    with layer_clock(monkeypatch):
        report = evaluate_lm_pair(teacher, student, datamodule, columns, latency_runs=2, latency_warmup=0, new_tokens=2)
    datamodule.setup("fit")
    for role, model in (("teacher", teacher), ("student", student)):
        metrics = report[role]["metrics"]
        assert metrics["ppl_heldout"] == pytest.approx(
            perplexity(model, datamodule.heldout_dataloader(), columns, "check"), rel=1e-9
        )
        eval_text = datamodule.eval_text_dataloader()
        assert eval_text is not None
        sums, counts, _ = sequence_nll({"m": model}, eval_text, columns, "check")
        assert len(set(counts)) == 3  # sentences of three lengths
        assert metrics["ppl_eval_text"] == pytest.approx(math.exp(sum(sums["m"]) / sum(counts)), rel=1e-9)
        assert report[role]["latency_ms_median"] == pytest.approx(model.config.num_hidden_layers)
    sums, counts, agreement = sequence_nll(
        {"teacher": teacher, "student": student}, datamodule.heldout_dataloader(), columns, "check"
    )
    assert report["predictions"] == {"split": "heldout", "task": "ppl_heldout", "labels": counts, **sums}
    assert report["agreement"] == agreement
    assert report["teacher"]["metrics"]["ppl_heldout"] != pytest.approx(report["student"]["metrics"]["ppl_heldout"])
