"""IPv4 ranges of the stack's networks: one parse for every block (GKE's five ranges, EKS's VPC), and the overlap
check GCP would otherwise fail on at create time ("overlaps with an existing range")."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping


def ipv4_network(value: str, allowed: str, prefixes: tuple[int, int] = (0, 32)) -> str:
    """`value` as an IPv4 network without host bits and with a prefix in `prefixes`; ValueError saying `allowed`."""
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        try:
            fixed = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            raise ValueError(f"not an IPv4 network; allowed: {allowed}") from None
        raise ValueError(f"has host bits set; allowed: {allowed}; did you mean {fixed}?") from None
    low, high = prefixes
    if not low <= net.prefixlen <= high:
        raise ValueError(f"is a /{net.prefixlen}; allowed: {allowed}")
    return value


def overlap_problems(ranges: Mapping[str, str]) -> list[str]:
    """One line per pair of overlapping ranges (`key path` → CIDR, in the order a person reads them), naming the
    later one as the one to move: it is usually the one just added."""
    nets = {key: ipaddress.IPv4Network(value) for key, value in ranges.items()}
    keys = list(nets)
    problems = []
    for i, key in enumerate(keys):
        for other in keys[:i]:
            if nets[key].overlaps(nets[other]):
                problems.append(f"{key} = {ranges[key]!r}: overlaps {other} = {ranges[other]!r}; allowed: a range "
                                f"apart from {', '.join(k for k in keys if k != key)}; move {key} to a free range")
                break
    return problems
