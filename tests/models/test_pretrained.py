"""Finding pretrained weights: a missing local folder is a path error, remote code stays off."""

from __future__ import annotations

from pathlib import Path

import pytest

import distill_zoo
from distill_zoo.errors import ConfigError
from distill_zoo.models import classifier, load_classifier, load_masked_lm, resolve_pretrained
from distill_zoo.models.pretrained import looks_like_path
from distill_zoo.models.students import from_pretrained
from tests.conftest import tiny_bert


@pytest.mark.parametrize("name", ["/no/such/dir", "./typo", "../typo", "~/no-such-model-dir", "a/b/c", "tests/typo"])
def test_missing_local_folder_is_a_path_error(name):
    with pytest.raises(ConfigError, match=r"^path not found: .* \(a local folder.*or give a Hub id like org/name$"):
        resolve_pretrained(name)


@pytest.mark.parametrize("name", ["bert-base-uncased", "google/bert_uncased_L-2_H-128_A-2", "no-such-org/model"])
def test_hub_ids_pass_through(name):
    assert not looks_like_path(name)
    assert resolve_pretrained(name) == name


def test_builders_report_the_path_not_a_hub_error():
    with pytest.raises(ConfigError, match="path not found: ./typo"):
        load_classifier("./typo", num_labels=2)
    with pytest.raises(ConfigError, match="path not found: /no/such/dir"):
        from_pretrained(tiny_bert(), 2, "/no/such/dir")


def test_remote_code_is_off_unless_asked(tmp_path, monkeypatch):
    tiny_bert().save_pretrained(tmp_path / "ckpt")
    seen: list[object] = []
    for auto in (classifier.AutoConfig, classifier.AutoModelForSequenceClassification):
        original = auto.from_pretrained

        def spy(*args, _original=original, **kwargs):
            seen.append(kwargs.get("trust_remote_code"))
            return _original(*args, **kwargs)

        monkeypatch.setattr(auto, "from_pretrained", spy)
    load_classifier(str(tmp_path / "ckpt"), num_labels=2)
    from_pretrained(tiny_bert(), 3, str(tmp_path / "ckpt"))
    with pytest.raises(ConfigError, match="no masked-LM head"):
        load_masked_lm(str(tmp_path / "ckpt"))
    # Our calls pass False explicitly (transformers' own inner calls may pass nothing).
    assert seen.count(False) == 5 and True not in seen


def test_no_module_turns_remote_code_on_by_itself():
    package = Path(distill_zoo.__file__).parent
    offenders = [str(p) for p in package.rglob("*.py") if "trust_remote_code=True" in p.read_text()]
    assert offenders == []
