"""The `artifacts` block: every version pulled at deploy time, promoted between tiers as one unit."""

from __future__ import annotations

from pydantic import Field

from infra.config.base import ConfigModel, Image


class Charts(ConfigModel):
    keda: str
    kuberay: str
    kube_prometheus_stack: str
    # EKS only: node autoscaling and the GPU device plugin (AL2023 NVIDIA nodes ship drivers, not the plugin).
    cluster_autoscaler: str | None = None
    nvidia_device_plugin: str | None = None
    dcgm_exporter: str | None = None  # EKS only: GPU utilisation and memory for the dashboard
    metrics_server: str | None = None  # EKS only: the resource metrics API the CPU autoscalers read


class Artifacts(ConfigModel):
    """Every version pulled at deploy time. Promotion copies this block, and only it, between tiers."""

    serving_image: Image
    ray_image: Image | None = None  # KubeRay mode: a Ray image with vLLM (e.g. rayproject/ray-llm)
    ray_version: str | None = None
    rollout_image: Image | None = None
    training_image: Image | None = None
    vllm_version: str
    charts: Charts
    model_revisions: dict[str, str] = Field(default={})
