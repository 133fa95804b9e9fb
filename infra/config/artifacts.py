"""The `artifacts` block: every version pulled at deploy time, promoted between tiers as one unit."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from infra.config.base import ConfigModel, Image


class Charts(ConfigModel):
    """Pinned Helm chart versions of the cluster services."""

    keda: str
    """The KEDA chart's version (pod autoscaling)."""
    kuberay: str
    """The KubeRay operator chart's version."""
    kube_prometheus_stack: str
    """The kube-prometheus-stack chart's version (self-hosted monitoring, Alertmanager)."""
    cluster_autoscaler: str | None = None
    """EKS only, required there: the cluster-autoscaler chart's version (node autoscaling)."""
    # AL2023 NVIDIA nodes ship drivers, not the device plugin.
    nvidia_device_plugin: str | None = None
    """EKS only, required there: the NVIDIA device plugin chart's version (makes GPUs schedulable)."""
    dcgm_exporter: str | None = None
    """EKS only, required there: the DCGM exporter chart's version (GPU utilisation and memory metrics)."""
    metrics_server: str | None = None
    """EKS only, required there: the metrics-server chart's version (the resource metrics API CPU autoscalers read)."""


class Artifacts(ConfigModel):
    """Every version pulled at deploy time. Promotion copies this block, and only it, between tiers."""

    serving_image: Image
    """The serving image (vLLM with llm-fleet's supervisor), by digest; a guard fails staging and prod on a tag."""
    ray_image: Image | None = None
    """KubeRay mode, required there: a Ray image with vLLM (e.g. rayproject/ray-llm), by digest."""
    ray_version: str | None = None
    """KubeRay mode, required there: the Ray version of `rayImage`."""
    rollout_image: Image | None = None
    """The rollout workers' image, by digest; required with `rollout`."""
    training_image: Image | None = None
    """The training job's image, by digest; required with `training`."""
    pause_image: Image | None = None
    """The placeholder pods' image (e.g. `registry.k8s.io/pause:3.10`), by digest; required when a pool has
    `warmHeadroom`."""
    gateway_image: Image | None = None
    """The gateway's image (images/gateway, LiteLLM's proxy with llm-fleet's launcher), by digest; required with
    `serving.gateway`."""
    vllm_version: str
    """The vLLM version inside the serving image."""
    charts: Charts
    """Pinned Helm chart versions: `keda`, `kuberay`, `kubePrometheusStack`; on EKS also `clusterAutoscaler`,
    `nvidiaDevicePlugin`, `dcgmExporter`, `metricsServer`."""
    # A branch or tag ("main") moves under the stack: only a commit pins what was tested.
    model_revisions: dict[str, Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")]] = Field(default={})
    """Per model name, the revision (a commit hash) it is pinned to; required for every Hugging Face model."""
