"""A corpus of realistic one-edit mistakes on the shipped stacks: each refused with one line that names the file, the
key, the value given and the fix; and tricky-but-valid stacks that still validate.

Each case is applied to a copy of a shipped stack file (Pulumi.dev/staging/prod.yaml, examples/*.yaml), either as
an edit of its `llm-fleet:*` values or as a text edit of the file (what a person types: a key twice, a lost
`config:` line), and read the way `plan` and `pulumi up` read it (read_stack_file, then the engine-shaped loader)
without running the program, to stay fast. A few cases run the CLI to prove the exit code and output.
"""

from __future__ import annotations

import copy
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ConfigError, parse_engine_config
from infra.config.messages import PATTERN_MEANINGS
from infra.plan import read_stack_file
from tests.conftest import run_cli, stack_config, stack_root

Edit = Callable[[dict[str, Any]], None] | tuple[str | None, str]
HF_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"  # the shape of a real token (hf_ and 34 more), not one
KUBECONFIG = ("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: https://203.0.113.5}\n"
              "users:\n- name: u\n  user: {token: eyJhbGciOiJSUzI1NiIsImtpZCI6IkRFTU8ifQ}\n")


def _write(tmp: Path, base: str, edit: Edit | None) -> str:
    """Pulumi.<base>.yaml in `tmp`, with `edit` applied: a function of the values, or (old, new) on the text
    ((None, new): the whole text)."""
    if isinstance(edit, tuple):
        text = (stack_root(base) / f"Pulumi.{base}.yaml").read_text()
        old, new = edit
        if old is None:  # the whole file replaced
            text, old = new, new
        assert text.count(old) == 1, f"{old!r} is not once in Pulumi.{base}.yaml"
        (tmp / f"Pulumi.{base}.yaml").write_text(text.replace(old, new))
    else:
        cfg = copy.deepcopy(stack_config(base))
        if edit is not None:
            edit(cfg)
        doc = {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}
        (tmp / f"Pulumi.{base}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return base


def validate(tmp: Path, base: str, edit: Edit | None) -> list[str]:
    """The lines a stack is refused with ([] when it is valid), read as `plan` reads it; never a traceback."""
    stack = _write(tmp, base, edit)
    try:
        config, secret_keys = read_stack_file(stack, tmp)
        parse_engine_config(config, stack=stack, secret_keys=secret_keys)
    except ConfigError as e:
        return e.problems
    except Exception:  # the point: any other exception is a traceback the user would see
        pytest.fail(f"a traceback instead of a config error:\n{traceback.format_exc()}")
    return []


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        target = cfg
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return edit


def _drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        target = cfg
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]
    return edit


def _all(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        for e in edits:
            e(cfg)
    return edit


# (id, stack, edit, fragments the one line must hold: the key path, the value given, and a distinctive part of the
# fix or of what is allowed). The file name is checked for every case.
MISTAKES: list[tuple[str, str, Edit, list[str]]] = [
    # --- structure: reported first and alone -------------------------------------------------------------------
    ("cloud named after the provider", "prod", _set(["cloud"], "aws"),
     ["llm-fleet:cloud = 'aws'", "'gke'", "did you mean cloud: eks"]),
    ("cloud misspelt", "dev", _set(["cloud"], "gek"), ["llm-fleet:cloud = 'gek'", "did you mean cloud: gke"]),
    ("cloud in capitals", "staging", _set(["cloud"], "GKE"), ["llm-fleet:cloud = 'GKE'", "cloud: gke"]),
    # Switching a GKE stack to EKS: the missing aws block, not the pools' GKE shapes, is the one line.
    ("switched to eks without an aws block", "staging", _set(["cloud"], "eks"),
     ["llm-fleet:aws: missing", "cloud 'eks' needs aws.region and aws.zones", "set cloud: gke"]),
    ("switched to existing without its block", "prod", _set(["cloud"], "existing"),
     ["llm-fleet:existing: missing", "existing.context"]),
    # Half a switch to EKS (aws block added, gcp block kept, pools still GKE's): the leftover block is the one line.
    ("switched to eks keeping the gcp block", "staging",
     _all(_set(["cloud"], "eks"), _set(["aws"], {"region": "us-east-1", "zones": ["us-east-1a", "us-east-1b"]})),
     ["llm-fleet:gcp: set, but cloud is 'eks'", "remove it or set cloud: gke"]),
    ("gcp block deleted", "dev", _drop(["gcp"]), ["llm-fleet:gcp: missing", "gcp.project, gcp.region and gcp.zones"]),
    ("tier misspelt", "staging", _set(["tier"], "stage"), ["llm-fleet:tier = 'stage'", "'staging'"]),
    ("tier capitalised", "prod", _set(["tier"], "Prod"), ["llm-fleet:tier = 'Prod'", "did you mean tier: prod?"]),
    # `llm-fleet:nodePools:` with its entries deleted: was shown as the text 'null'.
    ("a block left empty", "staging", _set(["nodePools"], None), ["llm-fleet:nodePools = (empty)", "a list"]),
    ("namespace misspelt", "prod", ("  llm-fleet:budget:", "  llm-flet:budget:"),
     ["llm-flet:budget", "'llm-flet'", "rename it to llm-fleet:budget"]),
    ("namespace misspelt and key misspelt", "dev", ("  llm-fleet:serving:", "  llmfleet:servng:"),
     ["llmfleet:servng", "rename it to llm-fleet:serving"]),
    ("a block pasted from another project's stack file", "staging", ("  llm-fleet:budget:", "  acme-llm:budget:"),
     ["acme-llm:budget", "namespace 'acme-llm' is not this project's", "rename it to llm-fleet:budget"]),
    ("a stack file emptied", "prod", (None, ""), ["llm-fleet:tier: missing, as is every other key", "empty",
                                                   "start from a copy of Pulumi.dev.yaml"]),
    ("a stack file of comments only", "staging", (None, "# staging: to do\n# config:\n#   llm-fleet:tier: staging\n"),
     ["llm-fleet:tier: missing, as is every other key", "only comments"]),
    ("a stack file with an empty config block", "dev", (None, "config:\n"),
     ["llm-fleet:tier: missing, as is every other key", "`config:` block of llm-fleet:<key> entries"]),
    ("keys pasted without the config: wrapper", "dev", ("config:\n", ""),
     ["llm-fleet:tier", "at the top level", "add a line `config:`"]),
    # --- the YAML itself ----------------------------------------------------------------------------------------
    ("a key given twice in one mapping", "prod", ("      maxNodes: 12\n", "      maxNodes: 12\n      maxNodes: 6\n"),
     ["llm-fleet:nodePools[0].maxNodes", "on lines 23 and 24", "remove one"]),
    ("a block given twice", "staging", ("  llm-fleet:budget:\n", "  llm-fleet:budget: {monthlyAmount: 1}\n"
                                        "  llm-fleet:budget:\n"),
     ["llm-fleet:budget: given twice", "silently lost"]),
    ("a tab in the indentation", "dev", ("    region: us-central1\n", "\tregion: us-central1\n"),
     ["not valid YAML", "line 7 column 1", "indentation"]),
    ("an unclosed flow list", "prod", ("zones: [us-central1-a, us-central1-c, us-central1-f]",
                                       "zones: [us-central1-a, us-central1-c, us-central1-f"),
     ["not valid YAML", "line", "column"]),
    # --- models ---------------------------------------------------------------------------------------------------
    ("parameters without their unit", "staging", _set(["models", 0, "parameters"], 7.6),
     ["llm-fleet:models[0].parameters = 7.6", "did you mean 7.6B?"]),
    ("parameters as a bare integer", "prod", _set(["models", 0, "parameters"], 70),
     ["llm-fleet:models[0].parameters = 70", "did you mean 70B?"]),
    ("parameters as quoted bare number", "dev", _set(["models", 0, "parameters"], "1.5"),
     ["llm-fleet:models[0].parameters = '1.5'", "did you mean 1.5B?"]),
    ("parameters in words", "eks-prod", _set(["models", 0, "parameters"], "7.6 billion"),
     ["llm-fleet:models[0].parameters = '7.6 billion'", "'70B'"]),
    ("weights that do not fit", "staging", _set(["models", 0, "parameters"], "70B"),
     ["llm-fleet:models[0].parameters = 70B", "140.0 GB", "raise tensorParallelSize"]),
    ("dtype abbreviated", "prod", _set(["models", 0, "dtype"], "bf16"),
     ["llm-fleet:models[0].dtype = 'bf16'", "did you mean 'bfloat16'?"]),
    ("model name in capitals", "dev", _set(["models", 0, "name"], "Qwen-1b5"),
     ["llm-fleet:models[0].name = 'Qwen-1b5'", "lowercase letters, digits and dashes"]),
    ("model source without a scheme", "staging", _set(["models", 0, "source"], "Qwen/Qwen2.5-7B-Instruct"),
     ["llm-fleet:models[0].source = 'Qwen/Qwen2.5-7B-Instruct'", "hf://<org>/<repo>"]),
    ("model GPU kind without its memory", "prod", _set(["models", 0, "gpu"], "A100"),
     ["llm-fleet:models[0].gpu = 'A100'", "'A100-40GB'"]),
    ("tensor parallelism larger than a node", "prod", _set(["models", 0, "tensorParallelSize"], 2),
     ["llm-fleet:models[0].tensorParallelSize = 2", "set nodePools[0].gpusPerNode: 2 (a2-highgpu-2g)"]),
    ("tensor parallelism of 4 on L4", "dev", _set(["models", 0, "tensorParallelSize"], 4),
     ["llm-fleet:models[0].tensorParallelSize = 4", "gpusPerNode: 4 (g2-standard-48)"]),
    ("tensor parallelism on an existing cluster", "coreweave-prod", _set(["models", 0, "tensorParallelSize"], 16),
     ["llm-fleet:models[0].tensorParallelSize = 16", "nodes with 16+ GPUs"]),
    # prod's H100 training pool runs a3-highgpu-1g; GKE's next H100 size is 2 GPUs, a3-highgpu-2g.
    ("training on more GPUs than a node", "prod", _set(["training", "gpus"], 2),
     ["llm-fleet:training.gpus = 2", "set nodePools[1].gpusPerNode: 2 (a3-highgpu-2g)"]),
    ("replicas min above max", "staging", _set(["models", 0, "replicas"], {"min": 5, "max": 4}),
     ["llm-fleet:models[0].replicas.min: min=5", "above max=4"]),
    ("maxModelLen as text", "prod", _set(["models", 0, "maxModelLen"], "16k"),
     ["llm-fleet:models[0].maxModelLen = '16k'", "a whole number"]),
    # A required key misspelt: the unknown key's line alone, not also "max: missing".
    ("a required key misspelt", "staging", ("replicas: {max: 4}", "replicas: {maximum: 4}"),
     ["llm-fleet:models[0].replicas.maximum: unknown key", "did you mean max?"]),
    ("a required block misspelt", "staging", ("  llm-fleet:artifacts:\n", "  llm-fleet:artefacts:\n"),
     ["llm-fleet:artefacts: unknown key", "did you mean artifacts?"]),
    ("a model key misspelt", "dev", _set(["models", 0, "maxModelLength"], 4096),
     ["llm-fleet:models[0].maxModelLength", "did you mean maxModelLen?"]),
    ("model revision a branch", "prod", _set(["artifacts", "modelRevisions", "qwen-7b"], "main"),
     ["llm-fleet:artifacts.modelRevisions.qwen-7b = 'main'", "40 lowercase hex digits"]),
    ("model revision a short hash", "eks-prod", _set(["artifacts", "modelRevisions", "qwen-7b"], "a09a354"),
     ["llm-fleet:artifacts.modelRevisions.qwen-7b = 'a09a354'", "full commit hash"]),
    # --- pools ---------------------------------------------------------------------------------------------------
    ("pool GPU kind lowercase", "staging", _set(["nodePools", 0, "gpu"], "a100-40gb"),
     ["llm-fleet:nodePools[0].gpu = 'a100-40gb'", "did you mean 'A100-40GB'?"]),
    ("pool capacity in GCP's old word", "dev", _set(["nodePools", 0, "capacity"], "preemptible"),
     ["llm-fleet:nodePools[0].capacity = 'preemptible'", "'spot'"]),
    ("pool capacity misspelt", "prod", _set(["nodePools", 0, "capacity"], "ondemand"),
     ["llm-fleet:nodePools[0].capacity = 'ondemand'", "did you mean 'on-demand'?"]),
    ("maxNodes in words", "dev", _set(["nodePools", 0, "maxNodes"], "two"),
     ["llm-fleet:nodePools[0].maxNodes = 'two'", "allowed: a whole number"]),
    ("maxNodes left empty", "prod", ("      maxNodes: 12\n", "      maxNodes:\n"),
     ["llm-fleet:nodePools[0].maxNodes = (empty)", "a whole number"]),
    ("existing preset as a list", "coreweave-prod", _set(["existing", "preset"], ["coreweave"]),
     ["llm-fleet:existing.preset = ['coreweave']", "'nvidia-gpu-operator' or 'coreweave'"]),
    ("negative minNodes", "staging", _set(["nodePools", 0, "minNodes"], -1),
     ["llm-fleet:nodePools[0].minNodes = -1", "0 or more"]),
    ("minNodes above maxNodes", "prod", _set(["nodePools", 0, "minNodes"], 13),
     ["llm-fleet:nodePools[0].minNodes: minNodes=13", "above maxNodes=12"]),
    ("a GKE machine type on EKS", "eks-prod", _set(["nodePools", 2, "machineType"], "n2-standard-32"),
     ["llm-fleet:nodePools[2].machineType: machineType='n2-standard-32'", "e.g. m7i.8xlarge"]),
    ("A100s one per node on EKS", "eks-prod", _set(["nodePools", 0, "gpusPerNode"], 1),
     ["llm-fleet:nodePools[0].gpusPerNode: gpusPerNode=1", "allowed: 8"]),
    ("disk below the minimum", "dev", _set(["nodePools", 0, "diskSizeGb"], 20),
     ["llm-fleet:nodePools[0].diskSizeGb = 20", "50 or more"]),
    # maxNodes: 0 to park a pool, where the tier's minNodes (1 in staging) is not written: the line says where 1 is
    # from and both ways out.
    ("a pool parked with maxNodes 0", "staging", _set(["nodePools", 0, "maxNodes"], 0),
     ["llm-fleet:nodePools[0]: minNodes=1 is above maxNodes=0 (the tier's minNodes, where not set)",
      "set maxNodes: 1 or minNodes: 0"]),
    ("pool name with an underscore", "staging", _set(["nodePools", 2, "name"], "rollout_pool"),
     ["llm-fleet:nodePools[2].name = 'rollout_pool'", "lowercase letters, digits and dashes"]),
    ("a pool zone outside the region", "prod", _set(["nodePools", 1, "zones"], ["us-east1-b"]),
     ["llm-fleet:nodePools[1].zones", "us-east1-b not in gcp.zones"]),
    # --- GCP / AWS ----------------------------------------------------------------------------------------------
    ("GCP project with capitals", "dev", _set(["gcp", "project"], "Acme-LLM-dev"),
     ["llm-fleet:gcp.project = 'Acme-LLM-dev'", "GCP project ID"]),
    ("GCP region without its number", "staging", _set(["gcp", "region"], "us-central"),
     ["llm-fleet:gcp.region = 'us-central'", "us-central1"]),
    ("GCP region misspelt, zones alike", "staging",
     _set(["gcp"], {"project": "acme-llm-staging", "region": "us-centre1", "zones": ["us-centre1-a", "us-centre1-c"]}),
     ["llm-fleet:gcp.region = 'us-centre1'", "not a region GCP has", "did you mean us-central1?"]),
    ("GCP region of a name GCP never used", "dev", _set(["gcp", "region"], "europe-west5"),
     ["llm-fleet:gcp.region = 'europe-west5'", "e.g. us-central1, europe-west4"]),
    ("AWS region that does not exist", "eks-prod",
     _all(_set(["aws", "region"], "us-east-9"), _set(["aws", "zones"], ["us-east-9a", "us-east-9b"])),
     ["llm-fleet:aws.region = 'us-east-9'", "not a region AWS has", "did you mean us-east-2?"]),
    ("GCP zones as one string", "prod", _set(["gcp", "zones"], "us-central1-a"),
     ["llm-fleet:gcp.zones = 'us-central1-a'", "a list"]),
    ("billing account lowercase", "dev", _set(["gcp", "billingAccount"], "01a2b3-c4d5e6-f7a8b9"),
     ["llm-fleet:gcp.billingAccount = '01a2b3-c4d5e6-f7a8b9'", "XXXXXX-XXXXXX-XXXXXX"]),
    ("pods range over the subnet", "prod", _set(["gcp", "podsCidr"], "10.8.0.0/14"),
     ["llm-fleet:gcp.podsCidr = '10.8.0.0/14'", "overlaps gcp.subnetCidr = '10.10.0.0/20'", "free range"]),
    ("services range inside the pods range", "staging", _set(["gcp", "servicesCidr"], "10.18.0.0/20"),
     ["llm-fleet:gcp.servicesCidr = '10.18.0.0/20'", "overlaps gcp.podsCidr = '10.16.0.0/14'"]),
    ("control plane range a /24", "prod", _set(["gcp", "masterCidr"], "172.16.0.0/24"),
     ["llm-fleet:gcp.masterCidr = '172.16.0.0/24'", "is a /24", "/28"]),
    ("control plane inside the subnet", "dev", _set(["gcp", "masterCidr"], "10.10.0.16/28"),
     ["llm-fleet:gcp.masterCidr = '10.10.0.16/28'", "overlaps gcp.subnetCidr"]),
    ("subnet with host bits", "dev", _set(["gcp", "subnetCidr"], "10.10.1.0/20"),
     ["llm-fleet:gcp.subnetCidr = '10.10.1.0/20'", "did you mean 10.10.0.0/20?"]),
    ("EKS VPC too large", "eks-prod", _set(["aws", "vpcCidr"], "10.0.0.0/8"),
     ["llm-fleet:aws.vpcCidr = '10.0.0.0/8'", "/16../20"]),
    ("EKS version unquoted", "eks-prod", _set(["aws", "clusterVersion"], "1.3"),
     ["llm-fleet:aws.clusterVersion = '1.3'", "quoted"]),
    ("an AWS zone of another region", "eks-prod", _set(["aws", "zones"], ["us-east-1a", "us-west-2b"]),
     ["llm-fleet:aws.zones: zones=['us-east-1a', 'us-west-2b']", "allowed: zones of us-east-1 (e.g. us-east-1a)"]),
    # --- serving, schedules ----------------------------------------------------------------------------------------
    ("working hours at hour 24", "dev", _set(["serving", "workingHours", "end"], "0 24 * * 1-5"),
     ["llm-fleet:serving.workingHours.end = '0 24 * * 1-5'", "hour field '24'", "0-23"]),
    ("working hours with six fields", "dev", _set(["serving", "workingHours", "start"], "0 0 8 * * 1-5"),
     ["llm-fleet:serving.workingHours.start = '0 0 8 * * 1-5'", "has 6 field(s)", "5 fields"]),
    ("working hours with a day 8", "dev", _set(["serving", "workingHours", "start"], "0 8 * * 1-8"),
     ["llm-fleet:serving.workingHours.start = '0 8 * * 1-8'", "day-of-week field '1-8'", "SUN-SAT"]),
    ("working hours with Quartz L", "dev", _set(["serving", "workingHours", "end"], "0 20 L * *"),
     ["llm-fleet:serving.workingHours.end = '0 20 L * *'", "uses L or #"]),
    ("working hours time zone misspelt", "dev", _set(["serving", "workingHours", "timezone"], "Europe/Berln"),
     ["llm-fleet:serving.workingHours.timezone = 'Europe/Berln'", "did you mean 'Europe/Berlin'?"]),
    ("traffic time zone an abbreviation", "prod", _set(["traffic", "timezone"], "America/Chicgo"),
     ["llm-fleet:traffic.timezone = 'America/Chicgo'", "did you mean 'America/Chicago'?"]),
    ("serving mode misspelt", "staging", _set(["serving"], {"mode": "ray"}),
     ["llm-fleet:serving.mode = 'ray'", "'kuberay'"]),
    ("expose misspelt", "prod", _set(["serving"], {"expose": "internal-lb"}),
     ["llm-fleet:serving.expose = 'internal-lb'", "'internal-load-balancer'"]),
    # --- budget, pricing, access ----------------------------------------------------------------------------------
    ("budget with a currency sign", "prod", _set(["budget", "monthlyAmount"], "$45000"),
     ["llm-fleet:budget.monthlyAmount = '$45000'", "a number"]),
    ("budget thresholds as percentages", "prod", _set(["budget", "forecastThresholds"], [100]),
     ["llm-fleet:budget.forecastThresholds[0] = 100", "a share, not a percentage", "did you mean 1?"]),
    ("a KV-cache threshold as a percentage", "staging",
     _set(["models", 0, "autoscaling"], {"kvCacheUsageThreshold": 90}),
     ["llm-fleet:models[0].autoscaling.kvCacheUsageThreshold = 90", "did you mean 0.9?"]),
    ("budget of zero", "staging", _set(["budget", "monthlyAmount"], 0),
     ["llm-fleet:budget.monthlyAmount = 0", "greater than 0"]),
    ("price override as text", "dev", _set(["pricing"], {"L4": {"onDemand": "cheap"}}),
     ["llm-fleet:pricing.L4.onDemand = 'cheap'", "a number"]),
    ("price override for a GPU kind misspelt", "prod", _set(["pricing"], {"A100-40G": {"onDemand": 3.1}}),
     ["llm-fleet:pricing.A100-40G", "did you mean 'A100-40GB'?"]),
    ("existing GPU nodes under a misspelt kind", "coreweave-prod",
     _set(["existing", "gpuNodes"], {"H100": {"vcpus": 128}}),
     ["llm-fleet:existing.gpuNodes.H100", "'H100-80GB'"]),
    ("existing GPU nodes vcpus as text", "coreweave-prod",
     _set(["existing", "gpuNodes"], {"A100-40GB": {"vcpus": "many"}}),
     ["llm-fleet:existing.gpuNodes.A100-40GB.vcpus = 'many'", "a whole number"]),
    ("prod API open to the internet", "prod", _set(["controlPlane", "authorizedNetworks"], ["0.0.0.0/0"]),
     ["llm-fleet:controlPlane.authorizedNetworks", "0.0.0.0/0", "specific CIDRs"]),
    ("a top-level key misspelt", "staging", ("  llm-fleet:rollout:", "  llm-fleet:rolout:"),
     ["llm-fleet:rolout", "did you mean rollout?"]),
    # --- a backend's key: renamed on one side only, or named without the namespace -------------------------------
    ("a fallback's key renamed in the fallback only", "prod",
     ("apiKey: llm-fleet:togetherApiKey", "apiKey: llm-fleet:togetherKey"),
     ["llm-fleet:models[0].fallbacks[0].apiKey = 'llm-fleet:togetherKey'", "its key togetherApiKey is named by "
      "nothing", "did you mean apiKey: llm-fleet:togetherApiKey?"]),
    ("a fallback's key named without the namespace", "eks-prod",
     ("apiKey: llm-fleet:togetherApiKey", "apiKey: togetherApiKey"),
     ["llm-fleet:models[0].fallbacks[0].apiKey = 'togetherApiKey'", "did you mean apiKey: llm-fleet:togetherApiKey?"]),
    ("a fallback's secret deleted", "prod", _drop(["togetherApiKey"]),
     ["llm-fleet:models[0].fallbacks[0].apiKey = 'llm-fleet:togetherApiKey'", "the stack has no such key",
      "pulumi config set --secret llm-fleet:togetherApiKey"]),
    # --- plaintext secrets ----------------------------------------------------------------------------------------
    ("an HF token in plain text in prod", "prod", _set(["hfToken"], HF_TOKEN),
     ["llm-fleet:hfToken = 'hf_A…'", "committed to git",
      "pulumi config set --secret llm-fleet:hfToken <value> --stack prod"]),
    ("a kubeconfig in plain text", "coreweave-prod", _set(["existing", "kubeconfig"], KUBECONFIG),
     ["llm-fleet:existing.kubeconfig", "apiV…", "pulumi config set --path --secret 'llm-fleet:existing.kubeconfig' "
      "\"$(cat kubeconfig)\" --stack coreweave-prod"]),
    ("an SMTP password in plain text", "staging", _set(["alerts", "email", "password"], "hunter2hunter2"),
     ["llm-fleet:alerts.email.password = 'hunt…'",
      "pulumi config set --path --secret 'llm-fleet:alerts.email.password' <value> --stack staging"]),
    ("a token in the training job's env", "prod", _set(["training", "env"], {"WANDB_API_KEY": "0123456789abcdef"}),
     ["llm-fleet:training.env.WANDB_API_KEY = '0123…'", "named as a secret", "--path --secret"]),
]

_WORDS_OF_PYDANTIC = ("Input should be", "String should match pattern", "Value error", "valid integer", "[key]",
                      "function-", "StackConfig", "NodePool")


@pytest.mark.parametrize(("case", "stack", "edit", "fragments"), MISTAKES, ids=[c[0] for c in MISTAKES])
def test_a_mistake_is_one_line_naming_the_file_key_value_and_fix(tmp_path, case, stack, edit, fragments):
    lines = validate(tmp_path, stack, edit)
    assert len(lines) == 1, lines
    (line,) = lines
    assert "\n" not in line and f"Pulumi.{stack}.yaml" in line, line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    for word in _WORDS_OF_PYDANTIC:
        assert word not in line, f"pydantic's {word!r} in {line!r}"


def test_the_corpus_is_large_and_covers_every_shipped_stack():
    assert len(MISTAKES) >= 60
    assert {stack for _, stack, _, _ in MISTAKES} == {"dev", "staging", "prod", "eks-prod", "coreweave-prod"}


# --- tricky but valid: each still validates ---------------------------------------------------------------------
VALID: list[tuple[str, str, Edit]] = [
    ("parameters in millions", "dev", _set(["models", 0, "parameters"], "350M")),
    ("parameters as a full number", "staging", _set(["models", 0, "parameters"], 7_600_000_000)),
    ("parameters lowercase unit with a space", "prod", _set(["models", 0, "parameters"], "7.6 b")),
    ("cron with a list, a range and a step", "dev",
     _set(["serving", "workingHours"], {"timezone": "Europe/Berlin", "start": "*/30 7-9 * * 1,3-5",
                                        "end": "0 20 * * 1-5"})),
    ("cron with day names and Sunday as 7", "dev",
     _set(["serving", "workingHours"], {"start": "0 8 * * MON-FRI", "end": "0 18 * * 7"})),
    ("cron with ? for the day of month", "dev",
     _set(["serving", "workingHours"], {"start": "0 8 ? * MON-FRI", "end": "0 20 ? * MON-FRI"})),
    ("a time zone with an underscore", "dev", _set(["serving", "workingHours", "timezone"], "America/Los_Angeles")),
    ("a three-part time zone", "prod", _set(["traffic", "timezone"], "America/Argentina/Buenos_Aires")),
    ("an HF token stored as a secret", "prod",
     ("  llm-fleet:tier: prod\n", "  llm-fleet:tier: prod\n  llm-fleet:hfToken:\n    secure: v1:AAAABBBBCCCC\n")),
    ("a kubeconfig stored as a secret inside its block", "coreweave-prod",
     ("    context: coreweave-llm-prod\n", "    kubeconfig:\n      secure: v1:AAAABBBBCCCC\n")),
    ("GCP ranges moved apart", "prod",
     _all(_set(["gcp", "subnetCidr"], "10.0.0.0/20"), _set(["gcp", "podsCidr"], "10.4.0.0/14"),
          _set(["gcp", "servicesCidr"], "10.1.0.0/20"), _set(["gcp", "masterCidr"], "192.168.0.0/28"))),
    ("another project's namespace in the stack file", "dev",
     ("config:\n", "config:\n  gcp:project: acme-llm-dev\n")),
    ("tensor parallelism of 2 on a 2-GPU node", "prod",
     _all(_set(["nodePools", 0, "gpusPerNode"], 2), _set(["nodePools", 0, "maxNodes"], 6),
          _set(["nodePools", 0, "minNodes"], 2), _set(["models", 0, "tensorParallelSize"], 2),
          _set(["models", 0, "replicas"], {"min": 2, "max": 6}))),
    ("a gated model with a token secret", "staging",
     _all(_set(["models", 0, "source"], "hf://meta-llama/Llama-3.1-8B-Instruct"),
          _set(["models", 0, "parameters"], "8B"))),
]


@pytest.mark.parametrize(("case", "stack", "edit"), VALID, ids=[c[0] for c in VALID])
def test_tricky_but_valid_stacks_still_validate(tmp_path, case, stack, edit):
    assert validate(tmp_path, stack, edit) == []


def test_every_pattern_of_the_schema_has_plain_words():
    """A pattern without a meaning would fall back to a generic sentence; the schema's patterns all have one."""
    import re

    from infra.config.stack import StackConfig

    schema = str(StackConfig.model_json_schema(by_alias=True))
    patterns = {p.encode().decode("unicode_escape") for p in re.findall(r"'pattern': '((?:[^'\\]|\\.)*)'", schema)}
    assert patterns and patterns <= set(PATTERN_MEANINGS), patterns - set(PATTERN_MEANINGS)


# --- through the CLI: the exit code and output a user sees -------------------------------------------------------
def test_plan_of_an_unknown_cloud_exits_2_with_one_line_and_no_traceback(tmp_path):
    stack = _write(tmp_path, "prod", _set(["cloud"], "aws"))
    result = run_cli("plan", "--stack", stack, "-C", str(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "config error: llm-fleet:cloud = 'aws': allowed: 'gke' (GKE on GCP), 'eks' (EKS on AWS) or 'existing' (a "
        "cluster you run); did you mean cloud: eks (with its aws block)? (in Pulumi.prod.yaml)"]


def test_plan_of_a_key_given_twice_exits_2_naming_both_lines(tmp_path):
    stack = _write(tmp_path, "staging", ("      maxNodes: 4\n", "      maxNodes: 4\n      maxNodes: 40\n"))
    result = run_cli("plan", "--stack", stack, "--json", "-C", str(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    # Pulumi.staging.yaml: `maxNodes: 4` of the a100-serving pool is line 14, the pasted one 15.
    assert result.stderr.splitlines() == [
        "stack error: Pulumi.staging.yaml: llm-fleet:nodePools[0].maxNodes: given twice in one mapping, on lines 14 "
        "and 15; YAML keeps only the last, so the value on line 14 is silently lost; remove one of them"]


def test_plan_of_dev_with_a_plaintext_token_warns_and_still_plans(tmp_path):
    stack = _write(tmp_path, "dev", _set(["hfToken"], HF_TOKEN))
    result = run_cli("plan", "--stack", stack, "--json", "-C", str(tmp_path))
    assert result.returncode == 0, result.stderr
    notes = [n for n in json.loads(result.stdout)["notes"] if "hfToken" in n]
    assert notes == [
        "llm-fleet:hfToken = 'hf_A…' (39 characters): plain text in a file committed to git (hfToken is a "
        "secret); accepted in dev only, refused in staging and prod; run pulumi config set --secret "
        "llm-fleet:hfToken <value> --stack dev"]


def _fleet_copy(tmp: Path, file: str, old: str, new: str) -> Path:
    """examples/fleet copied into `tmp`, with `old` replaced by `new` (once) in `file`."""
    for source in (stack_root("prod") / "examples" / "fleet").glob("*.yaml"):
        (tmp / source.name).write_text(source.read_text())
    text = (tmp / file).read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {file}"
    (tmp / file).write_text(text.replace(old, new))
    return tmp


def test_a_peer_regions_key_misspelt_names_the_peer_and_the_rename(tmp_path):
    root = _fleet_copy(tmp_path, "Pulumi.prod-eu.yaml", "  llm-fleet:prodUsGatewayKey:\n",
                       "  llm-fleet:prodUSGatewayKey:\n")
    config, secret_keys = read_stack_file("prod-eu", root)
    with pytest.raises(ConfigError) as err:
        parse_engine_config(config, stack="prod-eu", secret_keys=secret_keys, root=root)
    assert err.value.problems == [
        "config error: llm-fleet:prodUSGatewayKey: not a key of this stack; the gateway calls peer region prod-us "
        "with the key llm-fleet:prodUsGatewayKey, which the stack lacks; rename prodUSGatewayKey to prodUsGatewayKey "
        "(in Pulumi.prod-eu.yaml)"]


def test_a_region_listed_twice_in_the_fleet_file_is_one_line_not_a_network_overlap(tmp_path):
    # Before: the region planned as its own peer, and --tier failed a guard on prod-eu overlapping prod-eu.
    root = _fleet_copy(tmp_path, "Fleet.prod.yaml", "    - stack: prod-asia\n",
                       "    - stack: prod-eu\n      gateway: https://gateway.prod-eu2.internal.acme.example/v1\n"
                       "    - stack: prod-asia\n")
    for stack in ("prod-eu", "prod-us"):
        config, secret_keys = read_stack_file(stack, root)
        with pytest.raises(ConfigError) as err:
            parse_engine_config(config, stack=stack, secret_keys=secret_keys, root=root)
        assert err.value.problems == [
            "config error: llm-fleet:regions[2].stack = 'prod-eu': listed twice in Fleet.prod.yaml (also regions[1]); "
            "allowed: each region stack once; remove one of them"]


@pytest.mark.parametrize(("old", "new", "line"), [
    # Before: "llm-fleet:tier: missing (in Pulumi.prod-eu.yaml)", naming the region's file, not the emptied one.
    ("", "", "config error: Fleet.prod.yaml: holds no settings (it is empty, has only comments, or lacks the "
     "`config:` line); allowed: a `config:` block of the fleet's shared keys (tier, regions, models, …); start from a "
     "copy of examples/fleet/Fleet.prod.yaml"),
    # Before: planned silently, every prod region on staging's spot defaults without protect.
    ("  llm-fleet:tier: prod\n", "  llm-fleet:tier: staging\n",
     "config error: llm-fleet:tier = 'staging' in Fleet.prod.yaml: fleet 'prod' would run staging's defaults in every "
     "region (capacity, protect, budget rules); allowed: 'prod' for a fleet named prod; set tier: prod, or rename the "
     "fleet"),
])
def test_a_broken_fleet_file_is_named_in_the_one_line_of_each_region(tmp_path, old, new, line):
    root = _fleet_copy(tmp_path, "Fleet.prod.yaml", old, new) if old else _fleet_copy(tmp_path, "Fleet.prod.yaml",
                                                                                      "config:", "config:")
    if not old:
        (root / "Fleet.prod.yaml").write_text("")
    for stack in ("prod-eu", "prod-asia"):
        config, secret_keys = read_stack_file(stack, root)
        with pytest.raises(ConfigError) as err:
            parse_engine_config(config, stack=stack, secret_keys=secret_keys, root=root)
        assert err.value.problems == [line]


@pytest.mark.parametrize(("file", "old", "new", "line"), [
    # Before: the same URL refused twice (as regions[1].gateway and as the peer fallback made from it), both lines
    # "(in Pulumi.prod-us.yaml)", a file that does not hold it.
    ("Fleet.prod.yaml", "gateway: https://gateway.prod-eu.", "gateway: http://gateway.prod-eu.",
     "config error: llm-fleet:regions[1].gateway = 'http://gateway.prod-eu.internal.acme.example/v1': http:// is not "
     "allowed outside the cluster (the API key and the prompts would cross the network in clear); allowed: an "
     "https:// URL; use https://gateway.prod-eu.internal.acme.example/v1 (in Fleet.prod.yaml, read by "
     "Pulumi.prod-us.yaml)"),
    ("Fleet.prod.yaml", "      maxModelLen: 16384\n", "      maxModelLen: 16k\n",
     "config error: llm-fleet:models[0].maxModelLen = '16k': allowed: a whole number (in Fleet.prod.yaml, read by "
     "Pulumi.prod-us.yaml)"),
    # A regional key's line still names the region's file.
    ("Pulumi.prod-us.yaml", "    A100-40GB: 16\n", "    A100-40GB: sixteen\n",
     "config error: llm-fleet:gpuQuota.A100-40GB = 'sixteen': allowed: a whole number (in Pulumi.prod-us.yaml)"),
])
def test_a_regions_line_names_the_file_that_holds_the_key(tmp_path, file, old, new, line):
    root = _fleet_copy(tmp_path, file, old, new)
    config, secret_keys = read_stack_file("prod-us", root)
    with pytest.raises(ConfigError) as err:
        parse_engine_config(config, stack="prod-us", secret_keys=secret_keys, root=root)
    assert err.value.problems == [line]


@pytest.mark.parametrize(("file", "old", "new", "line"), [
    ("Pulumi.prod-eu.yaml", "  llm-fleet:fleet: prod\n", "  llm-fleet:fleet: prod\n\tllm-fleet:x: 1\n",
     "promote refused: stack error: Pulumi.prod-eu.yaml line 5 column 1: not valid YAML (while scanning for the next "
     "token found character '\\t' that cannot start any token); check the indentation and quoting there"),
    ("Pulumi.staging.yaml", "      maxNodes: 4\n", "      maxNodes: 4\n      maxNodes: 8\n",
     "promote refused: stack error: Pulumi.staging.yaml: llm-fleet:nodePools[0].maxNodes: given twice in one "
     "mapping, on lines 16 and 17; YAML keeps only the last, so the value on line 16 is silently lost; remove one of "
     "them"),
])
def test_promote_refuses_a_broken_stack_file_in_one_line_and_writes_nothing(tmp_path, capsys, file, old, new, line):
    # Before: ruamel.yaml's ScannerError or DuplicateKeyError as a 60-line traceback (the file was read for its round
    # trip without the checks `plan` makes).
    from infra.cli import main

    root = _fleet_copy(tmp_path, file, old, new)
    before = {f.name: f.read_text() for f in root.glob("*.yaml")}
    code = main(["promote", "staging", "prod", "--dry-run", "-C", str(root)])
    assert code == 2 and capsys.readouterr().err.splitlines() == [line]
    assert {f.name: f.read_text() for f in root.glob("*.yaml")} == before


def test_a_gated_model_without_a_token_gets_a_note_and_with_one_none(tmp_path):
    from infra.config.secrets import config_warnings

    llama = _all(_set(["models", 0, "source"], "hf://meta-llama/Llama-3.1-8B-Instruct"),
                 _set(["models", 0, "parameters"], "8B"))
    stack = _write(tmp_path, "staging", llama)
    config, secret_keys = read_stack_file(stack, tmp_path)
    cfg = parse_engine_config(config, stack=stack, secret_keys=secret_keys)
    raw = stack_config("staging")
    (note,) = config_warnings(raw, secret_keys, cfg, stack)
    assert note.startswith("llm-fleet:models[0].source = 'hf://meta-llama/Llama-3.1-8B-Instruct': meta-llama "
                           "gates its models"), note
    assert note.endswith("pulumi config set --secret llm-fleet:hfToken hf_… --stack staging"), note
    with_token = cfg.model_copy(update={"hf_token": "[secret]"})
    assert config_warnings(raw, {"llm-fleet:hfToken"}, with_token, stack) == []
    # Qwen does not gate its models: the shipped stack gets no note.
    shipped = parse_engine_config(read_stack_file("staging", stack_root("staging"))[0], stack="staging")
    assert config_warnings(raw, set(), shipped, "staging") == []


def test_the_same_token_is_refused_outside_dev(tmp_path):
    # staging and prod refuse what dev warns about (the line itself is in MISTAKES).
    for stack in ("staging", "prod"):
        lines = validate(tmp_path, stack, _set(["hfToken"], HF_TOKEN))
        assert len(lines) == 1 and f"--stack {stack}" in lines[0], lines
    assert validate(tmp_path, "dev", _set(["hfToken"], HF_TOKEN)) == []


def test_the_engines_secret_keys_are_read_from_both_places(monkeypatch):
    """sdk.secret_keys relies on an SDK internal (pulumi.runtime.config._SECRET_KEYS): a canary for it."""
    from pulumi.runtime import set_all_config

    from infra import sdk

    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["llm-fleet:existing"]))
    set_all_config({}, ["llm-fleet:hfToken"])
    try:
        assert sdk.secret_keys() == {"llm-fleet:existing", "llm-fleet:hfToken"}
    finally:
        set_all_config({}, [])


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, (*path, k))] + ([path] if path else [])
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, (*path, i))] + [path]
    return [path]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "eks-prod", "coreweave-prod"])
def test_any_key_given_a_value_of_the_wrong_kind_is_refused_in_plain_words(stack):
    """Every key and block of a shipped stack, replaced by text with a space, a negative number, an empty list or
    nothing: never a traceback, never pydantic's own words; whatever is refused is refused in finished lines."""
    from infra.config import parse_stack_config

    base = stack_config(stack)
    for path in _leaf_paths(base):
        for wrong in ("x y", -1, [], None):
            raw = copy.deepcopy(base)
            target = raw
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = wrong
            try:
                parse_stack_config(raw)
            except ConfigError as e:
                for line in e.problems:
                    assert line.startswith("config error: llm-fleet:") and "\n" not in line, line
                    assert not any(word in line for word in (*_WORDS_OF_PYDANTIC, "should match", "^")), line
