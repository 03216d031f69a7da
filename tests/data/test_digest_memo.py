"""The training-token digest is computed once per rows object, and anew for other rows."""

from __future__ import annotations

from datasets import Dataset

from distill_zoo.data.sampling import TrainingPosition


class _Rows(TrainingPosition):
    def __init__(self, rows: Dataset) -> None:
        self.rows = rows

    def train_rows(self) -> Dataset:
        return self.rows


def test_the_digest_is_memoised_per_rows_object_and_follows_new_rows():
    module = _Rows(Dataset.from_dict({"input_ids": [[1, 2, 3], [4, 5]]}))
    first = module.train_tokens_digest()
    assert module.train_tokens_digest() == first and first[1] == 3
    module.rows = Dataset.from_dict({"input_ids": [[1, 2, 3], [4, 6]]})
    assert module.train_tokens_digest()[0] != first[0]
