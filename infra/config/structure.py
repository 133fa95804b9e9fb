"""The stack's shape, checked before its blocks: a misspelt namespace, the tier, the cloud and its platform block.

Every other default and rule hangs off these (a pool's shapes off the cloud, its minimums off the tier), so a
problem here is reported first and alone: the knock-on errors of the wrong cloud would only bury the root cause.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from infra.config.base import NAMESPACE
from infra.config.messages import nearest

CLOUDS = ("gke", "eks", "existing")
PLATFORM_BLOCK = {"gke": "gcp", "eks": "aws", "existing": "existing"}
# What a person may write for `cloud` meaning one of ours: the provider's name rather than the service's.
_CLOUD_ALIASES = {"gcp": "gke", "google": "gke", "gce": "gke", "aws": "eks", "amazon": "eks", "k8s": "existing",
                  "kubernetes": "existing", "coreweave": "existing", "kind": "existing"}
# Other Pulumi namespaces a stack file legitimately holds (providers' settings).
_PROVIDER_NAMESPACES = {"gcp", "aws", "kubernetes", "pulumi", "random", "tls", "command"}


def namespace_problems(keys: list[str], documented: list[str]) -> list[str]:
    """`llm-flet:budget` and the like: a key whose namespace is a misspelling of ours is dropped by Pulumi's rules,
    so its block silently falls back to the defaults. One line per key, naming the key it was meant to be."""
    problems = []
    for key in keys:
        namespace, _, name = key.partition(":")
        if not name or namespace == NAMESPACE or namespace in _PROVIDER_NAMESPACES:
            continue
        # A namespace close to ours, or any other project's holding one of our keys (a block pasted from another
        # project's stack file: `acme-llm:budget`); a provider's own keys are skipped above.
        if difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() < 0.75 and name not in documented:
            continue
        meant = name if name in documented else nearest(name, documented) or name
        problems.append(f"{key}: namespace {namespace!r} is not this project's ({NAMESPACE}, Pulumi.yaml's name); "
                        f"the key is ignored, so its setting would silently fall back to the default; rename it to "
                        f"{NAMESPACE}:{meant}")
    return problems


def structure_problems(raw: Mapping[str, Any]) -> list[str]:
    """The tier, the cloud and its platform block; [] when they are sound. Lines without the namespace prefix."""
    tier = raw.get("tier")
    if not raw:
        return ["tier: missing, as is every other key: the file holds no settings (it is empty, has only comments, "
                "or lacks the `config:` line); allowed: a `config:` block of llm-fleet:<key> entries, at least tier, "
                "cloud and its platform block; start from a copy of Pulumi.dev.yaml"]
    if tier not in ("dev", "staging", "prod"):
        shown = ": missing;" if tier is None else f" = {tier!r}:"
        meant = nearest(str(tier), ["dev", "staging", "prod"]) if tier is not None else None
        hint = f"; did you mean tier: {meant}?" if meant else ""
        return [f"tier{shown} allowed: 'dev', 'staging' or 'prod'{hint}"]
    cloud = raw.get("cloud", "gke")
    if cloud not in CLOUDS:
        meant = _CLOUD_ALIASES.get(str(cloud).lower()) or nearest(str(cloud), list(CLOUDS))
        hint = f"; did you mean cloud: {meant} (with its {PLATFORM_BLOCK[meant]} block)?" if meant else ""
        return [f"cloud = {cloud!r}: allowed: 'gke' (GKE on GCP), 'eks' (EKS on AWS) or 'existing' (a cluster "
                f"you run){hint}"]
    block = PLATFORM_BLOCK[cloud]
    if not isinstance(raw.get(block), Mapping):
        others = [b for c, b in PLATFORM_BLOCK.items() if c != cloud and isinstance(raw.get(b), Mapping)]
        other = f"; the stack has a {others[0]} block: set cloud: " \
                f"{next(c for c, b in PLATFORM_BLOCK.items() if b == others[0])} to keep using it" if others else ""
        shown = ": missing;" if block not in raw else f" = {raw[block]!r}: not a block of keys;"
        return [f"{block}{shown} cloud {cloud!r} needs {_NEEDS[cloud]}{other}"]
    # Another platform's block besides: half a switch of clouds, whose other errors (pool shapes) follow from it.
    return [f"{other}: set, but cloud is {cloud!r}; remove it or set cloud: {c}"
            for c, other in PLATFORM_BLOCK.items() if c != cloud and other in raw][:1]


_NEEDS = {
    "gke": "gcp.project, gcp.region and gcp.zones",
    "eks": "aws.region and aws.zones (two or more)",
    "existing": "existing.kubeconfig (a secret) or existing.context, and existing.priceAs",
}
