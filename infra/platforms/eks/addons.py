"""What EKS lacks and the platform adds to the cluster: the core add-ons (VPC CNI enforcing NetworkPolicies,
kube-proxy, CoreDNS, the EBS CSI driver), the gp3 StorageClass, cluster-autoscaler, metrics-server, and NVIDIA's
device plugin and DCGM exporter.

- Node autoscaling: **cluster-autoscaler** (pinned Helm chart, IRSA role). It grows and shrinks
  exactly the node groups declared here, within their min/max, so a pool's `maxNodes` is an
  honest ceiling for the cost table and the guards, and `pulumi preview` shows every pool.
  Karpenter bin-packs better and diversifies spot, but provisions instances outside the
  declared pools (limits in CPUs/GPUs, not nodes) and brings its own queue, CRDs and roles.

Plain functions that create resources as children of the `EksPlatform` component (their URNs stay its).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.helm import pinned_release
from infra.names import GPU_LABEL, PART_OF, POOL_LABEL
from infra.platforms.eks.args import EksArgs
from infra.platforms.eks.facts import (
    ADDON_CONFIGURATION,
    CLUSTER_AUTOSCALER_SA,
    EBS_CSI_SA,
    GP3_STORAGE_CLASS,
    METRICS_SERVER_REPO,
)
from infra.platforms.eks.identity import IrsaRoles
from infra.platforms.eks.priorities import priorities_yaml
from infra.restricted import node_agent_namespace
from infra.seam import GpuMetricsExporter


def core_addons(name: str, cluster: aws.eks.Cluster, irsa: IrsaRoles, after_nodes: pulumi.ResourceOptions) -> None:
    """VPC CNI, kube-proxy, CoreDNS and the EBS CSI driver, after the first nodes exist (CoreDNS needs somewhere
    to run)."""
    for addon in ("vpc-cni", "kube-proxy", "coredns"):
        aws.eks.Addon(f"{name}-addon-{addon}", cluster_name=cluster.name, addon_name=addon,
                      configuration_values=ADDON_CONFIGURATION.get(addon),
                      resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
                      opts=after_nodes)
    ebs_role = irsa.role("ebs-csi", *EBS_CSI_SA, managed=("service-role/AmazonEBSCSIDriverPolicy",))
    aws.eks.Addon(f"{name}-addon-ebs-csi", cluster_name=cluster.name, addon_name="aws-ebs-csi-driver",
                  service_account_role_arn=ebs_role.arn, resolve_conflicts_on_create="OVERWRITE",
                  resolve_conflicts_on_update="OVERWRITE", opts=after_nodes)


def gp3_storage_class(name: str, args: EksArgs, provider: k8s.Provider, parent: pulumi.Resource) -> None:
    k8s.storage.v1.StorageClass(
        f"{name}-gp3-storage",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=GP3_STORAGE_CLASS,
                                            labels=PART_OF),
        provisioner="ebs.csi.aws.com",
        # The EBS CSI driver tags each volume it creates: the tag-filtered budget counts volumes too.
        parameters={"type": "gp3", "encrypted": "true",
                    **{f"tagSpecification_{i}": f"{k}={v}" for i, (k, v) in enumerate(args.tags.items(), start=1)}},
        # Bind where the pod lands, so the volume is created in the GPU node's zone.
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        reclaim_policy="Retain" if args.protect else "Delete",
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )


def cluster_autoscaler(name: str, args: EksArgs, cluster: aws.eks.Cluster, irsa: IrsaRoles,
                       provider: k8s.Provider, parent: pulumi.Resource) -> None:
    """Grows and shrinks exactly the node groups declared here, within their min/max (IRSA role, pinned chart)."""
    policy = cluster.name.apply(lambda cluster_name: json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": "*", "Action": [
            "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
            # Scale from zero: the node group's labels and taints, read from EKS.
            "eks:DescribeNodegroup"]},
        # Resize only this cluster's node groups (EKS tags their autoscaling groups).
        {"Effect": "Allow", "Resource": "*",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
    ]}))
    namespace, sa = CLUSTER_AUTOSCALER_SA
    role = irsa.role("cluster-autoscaler", namespace, sa, inline=policy)
    expander, priorities = "least-waste", {}
    if args.ladders:
        # Capacity ladders: the preferred rung first (infra/platforms/eks/priorities.py); least waste breaks ties.
        expander = "priority,least-waste"
        priorities = {"expanderPriorities": priorities_yaml([s.facts.name for s in args.node_groups], args.ladders)}
    pinned_release(
        f"{name}-cluster-autoscaler", release="cluster-autoscaler", chart="cluster-autoscaler",
        version=args.charts.cluster_autoscaler, repo="https://kubernetes.github.io/autoscaler",
        namespace=namespace, parent=parent, provider=provider, node_selector={POOL_LABEL: "system"},
        values={
            "cloudProvider": "aws", "awsRegion": args.region,
            "autoDiscovery": {"clusterName": cluster.name},
            "rbac": {"serviceAccount": {"name": sa, "annotations": {"eks.amazonaws.com/role-arn": role.arn}}},
            "extraArgs": {
                # GPU pods cache weights on emptyDirs: without this their nodes would never scale down.
                "skip-nodes-with-local-storage": False,
                "balance-similar-node-groups": True,
                "expander": expander,
            },
            **priorities,
        })

def metrics_server(name: str, args: EksArgs, provider: k8s.Provider, parent: pulumi.Resource) -> None:
    """The resource metrics API (metrics.k8s.io) the CPU HorizontalPodAutoscalers read, on the system pool."""
    version = args.charts.metrics_server
    pinned_release(
        f"{name}-metrics-server", release="metrics-server", chart="metrics-server", version=version,
        repo=METRICS_SERVER_REPO, namespace="kube-system", parent=parent, provider=provider,
        node_selector={POOL_LABEL: "system"}, values={})

def gpu_daemons(name: str, args: EksArgs, provider: k8s.Provider, parent: pulumi.Resource) -> GpuMetricsExporter:
    """NVIDIA's device plugin and DCGM exporter on every GPU node: AL2023 NVIDIA nodes ship only drivers."""
    charts = args.charts
    on_gpu_nodes = {
        # The charts' default affinities want node-feature-discovery labels we do not install.
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": GPU_LABEL, "operator": "Exists"}]}]}}},
        "tolerations": [{"operator": "Exists"}],  # every taint a GPU pool may carry
    }
    plugin = pinned_release(
        f"{name}-nvidia-device-plugin", release="nvidia-device-plugin", chart="nvidia-device-plugin",
        version=charts.nvidia_device_plugin, repo="https://nvidia.github.io/k8s-device-plugin",
        namespace="nvidia-device-plugin", parent=parent, provider=provider, node_selector={}, values=on_gpu_nodes)
    # Node agents: the only namespaces that may run privileged pods, each saying why (infra/restricted.py).
    node_agent_namespace(
        f"{name}-nvidia-device-plugin-namespace", "nvidia-device-plugin",
        "NVIDIA device plugin: registers each node's GPUs with the kubelet through the hostPath socket directory "
        "/var/lib/kubelet/device-plugins",
        pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[plugin]))
    exporter = GpuMetricsExporter(namespace="nvidia-dcgm-exporter",
                                  match_labels={"app.kubernetes.io/name": "dcgm-exporter"}, port="metrics")
    dcgm = pinned_release(
        f"{name}-dcgm-exporter", release="dcgm-exporter", chart="dcgm-exporter",
        version=charts.dcgm_exporter, repo="https://nvidia.github.io/dcgm-exporter/helm-charts",
        namespace=exporter.namespace, parent=parent, provider=provider, node_selector={},
        # Prometheus (and its CRDs) come later, with the cluster services: they scrape it with a PodMonitor.
        values={**on_gpu_nodes, "serviceMonitor": {"enabled": False}})
    node_agent_namespace(
        f"{name}-dcgm-exporter-namespace", exporter.namespace,
        "DCGM exporter: reads GPU metrics as root with SYS_ADMIN and maps them to pods through the hostPath "
        "/var/lib/kubelet/pod-resources (dcgm-exporter chart values securityContext, templates/daemonset.yaml)",
        pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[dcgm]))
    return exporter
