"""The Pod Security Standards' `restricted` profile, in one place: the namespace labels that make the API server
enforce it, and the pod and container securityContexts every workload of the stack runs with.

The profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/, "Restricted", read 2026-11-30):
runAsNonRoot true (pod or every container), runAsUser not 0, allowPrivilegeEscalation false and capabilities
dropping ALL on every container, seccompProfile RuntimeDefault or Localhost, and the whole baseline profile (no
privileged, hostPath, host ports or namespaces). The guard that checks rendered pods against it is
infra/guards/pod_security.py. GPU pods need nothing beyond it: the NVIDIA device plugin hands a pod its GPUs
through the container runtime, not through privileges of the pod.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# The profile's version the API server evaluates pods against. Pinned, so a cluster upgrade that tightens the
# profile never starts refusing pods unannounced: the oldest minor the stacks run (EKS default 1.33,
# infra/config/aws.py; GKE's channels are at 1.33 or newer).
PSA_VERSION = "v1.33"
PSA = "pod-security.kubernetes.io"


def restricted_namespace_labels() -> dict[str, str]:
    """Enforce restricted (refuse violating pods), and warn/audit at the same level so kubectl and the audit log
    name what a refused pod violated."""
    return {f"{PSA}/{mode}{suffix}": value for mode in ("enforce", "warn", "audit")
            for suffix, value in (("", "restricted"), ("-version", PSA_VERSION))}


# The user the stack's own images run as (images/vllm/Dockerfile: USER 10001:10001), and the one the Ray images
# are built with (github.com/ray-project/ray docker/base-deps/Dockerfile: ARG RAY_UID=1000, ARG RAY_GID=100;
# read 2026-11-30), so files the image owns stay readable and writable.
APP_UID = APP_GID = 10001
RAY_UID, RAY_GID = 1000, 100

# Container level: what PSA restricted asks of each container (the pod level cannot carry these two).
CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


def pod_security(uid: int, gid: int) -> dict[str, Any]:
    """Pod level, as a Kubernetes object spells it: non-root with a numeric user, the runtime's default seccomp
    profile; `fsGroup` makes emptyDir/PVC mounts writable by that user."""
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": gid,
            "seccompProfile": {"type": "RuntimeDefault"}}


def pod_security_args(uid: int = APP_UID, gid: int = APP_GID) -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True, run_as_user=uid, run_as_group=gid, fs_group=gid,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"))


def container_security_args(*, read_only_root_filesystem: bool | None = None) -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False, run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        read_only_root_filesystem=read_only_root_filesystem)


# A node agent's namespace: its pods need the host (hostPath, host network, capabilities), so the namespace is
# `privileged`, and says why in NODE_AGENT_REASON (infra/guards/pod_security.py exempts only such namespaces).
NODE_AGENT_REASON = "llm-fleet.dev/privileged-because"


def node_agent_namespace(resource_name: str, namespace: str, why: str, opts: pulumi.ResourceOptions
                         ) -> k8s.core.v1.NamespacePatch:
    """Label the namespace a chart created (`create_namespace`, so a patch after the release, not a Namespace of
    ours) as a privileged node agent's, with the reason."""
    return k8s.core.v1.NamespacePatch(
        resource_name, metadata=k8s.meta.v1.ObjectMetaPatchArgs(
            name=namespace, labels={f"{PSA}/enforce": "privileged", f"{PSA}/enforce-version": PSA_VERSION},
            annotations={NODE_AGENT_REASON: why}),
        opts=opts)
