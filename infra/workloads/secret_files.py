"""Secrets reach pods as mounted files, never as environment values: an env var names the FILE.

An env var holding the value shows in `kubectl describe`, in `/proc/<pid>/environ` of every process the container
starts and in crash dumps; a file from a Secret volume is readable only in the containers that mount it, and its value
is never part of the pod spec.

- The model API key: the serving image reads SERVING_API_KEY_FILE and hands the key to vLLM as VLLM_API_KEY
  (serving/settings.py `api_key_file`, serving/vllm_command.py `build_vllm_env`); callers read OPENAI_API_KEY_FILE.
- The Hugging Face token: huggingface_hub reads the file named by HF_TOKEN_PATH when HF_TOKEN is unset
  (huggingface_hub 2.4.0, constants.py `HF_TOKEN_PATH = os.getenv("HF_TOKEN_PATH", ...)`, utils/_auth.py
  `get_token` → `_get_token_from_file`); vLLM's weight downloads go through huggingface_hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.api_key_names import HF_TOKEN_PATH, OPENAI_API_KEY_FILE, SERVING_API_KEY_FILE

__all__ = ["HF_TOKEN_PATH", "OPENAI_API_KEY_FILE", "SERVING_API_KEY_FILE", "SecretFile", "api_key_file",
           "hf_token_file", "hf_token_secret", "mount_in_pod"]

# Read-only for every user in the container: a pod without fsGroup (rollout workers run as the image's user) could
# not read a 0440 file owned by root; the boundary is the pod, which mounts only what it needs.
FILE_MODE = 0o444


@dataclass(frozen=True)
class SecretFile:
    """One key of a Secret, mounted read-only as `<directory>/<key>`."""

    name: str  # the pod's volume name
    secret: pulumi.Input[str]  # the Secret's name, in the pod's namespace
    key: str  # the Secret's data key, also the file's name
    directory: str

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.key}"

    def volume_args(self) -> k8s.core.v1.VolumeArgs:
        return k8s.core.v1.VolumeArgs(name=self.name, secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name=self.secret, default_mode=FILE_MODE,
            items=[k8s.core.v1.KeyToPathArgs(key=self.key, path=self.key)]))

    def mount_args(self) -> k8s.core.v1.VolumeMountArgs:
        return k8s.core.v1.VolumeMountArgs(name=self.name, mount_path=self.directory, read_only=True)

    def env_args(self, variable: str) -> k8s.core.v1.EnvVarArgs:
        return k8s.core.v1.EnvVarArgs(name=variable, value=self.path)

    # The same, as plain dicts for custom resources (RayService, RayJob pod templates).
    def volume(self) -> dict[str, Any]:
        return {"name": self.name, "secret": {"secretName": self.secret, "defaultMode": FILE_MODE,
                                                     "items": [{"key": self.key, "path": self.key}]}}

    def mount(self) -> dict[str, Any]:
        return {"name": self.name, "mountPath": self.directory, "readOnly": True}


API_KEY_SECRET, API_KEY_ITEM = "model-api-key", "api-key"
HF_TOKEN_SECRET, HF_TOKEN_ITEM = "hf-token", "HF_TOKEN"


def api_key_file(secret: pulumi.Input[str]) -> SecretFile:
    return SecretFile("model-api-key", secret, API_KEY_ITEM, "/etc/llm-fleet/api-key")


def hf_token_file(secret: pulumi.Input[str]) -> SecretFile:
    return SecretFile("hf-token", secret, HF_TOKEN_ITEM, "/etc/llm-fleet/hf-token")


def hf_token_secret(name: str, token: str, namespace: pulumi.Input[str],
                    parent: pulumi.Resource) -> k8s.core.v1.Secret:
    """The Hugging Face token as a Secret in one namespace (each namespace that downloads weights has its copy)."""
    return k8s.core.v1.Secret(
        name, metadata=k8s.meta.v1.ObjectMetaArgs(name=HF_TOKEN_SECRET, namespace=namespace),
        string_data={HF_TOKEN_ITEM: pulumi.Output.secret(token)}, opts=pulumi.ResourceOptions(parent=parent))


def mount_in_pod(pod_spec: dict[str, Any], file: SecretFile, variable: str) -> None:
    """Mount `file` into a plain-dict pod spec's first container, `variable` naming it (custom resources' pods)."""
    pod_spec["volumes"] = [*(pod_spec.get("volumes") or []), file.volume()]
    container = pod_spec["containers"][0]
    container["volumeMounts"] = [*(container.get("volumeMounts") or []), file.mount()]
    container["env"] = [*(container.get("env") or []), {"name": variable, "value": file.path}]
