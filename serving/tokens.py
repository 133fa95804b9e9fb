"""The Hugging Face token as the image takes it: a mounted file named by HF_TOKEN_PATH, never an env var it needs.

huggingface_hub (2.4.0, huggingface_hub/constants.py `HF_TOKEN_PATH`, utils/_auth.py `get_token`) reads the token
from the file HF_TOKEN_PATH names when HF_TOKEN is not set; vLLM downloads through it, and the supervisor passes its
environment on to vLLM unchanged. A token in HF_TOKEN instead shows in `kubectl describe pod`, in /proc/<pid>/environ
and in every child's environment, and takes precedence over the file (`get_token`: environment, then file).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

HF_TOKEN_PATH = "HF_TOKEN_PATH"
# The env names huggingface_hub reads (utils/_auth.py `_get_token_from_environment`).
ENV_TOKENS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def hf_token_problems(environ: Mapping[str, str]) -> list[str]:
    """HF_TOKEN_PATH set to a file that is missing or empty: one line, so the pod fails at start, not at download."""
    path = environ.get(HF_TOKEN_PATH)
    if not path:
        return []
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        return [f"{HF_TOKEN_PATH} = {path!r}: cannot read the token file ({exc.strerror}); mount the Secret there "
                f"or unset {HF_TOKEN_PATH}"]
    if not token:
        return [f"{HF_TOKEN_PATH} = {path!r}: the token file is empty; put the token in the Secret it is mounted from"]
    return []


def hf_token_warnings(environ: Mapping[str, str]) -> list[str]:
    """A token in an env var: accepted (it works), but said, with the fix."""
    return [f"{name} is set: the Hugging Face token shows in the pod spec and in /proc/<pid>/environ (and wins "
            f"over {HF_TOKEN_PATH}); mount it as a file and set {HF_TOKEN_PATH} instead"
            for name in ENV_TOKENS if environ.get(name)]
