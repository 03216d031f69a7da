"""Local GLUE TSVs: every shared layout reads, bad files fail with file and line."""

from __future__ import annotations

import pytest

from distill_zoo.data import get_task
from distill_zoo.data.tsv import glue_files, read_glue_tsv
from distill_zoo.errors import ConfigError, DataError


@pytest.mark.parametrize(
    ("task", "train_rows", "dev_rows"),
    [("sst2", 67349, 872), ("rte", 2490, 277), ("stsb", 5749, 1500), ("cola", 8551, 516)],
)
def test_reads_the_shared_glue_files(shared_data, task, train_rows, dev_rows):
    spec = get_task(task)
    files = glue_files(shared_data, spec)
    train, dev = read_glue_tsv(files["train"], spec), read_glue_tsv(files["dev"], spec)
    assert (len(train), len(dev)) == (train_rows, dev_rows)
    assert set(train[0]) == {*spec.text_fields, "label"}
    if spec.is_regression:
        assert all(0.0 <= ex["label"] <= 5.0 for ex in dev)
    else:
        assert {ex["label"] for ex in train} == {0, 1}


def test_first_rows_match_the_files(shared_data):
    sst2 = read_glue_tsv(shared_data / "glue/sst2/train.tsv", get_task("sst2"))
    assert sst2[0] == {"sentence": "hide new secretions from the parental units ", "label": 0}
    cola = read_glue_tsv(shared_data / "glue/cola/train.tsv", get_task("cola"))
    assert cola[0]["label"] == 1 and cola[0]["sentence"].startswith("our friends wo n't buy")
    stsb = read_glue_tsv(shared_data / "glue/stsb/train.tsv", get_task("stsb"))
    assert stsb[0] == {"sentence1": "A plane is taking off.", "sentence2": "An air plane is taking off.", "label": 5.0}


def test_glue_original_layouts(tmp_path):
    rte = tmp_path / "rte.tsv"
    rte.write_text(
        "index\tsentence1\tsentence2\tlabel\n0\tA man sleeps.\tA man rests.\tentailment\n1\tA.\tB.\tnot_entailment\n"
    )
    assert [ex["label"] for ex in read_glue_tsv(rte, get_task("rte"))] == [0, 1]
    cola = tmp_path / "cola.tsv"
    cola.write_text("gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\ngj04\t0\t*\tThe more books.\n")
    rows = read_glue_tsv(cola, get_task("cola"))
    assert rows[1] == {"sentence": "The more books.", "label": 0}


def test_malformed_row_names_file_and_line(tmp_path):
    bad = tmp_path / "train.tsv"
    bad.write_text("sentence\tlabel\ngood one\t1\nno label column here\n")
    with pytest.raises(DataError, match=r"train.tsv, line 3: expected 2 tab-separated columns"):
        read_glue_tsv(bad, get_task("sst2"))
    bad.write_text("sentence\tlabel\ngood one\t1\nbad label\tpositive\n")
    with pytest.raises(DataError, match=r"line 3: label 'positive' is not an integer"):
        read_glue_tsv(bad, get_task("sst2"))
    bad.write_text("sentence\tlabel\nout of range\t7\n")
    with pytest.raises(DataError, match=r"line 2: label 7 is outside 0..1"):
        read_glue_tsv(bad, get_task("sst2"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sentence\tlabel\ngood one\t1\nextra\t1\tcolumn\n", r"train.tsv, line 3: expected 2 .* found 3"),
        ("sentence\tlabel\ngood one\t1\nno label column here\n", r"train.tsv, line 3: expected 2 .* found 1"),
        ("", r"train.tsv is empty"),
        ("\n\n", r"train.tsv is empty"),
        ("sentence\tlabel\n", r"train.tsv has a header but no examples"),
    ],
    ids=["extra-column", "missing-column", "empty", "blank-lines", "header-only"],
)
def test_bad_shapes_name_file_and_line(tmp_path, content, message):
    bad = tmp_path / "train.tsv"
    bad.write_text(content)
    with pytest.raises(DataError, match=message):
        read_glue_tsv(bad, get_task("sst2"))


def test_headerless_rows_must_match_the_first(tmp_path):
    cola = tmp_path / "cola.tsv"
    cola.write_text("gj04\t1\t\tGood.\ngj04\t0\t*\tBad.\tstray\n")
    with pytest.raises(DataError, match=r"cola.tsv, line 2: expected 4 .* found 5"):
        read_glue_tsv(cola, get_task("cola"))


def test_non_utf8_names_file_line_and_offset(tmp_path):
    bad = tmp_path / "train.tsv"
    bad.write_bytes(b"sentence\tlabel\ngood\t1\n" + "caf\u00e9\t0\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train.tsv, line 3: byte b'\\xe9' at offset 25 is not valid UTF-8"):
        read_glue_tsv(bad, get_task("sst2"))


def test_utf8_byte_order_mark_is_dropped(tmp_path):
    bom = tmp_path / "train.tsv"
    bom.write_bytes(b"\xef\xbb\xbfsentence\tlabel\ncaf\xc3\xa9\t1\n")
    assert read_glue_tsv(bom, get_task("sst2")) == [{"sentence": "caf\u00e9", "label": 1}]


def test_missing_files_name_path_and_layout(tmp_path):
    with pytest.raises(DataError, match=r"glue/mrpc/train.tsv.*<root>/glue/mrpc/train.tsv"):
        glue_files(tmp_path, get_task("mrpc"))


def test_unknown_task():
    with pytest.raises(ConfigError, match="choose one of"):
        get_task("sst3")


@pytest.mark.parametrize("task", ["sst2", "cola", "mrpc", "stsb", "rte", "qnli", "mnli", "qqp"])
def test_dev_name_says_which_dev_split_is_read(task):
    spec = get_task(task)
    assert spec.dev_files[0] == f"{spec.dev_name}.tsv", "the name matches the file read first"
    assert spec.dev_split == ("validation_matched" if task == "mnli" else "validation")
    assert spec.dev_name == ("dev_matched" if task == "mnli" else "dev")
