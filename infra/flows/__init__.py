"""Network flows: the paths the stack needs, and whether the rendered policies and firewalls allow them.

All pure functions of the config and the planned resources (inputs as a provider receives them), so `plan`, the
policy pack and `plan --json` see the same answer:

- `needed_flows` (needed.py): every path something needs (source, destination, port, why), from what the stack renders
  (rendered.py reads the planned resources).
- `evaluate` (evaluation.py): each needed path against the NetworkPolicies (network_policy.py, Kubernetes semantics)
  and, for traffic from outside the pod network, the cloud's firewalls (firewalls.py).
- `open_paths` (unneeded.py): paths open that no one needs.

The types (peers, flows, verdicts) are in model.py.

What this cannot see: traffic that never touches a policy we render (Helm charts' own NetworkPolicies are not rendered
here), and whether the cluster enforces NetworkPolicy at all (another guard's job).
"""

from infra.flows.evaluation import evaluate
from infra.flows.model import Addresses, Pods
from infra.flows.needed import needed_flows
from infra.flows.unneeded import open_paths

__all__ = ["Addresses", "Pods", "evaluate", "needed_flows", "open_paths"]
