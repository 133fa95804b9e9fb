"""Address ranges kept from an example: a range reserved for documentation holds no real client or network.

The shipped stack files (examples/, Pulumi.prod.yaml) fill their network keys with the documentation ranges of
RFC 5737 (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24; also RFC 5771's 233.252.0.0/24, RFC 3849's 2001:db8::/32
and RFC 9637's 3fff::/20), since a real range would be somebody's. Left in a stack, each one silently admits no one:
in `controlPlane.authorizedNetworks` the control plane refuses everyone, `pulumi up` included, once the cluster
exists; in `serving.apiClientCidrs` or a region's networks the callers it should admit are refused. Every key is
checked, whatever block it is in, as a value's shape (a CIDR) is what makes it a range. A WARN, not a FAIL: the
shipped prod template must still plan, and the plan's reader is the one to replace them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from infra.guards.base import StackPlan, Verdict
from infra.guards.verdicts import severity

DOCUMENTATION_RANGES = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",  # RFC 5737 TEST-NET-1..3
    "233.252.0.0/24",  # RFC 5771 MCAST-TEST-NET
    "2001:db8::/32", "3fff::/20",  # RFC 3849, RFC 9637
))


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(key path, string) of every string in a dumped config, e.g. ("gke.authorizedNetworks[0]", "10.0.0.0/8")."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def example_ranges(config: dict[str, Any]) -> list[str]:
    """`<key> <range>` of each value of `config` (camelCase keys) inside a documentation range."""
    found = []
    for path, text in _strings(config, ""):
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue  # not an address or a range
        if any(network.version == doc.version and network.subnet_of(doc) for doc in DOCUMENTATION_RANGES):
            found.append(f"{path} {text}")
    return found


def no_example_network_ranges(plan: StackPlan) -> Verdict:
    """No key of the stack holds an address range reserved for documentation (an example's placeholder)."""
    name = "no-example-network-ranges"
    found = example_ranges(plan.cfg.model_dump(mode="json", by_alias=True))
    if not found:
        return Verdict(name, "pass", "no documentation range (RFC 5737, 5771, 3849, 9637) among the stack's addresses")
    return Verdict(name, severity(name, plan.cfg.tier), f"{', '.join(found)}: documentation range(s) that no real "
                   "client or network has (an example's placeholders), so what they should admit is refused; put your "
                   "own networks' ranges there before `pulumi up`")
