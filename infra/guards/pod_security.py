"""Pod security: every pod the plan declares passes the Pod Security Standards' restricted profile, and every
llm-* namespace has the API server enforce it (issue 17, "restricted pods").

The checks are the profile's, control by control (https://kubernetes.io/docs/concepts/security/pod-security-standards/,
read 2026-11-30): Baseline (host namespaces, privileged, capabilities, hostPath, host ports, AppArmor, SELinux,
/proc mount, seccomp, sysctls) and Restricted (volume types, privilege escalation, running as non-root, non-root
user, seccomp, capabilities). Checked: Deployments, StatefulSets, DaemonSets, Jobs, the head, worker groups and
submitter of RayServices/RayJobs, and the autoscaler sidecar KubeRay adds to a head (its securityContext comes
from autoscalerOptions). The only pods allowed to fail are those of a node-agent namespace: a Namespace the plan
labels `enforce: privileged` with the annotation saying why (NODE_AGENT_REASON).

Not seen here: pods of Helm charts (KEDA, the KubeRay operator, kube-prometheus-stack, NVIDIA's device plugin and
DCGM exporter) are not in the plan as pod specs; the API server's admission checks them where their namespace
enforces a level.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import PodTemplate, pod_templates
from infra.guards.verdicts import severity
from infra.restricted import NODE_AGENT_REASON, PSA

# Baseline: capabilities a container may add (the profile's list); Restricted allows only NET_BIND_SERVICE.
RESTRICTED_ADD = {"NET_BIND_SERVICE"}
# Restricted: the only volume types allowed.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
# Baseline: the sysctls a pod may set.
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SECCOMP_OK = {"RuntimeDefault", "Localhost"}


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def restricted_violations(spec: Mapping[str, Any]) -> list[str]:
    """What of the restricted profile (baseline included) one pod spec violates; [] when it passes."""
    found: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            found.append(f"{host}: true")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        found.append("windowsOptions.hostProcess: true")
    for volume in spec.get("volumes") or []:
        kinds = [k for k in volume if k != "name"]
        if "hostPath" in kinds:
            found.append(f"volume {volume.get('name')}: hostPath")
        elif any(k not in RESTRICTED_VOLUMES for k in kinds):
            found.append(f"volume {volume.get('name')}: type {', '.join(kinds)} (restricted allows "
                         f"{', '.join(sorted(RESTRICTED_VOLUMES))})")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl.get('name')}")
    if (pod_sc.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
        found.append(f"seLinuxOptions.type {pod_sc['seLinuxOptions']['type']}")
    if (pod_sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        found.append("appArmorProfile Unconfined")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_OK:
        found.append(f"pod seccompProfile {pod_seccomp}")
    if pod_sc.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    if pod_sc.get("runAsNonRoot") is False:
        found.append("pod runAsNonRoot: false")
    for c in _containers(spec):
        found += [f"container {c.get('name')}: {v}" for v in _container_violations(c, pod_sc)]
    return found


def _container_violations(c: Mapping[str, Any], pod_sc: Mapping[str, Any]) -> list[str]:
    sc = c.get("securityContext") or {}
    found = []
    if sc.get("privileged"):
        found.append("privileged")
    if any(p.get("hostPort") for p in c.get("ports") or []):
        found.append("hostPort")
    if sc.get("procMount", "Default") != "Default":
        found.append(f"procMount {sc['procMount']}")
    if (sc.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
        found.append(f"seLinuxOptions.type {sc['seLinuxOptions']['type']}")
    if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        found.append("appArmorProfile Unconfined")
    if sc.get("allowPrivilegeEscalation") is not False:
        found.append("allowPrivilegeEscalation is not false")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        found.append("capabilities do not drop ALL")
    added = set(caps.get("add") or []) - RESTRICTED_ADD
    if added:
        found.append(f"capabilities add {', '.join(sorted(added))}")
    non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    if non_root is not True:
        found.append("runAsNonRoot is not true (pod or container)")
    if sc.get("runAsUser") == 0:
        found.append("runAsUser 0")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_OK:
        found.append(f"seccompProfile {seccomp or 'unset'} (pod or container: RuntimeDefault or Localhost)")
    return found


def _ray_autoscalers(plan: StackPlan) -> Iterator[PodTemplate]:
    """The autoscaler sidecar KubeRay adds to a head with in-tree autoscaling, as the one container it checks
    (its securityContext: autoscalerOptions.securityContext, ray-operator common/pod.go mergeAutoscalerOverrides),
    in the head's pod securityContext."""
    for r in plan.resources:
        kind = r.inputs.get("kind")
        if not r.is_kubernetes_object or kind not in ("RayService", "RayCluster", "RayJob"):
            continue
        spec = r.inputs.get("spec") or {}
        cluster = spec.get("rayClusterConfig") or spec.get("rayClusterSpec") or (spec if kind == "RayCluster" else {})
        if not cluster.get("enableInTreeAutoscaling"):
            continue
        head = ((cluster.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}
        sidecar = {"name": "autoscaler", "securityContext": (cluster.get("autoscalerOptions") or {}).get(
            "securityContext")}
        meta = r.inputs.get("metadata") or {}
        yield PodTemplate(f"{kind} {meta.get('namespace')}/{meta.get('name')} head autoscaler sidecar",
                          f"{meta.get('name')}/autoscaler",
                          {"securityContext": head.get("securityContext"), "containers": [sidecar]},
                          str(meta.get("namespace") or ""))


def _namespaces(plan: StackPlan) -> dict[str, Mapping[str, Any]]:
    return {str(r.inputs["metadata"]["name"]): r.inputs["metadata"] for r in plan.resources
            if r.is_kubernetes_object and r.inputs.get("kind") == "Namespace"
            and (r.inputs.get("metadata") or {}).get("name")}


def node_agent_namespaces(plan: StackPlan) -> dict[str, str]:
    """Namespaces the plan labels privileged and says why: {name: why}."""
    return {name: str((meta.get("annotations") or {}).get(NODE_AGENT_REASON))
            for name, meta in _namespaces(plan).items()
            if (meta.get("labels") or {}).get(f"{PSA}/enforce") == "privileged"
            and (meta.get("annotations") or {}).get(NODE_AGENT_REASON)}


def pods_pass_restricted(plan: StackPlan) -> Verdict:
    name = "pods-pass-restricted"
    agents = node_agent_namespaces(plan)
    problems: list[str] = []
    for ns, meta in _namespaces(plan).items():
        labels = meta.get("labels") or {}
        if ns.startswith("llm-") and labels.get(f"{PSA}/enforce") != "restricted":
            problems.append(f"namespace {ns}: {PSA}/enforce is {labels.get(f'{PSA}/enforce')!r}, not 'restricted' "
                            "(fix: restricted_namespace_labels(), infra/restricted.py)")
    checked = 0
    for pod in [*pod_templates(plan.resources), *_ray_autoscalers(plan)]:
        if pod.namespace in agents:
            continue
        checked += 1
        violations = restricted_violations(pod.spec)
        if violations:
            problems.append(f"{pod.workload}: {'; '.join(violations)} (fix: infra/restricted.py)")
    if problems:
        return Verdict(name, severity(name, plan.cfg.tier), "\n".join(problems))
    exempt = f"; privileged node-agent namespaces: {', '.join(f'{k} ({v})' for k, v in agents.items())}" \
        if agents else ""
    return Verdict(name, "pass", f"{checked} pod specs pass the restricted profile; Helm charts' pods are not in the "
                                 f"plan (their namespaces' admission checks them){exempt}")
