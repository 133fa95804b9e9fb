"""No model is reachable from outside the network unless the stack asked for it, and then only internally."""

from __future__ import annotations

from collections.abc import Mapping

from infra.guards.base import StackPlan, Verdict

# The annotation values that make a LoadBalancer Service internal, per cloud. A key alone proves nothing: the same
# keys with other values ask for a public address (`aws-load-balancer-internal: "false"`, `aws-load-balancer-scheme:
# internet-facing`), and a cloud's default, with no annotation, is a public address.
# - GKE: `networking.gke.io/load-balancer-type: "Internal"` creates an internal passthrough Network Load Balancer
#   (https://cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters).
# - AWS in-tree controller: `service.beta.kubernetes.io/aws-load-balancer-internal: "true"` (old manifests and docs
#   spell it "0.0.0.0/0"; https://github.com/kubernetes/website/issues/15771); new load balancers are
#   internet-facing by default (https://cloud.google.com/kubernetes-engine/multi-cloud/docs/aws/how-to/network-load-balancing).
# - AWS Load Balancer Controller: `service.beta.kubernetes.io/aws-load-balancer-scheme: internal` (vs
#   `internet-facing`); it deprecates the in-tree `…-internal` boolean in favour of the scheme
#   (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/).
INTERNAL_LB_VALUES: dict[str, frozenset[str]] = {
    "networking.gke.io/load-balancer-type": frozenset({"Internal"}),
    "service.beta.kubernetes.io/aws-load-balancer-internal": frozenset({"true", "0.0.0.0/0"}),
    "service.beta.kubernetes.io/aws-load-balancer-scheme": frozenset({"internal"}),
}


def is_internal_load_balancer(annotations: Mapping[str, str] | None) -> bool:
    """True when a LoadBalancer Service's annotations ask its cloud for an internal address.

    At least one known key must carry an internal value, and no known key may carry another value: a Service
    annotated both ways (say, scheme internet-facing and internal "true") is read as public, the safe side.
    """
    known = {k: str(v) for k, v in (annotations or {}).items() if k in INTERNAL_LB_VALUES}
    return bool(known) and all(v in INTERNAL_LB_VALUES[k] for k, v in known.items())


def no_unrequested_load_balancer(plan: StackPlan) -> Verdict:
    name, problems = "no-unrequested-load-balancer", []
    for r in plan.resources:
        if r.inputs.get("kind") != "Service" or r.inputs.get("spec", {}).get("type") != "LoadBalancer":
            continue
        internal = is_internal_load_balancer(r.inputs.get("metadata", {}).get("annotations"))
        if plan.cfg.serving.expose != "internal-load-balancer":
            problems.append(f"Service {r.name} is a LoadBalancer but serving.expose is {plan.cfg.serving.expose!r}")
        elif not internal:
            problems.append(f"Service {r.name} is a LoadBalancer without an internal-load-balancer annotation: "
                            "it would get a public address")
    if problems:
        return Verdict(name, "fail", "; ".join(problems))
    return Verdict(name, "pass", "no public load balancer")
