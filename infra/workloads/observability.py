"""The serving fleet's dashboard and alert rules, in whichever dialect monitoring speaks."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from infra.cluster.monitoring import MODEL_TARGET_LABEL, Monitoring
from infra.config import Model, StackConfig
from infra.names import GATEWAY_NAMESPACE, SERVING_NAMESPACE

# Panel title → PromQL; vLLM labels every series with the served model's name (`model_name`).
# `vllm:` is rewritten to `ray_vllm:` in KubeRay mode, where Ray re-exports the engine's metrics.
# `{serving}` becomes the label matchers of this stack's serving namespace, `{stack}` those of the stack alone
# (GPU metrics come from the node exporters' namespace): a shared backend (GMP) holds other clusters' series too.
PANELS: dict[str, str] = {
    "Time to first token p95 (s)":
        "histogram_quantile(0.95, sum by (le, model_name) "
        "(rate(vllm:time_to_first_token_seconds_bucket{serving}[5m])))",
    "Inter-token latency p95 (s)":
        "histogram_quantile(0.95, sum by (le, model_name) "
        "(rate(vllm:inter_token_latency_seconds_bucket{serving}[5m])))",
    "End-to-end latency p95 (s)":
        "histogram_quantile(0.95, sum by (le, model_name) "
        "(rate(vllm:e2e_request_latency_seconds_bucket{serving}[5m])))",
    "Running requests": "sum by (model_name) (vllm:num_requests_running{serving})",
    "Waiting requests": "sum by (model_name) (vllm:num_requests_waiting{serving})",
    "KV-cache usage": "avg by (model_name) (vllm:kv_cache_usage_perc{serving})",
    "Generated tokens/s": "sum by (model_name) (rate(vllm:generation_tokens_total{serving}[1m]))",
    "Prompt tokens/s": "sum by (model_name) (rate(vllm:prompt_tokens_total{serving}[1m]))",
    "GPU utilisation (DCGM, %)": "avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL{stack})",
}

# LoRA adapters (plain mode, models with `lora`): the supervisor's own series on its health port, which the scrape
# labels with the model (`model`) and the replica (`instance`). Names from the adapter contract (issue 18).
# Load seconds: a gauge of the last load, or a histogram's mean over the hour, whichever the supervisor exports.
ADAPTER_PANELS: dict[str, str] = {
    "Adapter step per replica": "max by (model, instance) (llm_fleet_adapter_step{serving})",
    "Adapter published age (s)": "max by (model, instance) (llm_fleet_adapter_published_age_seconds{serving})",
    "Adapter load (s)":
        "max by (model, instance) (llm_fleet_adapter_load_seconds{serving}) or "
        "(sum by (model, instance) (rate(llm_fleet_adapter_load_seconds_sum{serving}[1h])) / "
        "sum by (model, instance) (rate(llm_fleet_adapter_load_seconds_count{serving}[1h])))",
    "Adapter load failures (1h)":
        "sum by (model, instance) (increase(llm_fleet_adapter_load_failures_total{serving}[1h]))",
}
REPLICA_LEGEND = "{{model}} {{instance}}"

# The gateway (serving.gateway): LiteLLM's own Prometheus series (litellm 1.108.7, integrations/prometheus.py; label
# sets in types/integrations/prometheus.py PrometheusMetricLabels). Each backend is a LiteLLM deployment whose
# `model_id` is `<route>/<backend>` (gateway/litellm_config.py), split here into `model` and `backend` (`local`,
# `peer-<name>`, `provider-<name>`). `{gateway}` becomes the label matchers of this stack's gateway namespace.


def per_backend(expr: str) -> str:
    """`expr`, aggregated by LiteLLM's `model_id`, relabelled with the route (`model`) and the backend."""
    return ('label_replace(label_replace(' + expr + ', "model", "$1", "model_id", "(.+)/[^/]+"), '
            '"backend", "$1", "model_id", ".+/([^/]+)")')


GATEWAY_PANELS: dict[str, str] = {
    "Gateway requests/s per backend":
        per_backend("sum by (model_id) (rate(litellm_deployment_total_requests_total{gateway}[5m]))"),
    "Gateway failures/s per backend":
        per_backend("sum by (model_id) (rate(litellm_deployment_failure_responses_total{gateway}[5m]))"),
    "Gateway fallbacks/s":  # requested_model: the route; fallback_model: `<route>@<backend>` that took it
        "sum by (requested_model, fallback_model) (rate(litellm_deployment_successful_fallbacks_total{gateway}[5m]))",
    "Gateway latency p95 per backend (s)":
        per_backend("histogram_quantile(0.95, sum by (le, model_id) "
                    "(rate(litellm_llm_api_latency_metric_bucket{gateway}[5m])))"),
    "Gateway tokens/s per backend":
        per_backend('label_replace(sum by (model_id) (rate(litellm_input_tokens_metric_total{gateway}[5m])), '
                    '"kind", "input", "", "") or label_replace(sum by (model_id) '
                    '(rate(litellm_output_tokens_metric_total{gateway}[5m])), "kind", "output", "", "")'),
}
GATEWAY_LEGEND = "{{model}} {{backend}}{{requested_model}} {{fallback_model}} {{kind}}"
# More than this share of a model's requests answered by a backend other than its own replicas, for 15 minutes.
ON_FALLBACK_SHARE, ON_FALLBACK_FOR = 0.10, "15m"


def metric_prefix(cfg: StackConfig) -> str:
    return "ray_vllm:" if cfg.serving.mode == "kuberay" else "vllm:"


def panel_queries(prefix: str = "vllm:", serving: str = "", stack: str = "",
                  adapters: bool = False, gateway: str | None = None) -> list[tuple[str, str]]:
    """(title, PromQL) of each panel, for the given metric prefix and label matchers (`k="v",…`); `adapters` adds
    the LoRA adapter panels, `gateway` (its namespace's matchers) the gateway's."""
    def within(*matchers: str) -> str:
        joined = ",".join(m for m in matchers if m)
        return f"{{{joined}}}" if joined else ""

    panels = {**PANELS, **(ADAPTER_PANELS if adapters else {}), **(GATEWAY_PANELS if gateway is not None else {})}
    return [(title, expr.replace("vllm:", prefix).replace("{serving}", within(serving))
             .replace("{stack}", within(stack)).replace("{gateway}", within(gateway or "")))
            for title, expr in panels.items()]


def dashboard_json(panels: list[tuple[str, str]]) -> str:
    """The Grafana dashboard of these panels."""
    grafana = [
        {"id": i + 1, "type": "timeseries", "title": title, "datasource": {"type": "prometheus"},
         "gridPos": {"h": 8, "w": 8, "x": (i % 3) * 8, "y": (i // 3) * 8},
         "targets": [{"expr": expr, "legendFormat": REPLICA_LEGEND if title in ADAPTER_PANELS else
                      GATEWAY_LEGEND if title in GATEWAY_PANELS else "{{model_name}}", "refId": "A"}]}
        for i, (title, expr) in enumerate(panels)
    ]
    return json.dumps({"title": "llm-fleet: vLLM serving", "uid": "llm-fleet-vllm", "schemaVersion": 39,
                       "refresh": "30s", "time": {"from": "now-6h", "to": "now"}, "panels": grafana}, indent=1)


def alert_groups(pod_models: tuple[Model, ...], prefix: str, serving: str = "",
                 gateway: tuple[str, tuple[str, ...]] | None = None) -> list[dict]:
    """The fleet's alerts; `serving` (label matchers `k="v",…`) keeps them to this stack's serving namespace.

    `pod_models` have pods of their own to watch (plain mode); `prefix` is the metric prefix (`metric_prefix`);
    `gateway`: (its namespace's matchers, the provider-only models) when the stack has one.
    """
    sel = serving
    within = f"{{{sel}}}" if sel else ""
    rules: list[dict] = []
    for model in pod_models:
        if model.replicas.min >= 1:  # a model allowed to sit at zero is not down when it does
            matchers = ",".join([f'{MODEL_TARGET_LABEL}="{model.name}"', *([sel] if sel else [])])
            rules.append({
                "alert": "LLMFleetModelNoReadyReplica",
                "expr": f"(sum(up{{{matchers}}}) or vector(0)) == 0",
                "for": "10m",
                "labels": {"severity": "critical", "model": model.name},
                "annotations": {"summary": f"No replica of {model.name} has served metrics for 10 minutes"},
            })
    rules += [
        {"alert": "LLMFleetQueueGrowing",
         "expr": f"sum by (model_name) (vllm:num_requests_waiting{within}) > 10 and "
                 f"deriv(sum by (model_name) (vllm:num_requests_waiting{within})[10m:1m]) > 0",
         "for": "15m", "labels": {"severity": "warning"},
         "annotations": {
             "summary": "Requests queue up for {{ $labels.model_name }}: at max replicas, or GPUs missing"}},
        {"alert": "LLMFleetKvCacheNearlyFull",
         "expr": f"max by (model_name) (vllm:kv_cache_usage_perc{within}) > 0.95",
         "for": "10m", "labels": {"severity": "warning"},
         "annotations": {"summary": "KV cache of {{ $labels.model_name }} above 95 %: requests are being preempted"}},
    ]
    rules += adapter_rules([m for m in pod_models if m.lora is not None], within)
    for rule in rules:
        rule["expr"] = rule["expr"].replace("vllm:", prefix) if prefix != "vllm:" else rule["expr"]
    groups = [{"name": "llm-fleet-serving", "interval": "30s", "rules": rules}]
    if gateway is not None:
        groups.append({"name": "llm-fleet-gateway", "interval": "30s", "rules": gateway_rules(*gateway)})
    return groups


def gateway_rules(matchers: str, provider_only: tuple[str, ...]) -> list[dict]:
    """A model whose traffic sits on its fallbacks (its own replicas down, frozen or full), and a backend that fails.
    Provider-only models (`provider_only`) are always on a provider: they are not a model on fallback."""
    own = ",".join(m for m in (matchers, *([f'model_id!~"({"|".join(provider_only)})/.+"'] if provider_only else []))
                   if m)
    away = ",".join(m for m in (own, 'model_id!~".+/local"') if m)
    within = f"{{{matchers}}}" if matchers else ""

    def answered(selector: str) -> str:
        return per_backend(f"sum by (model_id) (rate(litellm_deployment_success_responses_total{{{selector}}}[5m]))")

    return [
        {"alert": "LLMFleetGatewayOnFallback",
         "expr": f"sum by (model) ({answered(away)}) / sum by (model) ({answered(own)}) > {ON_FALLBACK_SHARE}",
         "for": ON_FALLBACK_FOR, "labels": {"severity": "warning"},
         "annotations": {"summary": f"More than {ON_FALLBACK_SHARE:.0%} of {{{{ $labels.model }}}}'s requests have "
                                    f"gone to its fallbacks for {ON_FALLBACK_FOR}: its own replicas are down, frozen "
                                    "or full (and a provider bills the overflow)"}},
        {"alert": "LLMFleetGatewayBackendFailing",
         "expr": per_backend(f"sum by (model_id) (rate(litellm_deployment_failure_responses_total{within}[5m])) / "
                             f"sum by (model_id) (rate(litellm_deployment_total_requests_total{within}[5m]))")
         + " > 0.05",
         "for": "10m", "labels": {"severity": "warning"},
         "annotations": {"summary": "More than 5 % of {{ $labels.model }}'s requests to {{ $labels.backend }} fail: "
                                    "the gateway cools it down and moves on; see the backend"}},
    ]


def adapter_rules(lora_models: list[Model], within: str) -> list[dict]:
    """Alerts on LoRA adapters: a failed load (the replica keeps its previous version), and replicas of one model
    serving different steps for 10 minutes (a replica that cannot load or cannot read the store falls behind)."""
    if not lora_models:
        return []
    return [
        {"alert": "LLMFleetAdapterLoadFailed",
         "expr": f"sum by (model, instance) (increase(llm_fleet_adapter_load_failures_total{within}[10m])) > 0",
         "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.instance }} of {{ $labels.model }} failed to load a LoRA adapter "
                                    "and still serves the previous one: see its /status"}},
        {"alert": "LLMFleetAdapterVersionsDiverge",
         "expr": f"max by (model) (llm_fleet_adapter_step{within}) != min by (model) (llm_fleet_adapter_step{within})",
         "for": "10m", "labels": {"severity": "warning"},
         "annotations": {"summary": "Replicas of {{ $labels.model }} have served different adapter steps for 10 "
                                    "minutes: rollouts asking for the newest get mixed policies"}},
    ]


@dataclass(frozen=True)
class ServingObservabilityArgs:
    metric_prefix: str  # `vllm:`, or `ray_vllm:` where Ray re-exports the engine's metrics
    # Models whose own pods are watched: plain mode only (in KubeRay mode Ray Serve restarts unhealthy replicas).
    pod_models: tuple[Model, ...]
    monitoring: Monitoring
    namespace: pulumi.Input[str]
    # serving.gateway: the provider-only models (never "on fallback"); None: no gateway, no gateway panels or alerts.
    gateway_provider_models: tuple[str, ...] | None = None


class ServingObservability(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:ServingObservability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        monitoring, namespace = args.monitoring, args.namespace
        serving = monitoring.matchers(SERVING_NAMESPACE)
        gateway = None if args.gateway_provider_models is None else monitoring.matchers(GATEWAY_NAMESPACE)
        panels = panel_queries(args.metric_prefix, serving=serving, stack=monitoring.matchers(),
                               adapters=any(m.lora is not None for m in args.pod_models), gateway=gateway)
        monitoring.dashboard(f"{name}-dashboard", "llm-fleet: vLLM serving", panels, namespace,
                             dashboard_json(panels), opts=child)
        monitoring.alert_rules("llm-fleet-serving-alerts", namespace,
                               alert_groups(args.pod_models, args.metric_prefix, serving,
                                            None if gateway is None else (gateway, args.gateway_provider_models)),
                               opts=child)
        self.register_outputs({})
