"""What ties the regions of one fleet together: the same artifacts everywhere, and each gateway's peer fallbacks.

Artifacts: each region file keeps its own `artifacts` block, because its images name the region's own registry (the
nodes pull from it); everything else in the block must be equal across the fleet's regions: the image's name and
digest (the bytes), `vllmVersion`, the charts and the model revisions, wherever two regions both pin them. A
difference fails the region's config, naming the region, the key and both values.

Peers: the fleet file lists its regions with their gateways' URLs (`regions: [{stack, gateway, apiKey?, peers?}]`).
Every local model of a region gets its peers' gateways (`peers`, default every other region) as `peer` fallbacks,
added before its own fallbacks (after its own replicas, before any provider): a peer runs the same model at the
fleet's own price, a provider bills by the token. They are generated rather than validated by hand, so a region
added to the list is a peer everywhere at once and no region can forget one; a hand-written `peer` in the fleet file
is refused (it would go stale).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.config.base import NAMESPACE, ConfigError
from infra.config.fleetfile import decode, fleet_regions
from infra.config.regions import peer_key
from infra.config.stackfile import read_stack_yaml

ARTIFACTS = f"{NAMESPACE}:artifacts"


def _unregistered(ref: Any) -> Any:
    """An image reference without its registry: `<registry>/<path>/vllm-serving@sha256:…` → `vllm-serving@sha256:…`."""
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ref


def comparable(artifacts: Any) -> dict[str, Any]:
    """`artifacts` flattened one level (`charts.keda`), images without their registry: what must match."""
    if not isinstance(artifacts, Mapping):
        return {}
    flat: dict[str, Any] = {}
    for key, value in artifacts.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = _unregistered(value) if key.endswith("Image") else value
    return flat


def differing(own: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """The keys of two regions' `comparable` artifacts that both pin, differently. A chart only one region's cloud
    installs (EKS's cluster autoscaler) is not drift, and an artifact a region needs but lacks fails that region's
    own config."""
    return [key for key in sorted(set(own) & set(theirs)) if own[key] != theirs[key]]


def _region_artifacts(stack: str, root: Path) -> dict[str, Any]:
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError([f"config error: {NAMESPACE}:regions: region {stack!r} has no file {path.name} in "
                           f"{root.resolve()}; add it or drop the region from the list"])
    return comparable(read_stack_yaml(path).get(ARTIFACTS))


def artifact_drift(stack: str, fleet: str, root: Path) -> list[str]:
    """One line per artifact on which `stack` differs from another region of `fleet` (registries aside)."""
    others = [str(r.get("stack")) for r in fleet_regions(fleet, root) if r.get("stack") != stack]
    own = _region_artifacts(stack, root)
    problems = []
    for other in others:
        theirs = _region_artifacts(other, root)
        problems += [f"{ARTIFACTS}.{key}: Pulumi.{stack}.yaml pins {own[key]}, region {other} (Pulumi.{other}.yaml) "
                     f"pins {theirs[key]}; the regions of fleet {fleet} run the same artifacts (registries aside); "
                     f"promote to all of them at once: python -m infra promote <source> {fleet}"
                     for key in differing(own, theirs)]
    return problems


def region_networks(stack: str, root: Path) -> list[str]:
    """The address ranges a region's pods call from, read from its stack file: on GKE its subnet and its pods' range
    (VPC-native pods keep their own address across connected VPCs), on EKS its VPC; [] for an existing cluster."""
    from infra.config.aws import Aws
    from infra.config.gcp import Gcp

    config = read_stack_yaml(root / f"Pulumi.{stack}.yaml")
    gcp, aws = config.get(f"{NAMESPACE}:gcp"), config.get(f"{NAMESPACE}:aws")
    if isinstance(gcp, Mapping):
        return [gcp.get(key, Gcp.model_fields[field].default)
                for key, field in (("subnetCidr", "subnet_cidr"), ("podsCidr", "pods_cidr"))]
    if isinstance(aws, Mapping):
        return [aws.get("vpcCidr", Aws.model_fields["vpc_cidr"].default)]
    return []


def peers_of(entry: Mapping[str, Any], stacks: list[str]) -> list[str]:
    """The regions a region's gateway falls back to, in order: its `peers`, or every other region of the list."""
    chosen = entry.get("peers")
    return [s for s in stacks if s != entry.get("stack")] if chosen is None else [str(p) for p in chosen]


def add_peers(values: Mapping[str, Any], stack: str, fleet_file: str, root: Path) -> dict[str, Any]:
    """`values` (engine shape, fleet merged) with its peers' gateways as each local model's first fallbacks, and each
    region that falls back to this one marked (`callsMe`) with the ranges its calls come from (`networks`)."""
    regions = decode(values.get(f"{NAMESPACE}:regions"))
    models = decode(values.get(f"{NAMESPACE}:models"))
    if not isinstance(regions, list) or not isinstance(models, list):
        return dict(values)  # the schema reports a missing or malformed list
    stacks = [r.get("stack") for r in regions if isinstance(r, Mapping)]
    # A region listed twice would be its own peer and double every cost and quota of --tier: refused at the list.
    twice = [f"config error: {NAMESPACE}:regions[{i}].stack = {s!r}: listed twice in {fleet_file} (also "
             f"regions[{stacks.index(s)}]); allowed: each region stack once; remove one of them"
             for i, s in enumerate(stacks) if s in stacks[:i]]
    if twice:
        raise ConfigError(twice[:1])
    if stack not in stacks:
        raise ConfigError([f"config error: {NAMESPACE}:regions: stack {stack!r} is in fleet {fleet_file} (its "
                           f"{NAMESPACE}:fleet) but not in its regions ({', '.join(map(str, stacks))}); add "
                           f"{{stack: {stack}, gateway: https://<its gateway>/v1}} to regions in {fleet_file}"])
    entries = {str(r.get("stack")): r for r in regions if isinstance(r, Mapping)}
    problems = [f"config error: {NAMESPACE}:regions[{i}].peers: {p!r} is "
                f"{'the region itself' if p == r.get('stack') else 'not a region of ' + fleet_file}; allowed: "
                f"{', '.join(s for s in entries if s != r.get('stack'))}; fix the name or drop it"
                for i, r in enumerate(regions) if isinstance(r, Mapping)
                for p in (r.get("peers") or []) if p not in entries or p == r.get("stack")]
    if problems:
        raise ConfigError(problems)
    peers = [{"peer": name, "url": entries[name].get("gateway"),
              "apiKey": entries[name].get("apiKey") or peer_key(name)}
             for name in peers_of(entries[stack], list(entries))]
    callers = {name for name, entry in entries.items() if stack in peers_of(entry, list(entries))}
    new_models = []
    for i, model in enumerate(models):
        if not isinstance(model, Mapping) or "provider" in model:
            new_models.append(model)
            continue
        fallbacks = model.get("fallbacks") or []
        hand = [j for j, f in enumerate(fallbacks) if isinstance(f, Mapping) and "peer" in f]
        problems += [f"config error: {NAMESPACE}:models[{i}].fallbacks[{j}].peer: written in {fleet_file}, but a "
                     "fleet's peers come from its regions list (every other region, first); remove it"
                     for j in hand]
        new_models.append({**model, "fallbacks": [*peers, *fallbacks]})
    if problems:
        raise ConfigError(problems)
    regions = [{**r, "own": True} if isinstance(r, Mapping) and r.get("stack") == stack
               else {**r, "callsMe": True, "networks": region_networks(str(r["stack"]), root)}
               if isinstance(r, Mapping) and r.get("stack") in callers
               and (root / f"Pulumi.{r.get('stack')}.yaml").is_file() else r
               for r in regions]
    return {**values, f"{NAMESPACE}:models": json.dumps(new_models), f"{NAMESPACE}:regions": json.dumps(regions)}
