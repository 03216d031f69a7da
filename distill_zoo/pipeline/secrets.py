"""Keep credentials out of everything a run writes: records, saved configs, logger settings.

A W&B key or a Hub token can reach a config through ``${oc.env:...}`` or an override;
:func:`redact` replaces the value of every key that names a credential, and every value
equal to a credential found in the environment, before anything is written.
"""

from __future__ import annotations

import os
import re
from typing import Any

#: Keys whose values are credentials: ``token``, ``hf_token``, ``api_key``, ``wandb_api_key``,
#: ``password``, ... (a whole word at the end of the key: ``tokenizer`` is not one).
SECRET_KEY = re.compile(r"(^|[_-])(api[_-]?key|token|secret|password|passwd|credentials?)$", re.IGNORECASE)
#: Environment variables that hold credentials distill_zoo's libraries read.
SECRET_ENV = ("WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN")
REDACTED = "<redacted>"


def redact(value: Any) -> Any:
    """A copy of ``value`` (nested dicts and lists) with credentials replaced by ``<redacted>``."""
    secrets = {os.environ[name] for name in SECRET_ENV if os.environ.get(name)}
    return _redact(value, secrets)


def _redact(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k, v) else _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(v, secrets) for v in value)
    if isinstance(value, str) and secrets and any(s in value for s in secrets):
        return REDACTED
    return value


def _is_secret_key(key: Any, value: Any) -> bool:
    """A credential-named key with a value that is a credential (not a flag or a section)."""
    return isinstance(key, str) and bool(SECRET_KEY.search(key)) and isinstance(value, str) and bool(value)
