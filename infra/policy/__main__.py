"""Entry point of the policy pack: `pulumi preview --policy-pack infra/policy` (the Pulumi CLI runs this file)."""

import sys
from pathlib import Path

# The pack runs from its own folder; the guards live in the project two levels up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from pulumi_policy import PolicyPack

from infra.policy import PACK_NAME, policies_for_running_stack

PolicyPack(name=PACK_NAME, policies=policies_for_running_stack())
