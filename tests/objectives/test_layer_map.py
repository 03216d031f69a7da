import pytest

from distill_zoo.errors import ConfigError
from distill_zoo.objectives.layer_map import attention_map, hidden_map, require_equal_heads


def test_tinybert_uniform_maps():
    assert hidden_map("uniform", 4, 12) == [(0, 0), (1, 3), (2, 6), (3, 9), (4, 12)]
    assert attention_map("uniform", 4, 12) == [(0, 2), (1, 5), (2, 8), (3, 11)]
    assert attention_map("uniform", 3, 6) == [(0, 1), (1, 3), (2, 5)]


def test_last_and_explicit_maps():
    assert hidden_map("last", 3, 6, embeddings=False) == [(3, 6)]
    assert attention_map("last", 3, 6) == [(2, 5)]
    assert hidden_map([2, 4, 6], 3, 6) == [(0, 0), (1, 2), (2, 4), (3, 6)]
    assert attention_map([0, 0, 5], 3, 6) == [(0, 0), (1, 0), (2, 5)]


def test_impossible_maps_are_config_errors():
    with pytest.raises(ConfigError, match="multiple of the student depth"):
        hidden_map("uniform", 4, 6)
    with pytest.raises(ConfigError, match="out of range"):
        attention_map([0, 1, 6], 3, 6)
    with pytest.raises(ConfigError, match="one teacher layer per student layer"):
        hidden_map([2, 4], 3, 6)
    with pytest.raises(ConfigError, match="uniform"):
        attention_map("every-other", 3, 6)
    with pytest.raises(ConfigError, match="12 heads"):
        require_equal_heads(4, 12, "x")
