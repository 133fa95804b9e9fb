"""What a stack prices but does not buy: capacity reservations its pools consume and the commitments (GCP
committed use discounts, AWS Savings Plans or Reserved Instances, a provider contract) its cost table counts.

They are bought once, outside Pulumi, by whoever holds the billing account; the plan says so, so nobody takes the
committed $/day for something `pulumi up` arranged.
"""

from __future__ import annotations

from infra.config import StackConfig

# How each plan is bought (the product pages the catalog's rates cite: infra/commitments.py).
_HOW = {
    "gcp": "a GPU committed use discount attached to that reservation (Cloud console > Committed use discounts, or "
           "`gcloud compute commitments create … --reservations`)",
    "aws": "the Savings Plan or Reserved Instances (AWS Billing console > Savings Plans / Reserved Instances)",
    "contract": "the reserved terms with the cluster's provider",
    "reservation": "the reservation itself",
}


def purchase_notes(cfg: StackConfig) -> tuple[str, ...]:
    """One line per reservation a pool consumes and per commitment it is priced at."""
    notes = []
    for pool in cfg.node_pools:
        if pool.capacity == "reservation" and pool.reservation is not None:
            where = f" in zone {pool.zones[0]}" if pool.zones and len(pool.zones) == 1 else ""
            notes.append(f"pool {pool.name} consumes reservation {pool.reservation!r}: it must exist{where} before "
                         "`pulumi up` (the stack does not create it), holding at least the pool's minNodes of its "
                         "machine type")
        if pool.commitment is not None:
            kind = pool.commitment.plan.split("-")[0] if pool.commitment.plan.startswith(("gcp", "aws")) \
                else pool.commitment.plan
            notes.append(f"pool {pool.name}: commitment {pool.commitment.plan} for {pool.commitment.nodes} node(s) "
                         f"is priced here but not bought by `pulumi up`: buy {_HOW[kind]} before counting on its "
                         "rate")
    return tuple(notes)
