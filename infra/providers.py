"""The alternatives users weigh against this stack: each provider's published GPU prices, how it bills (per
GPU-second, or whole nodes of its sizes), and where an existing cluster may be priced (`existing.priceAs`).

Data only, dated, with its source; infra/alternatives.py prices a fleet at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.catalog import CATALOG_CLOUDS, GpuKind


@dataclass(frozen=True)
class Alternative:
    """A provider users weigh against this stack, priced the way it bills."""

    name: str
    source: str  # the pricing page and the date its figures were read
    per_gpu_hour: dict[GpuKind, float]  # list USD per GPU-hour; a kind missing here is not offered
    # "per-gpu": billed per second on the GPUs a workload holds (serverless, pods of any GPU count);
    # "node": billed for whole nodes of the provider's sizes, however few of their GPUs are used.
    billing: str = "node"
    node_gpus: dict[GpuKind, tuple[int, ...]] = field(default_factory=dict)  # node sizes in GPUs ("node" billing)
    # Where a node size has its own per-GPU price (Lambda's 1x H100 costs more per GPU than its 8x): size -> price.
    size_prices: dict[GpuKind, dict[int, float]] = field(default_factory=dict)
    key: str = ""  # how config names it (`currentRates.<key>`, `existing.priceAs`); default: the name, lowercased
    price_list: bool = True  # an existing cluster may be priced at it (`existing.priceAs`)
    as_of: str = ""  # the date of its OLDEST figure (a row is as stale as its stalest price)
    # The best discount it advertises for committed use ("up to"): a ceiling, not a quote (None: none published).
    committed_ceiling: float | None = None
    # Per-GPU billing that also bills the container's CPU and memory (Modal): USD per physical core-hour and per
    # GiB-hour of what the container reserves (0: included in the GPU price).
    core_hour: float = 0.0
    gib_hour: float = 0.0
    # Per-GPU billing with a cheaper rate for always-on workers (RunPod Serverless "active"): the models' minimum
    # replicas, kept warm around the clock, bill at it; the replicas above them at `per_gpu_hour`.
    warm_per_gpu_hour: dict[GpuKind, float] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return self.key or self.name.lower()

    def sizes(self, kind: GpuKind) -> tuple[int, ...]:
        """The node sizes (GPUs) it sells `kind` in; per-GPU billing rents any count, so one GPU at a time."""
        return (1,) if self.billing == "per-gpu" else self.node_gpus.get(kind, (8,))

    def price(self, kind: GpuKind, size: int) -> float:
        """USD per GPU-hour of `kind` in nodes of `size` GPUs."""
        return self.size_prices.get(kind, {}).get(size, self.per_gpu_hour[kind])


# Read 2026-11-29/30 with the pages named in each source; a figure older than the page read keeps its own date, and
# each row's `as_of` is its oldest figure's. Most sources are third-party transcriptions of the provider's page
# (named as such); a stack states what it pays with `currentRates`.
ALTERNATIVES: tuple[Alternative, ...] = (
    Alternative(
        "Modal",
        "modal.com/pricing: serverless, billed per second while a container runs (A100-80GB $2.4984/h, H100 "
        "$3.9492/h, L4 $0.7992/h as listed 2026-05-07, per techbytes.app serverless GPU pricing matrix; "
        "A100-40GB $2.10/h from the 2025 page; no 2026 figure for the 40 GB card was found)",
        {GpuKind.A100_40GB: 2.10, GpuKind.A100_80GB: 2.4984, GpuKind.H100_80GB: 3.9492, GpuKind.L4: 0.7992},
        billing="per-gpu", as_of="2025",
        # Besides the GPU, Modal bills CPU at $0.0000131 per physical core-second and memory at $0.00000222 per
        # GiB-second, on the higher of reservation and use (modal.com/pricing as transcribed by the third-party
        # beam.cloud/blog/modal-pricing-explained, "verified June 27, 2026", and finops.apis.io's Modal profile; read
        # 2026-11-30). Modal's `cpu` counts physical cores, not vCPUs (modal.com/docs/guide/resources, read
        # 2026-11-30): a pod's request in vCPUs is half as many physical cores.
        core_hour=0.0000131 * 3600, gib_hour=0.00000222 * 3600,
    ),
    Alternative(
        "RunPod",
        "runpod.io/pricing: Secure Cloud pods of 1-8 GPUs, billed per second (A100-80GB SXM $1.79/h, H100 SXM "
        "$3.99/h read 2026-11-09 per datareceipts 109-gpu-pricing; L4 $0.43/h from the 2025 page)",
        {GpuKind.A100_80GB: 1.79, GpuKind.H100_80GB: 3.99, GpuKind.L4: 0.43},
        billing="per-gpu", as_of="2025",
    ),
    Alternative(
        "RunPod Serverless",
        "docs.runpod.io/serverless/pricing (read 2026-11-30): flex workers billed per second (A100 80GB "
        "$0.00076/s, H100 PRO $0.00116/s, L4 $0.00019/s); active (always-on) workers, the minimum replicas, "
        "at $0.00060/s, $0.00093/s, $0.00013/s",
        {GpuKind.A100_80GB: 0.00076 * 3600, GpuKind.H100_80GB: 0.00116 * 3600, GpuKind.L4: 0.00019 * 3600},
        # Active workers run 24/7 at the page's "Active cost per second" (20-30 % below flex); the newest edition
        # of the page says further discounts are "available through sales inquiry": a stack's own rate goes in
        # `currentRates.runpod-serverless`.
        warm_per_gpu_hour={GpuKind.A100_80GB: 0.00060 * 3600, GpuKind.H100_80GB: 0.00093 * 3600,
                           GpuKind.L4: 0.00013 * 3600},
        billing="per-gpu", key="runpod-serverless", price_list=False, as_of="2026-11-30",
    ),
    Alternative(
        "CoreWeave",
        "coreweave.com/pricing: 8-GPU HGX nodes, billed per minute (docs.coreweave.com billing-and-charges); "
        "HGX H100 $49.24/node-h read 2026-09-20 (third-party api-evangelist coreweave plans), HGX A100 $21.60/node-h "
        "(2025; no newer A100 figure was found)",
        {GpuKind.A100_80GB: 21.60 / 8, GpuKind.H100_80GB: 49.24 / 8},
        node_gpus={GpuKind.A100_80GB: (8,), GpuKind.H100_80GB: (8,)},
        # "up to 60% discounts over our On-Demand prices for committed usage" (coreweave.com/pricing, as transcribed
        # by the third-party api-evangelist/coreweave plans file, read 2026-09-20): a ceiling, not a contract rate.
        committed_ceiling=0.60, as_of="2025",
    ),
    Alternative(
        "Lambda",
        "lambda.ai/pricing: on-demand instances of 1-8 GPUs (H100 SXM 1x $4.29, 8x $3.99 per GPU-h read 2026-09-25 "
        "per the third-party silybench-data; 8x A100 SXM 80GB $2.79 and A100 SXM 40GB $1.99 per GPU-h read "
        "2026-09-20 from lambda.ai/instances per the third-party api-evangelist lambda-labs plans, the 40 GB figure "
        "also for 1x per datareceipts 109-gpu-pricing, read 2026-11-09)",
        {GpuKind.A100_40GB: 1.99, GpuKind.A100_80GB: 2.79, GpuKind.H100_80GB: 3.99},
        node_gpus={GpuKind.A100_40GB: (1, 2, 4, 8), GpuKind.A100_80GB: (8,), GpuKind.H100_80GB: (1, 8)},
        size_prices={GpuKind.H100_80GB: {1: 4.29, 8: 3.99}}, as_of="2026-09-20",
    ),
)
# The header's date: the oldest figure in the table, not the day the pages were read.
ALTERNATIVES_AS_OF = min(a.as_of for a in ALTERNATIVES)
# The alternatives an existing cluster may be priced at (`existing.priceAs`).
PRICE_LIST_ALTERNATIVES = tuple(a for a in ALTERNATIVES if a.price_list)


# Where an existing cluster's GPUs are priced: a cloud's price list or an alternative's published price.
PRICE_SOURCES = (*CATALOG_CLOUDS, *(a.slug for a in PRICE_LIST_ALTERNATIVES))


def alternative(name: str) -> Alternative | None:
    return next((a for a in ALTERNATIVES if name.lower() in (a.slug, a.name.lower())), None)
