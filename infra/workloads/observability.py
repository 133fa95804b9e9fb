"""The serving fleet's Grafana dashboard and alert rules, in whichever dialect monitoring speaks."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.monitoring import MODEL_TARGET_LABEL, Monitoring
from infra.config import StackConfig

# Panel title → PromQL; vLLM labels every series with the served model's name (`model_name`).
# `vllm:` is rewritten to `ray_vllm:` in KubeRay mode, where Ray re-exports the engine's metrics.
PANELS: dict[str, str] = {
    "Time to first token p95 (s)":
        "histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))",
    "Inter-token latency p95 (s)":
        "histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:inter_token_latency_seconds_bucket[5m])))",
    "End-to-end latency p95 (s)":
        "histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:e2e_request_latency_seconds_bucket[5m])))",
    "Running requests": "sum by (model_name) (vllm:num_requests_running)",
    "Waiting requests": "sum by (model_name) (vllm:num_requests_waiting)",
    "KV-cache usage": "avg by (model_name) (vllm:kv_cache_usage_perc)",
    "Generated tokens/s": "sum by (model_name) (rate(vllm:generation_tokens_total[1m]))",
    "Prompt tokens/s": "sum by (model_name) (rate(vllm:prompt_tokens_total[1m]))",
    "GPU utilisation (DCGM, %)": "avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)",
}


def metric_prefix(cfg: StackConfig) -> str:
    return "ray_vllm:" if cfg.serving.mode == "kuberay" else "vllm:"


def dashboard_json(prefix: str = "vllm:") -> str:
    panels = [
        {"id": i + 1, "type": "timeseries", "title": title, "datasource": {"type": "prometheus"},
         "gridPos": {"h": 8, "w": 8, "x": (i % 3) * 8, "y": (i // 3) * 8},
         "targets": [{"expr": expr.replace("vllm:", prefix), "legendFormat": "{{model_name}}", "refId": "A"}]}
        for i, (title, expr) in enumerate(PANELS.items())
    ]
    return json.dumps({"title": "llm-fleet: vLLM serving", "uid": "llm-fleet-vllm", "schemaVersion": 39,
                       "refresh": "30s", "time": {"from": "now-6h", "to": "now"}, "panels": panels}, indent=1)


def alert_groups(cfg: StackConfig) -> list[dict]:
    rules: list[dict] = []
    # Per-model pods exist only in plain mode; in KubeRay mode Ray Serve restarts unhealthy replicas itself.
    for model in cfg.models if cfg.serving.mode == "vllm" else []:
        if model.replicas.min >= 1:  # a model allowed to sit at zero is not down when it does
            rules.append({
                "alert": "LLMFleetModelNoReadyReplica",
                "expr": f'(sum(up{{{MODEL_TARGET_LABEL}="{model.name}"}}) or vector(0)) == 0',
                "for": "10m",
                "labels": {"severity": "critical", "model": model.name},
                "annotations": {"summary": f"No replica of {model.name} has served metrics for 10 minutes"},
            })
    rules += [
        {"alert": "LLMFleetQueueGrowing",
         "expr": "sum by (model_name) (vllm:num_requests_waiting) > 10 and "
                 "deriv(sum by (model_name) (vllm:num_requests_waiting)[10m:1m]) > 0",
         "for": "15m", "labels": {"severity": "warning"},
         "annotations": {
             "summary": "Requests queue up for {{ $labels.model_name }}: at max replicas, or GPUs missing"}},
        {"alert": "LLMFleetKvCacheNearlyFull",
         "expr": "max by (model_name) (vllm:kv_cache_usage_perc) > 0.95",
         "for": "10m", "labels": {"severity": "warning"},
         "annotations": {"summary": "KV cache of {{ $labels.model_name }} above 95 %: requests are being preempted"}},
    ]
    prefix = metric_prefix(cfg)
    for rule in rules:
        rule["expr"] = rule["expr"].replace("vllm:", prefix) if prefix != "vllm:" else rule["expr"]
    return [{"name": "llm-fleet-serving", "interval": "30s", "rules": rules}]


class ServingObservability(pulumi.ComponentResource):
    def __init__(self, name: str, args: StackConfig, monitoring: Monitoring, *, namespace: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:ServingObservability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="llm-fleet-vllm-dashboard", namespace=namespace,
                # Grafana's dashboard sidecar (kube-prometheus-stack) loads ConfigMaps with this label.
                labels={"grafana_dashboard": "1", "app.kubernetes.io/part-of": "llm-fleet"}),
            data={"llm-fleet-vllm.json": dashboard_json(metric_prefix(args))},
            opts=child)
        monitoring.alert_rules("llm-fleet-serving-alerts", namespace, alert_groups(args), opts=child)
        self.register_outputs({})
