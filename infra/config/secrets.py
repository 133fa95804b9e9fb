"""Secrets in plain text in the stack file (which is committed to git), and gated models without a token.

A value is taken for a secret when its key is one the schema documents as a secret (hfToken, existing.kubeconfig,
the alert receivers' credentials), when an env variable's name says so (…_TOKEN, …_PASSWORD, …_API_KEY), or when
the value itself has the shape of a credential (an `hf_…` token, a private key, a kubeconfig with credentials).
Outside dev it is refused (loading.py); in dev it is a warning (`config_warnings`), since a throwaway dev token
is common there. Either way the line says the `pulumi config set --secret` command that stores it encrypted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from infra.config.base import NAMESPACE
from infra.config.stack import StackConfig

PLACEHOLDER = "[secret]"  # what the offline plan hands the program for a `secure:` value (infra/plan.py)

# Keys whose docstrings say "A secret" (stack.py, existing.py, budget.py).
SECRET_PATHS = ("hfToken", "existing.kubeconfig", "alerts.email.password", "alerts.slackWebhookUrl",
                "alerts.webhookUrl", "alerts.pagerdutyRoutingKey")
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


def _why_secret(path: str, value: str) -> str | None:
    if path in SECRET_PATHS:
        return f"{path} is a secret"
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
    for key, value in raw.items():
        if f"{NAMESPACE}:{key}" in secret_keys:
            continue  # the engine decrypted it: it is stored as `secure:`
        for path, leaf in _leaves(value, key):
            if isinstance(leaf, str) and leaf and leaf != PLACEHOLDER and (why := _why_secret(path, leaf)):
                found.append((path, _redacted(leaf), why))
    return found


def plaintext_secret_problems(raw: Mapping[str, Any], secret_keys: Collection[str], stack: str | None) -> list[str]:
    """Outside dev: one line per plaintext secret, refusing it (lines without the namespace prefix)."""
    return [f"{path} = {shown}: plain text in a file committed to git ({why}); allowed: a secret, stored "
            f"encrypted; run {set_secret_command(path, stack)} (it writes `secure:`)"
            for path, shown, why in plaintext_secrets(raw, secret_keys)]


def config_warnings(raw: Mapping[str, Any], secret_keys: Collection[str], cfg: StackConfig,
                    stack: str | None) -> list[str]:
    """What the plan and `pulumi up` say but do not refuse: a plaintext secret in dev, a gated model without a token.

    `raw`: the stack's `llm-fleet:*` values (keys without the namespace, `engine_raw`); staging and prod refuse
    plaintext secrets instead (loading.py)."""
    warnings = []
    if cfg.tier == "dev":
        warnings += [f"{NAMESPACE}:{path} = {shown}: plain text in a file committed to git ({why}); "
                     f"accepted in dev only, refused in staging and prod; run {set_secret_command(path, stack)}"
                     for path, shown, why in plaintext_secrets(raw, secret_keys)]
    for i, model in enumerate(cfg.models):
        org = model.source.removeprefix("hf://").split("/", 1)[0] if model.is_huggingface else None
        if org in GATED_ORGS and not cfg.hf_token:
            command = set_secret_command("hfToken", stack).replace("<value>", "hf_…")
            warnings.append(f"{NAMESPACE}:models[{i}].source = {model.source!r}: {org} gates its models on "
                            f"Hugging Face and the stack has no hfToken, so the download would be refused; accept "
                            f"the licence on the model's page, then run {command}")
    return warnings
