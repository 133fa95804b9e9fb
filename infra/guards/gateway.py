"""The gateway's guards: someone may call the gateway, a prod model behind it has somewhere to go when its replicas
cannot answer (or says why not), its replicas drain as long as the gateway lets a request run, every backend outside
the cluster is reached over HTTPS, and no backend key is in plain text in what the stack renders (ConfigMaps,
container env).

The config refuses an http:// URL and a plain-text key outside dev before anything is declared (infra/config/
gateway.py, secrets.py); these check what is rendered, as the policy pack sees it, so a routing table or a pod spec
built some other way is held to the same rules.

`gateway-has-a-caller` is a config guard, not a config error: each key it reads is valid alone, and only together
do they leave the gateway with no client. As a guard, `plan` still renders the stack (its flows and cost lines show
why) and the policy pack reports it; being a config guard, `pulumi up` still refuses before declaring anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from gateway.spec import from_json
from infra.config.secrets import PLACEHOLDER, credential_shape
from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import pod_templates
from infra.guards.verdicts import severity
from infra.names import GATEWAY_NAMESPACE, ROLLOUT_NAMESPACE

SPEC_CONFIGMAP, SPEC_KEY = "gateway-config", "spec.json"


def gateway_has_a_caller(plan: StackPlan) -> Verdict:
    """A declared gateway admits a caller: the rollout workers, a namespace in serving.apiAccessFrom or fleet peers."""
    name = "gateway-has-a-caller"
    cfg = plan.cfg
    if cfg.serving.gateway is None:
        return Verdict(name, "pass", "no gateway (serving.gateway)")
    # The same callers infra/workloads/gateway.py admits in the gateway's NetworkPolicy (besides the scraper).
    callers = [f"{ROLLOUT_NAMESPACE} (rollout.viaGateway)"] if cfg.rollout is not None and cfg.rollout.via_gateway \
        else []
    callers += [f"{ns} (serving.apiAccessFrom)" for ns in cfg.serving.api_access_from if ns != GATEWAY_NAMESPACE]
    if peers := cfg.peer_networks():
        callers.append(f"the fleet's peers from {', '.join(peers)} (regions)")
    if callers:
        return Verdict(name, "pass", f"may be called by {', '.join(callers)}")
    share = cfg.serving.gateway.expected_overflow_share
    priced = (f", yet the cost table prices {share:.0%} of the models' tokens on their fallbacks through it"
              if share and any(m.fallbacks for m in cfg.declared_models) else "")
    return Verdict(name, severity(name, cfg.tier), "serving.gateway: nothing may call it (rollout.viaGateway is "
                   "off, serving.apiAccessFrom names no namespace and no fleet region has it as a peer), so its "
                   f"NetworkPolicy admits only the metrics scraper and its failover and overflow serve no one{priced}; "
                   "set rollout.viaGateway: true (the rollout workers call the gateway), or list the clients' "
                   "namespaces in serving.apiAccessFrom, or drop serving.gateway")


def prod_models_have_a_fallback(plan: StackPlan) -> Verdict:
    """A prod model behind the gateway has a fallback, or says in `fallbacksNone` why it has none."""
    name = "prod-models-have-a-fallback"
    cfg = plan.cfg
    if cfg.serving.gateway is None:
        return Verdict(name, "pass", "no gateway (serving.gateway)")
    if cfg.tier != "prod":
        return Verdict(name, "pass", f"{cfg.tier}: fallbacks are optional below prod")
    bare = [f"models[{i}] {m.name}" for i, m in enumerate(cfg.declared_models)
            if not m.fallbacks and m.fallbacks_none is None]
    if bare:
        return Verdict(name, severity(name, cfg.tier), f"{', '.join(bare)}: no fallback, so when its replicas are "
                       "down, frozen or full every request fails; add models[].fallbacks (a peer gateway or a "
                       "provider) or say why not with models[].fallbacksNone: \"<why>\"")
    on_purpose = [m.name for m in cfg.declared_models if m.fallbacks_none is not None]
    told = f"; none on purpose: {', '.join(on_purpose)}" if on_purpose else ""
    return Verdict(name, "pass", f"every prod model has a fallback{told}")


def drain_outlasts_gateway_requests(plan: StackPlan) -> Verdict:
    """A model replica behind the gateway drains at least as long as the gateway lets one request run."""
    name = "drain-outlasts-gateway-requests"
    cfg = plan.cfg
    gateway, drain = cfg.serving.gateway, cfg.serving.drain_timeout_seconds
    local = [m.name for m in cfg.declared_models if m.provider is None]
    if gateway is None or cfg.serving.mode != "vllm" or not local:
        return Verdict(name, "pass", "no vLLM replicas behind a gateway")
    longest = gateway.request_timeout_s
    if drain >= longest:
        return Verdict(name, "pass", f"replicas of {', '.join(local)} drain for up to {drain} s, the gateway's "
                       f"longest request is {longest:g} s")
    # Scale-in, a rollout and a node drain all stop replicas: each cuts what is still running after the drain.
    return Verdict(name, severity(name, cfg.tier), f"serving.drainTimeoutSeconds = {drain} s is shorter than "
                   f"serving.gateway.requestTimeoutS = {longest:g} s: a replica of {', '.join(local)} stopped by a "
                   f"scale-in, a rollout or a node drain cuts the requests still running after {drain} s (a stream "
                   "breaks; a plain request starts over on the next backend); set serving.drainTimeoutSeconds: "
                   f"{math.ceil(longest)} (or drop it: it defaults to the request timeout), or lower "
                   f"serving.gateway.requestTimeoutS to {drain}")


def _spec_configmaps(plan: StackPlan) -> Iterator[tuple[str, str]]:
    for r in plan.resources:
        meta = r.inputs.get("metadata") or {}
        if (r.is_kubernetes_object and r.inputs.get("kind") == "ConfigMap"
                and meta.get("name") == SPEC_CONFIGMAP and SPEC_KEY in (r.inputs.get("data") or {})):
            yield f"ConfigMap {meta.get('namespace', GATEWAY_NAMESPACE)}/{SPEC_CONFIGMAP}", r.inputs["data"][SPEC_KEY]


def gateway_backends_are_https(plan: StackPlan) -> Verdict:
    """Every backend of the gateway's routing table outside the cluster is an https:// URL."""
    name = "gateway-backends-are-https"
    problems, external = [], 0
    for where, text in _spec_configmaps(plan):
        for route in from_json(text).routes:
            for b in route.backends:
                outside = b.kind != "local"
                external += outside
                if outside and not b.base_url.startswith("https://"):
                    problems.append(f"{where}: {route.model} -> {b.name} at {b.base_url}")
                if not outside and ".svc.cluster.local" not in b.base_url:
                    problems.append(f"{where}: {route.model} -> local backend {b.base_url} is not a Service of the "
                                    "cluster")
    if problems:
        return Verdict(name, severity(name, plan.cfg.tier), "; ".join(problems) + " — the API key and the prompts "
                       "would cross the network in clear: give the backend's https:// URL (models[].fallbacks[].url)")
    return Verdict(name, "pass", f"{external} backend(s) outside the cluster, all over HTTPS" if external
                   else "no backend outside the cluster")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


def no_key_in_plain_text(plan: StackPlan) -> Verdict:
    """No backend key (nor anything shaped like a credential) in a rendered ConfigMap or a container's env value."""
    name = "no-key-in-plain-text"
    keys = {v for v in plan.cfg.backend_keys.values() if v and v != PLACEHOLDER}
    found = []
    for r in plan.resources:
        if r.is_kubernetes_object and r.inputs.get("kind") == "ConfigMap":
            meta = r.inputs.get("metadata") or {}
            where = f"ConfigMap {meta.get('namespace')}/{meta.get('name', r.name)}"
            for path, text in _strings(r.inputs.get("data") or {}, "data"):
                if any(k in text for k in keys) or (what := credential_shape(text)):
                    found.append(f"{where} {path}" + (f" ({what})" if not any(k in text for k in keys) else ""))
    for pod in pod_templates(plan.resources):
        for c in pod.spec.get("containers") or []:
            for e in c.get("env") or []:
                value = e.get("value") or ""
                if value and (value in keys or any(k in value for k in keys) or credential_shape(value)):
                    found.append(f"{pod.workload} container {c.get('name')} env {e.get('name')}")
    if found:
        return Verdict(name, severity(name, plan.cfg.tier), "a key in plain text (readable by anyone who may read "
                       f"the object): {'; '.join(found)} — keep keys in Secrets mounted as files; name them "
                       "`apiKey: llm-fleet:<key>` and set it with `pulumi config set --secret`")
    return Verdict(name, "pass", f"no key in {sum(1 for _ in _configmaps(plan))} ConfigMap(s) or any container env")


def _configmaps(plan: StackPlan) -> Iterator[dict[str, Any]]:
    return (r.inputs for r in plan.resources if r.is_kubernetes_object and r.inputs.get("kind") == "ConfigMap")

