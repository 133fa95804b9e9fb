"""KubeRay mode: the Serve endpoint checks the stack's API key, and the Ray pods get their secrets as files.

Ray Serve LLM checks no key of its own (see infra/workloads/ray_keyed_ingress.py, which cites ray 2.60.0), so the
OpenAI app is built with our keyed ingress class: its source goes to every Ray pod as a ConfigMap on PYTHONPATH
(the Serve controller on the head loads the class; the ingress replicas may land on any worker), and every Ray
pod mounts the key file that class reads. The rollout group's tasks call the app with it (OPENAI_API_KEY_FILE).
The pods that load weights (the head, which resolves the models, and the GPU groups) also mount the Hugging Face
token as a file. The Serve port's NetworkPolicy (kuberay.py) still admits only the in-cluster callers: the key is
the second lock, not the only one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.api_key_names import RAY_INGRESS_MODULE as INGRESS_MODULE
from infra.api_key_names import RAY_KEYED_INGRESS as INGRESS_CLASS
from infra.workloads.secret_files import HF_TOKEN_PATH, OPENAI_API_KEY_FILE, SERVING_API_KEY_FILE, SecretFile

CODE_DIR = "/opt/llm-fleet/python"
CODE_VOLUME, CODE_CONFIG_MAP = "llm-fleet-code", "llm-fleet-ray-code"
ROLLOUT_GROUP = "rollout"  # kuberay.py's CPU worker group, where the rollouts run as Ray tasks


def ingress_source() -> str:
    return (Path(__file__).with_name("ray_keyed_ingress.py")).read_text()


def ingress_cls_config() -> dict[str, Any]:
    """The OpenAI app's `ingress_cls_config` (ray builder.py IngressClsConfig): our keyed ingress."""
    return {"ingress_cls": INGRESS_CLASS}


@dataclass(frozen=True)
class RaySecretFiles:
    api_key: SecretFile
    hf_token: SecretFile | None
    code_config_map: pulumi.Input[str]


def code_config_map(name: str, namespace: pulumi.Input[str], parent: pulumi.Resource) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        name, metadata=k8s.meta.v1.ObjectMetaArgs(name=CODE_CONFIG_MAP, namespace=namespace),
        data={f"{INGRESS_MODULE}.py": ingress_source()}, opts=pulumi.ResourceOptions(parent=parent))


def _add(pod_spec: dict[str, Any], volumes: list[dict], mounts: list[dict], env: dict[str, str]) -> None:
    pod_spec["volumes"] = [*(pod_spec.get("volumes") or []), *volumes]
    container = pod_spec["containers"][0]
    container["volumeMounts"] = [*(container.get("volumeMounts") or []), *mounts]
    container["env"] = [*(container.get("env") or []), *({"name": k, "value": v} for k, v in env.items())]


def with_secret_files(spec: dict[str, Any], files: RaySecretFiles) -> dict[str, Any]:
    """The RayService spec (changed in place, and returned) with the key, the keyed ingress's code and the token
    mounted where each is needed."""
    cluster = spec["rayClusterConfig"]
    code = {"name": CODE_VOLUME, "configMap": {"name": files.code_config_map}}
    code_mount = {"name": CODE_VOLUME, "mountPath": CODE_DIR, "readOnly": True}
    groups = [("head", cluster["headGroupSpec"]),
              *((g["groupName"], g) for g in cluster["workerGroupSpecs"])]
    for group, g in groups:
        volumes, mounts = [code, files.api_key.volume()], [code_mount, files.api_key.mount()]
        env = {"PYTHONPATH": CODE_DIR, SERVING_API_KEY_FILE: files.api_key.path}
        if group == ROLLOUT_GROUP:
            env[OPENAI_API_KEY_FILE] = files.api_key.path
        elif files.hf_token is not None:
            volumes.append(files.hf_token.volume())
            mounts.append(files.hf_token.mount())
            env[HF_TOKEN_PATH] = files.hf_token.path
        _add(g["template"]["spec"], volumes, mounts, env)
    return spec
