"""Causal language models: load a teacher and its tokenizer (Hugging Face folder, Hub id or
GGUF file), or build a tiny random one for tests.

GGUF weights (the packaged ``smollm2-135m-instruct``, or any ``.gguf`` file of a family
transformers reads) are always de-quantised at load time into a plain float model, so
teacher and students are ordinary ``*ForCausalLM`` modules whose weights can be copied.
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GgufConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from distill_zoo.errors import ConfigError
from distill_zoo.models.dims import set_dropout, set_encoder_dims
from distill_zoo.models.pretrained import PACKAGED_MODELS, PretrainedSource, resolve_source

#: Class names of every Hugging Face causal LM (``GPT2LMHeadModel``, ``LlamaForCausalLM`` ...).
CAUSAL_LM_CLASSES = frozenset(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())


def is_causal_lm(model: nn.Module) -> bool:
    """Whether ``model`` is a Hugging Face causal LM (next-token logits per position)."""
    return type(model).__name__ in CAUSAL_LM_CLASSES


def load_causal_lm(
    name_or_path: str,
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
    dtype: str | torch.dtype = "float32",
    num_labels: int | None = None,
) -> PreTrainedModel:
    """A pretrained causal LM, in eval mode.

    Args:
        name_or_path: a packaged model (``smollm2-135m-instruct``), a local folder, a
            ``.gguf`` file, or a Hub id (see :func:`~distill_zoo.models.pretrained.resolve_source`).
        gguf_file: the GGUF file inside a local folder or Hub repository, if the weights are one.
        trust_remote_code: run Python shipped with the checkpoint (off unless a config asks).
        dtype: the float type of the weights (``float32``, ``bfloat16``, ``float16``).
        num_labels: ignored; the pipeline passes the task's label count to every teacher loader.

    The packaged GGUF model is de-quantised once per process (~15 s) and kept; each call
    returns its own deep copy (~0.5 s, 540 MB), so no caller sees another's changes.
    """
    del num_labels
    source = resolve_source(name_or_path, gguf_file)
    torch_dtype = _torch_dtype(dtype)
    if name_or_path in PACKAGED_MODELS and source.gguf_file is not None:
        return copy.deepcopy(_packaged_causal_lm(source, torch_dtype))
    return _load(source, torch_dtype, trust_remote_code)


@functools.lru_cache(maxsize=1)
def _packaged_causal_lm(source: PretrainedSource, dtype: torch.dtype) -> PreTrainedModel:
    return _load(source, dtype, trust_remote_code=False)


def _load(source: PretrainedSource, dtype: torch.dtype, trust_remote_code: bool) -> PreTrainedModel:
    if source.gguf_file is None:
        config = AutoConfig.from_pretrained(source.path, trust_remote_code=trust_remote_code)
        architectures = config.architectures or []
        if architectures and not any(a in CAUSAL_LM_CLASSES for a in architectures):
            raise ConfigError(
                f"{source.path} is not a causal language model (architectures {architectures}); "
                "a causal-LM teacher needs a checkpoint such as gpt2 or HuggingFaceTB/SmolLM2-135M"
            )
        model = AutoModelForCausalLM.from_pretrained(source.path, dtype=dtype, trust_remote_code=trust_remote_code)
    else:
        # dequantize=True: never keep GGUF blocks (transformers would where a matmul kernel exists).
        model = AutoModelForCausalLM.from_pretrained(
            source.path,
            gguf_file=source.gguf_file,
            quantization_config=GgufConfig(dequantize=True),
            dtype=dtype,
            trust_remote_code=trust_remote_code,
        )
    return model.eval()


def load_tokenizer(
    name_or_path: str, gguf_file: str | None = None, trust_remote_code: bool = False
) -> PreTrainedTokenizerBase:
    """The tokenizer saved with a model, found as :func:`load_causal_lm` finds the model
    (a GGUF file holds its tokenizer too). Packaged GGUF tokenizers are built once per
    process and deep-copied, as the models are."""
    source = resolve_source(name_or_path, gguf_file)
    if name_or_path in PACKAGED_MODELS and source.gguf_file is not None:
        return copy.deepcopy(_packaged_tokenizer(source))
    return _tokenizer(source, trust_remote_code)


@functools.lru_cache(maxsize=1)
def _packaged_tokenizer(source: PretrainedSource) -> PreTrainedTokenizerBase:
    return _tokenizer(source, trust_remote_code=False)


def _tokenizer(source: PretrainedSource, trust_remote_code: bool) -> PreTrainedTokenizerBase:
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file is not None else {}
    return AutoTokenizer.from_pretrained(source.path, trust_remote_code=trust_remote_code, **kwargs)


def random_causal_lm(
    family: str = "gpt2",
    vocab_size: int = 30522,
    num_layers: int = 2,
    hidden_size: int = 32,
    num_heads: int = 2,
    num_kv_heads: int | None = None,
    intermediate_size: int = 64,
    max_positions: int = 128,
    tie_word_embeddings: bool = True,
    dropout: float = 0.0,
    num_labels: int | None = None,
) -> PreTrainedModel:
    """A randomly initialised causal LM (tests, tiny runs); nothing is downloaded.

    Args:
        family: ``gpt2`` (learned positions, fused Q/K/V) or ``llama`` (rotary positions,
            RMSNorm, grouped-query attention).
        vocab_size: logit columns; the default is the packaged MiniLM tokenizer's 30522,
            the tokenizer of the tiny tests.
        num_kv_heads: key/value heads (``llama`` only); None means ``num_heads``.
        max_positions: longest sequence (GPT-2's position table; Llama's rotary limit).
        tie_word_embeddings: share the input embedding with the LM head (as GPT-2 and
            SmolLM2 do).
        dropout: every dropout rate of the family; 0 keeps tiny tests deterministic.
        num_labels: ignored (the pipeline passes it to every teacher loader).

    Begin/end-of-text ids are ``vocab_size - 1``; there is no pad id.
    """
    del num_labels
    if family not in ("gpt2", "llama"):
        raise ConfigError(f"random_causal_lm builds gpt2 or llama models, not {family!r}")
    special = vocab_size - 1
    config = AutoConfig.for_model(family, vocab_size=vocab_size, bos_token_id=special, eos_token_id=special)
    sizes = {"num_layers": num_layers, "hidden_size": hidden_size, "num_heads": num_heads}
    if num_kv_heads is not None:
        sizes["num_kv_heads"] = num_kv_heads
    elif family == "llama":
        sizes["num_kv_heads"] = num_heads
    set_encoder_dims(config, intermediate_size=intermediate_size, **sizes)
    set_dropout(config, dropout)
    config.max_position_embeddings = max_positions
    config.tie_word_embeddings = tie_word_embeddings
    return AutoModelForCausalLM.from_config(config)


def _torch_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    dtype = getattr(torch, str(name), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(f"dtype must be a float type such as float32 or bfloat16, got {name!r}")
    return dtype
