"""The flows contract: every network path the stack needs is allowed by what it renders, and nothing is open
that nobody needs (issue 10: findings 2, 4, 5, 12, 16 and the `network-flows` guard)."""

from __future__ import annotations

import dataclasses

import pytest

from infra.config import parse_stack_config
from infra.flows import evaluate, open_paths
from infra.guards.base import StackPlan
from infra.guards.flows import network_flows
from infra.plan import run_plan
from infra.planned import PlannedResource
from infra.platforms import platform_notes
from infra.program import stack_plan
from infra.report import plan_json
from tests.conftest import assert_one_config_error, resources_edited, stack_config, with_mode

FIREWALL, SUBNET = "gcp:compute/firewall:Firewall", "gcp:compute/subnetwork:Subnetwork"
GKE_CLUSTER, EKS_CLUSTER = "gcp:container/cluster:Cluster", "aws:eks/cluster:Cluster"


def guard_on(plan, resources) -> object:
    base = stack_plan(plan.cfg)
    return network_flows(StackPlan(plan.cfg, base.pools, base.cost, tuple(resources)))


def planned(made: tuple) -> object:
    root, name = made
    return run_plan(name, root)


def flows_of(plan) -> dict[tuple[str, str, int | None], object]:
    return {(str(f.flow.source), str(f.flow.destination), f.port): f for f in evaluate(plan.cfg, plan.resources)}


# --- the guard on the shipped stacks --------------------------------------------------------------------------

def test_every_needed_flow_of_the_shipped_stacks_is_allowed(shipped_plan):
    verdict = guard_on(shipped_plan, shipped_plan.resources)
    assert verdict.status == "pass", verdict.message
    assert [r for r in evaluate(shipped_plan.cfg, shipped_plan.resources) if r.allowed is False] == []


def test_every_needed_flow_of_the_examples_is_allowed(example_plan):
    assert guard_on(example_plan, example_plan.resources).status == "pass"


def test_plan_json_lists_each_flow_with_why_and_what_admits_it(plan_of):
    doc = plan_json(plan_of("prod"))
    keda = [f for f in doc["flows"] if f["destination"] == "keda/keda-operator-metrics-apiserver"]
    assert keda == [{"source": "GKE control plane (172.16.0.0/28)",
                     "destination": "keda/keda-operator-metrics-apiserver", "port": 6443, "protocol": "TCP",
                     "why": keda[0]["why"], "allowed": True, "by": keda[0]["by"]}]
    assert any("firewall" in b for b in keda[0]["by"])
    scraped = {f["port"] for f in doc["flows"] if f["source"] == "scrapers in gmp-system"}
    # vLLM's API port serves /metrics, the supervisor's health port its own, the gateway's proxy port its own.
    assert scraped == {8000, 8081, 4000}


# --- finding 2: private GKE, control plane -> KEDA ------------------------------------------------------------

@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_private_gke_admits_the_control_plane_to_keda_on_6443_and_9443(plan_of, stack):
    plan = plan_of(stack)
    (cluster,) = plan.of_type(GKE_CLUSTER)
    master = cluster.inputs["privateClusterConfig"]["masterIpv4CidrBlock"]
    (rule,) = [r for r in plan.of_type(FIREWALL) if master in r.inputs.get("sourceRanges", [])]
    assert {p for a in rule.inputs["allows"] for p in a["ports"]} == {"6443", "9443"}
    node_tags = {p.name: set(p.inputs["nodeConfig"]["tags"]) for p in plan.of_type("gcp:container/nodePool:NodePool")}
    assert sorted(node_tags) == ["gke-pool-a100-serving", "gke-pool-h100-training", "gke-pool-rollout",
                                 "gke-pool-system"]
    assert all(set(rule.inputs["targetTags"]) <= tags for tags in node_tags.values())  # every pool, system too


def test_public_nodes_get_no_master_firewall(make_stack):
    # Dev's nodes are private since issue 17; a stack that opts out (gcp.privateNodes: false) needs no master rule.
    plan = planned(make_stack("dev", lambda c: c["gcp"].update(privateNodes=False)))
    assert plan.of_type(FIREWALL) == []


def test_the_guard_fails_when_the_control_plane_cannot_reach_keda(plan_of):
    plan = plan_of("prod")
    verdict = guard_on(plan, [r for r in plan.resources if r.type != FIREWALL])
    assert verdict.status == "fail"
    lines = verdict.message.splitlines()
    assert len(lines) == 2  # one line per blocked flow: the metrics server and the webhooks
    assert "keda/keda-operator-metrics-apiserver:6443" in lines[0] and "443/10250 only" in lines[0]
    assert "keda/keda-admission-webhooks:9443" in lines[1] and "fix:" in lines[1]


# --- finding 4: KubeRay operator -> Ray head dashboard ---------------------------------------------------------

def test_the_kuberay_operator_reaches_the_ray_head_dashboard_and_serve_port(kuberay_prod):
    flows = flows_of(kuberay_prod)
    for port in (8265, 8000):
        result = flows[("kuberay-system/kuberay-operator", "llm-serving/ray-headgroup", port)]
        assert result.allowed is True, result.line()
        assert any("ray-llm" in b for b in result.by)


def test_the_guard_fails_when_the_ray_policy_drops_the_operator(kuberay_prod):
    def drop_operator_rule(inputs):
        inputs["spec"]["ingress"] = [rule for rule in inputs["spec"]["ingress"]
                                     if "kuberay-system" not in str(rule.get("from"))]

    verdict = guard_on(kuberay_prod, resources_edited(kuberay_prod, "NetworkPolicy", "ray-llm", drop_operator_rule))
    assert verdict.status == "fail"
    assert "kuberay-system/kuberay-operator -> llm-serving/ray-headgroup:8265/TCP" in verdict.message
    assert "NetworkPolicy llm-serving/ray-llm" in verdict.message


# --- finding 5: regional internal Gateway needs a proxy-only subnet ---------------------------------------------

def test_kuberay_prod_creates_a_proxy_only_subnet_and_admits_its_proxies(kuberay_prod):
    (subnet,) = [r for r in kuberay_prod.of_type(SUBNET) if r.inputs.get("purpose") == "REGIONAL_MANAGED_PROXY"]
    assert (subnet.inputs["role"], subnet.inputs["region"], subnet.inputs["ipCidrRange"]) == \
        ("ACTIVE", "us-central1", "10.30.0.0/23")
    gateway = [f for f in evaluate(kuberay_prod.cfg, kuberay_prod.resources) if "proxy-only" in str(f.flow.source)]
    assert [(f.port, f.allowed) for f in gateway] == [(8000, True)]
    assert guard_on(kuberay_prod, kuberay_prod.resources).status == "pass"


def test_the_guard_fails_without_a_proxy_only_subnet(kuberay_prod):
    resources = [r for r in kuberay_prod.resources if r.inputs.get("purpose") != "REGIONAL_MANAGED_PROXY"]
    verdict = guard_on(kuberay_prod, resources)
    assert verdict.status == "fail" and "REGIONAL_MANAGED_PROXY" in verdict.message
    assert "gke-l7-rilb proxies" in verdict.message


def test_blue_green_kuberay_needs_no_proxy_only_subnet(make_stack):
    def kuberay(cfg):
        with_mode(cfg, "kuberay")

    plan = planned(make_stack("staging", kuberay))
    assert [r for r in plan.of_type(SUBNET) if r.inputs.get("purpose")] == []


def test_the_proxy_only_range_must_not_overlap_the_vpc(plan_of):
    raw = stack_config("prod")
    raw["gcp"]["proxyOnlySubnetCidr"] = "10.10.8.0/23"
    assert_one_config_error(raw, ["gcp.proxyOnlySubnetCidr = '10.10.8.0/23'",
                                  "overlaps gcp.subnetCidr = '10.10.0.0/20'"])


# --- finding 12: clients behind the internal load balancer -----------------------------------------------------

def _internal_lb(cfg):
    cfg.setdefault("serving", {})["expose"] = "internal-load-balancer"


def test_internal_lb_clients_of_the_vpc_reach_the_model(make_stack):
    plan = planned(make_stack("prod", _internal_lb))
    (service,) = [r for r in plan.resources if r.inputs.get("kind") == "Service"
                  and r.inputs["metadata"]["namespace"] == "llm-serving"]  # the model's (the gateway's is ClusterIP)
    assert service.inputs["spec"]["loadBalancerSourceRanges"] == ["10.10.0.0/20"]  # gcp.subnetCidr by default
    assert service.inputs["spec"]["externalTrafficPolicy"] == "Local"  # the pod sees the client's own address
    clients = [f for f in evaluate(plan.cfg, plan.resources) if "internal load balancer" in str(f.flow.source)]
    assert [(f.port, f.allowed) for f in clients] == [(8000, True)], [f.line() for f in clients]
    assert guard_on(plan, plan.resources).status == "pass"

    def namespace_peers_only(inputs):
        inputs["spec"]["ingress"] = [r for r in inputs["spec"]["ingress"] if "ipBlock" not in str(r)]

    verdict = guard_on(plan, resources_edited(plan, "NetworkPolicy", "vllm-qwen-7b", namespace_peers_only))
    assert verdict.status == "fail" and "clients behind the internal load balancer (10.10.0.0/20)" in verdict.message


def test_internal_lb_clients_default_to_the_eks_vpc_and_can_be_named():
    raw = stack_config("eks-prod")
    _internal_lb(raw)
    assert parse_stack_config(raw).serving.api_client_cidrs == ["10.40.0.0/16"]
    raw["serving"]["apiClientCidrs"] = ["10.40.0.0/16", "172.20.0.0/16"]  # a peered network too
    assert parse_stack_config(raw).serving.api_client_cidrs == ["10.40.0.0/16", "172.20.0.0/16"]


def test_internal_lb_on_an_existing_cluster_needs_its_client_ranges():
    raw = stack_config("coreweave-prod")
    _internal_lb(raw)
    assert_one_config_error(raw, ["serving.apiClientCidrs: missing", "list the clients' CIDRs"])


def test_internal_lb_clients_are_never_the_whole_internet():
    raw = stack_config("prod")
    _internal_lb(raw)
    raw["serving"]["apiClientCidrs"] = ["0.0.0.0/0"]
    assert_one_config_error(raw, ["serving.apiClientCidrs = ['0.0.0.0/0']", "admits every address"])


# --- finding 16: the cluster API endpoint ---------------------------------------------------------------------

def test_prod_gke_api_endpoint_admits_only_the_configured_networks(plan_of):
    (cluster,) = plan_of("prod").of_type(GKE_CLUSTER)
    config = cluster.inputs["masterAuthorizedNetworksConfig"]
    assert [b["cidrBlock"] for b in config["cidrBlocks"]] == ["203.0.113.0/24", "198.51.100.16/28"]
    assert config["gcpPublicCidrsAccessEnabled"] is False  # not "any Google Cloud address" either


def test_prod_eks_api_endpoint_admits_only_the_configured_networks(plan_of):
    (cluster,) = plan_of("eks-prod").of_type(EKS_CLUSTER)
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24", "198.51.100.16/28"]


def test_an_empty_list_turns_the_eks_public_endpoint_off(make_stack):
    def vpc_only(cfg):
        cfg["controlPlane"] = {"authorizedNetworks": []}

    plan = planned(make_stack("eks-prod", vpc_only))
    (cluster,) = plan.of_type(EKS_CLUSTER)
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert open_paths(plan.cfg, plan.resources) == []


def test_prod_must_name_its_networks_and_never_the_whole_internet():
    raw = stack_config("prod")
    del raw["controlPlane"]
    assert_one_config_error(raw, ["controlPlane.authorizedNetworks: missing", "GitHub-hosted runners have no fixed "
                                  "address range"])
    raw["controlPlane"] = {"authorizedNetworks": ["203.0.113.0/24", "0.0.0.0/0"]}
    assert_one_config_error(raw, ["controlPlane.authorizedNetworks", "0.0.0.0/0 opens the prod cluster API endpoint"])
    raw["controlPlane"] = {"authorizedNetworks": ["203.0.113.7/24"]}
    assert_one_config_error(raw, ["controlPlane.authorizedNetworks", "'203.0.113.7/24' is not an IPv4 network"])


def test_dev_defaults_to_an_open_endpoint_and_the_plan_says_so():
    cfg = parse_stack_config(stack_config("dev"))
    assert cfg.control_plane.authorized_networks == ["0.0.0.0/0"]
    (note,) = [n for n in platform_notes(cfg) if "API endpoint" in n]
    assert "GitHub-hosted runners have no fixed address range" in note and "required in prod" in note


def test_the_guard_fails_on_an_api_endpoint_open_to_any_address_that_was_not_asked_for(plan_of):
    plan = plan_of("prod")
    resources = [dataclasses.replace(r, inputs={k: v for k, v in r.inputs.items()
                                                if k != "masterAuthorizedNetworksConfig"})
                 if r.type == GKE_CLUSTER else r for r in plan.resources]
    verdict = guard_on(plan, resources)
    assert verdict.status == "fail"
    assert "cluster llm-fleet-prod: the API endpoint is open to any address (no masterAuthorizedNetworksConfig)" \
        in verdict.message and "controlPlane.authorizedNetworks" in verdict.message


def test_the_guard_fails_on_an_eks_endpoint_with_the_default_public_cidrs(plan_of):
    plan = plan_of("eks-prod")
    resources = [dataclasses.replace(r, inputs={**r.inputs, "vpcConfig": {
        k: v for k, v in r.inputs["vpcConfig"].items() if k != "publicAccessCidrs"}})
        if r.type == EKS_CLUSTER else r for r in plan.resources]
    verdict = guard_on(plan, resources)
    assert verdict.status == "fail" and "publicAccessCidrs ['0.0.0.0/0']" in verdict.message


def test_the_guard_fails_on_a_public_load_balancer(plan_of):
    plan = plan_of("prod")

    def public(inputs):
        inputs["spec"]["type"] = "LoadBalancer"

    verdict = guard_on(plan, resources_edited(plan, "Service", "vllm-qwen-7b", public))
    assert verdict.status == "fail" and "Service llm-serving/vllm-qwen-7b is a LoadBalancer" in verdict.message


# --- the evaluator: Kubernetes NetworkPolicy semantics, on hand-made objects ------------------------------------

def _k8s(kind: str, name: str, namespace: str | None, **body) -> PlannedResource:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return PlannedResource(urn=f"urn:{kind}:{name}", type=f"kubernetes:x:{kind}", name=name, parent="", custom=True,
                           protect=False, inputs={"kind": kind, "metadata": meta, **body})


def _deployment(name: str, namespace: str, labels: dict, ports: dict[str, int]) -> PlannedResource:
    return _k8s("Deployment", name, namespace, spec={"template": {"metadata": {"labels": labels}, "spec": {
        "containers": [{"name": "c", "ports": [{"name": n, "containerPort": p} for n, p in ports.items()]}]}}})


def _policy(name: str, namespace: str, spec: dict) -> PlannedResource:
    return _k8s("NetworkPolicy", name, namespace, spec=spec)


@pytest.fixture
def world():
    """A rollout caller, a model with named ports, and the config of the shipped dev stack."""
    cfg = parse_stack_config(stack_config("dev"))
    caller = _deployment("rollout-worker", "llm-rollout", {"app.kubernetes.io/name": "rollout-worker"}, {})
    model = _deployment("vllm-m", "llm-serving", {"app.kubernetes.io/name": "vllm", "app": "m"},
                        {"http": 8000, "health": 8081})
    return cfg, [caller, model]


def _rollout_to_model(cfg, resources):
    # The model call (the rollout workers' declared egress to DNS and HTTPS are flows of their own).
    (result,) = [r for r in evaluate(cfg, resources) if str(r.flow.source) == "llm-rollout/rollout-worker"
                 and str(r.flow.destination) == "llm-serving/vllm-m"]
    return result


def test_a_pod_no_policy_selects_accepts_everything(world):
    cfg, resources = world
    other = _policy("other", "llm-serving", {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress"]})
    assert _rollout_to_model(cfg, [*resources, other]).allowed is True


def test_an_isolated_pod_needs_namespace_and_pod_selector_to_match_together(world):
    cfg, resources = world
    both = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "llm-rollout"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "something-else"}}}
    policy = _policy("m", "llm-serving", {"podSelector": {"matchLabels": {"app": "m"}}, "policyTypes": ["Ingress"],
                                          "ingress": [{"from": [both], "ports": [{"port": "http"}]}]})
    result = _rollout_to_model(cfg, [*resources, policy])
    assert result.allowed is False and "NetworkPolicy llm-serving/m" in result.by[0]
    both["podSelector"] = {}
    assert _rollout_to_model(cfg, [*resources, policy]).allowed is True  # the named port resolves to 8000


def test_a_rule_for_another_port_or_protocol_does_not_admit(world):
    cfg, resources = world
    peer = [{"namespaceSelector": {}}]
    for ports in ([{"port": 8081}], [{"port": 8000, "protocol": "UDP"}], [{"port": "health"}]):
        policy = _policy("m", "llm-serving", {"podSelector": {}, "ingress": [{"from": peer, "ports": ports}]})
        assert _rollout_to_model(cfg, [*resources, policy]).allowed is False, ports  # policyTypes defaults to Ingress
    policy = _policy("m", "llm-serving", {"podSelector": {}, "ingress": [{"from": peer, "ports": [
        {"port": 7000, "endPort": 9000}]}]})
    assert _rollout_to_model(cfg, [*resources, policy]).allowed is True


def test_egress_isolation_of_the_caller_counts_too(world):
    cfg, resources = world
    deny_egress = _policy("deny", "llm-rollout", {"podSelector": {}, "policyTypes": ["Egress"]})
    result = _rollout_to_model(cfg, [*resources, deny_egress])
    assert result.allowed is False and "for egress" in result.by[0]


def test_ip_blocks_admit_address_ranges_inside_them_and_not_in_except():
    from infra.flows import Addresses, Pods
    from infra.flows.network_policy import peer_matches

    vpc = Addresses(("10.10.0.0/20",), "clients", "lb-clients")
    block = {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.10.8.0/21"]}}
    assert peer_matches({"ipBlock": {"cidr": "10.0.0.0/8"}}, "ns", vpc, {}) is True
    assert peer_matches(block, "ns", vpc, {}) is False  # part of the clients' range is excepted
    assert peer_matches({"ipBlock": {"cidr": "10.10.0.0/24"}}, "ns", vpc, {}) is False  # only part of it
    assert peer_matches({"ipBlock": {"cidr": "0.0.0.0/0"}}, "ns", Pods("ns", {}, {}, "pods"), {}) is False


# Review 3: the regional internal Gateway's health checks come from Google's ranges, not the proxy-only subnet.

HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]


def test_the_ray_policy_admits_the_gateway_health_checks_on_the_serve_port(kuberay_prod):
    (policy,) = [r for r in kuberay_prod.resources
                 if r.inputs.get("kind") == "NetworkPolicy" and r.inputs["metadata"]["name"] == "ray-llm"]
    admitted = {(peer["ipBlock"]["cidr"], port["port"]) for rule in policy.inputs["spec"]["ingress"]
                for peer in rule.get("from", []) if "ipBlock" in peer for port in rule.get("ports", [])}
    assert {(cidr, 8000) for cidr in HEALTH_CHECK_RANGES} <= admitted
    checks = [f for f in evaluate(kuberay_prod.cfg, kuberay_prod.resources) if "health checks" in str(f.flow.source)]
    assert [(f.flow.source.cidrs, f.port) for f in checks] == [((cidr,), 8000) for cidr in HEALTH_CHECK_RANGES]
    assert all(f.allowed is not False for f in checks)  # the VPC side is GKE's Gateway controller's own rule


def test_the_guard_fails_when_the_ray_policy_drops_the_health_check_ranges(kuberay_prod):
    def drop_health_checks(inputs):
        inputs["spec"]["ingress"] = [rule for rule in inputs["spec"]["ingress"]
                                     if not any(p.get("ipBlock", {}).get("cidr") in HEALTH_CHECK_RANGES
                                                for p in rule.get("from", []))]

    verdict = guard_on(kuberay_prod, resources_edited(kuberay_prod, "NetworkPolicy", "ray-llm", drop_health_checks))
    assert verdict.status == "fail"
    for cidr in HEALTH_CHECK_RANGES:
        assert f"gke-l7-rilb health checks ({cidr}) -> llm-serving/ray-headgroup:8000/TCP" in verdict.message
        assert f"admit {cidr} on the serve port in the Ray NetworkPolicy" in verdict.message
