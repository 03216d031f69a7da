"""``--push-to-hub``: refuse early without a token or network, upload the export folder after."""

from __future__ import annotations

from pathlib import Path

from distill_zoo.errors import ConfigError


def hub_token() -> str:
    """The user's Hugging Face token; ConfigError (before any export work) when there is none
    or the Hub is switched off (``HF_HUB_OFFLINE``)."""
    from huggingface_hub import constants, get_token

    token = get_token()
    if not token:
        raise ConfigError(
            "--push-to-hub needs a Hugging Face token: log in with `hf auth login` or set HF_TOKEN "
            "(or export without --push-to-hub and upload the folder yourself)"
        )
    if constants.HF_HUB_OFFLINE:
        raise ConfigError("--push-to-hub needs the network, but HF_HUB_OFFLINE is set; unset it to upload")
    return token


def push(folder: Path, repo: str, token: str, message: str) -> str:
    """Create ``repo`` (a model repo; kept if it exists) and upload ``folder``; its URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo, repo_type="model", exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=url.repo_id, repo_type="model", commit_message=message)
    return str(url)
