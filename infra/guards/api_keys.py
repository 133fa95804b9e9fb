"""Every model API checks the stack's key, and no secret sits in a pod's environment.

A serving API without a key gives whoever reaches it free GPU time, and a flood of requests scales the fleet to its
maximum (issue 17, "High — unauthenticated model APIs"). What counts as keyed:
- a vLLM pod (plain mode): SERVING_API_KEY_FILE names a file in a volume from a Secret (the serving image hands it
  to vLLM as VLLM_API_KEY; vLLM then wants `Authorization: Bearer <key>` on every /v1 path);
- a RayService running Ray Serve LLM's OpenAI app: the app is built with the keyed ingress class, and every Ray
  pod (any may host an ingress replica) has SERVING_API_KEY_FILE naming a file from a Secret.
Metrics and health ports stay keyless; who reaches them is the flows contract's business (infra/flows/).
"""

from __future__ import annotations

from typing import Any

import yaml

from infra.api_key_names import RAY_KEYED_INGRESS, SECRET_ENV, SERVING_API_KEY_FILE
from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import pod_templates
from infra.guards.verdicts import severity

OPENAI_APP = "ray.serve.llm:build_openai_app"


def secret_file(pod_spec: dict[str, Any], variable: str) -> str | None:
    """Why the first container's `variable` does not name a file mounted from a Secret (None: it does)."""
    container = (pod_spec.get("containers") or [{}])[0]
    env = {e.get("name"): e for e in container.get("env") or []}
    path = (env.get(variable) or {}).get("value")
    if not path:
        return f"no {variable}"
    secrets = {v.get("name"): v["secret"] for v in pod_spec.get("volumes") or [] if v.get("secret")}
    for mount in container.get("volumeMounts") or []:
        directory = str(mount.get("mountPath", "")).rstrip("/")
        if mount.get("name") in secrets and path.startswith(f"{directory}/"):
            items = secrets[mount["name"]].get("items")
            name = path.removeprefix(f"{directory}/")
            if items is None or name in {i.get("path") for i in items}:
                return None
    return f"{variable}={path} is not a file mounted from a Secret"


def _vllm_pods(plan: StackPlan) -> list[tuple[str, dict[str, Any]]]:
    pods = []
    for r in plan.resources:
        if not r.is_kubernetes_object or r.inputs.get("kind") not in {"Deployment", "StatefulSet"}:
            continue
        template = (r.inputs.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        images = {c.get("image") for c in (template.get("spec") or {}).get("containers") or []}
        if labels.get("app.kubernetes.io/name") == "vllm" or plan.cfg.artifacts.serving_image in images:
            meta = r.inputs.get("metadata") or {}
            pods.append((f"{r.inputs['kind']} {meta.get('namespace')}/{meta.get('name', r.name)}",
                         template.get("spec") or {}))
    return pods


def _ray_service_problems(inputs: dict[str, Any]) -> list[str]:
    where = f"RayService {(inputs.get('metadata') or {}).get('name')}"
    spec = inputs.get("spec") or {}
    apps = (yaml.safe_load(spec.get("serveConfigV2") or "{}") or {}).get("applications") or []
    openai = [a for a in apps if a.get("import_path") == OPENAI_APP]
    if not openai:
        return []
    problems = [f"{where}: app {a.get('name')!r} is Ray Serve LLM's OpenAI app without the keyed ingress "
                f"(args.ingress_cls_config.ingress_cls: {RAY_KEYED_INGRESS})"
                for a in openai
                if ((a.get("args") or {}).get("ingress_cls_config") or {}).get("ingress_cls") != RAY_KEYED_INGRESS]
    cluster = spec.get("rayClusterConfig") or {}
    groups = [("head", cluster.get("headGroupSpec") or {}),
              *((g.get("groupName"), g) for g in cluster.get("workerGroupSpecs") or [])]
    for group, g in groups:
        why = secret_file(((g.get("template") or {}).get("spec")) or {}, SERVING_API_KEY_FILE)
        if why:
            problems.append(f"{where} group {group}: {why} (an ingress replica may run there)")
    return problems


def serving_apis_require_a_key(plan: StackPlan) -> Verdict:
    name = "serving-apis-require-a-key"
    problems = [f"{where}: {why}: its OpenAI API would serve anyone"
                for where, spec in _vllm_pods(plan) if (why := secret_file(spec, SERVING_API_KEY_FILE))]
    ray = [r.inputs for r in plan.resources if r.is_kubernetes_object and r.inputs.get("kind") == "RayService"]
    for inputs in ray:
        problems += _ray_service_problems(inputs)
    if problems:
        return Verdict(name, severity(name, plan.cfg.tier), "; ".join(problems) + " — mount the stack's model-api-key "
                       "Secret and name the file (infra/workloads/api_key.py)")
    apis = len(_vllm_pods(plan)) + len(ray)
    return Verdict(name, "pass", f"{apis} serving API(s) check the stack's key" if apis else "no serving API")


def secrets_are_files(plan: StackPlan) -> Verdict:
    """No container takes a secret as an env value: no secretKeyRef, no literal token or key under a known name."""
    name = "secrets-are-files"
    problems = []
    for pod in pod_templates(plan.resources):
        for c in pod.spec.get("containers") or []:
            for e in c.get("env") or []:
                if ((e.get("valueFrom") or {}).get("secretKeyRef")
                        or (e.get("name") in SECRET_ENV and e.get("value"))):
                    problems.append(f"{pod.workload} container {c.get('name')}: env {e.get('name')}")
    if problems:
        return Verdict(name, severity(name, plan.cfg.tier), "secrets in env (shown by `kubectl describe`, in "
                       f"/proc/*/environ): {'; '.join(problems)} — mount the Secret as a file and name it "
                       "(…_FILE, HF_TOKEN_PATH; infra/workloads/secret_files.py)")
    return Verdict(name, "pass", "every secret reaches its pods as a mounted file")
