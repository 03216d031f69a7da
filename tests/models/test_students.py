"""Student builders: layer selection copies the right weights; label checks; random configs."""

from __future__ import annotations

import pytest
import torch

from distill_zoo.errors import ConfigError
from distill_zoo.models import encoder_dims, load_classifier, select_layers
from distill_zoo.models.dims import transformer_layers
from distill_zoo.models.students import from_config, from_teacher_layers
from tests.conftest import tiny_bert
from tests.helpers.distilbert import copy_and_bert_logits


def test_distilbert_layer_rule():
    assert select_layers(12, 6) == [0, 2, 4, 7, 9, 11]
    assert select_layers(6, 3) == [0, 2, 5]
    assert select_layers(12, 12) == list(range(12))
    assert select_layers(6, 1) == [5]
    with pytest.raises(ConfigError):
        select_layers(6, 7)


def test_layer_selection_copies_exactly_the_chosen_layers():
    teacher = tiny_bert(num_layers=6, seed=3)
    student = from_teacher_layers(teacher, num_labels=2)
    assert encoder_dims(student.config).num_layers == 3
    t_layers, s_layers = transformer_layers(teacher), transformer_layers(student)
    for s_index, t_index in enumerate([0, 2, 5]):
        for (name, s_param), (_, t_param) in zip(
            s_layers[s_index].named_parameters(), t_layers[t_index].named_parameters()
        ):
            assert torch.equal(s_param, t_param), name
    t_state, s_state = teacher.state_dict(), student.state_dict()
    for key in ("bert.embeddings.word_embeddings.weight", "bert.embeddings.LayerNorm.weight", "classifier.weight"):
        assert torch.equal(t_state[key], s_state[key])
    # A copy, not shared storage: training the student leaves the teacher alone.
    assert (
        s_state["bert.embeddings.word_embeddings.weight"].data_ptr()
        != t_state["bert.embeddings.word_embeddings.weight"].data_ptr()
    )


def test_explicit_layers_and_bad_layers():
    teacher = tiny_bert(num_layers=4)
    student = from_teacher_layers(teacher, 2, layers=[1, 3])
    torch.testing.assert_close(
        transformer_layers(student)[1].attention.self.query.weight,
        transformer_layers(teacher)[3].attention.self.query.weight,
    )
    with pytest.raises(ConfigError, match=r"0\.\.3"):
        from_teacher_layers(teacher, 2, layers=[4])
    with pytest.raises(ConfigError, match="not strictly increasing"):
        from_teacher_layers(teacher, 2, layers=[3, 1])


def test_random_student_from_config():
    student = from_config(tiny_bert(), num_labels=3, num_layers=1, hidden_size=16, num_heads=2, intermediate_size=20)
    dims = encoder_dims(student.config)
    assert (dims.num_layers, dims.hidden_size, dims.num_heads, dims.intermediate_size) == (1, 16, 2, 20)
    assert student.config.num_labels == 3


def test_distilbert_and_roberta_families_work(tmp_path):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from distill_zoo.features import FeatureRequest
    from distill_zoo.models import Encoder
    from tests.conftest import padded_batch

    for model_type in ("distilbert", "roberta"):
        config = AutoConfig.for_model(model_type, vocab_size=3000, num_labels=2)
        from distill_zoo.models.dims import set_encoder_dims

        set_encoder_dims(config, num_layers=4, hidden_size=32, num_heads=2, intermediate_size=64)
        teacher = AutoModelForSequenceClassification.from_config(config)
        student = from_teacher_layers(teacher, 2)
        assert encoder_dims(student.config).num_layers == 2
        out = Encoder(student)(padded_batch(), FeatureRequest(logits=True, hidden_states=(-1,)))
        assert out.logits.shape == (4, 2) and out.hidden(-1).shape == (4, 9, 32)


def test_teacher_with_wrong_label_count_is_rejected(tmp_path):
    tiny_bert(num_labels=3).save_pretrained(tmp_path / "three")
    with pytest.raises(ConfigError, match="3 labels but the task has 2"):
        load_classifier(str(tmp_path / "three"), num_labels=2)
    assert load_classifier(str(tmp_path / "three"), num_labels=3).config.num_labels == 3


def test_random_classifier_sets_dropout_for_each_family():
    from distill_zoo.models import random_classifier
    from tests.conftest import TOKENIZER

    bert = random_classifier(TOKENIZER, 2, dropout=0.0)
    assert bert.config.hidden_dropout_prob == 0.0 and bert.config.attention_probs_dropout_prob == 0.0
    distil = random_classifier(TOKENIZER, 2, model_type="distilbert", dropout=0.0)
    assert distil.config.dropout == 0.0 and distil.config.attention_dropout == 0.0
    assert distil.config.vocab_size == bert.config.vocab_size == 30522


def test_masked_lm_student_copies_layers_embeddings_and_mlm_head():
    from distill_zoo.models import random_masked_lm
    from tests.conftest import TOKENIZER

    torch.manual_seed(0)
    teacher = random_masked_lm(TOKENIZER, num_layers=4, hidden_size=32, num_heads=2, intermediate_size=64)
    student = from_teacher_layers(teacher, num_labels=2)
    assert type(student).__name__ == "BertForMaskedLM"
    assert select_layers(4, 2) == [0, 3]
    t, s = teacher.state_dict(), student.state_dict()
    for key in ("cls.predictions.transform.dense.weight", "cls.predictions.bias", "bert.embeddings.LayerNorm.bias"):
        assert torch.equal(t[key], s[key]), key
    assert torch.equal(s["bert.encoder.layer.1.output.dense.weight"], t["bert.encoder.layer.3.output.dense.weight"])


def test_distilbert_student_from_a_bert_masked_lm_matches_the_layer_selected_bert():
    from transformers import DistilBertForMaskedLM

    from distill_zoo.models import random_masked_lm
    from distill_zoo.models.students import distilbert_student
    from tests.conftest import TOKENIZER

    torch.manual_seed(0)
    teacher = random_masked_lm(TOKENIZER, num_layers=4, hidden_size=32, num_heads=2, intermediate_size=64, dropout=0.0)
    with torch.no_grad():  # a trained output bias: at init it is 0, as an uncopied one would be
        teacher.cls.predictions.bias.normal_()
    student = distilbert_student(teacher, num_labels=2).eval()
    assert isinstance(student, DistilBertForMaskedLM) and student.config.n_layers == 2
    assert not any("token_type" in k for k in student.state_dict())
    assert torch.equal(
        student.state_dict()["distilbert.transformer.layer.1.ffn.lin1.weight"],
        teacher.state_dict()["bert.encoder.layer.3.intermediate.dense.weight"],
    )
    # With token types all 0, the DistilBERT copy computes what the layer-selected BERT computes.
    got, expected, _ = copy_and_bert_logits(teacher)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_a_previous_student_with_another_label_count_gets_a_fresh_head(tmp_path):
    """A general stage saves a placeholder 2-label head; STS-B (1) or MNLI (3) must still load it."""
    import torch

    from distill_zoo.models.students import from_pretrained
    from tests.conftest import tiny_bert

    saved = tiny_bert(num_labels=2)
    saved.save_pretrained(tmp_path / "general")
    for labels in (1, 3):
        student = from_pretrained(saved, labels, str(tmp_path / "general"))
        assert student.config.num_labels == labels and student.classifier.out_features == labels
        assert torch.equal(
            student.bert.encoder.layer[0].attention.self.query.weight,
            saved.bert.encoder.layer[0].attention.self.query.weight,
        )


def test_half_of_an_odd_depth_rounds_up():
    """``num_layers=None`` is half the teacher's depth rounded up: 5 -> 3 layers [0, 2, 4]."""
    teacher = tiny_bert(num_layers=5, seed=2)
    student = from_teacher_layers(teacher, num_labels=2)
    assert encoder_dims(student.config).num_layers == 3
    torch.testing.assert_close(
        transformer_layers(student)[1].attention.self.query.weight,
        transformer_layers(teacher)[2].attention.self.query.weight,
    )


def test_per_layer_config_entries_follow_the_chosen_layers():
    """A family with per-layer attention types (Qwen2: full attention below max_window_layers,
    sliding window above) keeps each chosen layer's own type."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        "qwen2",
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        use_sliding_window=True,
        max_window_layers=2,
        sliding_window=8,
    )
    teacher = AutoModelForCausalLM.from_config(config)
    assert teacher.config.layer_types == ["full_attention"] * 2 + ["sliding_attention"] * 2
    student = from_teacher_layers(teacher, num_labels=2, layers=[0, 3])
    assert student.config.layer_types == ["full_attention", "sliding_attention"]


def test_a_loaded_classifier_takes_the_dropout_it_is_given(tmp_path):
    tiny_bert().save_pretrained(tmp_path / "saved")  # saved without dropout
    model = load_classifier(str(tmp_path / "saved"), 2, dropout=0.3)
    assert (model.config.hidden_dropout_prob, model.config.attention_probs_dropout_prob) == (0.3, 0.3)
    assert load_classifier(str(tmp_path / "saved"), 2).config.hidden_dropout_prob == 0.0, "kept when not given"
