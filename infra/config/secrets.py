"""Secrets in plain text in the stack file (which is committed to git), and gated models without a token.

A value is taken for a secret when its key is one the schema documents as a secret (a field docstring starting
"A secret": hfToken, existing.kubeconfig, the alert receivers' credentials) or a provider's credential setting
(`aws:secretKey`, `gcp:credentials`, `kubernetes:kubeconfig`, …), when an env variable's name says so (…_TOKEN,
…_PASSWORD, …_API_KEY), or when the value itself has the shape of a credential (an `hf_…` token, a private key, a
kubeconfig with credentials).
Outside dev it is refused (loading.py); in dev it is a warning (`config_warnings`), since a throwaway dev token
is common there. Either way the line says the `pulumi config set --secret` command that stores it encrypted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from infra.config.base import NAMESPACE
from infra.config.gateway import api_key_refs
from infra.config.stack import StackConfig

PLACEHOLDER = "[secret]"  # what the offline plan hands the program for a `secure:` value (infra/plan.py)



def documented_secret_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """The key paths whose field docstrings start "A secret" (the schema's word), through nested blocks."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        if (field.description or "").startswith("A secret"):
            yield path
        for block in _blocks(field.annotation):
            yield from documented_secret_paths(block, f"{path}.")


def _blocks(annotation: Any) -> Iterator[type[BaseModel]]:
    """The config blocks a field holds directly or as optional (`Existing | None`); lists have no fixed path."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    elif get_origin(annotation) in (Union, UnionType):
        for arg in get_args(annotation):
            yield from _blocks(arg)


# Keys whose docstrings say "A secret" (stack.py hfToken, existing.py kubeconfig, budget.py's alert receivers).
SECRET_PATHS = tuple(documented_secret_paths(StackConfig))

# The cloud providers' settings that hold credentials, read by the providers from the same stack file: pulumi_aws
# 7.51.1 config/vars.py accessKey, secretKey, token ("session token"); pulumi_gcp 10.2.0 config/vars.py credentials,
# accessToken; pulumi_kubernetes 4.34.2 provider.py kubeconfig ("The contents of a kubeconfig file or the path to a
# kubeconfig file"). True: the key also takes a file's path, which is no secret (one line, not JSON or YAML text).
PROVIDER_CREDENTIALS = {"aws:accessKey": False, "aws:secretKey": False, "aws:token": False, "gcp:accessToken": False,
                        "gcp:credentials": True, "kubernetes:kubeconfig": True}
_FROM_FILE = {"gcp:credentials": '"$(cat key.json)"', "kubernetes:kubeconfig": '"$(cat kubeconfig)"'}
_SECRET_ENV_NAME = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|ACCESS_KEY|PRIVATE_KEY)$", re.IGNORECASE)
_CREDENTIAL_SHAPES = (
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,})")),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Slack token or webhook", re.compile(r"\bxox[abposr]-[\w-]{10,}|hooks\.slack\.com/services/")),
    ("an API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a kubeconfig with credentials", re.compile(r"(client-key-data|client-certificate-data|\btoken):\s*\S")),
)

# Hugging Face organisations that gate their models (a licence to accept on the model page, then a token of that
# account): every Meta Llama repo (theneuralbase.com/llama/errors/huggingface-meta-llama-gated-model-access-required,
# "verified April 2026") and Mistral's (theneuralbase.com/huggingface-hub/learn/advanced/gated-model-agreements, read
# 2026-11-30). The plan is offline and asks the Hub nothing, so a list of orgs is what it can know; a note, not an
# error, since an org may publish an ungated repo too.
GATED_ORGS = ("meta-llama", "mistralai")


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def credential_shape(value: str) -> str | None:
    """What `value` looks like when it has a credential's shape (an `hf_…` token, an `sk-…` key, …), else None."""
    return next((what for what, shape in _CREDENTIAL_SHAPES if shape.search(value)), None)


def _why_secret(path: str, value: str, backend_keys: Mapping[str, str] | None = None) -> str | None:
    if path in SECRET_PATHS:
        return f"{path} is a secret"
    if backend_keys and path in backend_keys:
        return f"{backend_keys[path]} names it as a backend's API key"
    if re.fullmatch(r"(training|rollout)\.env\.\w+", path) and _SECRET_ENV_NAME.search(path.rsplit(".", 1)[1]):
        return "an environment variable named as a secret"
    return next((f"it looks like {what}" for what, shape in _CREDENTIAL_SHAPES if shape.search(value)), None)


def _redacted(value: str) -> str:
    return f"'{value[:4]}…' ({len(value)} characters)"


def set_secret_command(path: str, stack: str | None) -> str:
    """The command that stores `path` encrypted (`secure:`) in the stack file."""
    value = '"$(cat kubeconfig)"' if path.endswith("kubeconfig") else "<value>"
    where = f" --stack {stack}" if stack else ""
    if "." in path or "[" in path:
        return f"pulumi config set --path --secret '{NAMESPACE}:{path}' {value}{where}"
    return f"pulumi config set --secret {NAMESPACE}:{path} {value}{where}"


def plaintext_secrets(raw: Mapping[str, Any], secret_keys: Collection[str]) -> list[tuple[str, str, str]]:
    """(key path, shown value, why) of each secret-looking value not stored as a secret."""
    found = []
    backend_keys = api_key_refs(raw)  # the gateway's backends name their keys' config keys (gateway.py)
    for key, value in raw.items():
        if f"{NAMESPACE}:{key}" in secret_keys:
            continue  # the engine decrypted it: it is stored as `secure:`
        for path, leaf in _leaves(value, key):
            if isinstance(leaf, str) and leaf and leaf != PLACEHOLDER and (
                    why := _why_secret(path, leaf, backend_keys)):
                found.append((path, _redacted(leaf), why))
    return found


def provider_plaintext_secrets(values: Mapping[str, Any], secret_keys: Collection[str]) -> list[tuple[str, str, str]]:
    """(full key, shown value, why) of each provider setting (`aws:secretKey`, …) holding a credential in plain text.

    `values`: the engine's config, every namespace (`sdk.engine_config()`, or read_stack_file's map)."""
    found = []
    for key, value in values.items():
        if key.startswith(f"{NAMESPACE}:") or key in secret_keys or not isinstance(value, str):
            continue
        if value in ("", PLACEHOLDER):
            continue
        takes_path = PROVIDER_CREDENTIALS.get(key)
        if key in PROVIDER_CREDENTIALS and not (takes_path and "\n" not in value and not value.startswith("{")):
            found.append((key, _redacted(value), f"{key} is a credential"))
        elif why := next((f"it looks like {what}" for what, shape in _CREDENTIAL_SHAPES if shape.search(value)), None):
            found.append((key, _redacted(value), why))
    return found


def _provider_command(key: str, stack: str | None) -> str:
    where = f" --stack {stack}" if stack else ""
    return f"pulumi config set --secret {key} {_FROM_FILE.get(key, '<value>')}{where}"


def provider_plaintext_problems(values: Mapping[str, Any], secret_keys: Collection[str],
                                stack: str | None) -> list[str]:
    """Outside dev: one line per provider credential in plain text, refusing it (full keys, no prefix added)."""
    return [f"{key} = {shown}: plain text in a file committed to git ({why}); allowed: a secret, stored encrypted; "
            f"run {_provider_command(key, stack)} (it writes `secure:`)"
            for key, shown, why in provider_plaintext_secrets(values, secret_keys)]


def plaintext_secret_problems(raw: Mapping[str, Any], secret_keys: Collection[str], stack: str | None) -> list[str]:
    """Outside dev: one line per plaintext secret, refusing it (lines without the namespace prefix)."""
    return [f"{path} = {shown}: plain text in a file committed to git ({why}); allowed: a secret, stored "
            f"encrypted; run {set_secret_command(path, stack)} (it writes `secure:`)"
            for path, shown, why in plaintext_secrets(raw, secret_keys)]


def config_warnings(raw: Mapping[str, Any], secret_keys: Collection[str], cfg: StackConfig,
                    stack: str | None, engine_values: Mapping[str, Any] | None = None) -> list[str]:
    """What the plan and `pulumi up` say but do not refuse: a plaintext secret in dev, a gated model without a token.

    `raw`: the stack's `llm-fleet:*` values (keys without the namespace, `engine_raw`); `engine_values`, when given,
    every namespace's (for the providers' credentials); staging and prod refuse plaintext secrets instead
    (loading.py)."""
    warnings = []
    if cfg.tier == "dev":
        warnings += [f"{NAMESPACE}:{path} = {shown}: plain text in a file committed to git ({why}); "
                     f"accepted in dev only, refused in staging and prod; run {set_secret_command(path, stack)}"
                     for path, shown, why in plaintext_secrets(raw, secret_keys)]
        warnings += [f"{key} = {shown}: plain text in a file committed to git ({why}); accepted in dev only, refused "
                     f"in staging and prod; run {_provider_command(key, stack)}"
                     for key, shown, why in provider_plaintext_secrets(engine_values or {}, secret_keys)]
    for i, model in enumerate(cfg.models):
        org = model.source.removeprefix("hf://").split("/", 1)[0] if model.is_huggingface else None
        if org in GATED_ORGS and not cfg.hf_token:
            command = set_secret_command("hfToken", stack).replace("<value>", "hf_…")
            warnings.append(f"{NAMESPACE}:models[{i}].source = {model.source!r}: {org} gates its models on "
                            f"Hugging Face and the stack has no hfToken, so the download would be refused; accept "
                            f"the licence on the model's page, then run {command}")
    return warnings
