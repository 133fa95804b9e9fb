"""The offline plan: THE SAME program as `pulumi up`, run under Pulumi's mock engine.

Owns: reading a stack file the way the Pulumi CLI hands it to a program, running
`program.run` with a recording mock monitor (no cloud, no credentials), and collecting what a
reviewer wants to see: every resource with its parent and protect flag, the stack outputs, the
rendered Kubernetes objects, the cost report and the guard verdicts. Rendering is in `report`.
"""

from __future__ import annotations

import asyncio
import difflib
import heapq
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import set_all_config

from infra import program, sdk
from infra.config import ConfigError, StackConfig, load_config
from infra.config.loading import engine_raw, merge_fleet
from infra.config.peer_dns import PEER_DNS_TTL_S, has_peer_load_balancer, peer_dns_key, peer_dns_zone
from infra.config.secrets import config_warnings
from infra.config.stackfile import SECRET_PLACEHOLDER, engine_shape, read_stack_yaml
from infra.cost import CostReport
from infra.guards import resource_guards
from infra.guards.base import StackPlan, Verdict
from infra.planned import PlannedResource
from infra.platforms import platform_notes
from infra.time_to_serve_report import cold_start_notes

PROJECT = "llm-fleet"
ROOT = Path(__file__).resolve().parent.parent


class StackFileError(ConfigError):
    pass


@dataclass
class Plan:
    stack: str
    cfg: StackConfig
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    cost: CostReport
    verdicts: list[Verdict]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.status != "fail" for v in self.verdicts)

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def manifests(self) -> list[dict[str, Any]]:
        """Kubernetes objects as the provider would receive them (metadata.name as Pulumi would autoname)."""
        out = []
        for r in self.resources:
            if r.is_kubernetes_object:
                obj = json.loads(json.dumps(r.inputs))
                obj.setdefault("metadata", {}).setdefault("name", r.name)
                out.append(obj)
        return out


def _no_stack_file(stack: str, root: Path) -> str:
    """The one line for a missing stack file: the stacks that are there, or how to point at the project folder."""
    known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))
    if not known:
        return (f"stack error: --stack {stack!r}: no Pulumi.{stack}.yaml in {root.resolve()} (no stack files at all); "
                "run from the project folder, or give it with -C <folder> (e.g. python -m infra plan -C ~/llm-fleet "
                f"--stack {stack})")
    near = difflib.get_close_matches(stack, known, n=1)
    hint = f"; did you mean --stack {near[0]}?" if near else ""
    return f"stack error: --stack {stack!r}: no file Pulumi.{stack}.yaml; stacks here: {', '.join(known)}{hint}"


def read_stack_file(stack: str, root: Path = ROOT) -> tuple[dict[str, str], list[str]]:
    """`Pulumi.<stack>.yaml` as the engine hands config to a program: JSON text per key, secret keys apart."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackFileError([_no_stack_file(stack, root)])
    try:
        stack_config = read_stack_yaml(path)
    except ConfigError as e:
        raise StackFileError(e.problems) from None
    return engine_shape(stack_config)


class _PlanMocks(pulumi.runtime.Mocks):
    """Gives each resource the outputs the program reads back (ids, endpoints, e-mails)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        if args.typ == "gcp:container/cluster:Cluster":
            state.update(endpoint="203.0.113.10", masterAuth={"clusterCaCertificate": "UExBTi1DQQ=="})
        elif args.typ == "gcp:serviceaccount/account:Account":
            project = args.inputs.get("project", "project")
            state["email"] = f"{args.inputs['accountId']}@{project}.iam.gserviceaccount.com"
        elif args.typ == "kubernetes:core/v1:Service" and (args.inputs.get("spec") or {}).get("type") == "LoadBalancer":
            # What the cloud reports once the load balancer is up: the pinned address, else (EKS's NLB) a DNS name.
            pinned = args.inputs["spec"].get("loadBalancerIP")
            state["status"] = {"loadBalancer": {"ingress": [
                {"ip": pinned} if pinned else {"hostname": "plan-placeholder-lb-hostname"}]}}
        elif args.typ == "gcp:compute/address:Address":
            state["address"] = "plan-placeholder-address"  # reserved in the subnet on `up`
        elif args.typ.startswith("aws:"):
            state.update(_aws_outputs(args))
        elif args.typ.startswith("tls:index/"):
            # Issued on `up`; a placeholder PEM so the Secret renders (its values are secrets in the plan anyway).
            field = {"tls:index/privateKey:PrivateKey": "privateKeyPem", "tls:index/certRequest:CertRequest":
                     "certRequestPem", "tls:index/locallySignedCert:LocallySignedCert": "certPem"}.get(args.typ)
            if field is not None:
                state[field] = f"plan-placeholder-{field}"
        elif args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "plan-placeholder-model-api-key"  # generated on `up`; shown as [secret] anyway
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        if args.token == "gcp:organizations/getProject:getProject":
            return {"projectId": args.args.get("projectId"), "number": "000000000000"}, []
        return {}, []


_ACCOUNT, _REGION = "123456789012", "us-east-1"  # documentation values: no real account is ever asked


def _aws_outputs(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """What AWS computes and the program reads back: ARNs, the cluster's endpoint and OIDC issuer, URLs."""
    inputs, name = args.inputs, args.name
    service = args.typ.split(":")[1].split("/")[0]
    out: dict[str, Any] = {"arn": f"arn:aws:{service}:{_REGION}:{_ACCOUNT}:{name}"}
    if args.typ == "aws:eks/cluster:Cluster":
        out.update(endpoint="https://EXAMPLE0123.gr7.us-east-1.eks.amazonaws.com",
                   certificateAuthority={"data": "UExBTi1DQQ=="},
                   identities=[{"oidcs": [{"issuer": "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123"}]}])
    elif args.typ == "aws:iam/role:Role":
        out.update(arn=f"arn:aws:iam::{_ACCOUNT}:role/{name}", name=inputs.get("name", name))
    elif args.typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        issuer = str(inputs.get("url", "")).removeprefix("https://")
        out["arn"] = f"arn:aws:iam::{_ACCOUNT}:oidc-provider/{issuer}"
    elif args.typ == "aws:ecr/repository:Repository":
        out["repositoryUrl"] = f"{_ACCOUNT}.dkr.ecr.{_REGION}.amazonaws.com/{inputs.get('name', name)}"
    elif args.typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name)}0123"
        out.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
    elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
        out["latestVersion"] = 1
    elif args.typ == "aws:eks/nodeGroup:NodeGroup":
        # EKS names the managed group's autoscaling group eks-<node group name>-<uuid>.
        group = f"{inputs.get('nodeGroupNamePrefix', name)}20250601"
        out.update(nodeGroupName=group, resources=[{"autoscalingGroups": [
            {"name": f"eks-{group}-0ec1a2b3-4d5e-6f70-8192-a3b4c5d6e7f8"}]}])
    return out


class _RecordingMonitor(sdk.MockMonitor):
    """The SDK's mock monitor, also keeping what a plan shows: parents, protect flags, stack outputs."""

    def __init__(self, mock: pulumi.runtime.Mocks) -> None:
        super().__init__(mock)
        self.planned: list[PlannedResource] = []
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = sdk.deserialize_properties(request.object)
            parent = "" if "::pulumi:pulumi:Stack::" in request.parent else request.parent
            self.planned.append(PlannedResource(
                urn=response.urn, type=request.type, name=request.name, parent=parent,
                custom=bool(request.custom), protect=bool(request.protect), inputs=_plain(inputs),
                dependencies=tuple(sorted(request.dependencies)),
                property_dependencies={k: tuple(sorted(v.urns))
                                       for k, v in request.propertyDependencies.items() if v.urns},
                provider=provider_urn(request.provider), custom_timeouts=_timeouts(request.customTimeouts)))
        return response

    def RegisterResourceOutputs(self, request):
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = _plain(sdk.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def provider_urn(reference: str) -> str:
    """The provider's URN from an engine provider reference `<urn>::<id>` ("" stays "": the default provider)."""
    return reference.rsplit("::", 1)[0] if reference else ""


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration_seconds(text: str) -> float:
    """A Go duration string as `customTimeouts` carries it ("10m", "1h30m", "90s") in seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _timeouts(timeouts: Any) -> dict[str, float]:
    return {op: duration_seconds(getattr(timeouts, op)) for op in ("create", "update", "delete")
            if getattr(timeouts, op)}


def _redact(value: Any) -> Any:
    """A secret keeps its shape (so manifests stay schema-valid) but no value is shown."""
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return SECRET_PLACEHOLDER


def _plain(value: Any) -> Any:
    """Mock-engine values as plain JSON data (unknowns and secrets as readable markers)."""
    if isinstance(value, dict):
        if sdk.is_secret_envelope(value):
            return _redact(sdk.secret_value(value))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if sdk.is_unknown(value):
        return "(known after apply)"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine's wire format has only doubles; Kubernetes int fields reject 4.0
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


@contextmanager
def mock_engine(stack: str, root: Path = ROOT) -> Iterator[tuple[StackConfig, _RecordingMonitor]]:
    """Pulumi's mock engine, configured from `Pulumi.<stack>.yaml`, on an event loop of its own.

    The config is validated first (the program's own loader: same checks, same messages), so a
    bad stack file raises ConfigError before the engine has declared even the root stack. The SDK
    creates its futures on the thread's current event loop; a caller that ran `asyncio.run` before
    (tests, the serving package) leaves none behind, so each plan brings its own.
    """
    config, secret_keys = read_stack_file(stack, root)
    set_all_config(config, secret_keys)
    cfg = load_config(stack, root)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        mock = _PlanMocks()
        monitor = _RecordingMonitor(mock)
        pulumi.runtime.set_mocks(mock, project=PROJECT, stack=stack, preview=True, monitor=monitor)
        # set_mocks makes a throwaway root stack for unit tests; the real entry point (run_in_stack)
        # makes its own, whose outputs are the stack outputs we report.
        sdk.reset_root_stack()
        yield cfg, monitor
    finally:
        # A program that raised part-way leaves registrations pending: cancel them, or closing
        # the loop prints "Task was destroyed but it is pending" over the error the user needs.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        asyncio.set_event_loop(None)
        loop.close()


def registration_order(resources: list[PlannedResource]) -> list[PlannedResource]:
    """The resources in an order the engine could have registered them (parent, provider and dependencies first),
    the same in every run: the engine registers concurrently, so the order it recorded differs between runs."""
    by_urn = {r.urn: r for r in resources}
    waits_for = {r.urn: {u for u in (r.parent, r.provider, *r.dependencies,
                                     *(u for us in r.property_dependencies.values() for u in us)) if u in by_urn}
                 for r in resources}
    ready = [u for u, deps in waits_for.items() if not deps]
    heapq.heapify(ready)
    dependents: dict[str, list[str]] = {}
    for urn, deps in waits_for.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(urn)
    ordered: list[PlannedResource] = []
    while ready:
        urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for dependent in dependents.get(urn, []):
            waits_for[dependent].discard(urn)
            if not waits_for[dependent]:
                heapq.heappush(ready, dependent)
    assert len(ordered) == len(resources), "a dependency cycle among planned resources"
    return ordered


def _fleet_notes(cfg: StackConfig) -> list[str]:
    """A region of a fleet: its peers, as its gateway falls back to them (after its own replicas)."""
    if cfg.fleet is None:
        return []
    peers = [r for r in cfg.regions if f"peer-{r.stack}" in {f.backend_name for m in cfg.models for f in m.fallbacks}]
    listed = ", ".join(f"{r.stack} ({r.gateway})" for r in peers) or "none"
    notes = [f"fleet {cfg.fleet}: one of {len(cfg.regions)} regions (Fleet.{cfg.fleet}.yaml); its gateway's peers, "
             f"after its own replicas: {listed}"]
    if peers:
        # Outside this stack, and so only said: what makes the peers' https URLs reach the internal load balancer.
        notes.append(f"fleet {cfg.fleet}: must exist outside this stack for the peers to connect: a private path "
                     "between the regions' networks (GCP: VPC Network Peering or Network Connectivity Center between "
                     "the regions' VPCs; AWS: VPC peering or a Transit Gateway; across clouds: an interconnect or "
                     "VPN), and a private DNS zone each region's gateway name resolves in, visible to the peers' "
                     "networks. TLS is the stack's: each gateway "
                     f"serves its peers on 443 a certificate the fleet CA ({cfg.fleet}'s peerCaCert) signs for its "
                     "name, renewed by `pulumi up` within 30 days of its end")
    return [*notes, *_peer_dns_notes(cfg)]


def _peer_dns_notes(cfg: StackConfig) -> list[str]:
    """A region others fall back to: what makes its gateway's name resolve to its gateway-peers load balancer."""
    own, zone = cfg.own_region, peer_dns_zone(cfg)
    if own is None:
        return []
    if not has_peer_load_balancer(cfg) and cfg.cloud == "gke":
        record = f" and its A record {own.host} in {zone}" if zone else ""
        return [f"fleet {cfg.fleet}: no region falls back to this one, so there is no gateway-peers load balancer; "
                f"its reserved internal address{record} stay (protected in prod) for when one does again"]
    if not has_peer_load_balancer(cfg):
        return [f"fleet {cfg.fleet}: {peer_dns_key(cfg)} {zone} is set, but no region falls back to this one: no "
                "gateway-peers load balancer, so no record is written"] if zone else []
    if cfg.cloud == "gke" and zone is not None:
        return [f"fleet {cfg.fleet}: the stack reserves the gateway-peers load balancer's internal address (in the "
                f"node subnet; protected in prod) and writes the A record {own.host} → it in the Cloud DNS zone "
                f"{zone} (TTL {PEER_DNS_TTL_S} s); bind that private zone to the peers' networks"]
    if cfg.cloud == "gke":
        return [f"fleet {cfg.fleet}: the stack reserves the gateway-peers load balancer's internal address (stack "
                f"output gatewayPeersAddress; protected in prod); the record {own.host} → it is yours to make, or "
                "set gcp.peerDnsZone to an existing private zone and the stack writes it"]
    if zone is not None:
        return [f"fleet {cfg.fleet}: the stack writes the CNAME {own.host} → the gateway-peers NLB's DNS name (no "
                f"private address can be pinned on EKS's in-tree NLB) in the Route 53 private zone {zone} (TTL "
                f"{PEER_DNS_TTL_S} s); associate that zone with the peers' VPCs"]
    return [f"fleet {cfg.fleet}: must exist outside this stack: a record {own.host} → the gateway-peers NLB's DNS "
            "name (stack output gatewayPeersAddress; a CNAME in a Route 53 private hosted zone shared with the "
            "peers' VPCs), or set aws.peerDnsZoneId and the stack writes it; the NLB keeps that name while the "
            "Service lives"]


def run_plan(stack: str, root: Path = ROOT) -> Plan:
    """Run the real program for `stack` under mocks. Raises ConfigError for a bad stack file."""
    verdicts: list[Verdict] = []
    with mock_engine(stack, root) as (cfg, monitor):

        def body() -> None:
            verdicts.extend(program.run(cfg, enforce_guards=False))

        sdk.run_program(body)
    resources = registration_order(monitor.planned)
    config_plan = program.stack_plan(cfg)
    with_resources = StackPlan(cfg, config_plan.pools, config_plan.cost, tuple(resources))
    verdicts += [guard(with_resources) for guard in resource_guards()]
    config, secret_keys = read_stack_file(stack, root)  # a plaintext secret in dev, a gated model: said, not refused
    config = merge_fleet(config, stack, root)  # a region of a fleet: as load_config read it
    warnings = config_warnings(engine_raw(config), secret_keys, cfg, stack, engine_values=config)
    notes = [*warnings, *_fleet_notes(cfg), *platform_notes(cfg), *config_plan.cost.notes, *cold_start_notes(cfg)]
    return Plan(stack=stack, cfg=cfg, resources=resources, outputs=monitor.stack_outputs,
                cost=config_plan.cost, verdicts=verdicts, notes=notes)
