"""Issue 17, item 7 (Low): a secret in plain text in a stack file (committed to git) is refused outside dev.

The project's own keys were refused already (tests/test_config_mistakes.py); these cover what got through: the
cloud providers' credentials in the same file (`aws:secretKey`, `gcp:credentials`, `kubernetes:kubeconfig`, …),
which Pulumi hands the providers from the stack file just like ours, and every key documented "A secret".
Read the way `plan` and `pulumi up` read a stack (read_stack_file, then the engine-shaped loader).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ConfigError, StackConfig, parse_engine_config
from infra.config.secrets import SECRET_PATHS, config_warnings, documented_secret_paths
from infra.plan import read_stack_file
from tests.conftest import run_cli, stack_config

# Shapes of real credentials, none of them real: AWS's documented example key pair (docs.aws.amazon.com IAM user
# guide "AKIAIOSFODNN7EXAMPLE"), a service-account key file's JSON, a kubeconfig with a token.
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SA_KEY = json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE "
                     "KEY-----\n", "client_email": "deploy@acme.iam.gserviceaccount.com"})
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {token: eyJhbGciOiJSUzI1NiJ9}\n"


def write_stack(tmp: Path, stack: str, extra: dict[str, Any]) -> str:
    """Pulumi.<stack>.yaml: the shipped stack's llm-fleet values plus `extra` (full keys, e.g. aws:secretKey)."""
    doc = {"config": {**{f"llm-fleet:{k}": v for k, v in stack_config(stack).items()}, **extra}}
    (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return stack


def refusal(tmp: Path, stack: str, extra: dict[str, Any]) -> list[str]:
    write_stack(tmp, stack, extra)
    config, secret_keys = read_stack_file(stack, tmp)
    try:
        parse_engine_config(config, stack=stack, secret_keys=secret_keys)
    except ConfigError as e:
        return e.problems
    return []


@pytest.mark.parametrize(
    ("key", "value", "fix"),
    [
        ("aws:secretKey", AWS_SECRET, "pulumi config set --secret aws:secretKey <value> --stack prod"),
        ("aws:accessKey", "AKIAIOSFODNN7EXAMPLE", "pulumi config set --secret aws:accessKey <value> --stack prod"),
        ("gcp:credentials", SA_KEY, "pulumi config set --secret gcp:credentials \"$(cat key.json)\" --stack prod"),
        ("kubernetes:kubeconfig", KUBECONFIG,
         "pulumi config set --secret kubernetes:kubeconfig \"$(cat kubeconfig)\" --stack prod"),
    ],
)
def test_a_provider_credential_in_plain_text_is_refused_in_prod(tmp_path: Path, key: str, value: str,
                                                                fix: str) -> None:
    # Before: accepted silently in every tier (only llm-fleet:* keys were looked at).
    (line,) = refusal(tmp_path, "prod", {key: value})
    shown = f"'{value[:4]}…' ({len(value)} characters)"  # never the value itself
    assert line == (f"config error: {key} = {shown}: plain text in a file committed to git ({key} is a credential); "
                    f"allowed: a secret, stored encrypted; run {fix} (it writes `secure:`) (in Pulumi.prod.yaml)")
    assert value not in line


def test_staging_refuses_and_dev_warns(tmp_path: Path) -> None:
    (line,) = refusal(tmp_path, "staging", {"aws:secretKey": AWS_SECRET})
    assert line.endswith("--stack staging (it writes `secure:`) (in Pulumi.staging.yaml)")
    assert refusal(tmp_path, "dev", {"aws:secretKey": AWS_SECRET}) == []
    result = run_cli("plan", "--stack", "dev", "--json", "-C", str(tmp_path))
    assert result.returncode == 0, result.stderr
    notes = [n for n in json.loads(result.stdout)["notes"] if "aws:secretKey" in n]
    assert notes == ["aws:secretKey = 'wJal…' (40 characters): plain text in a file committed to git (aws:secretKey "
                     "is a credential); accepted in dev only, refused in staging and prod; run pulumi config set "
                     "--secret aws:secretKey <value> --stack dev"]


def test_what_is_not_a_plaintext_credential_passes(tmp_path: Path) -> None:
    # A file's path is what gcp:credentials and kubernetes:kubeconfig also take (pulumi_gcp 10.2.0; pulumi_kubernetes
    # 4.34.2 provider.py: "The contents of a kubeconfig file or the path to a kubeconfig file"); `secure:` is
    # encrypted; ordinary provider settings are no secrets.
    assert refusal(tmp_path, "prod", {"gcp:credentials": "/var/run/secrets/gcp/key.json",
                                      "kubernetes:kubeconfig": "~/.kube/config",
                                      "aws:secretKey": {"secure": "v1:AAAABBBBCCCC"},
                                      "gcp:project": "acme-llm", "aws:region": "us-east-1"}) == []


def test_a_credential_shape_under_any_provider_key_is_refused(tmp_path: Path) -> None:
    (line,) = refusal(tmp_path, "prod", {"kubernetes:clusterIdentifier": "AKIAIOSFODNN7EXAMPLE"})
    assert "kubernetes:clusterIdentifier = 'AKIA…' (20 characters)" in line and "looks like an AWS access key" in line


def test_every_key_documented_as_a_secret_is_treated_as_one() -> None:
    # The field docstrings that start "A secret" (stack.py hfToken, existing.py kubeconfig, budget.py's alert
    # receivers): a new secret key is covered by writing its docstring, not by remembering a second list.
    assert set(documented_secret_paths(StackConfig)) == {"hfToken", "existing.kubeconfig", "alerts.email.password",
                                                         "alerts.slackWebhookUrl", "alerts.webhookUrl",
                                                         "alerts.pagerdutyRoutingKey", "modelApiKey", "peerCaKey"}
    assert set(SECRET_PATHS) == set(documented_secret_paths(StackConfig))


def test_dev_warnings_need_the_engine_values_only_for_provider_keys() -> None:
    raw = stack_config("dev")
    cfg = parse_engine_config({f"llm-fleet:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()},
                              stack="dev")
    assert config_warnings(raw, set(), cfg, "dev") == []
    (warning,) = config_warnings(raw, set(), cfg, "dev", engine_values={"gcp:accessToken": "ya29.a0AfH6SM"})
    assert warning.startswith("gcp:accessToken = 'ya29…' (13 characters): plain text")
