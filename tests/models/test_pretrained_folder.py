"""An existing folder that is no Hugging Face model folder is refused by name, before
``from_pretrained`` would try it as a Hub id."""

from __future__ import annotations

import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.models.pretrained import resolve_pretrained


def test_a_folder_without_config_json_is_refused_and_one_with_it_is_returned(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="holds no config.json"):
        resolve_pretrained(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert resolve_pretrained(str(tmp_path)) == str(tmp_path)
