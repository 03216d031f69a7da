"""Teacher and student logits must index the same tokens: the check, and how many columns to compare."""

from __future__ import annotations

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.errors import ConfigError


def logit_columns(model: PreTrainedModel) -> int:
    """Vocabulary entries the model scores: rows of its output embedding (its LM head)."""
    head = model.get_output_embeddings()
    weight = getattr(head, "weight", None)
    return int(weight.shape[0]) if weight is not None else int(model.config.vocab_size)


def check_same_vocabulary(
    teacher: PreTrainedModel,
    student: PreTrainedModel,
    teacher_tokenizer: PreTrainedTokenizerBase,
    student_tokenizer: PreTrainedTokenizerBase,
) -> int:
    """The number of logit columns to compare: ``len(tokenizer)``, after checking both models
    score that one tokenizer's tokens.

    Column j of either model's (B, L, V) logits must mean token j of the same tokenizer,
    so the two tokenizers must map the same strings to the same ids. A model may score
    more entries than the tokenizer has (a vocabulary padded for speed, e.g. GPT-2's
    50257 rounded up to 50304): the extra columns belong to no token and are trimmed,
    hence the return value V' = ``len(tokenizer)`` ≤ each model's V.

    Raises:
        ConfigError: the tokenizers differ, or a model scores fewer entries than the
            tokenizer has (its LM head cannot predict some tokens).
    """
    size = len(teacher_tokenizer)
    if teacher_tokenizer is not student_tokenizer and teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab():
        raise ConfigError(
            f"the teacher's tokenizer has {size} tokens and the student's {len(student_tokenizer)}"
            + (" with other ids" if size == len(student_tokenizer) else "")
            + ": logit distillation compares the same token in each column, so build the student "
            "on the teacher's tokenizer (student=half or a random student of the teacher's config)"
        )
    for role, model in (("teacher", teacher), ("student", student)):
        columns = logit_columns(model)
        if columns < size:
            raise ConfigError(
                f"the {role} scores {columns} vocabulary entries but the tokenizer has {size} tokens, "
                f"so tokens {columns}..{size - 1} cannot be predicted; use the {role}'s own tokenizer, "
                "or resize its embeddings to the tokenizer (model.resize_token_embeddings(len(tokenizer)))"
            )
    return size
