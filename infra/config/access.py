"""Who may reach the cluster API and the model API: the `controlPlane` block and the checks on both ranges."""

from __future__ import annotations

from pydantic import field_validator

from infra.config.base import ANY_ADDRESS, ConfigModel, ipv4_networks, opens_to_anyone
from infra.config.serving import Serving

RUNNER_ADVICE = ("GitHub-hosted runners have no fixed address range: list the egress CIDRs of self-hosted runners, "
                 "of larger runners with static IPs, or of the VPN that CI and operators use")


class ControlPlane(ConfigModel):
    """Who may reach the cluster's API endpoint (GKE master authorized networks, EKS public access CIDRs)."""

    authorized_networks: list[str] | None = None
    """IPv4 CIDRs that may reach the cluster API: the CI runners' egress and the VPN; `[]` allows only the VPC.
    Required on GKE and EKS in every tier (no default); prod may never use 0.0.0.0/0, and where dev or staging
    deploy from GitHub-hosted runners (no fixed addresses) the stack file says `[0.0.0.0/0]` itself."""

    @field_validator("authorized_networks")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        return ipv4_networks(value, example="203.0.113.0/24")


def network_access_problems(tier: str, cloud: str, control_plane: ControlPlane, serving: Serving) -> list[str]:
    """Who may reach the cluster API and the model API: named ranges, never the whole internet in prod."""
    problems: list[str] = []
    networks = control_plane.authorized_networks
    key = "controlPlane.authorizedNetworks"
    if cloud == "existing":
        if networks is not None:
            problems.append(f"{key} = {networks}: cloud 'existing': llm-fleet does not manage that cluster's API "
                            "endpoint; remove it and restrict the endpoint where the cluster is run")
    elif networks is None:
        problems.append(f"{key}: missing; tier {tier!r} opens the cluster API endpoint to no one by default; "
                        f"{RUNNER_ADVICE} (e.g. authorizedNetworks: [203.0.113.0/24]), or [] to allow only the VPC")
    elif tier == "prod" and opens_to_anyone(networks):
        problems.append(f"{key} = {networks}: {ANY_ADDRESS} opens the prod cluster API endpoint to any address; "
                        f"allowed: specific CIDRs; {RUNNER_ADVICE}")
    clients = serving.api_client_cidrs
    if serving.expose == "internal-load-balancer" and clients is None:
        problems.append("serving.apiClientCidrs: missing; on an existing cluster llm-fleet does not know the network "
                        "behind the internal load balancer; list the clients' CIDRs (e.g. [10.0.0.0/8])")
    elif clients is not None and serving.expose != "internal-load-balancer":
        problems.append(f"serving.apiClientCidrs = {clients}: set, but serving.expose is {serving.expose!r}; "
                        "remove it or set serving.expose: internal-load-balancer")
    elif clients is not None and opens_to_anyone(clients):
        problems.append(f"serving.apiClientCidrs = {clients}: {ANY_ADDRESS} admits every address to the model API; "
                        "allowed: the ranges of the clients behind the internal load balancer")
    return problems
