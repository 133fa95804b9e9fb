"""GPU and machine catalog: what each GPU kind is on each cloud, and what it costs.

Owns: GPU kinds, their memory, the machine shapes that carry them on each cloud (GKE machine
types, EC2 instance types) with their GPUs per node, the list prices the cost model uses
(per cloud, dated, with their source, overridable from the stack config), CPU machine prices,
the node labels GPU nodes carry on clusters we did not build (NVIDIA GPU operator, CoreWeave),
and the clouds' list prices; the alternatives users weigh are in infra/providers.py.

Prices are point-in-time list prices in USD (GKE: us-central1, EKS: us-east-1). They are not
a quote: spot prices move (daily or faster), regions differ by up to ~40 %, and negotiated prices are
not reflected. Override them per stack with `pricing:`; committed prices are a pool's `commitment`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# Ray's prefix for accelerator resources (ray._private.ray_constants.RESOURCE_CONSTRAINT_PREFIX): Serve LLM asks for
# `accelerator_type:<LLMConfig.accelerator_type>` in each replica's placement-group bundle
# (ray/llm/_internal/serve/core/configs/accelerators.py, GPUAccelerator.default_bundles).
RAY_ACCELERATOR_PREFIX = "accelerator_type:"

# The clouds whose machines this catalog knows. An existing cluster has no catalog of its own:
# it describes its nodes in its config and is priced at a price list the user names.
CATALOG_CLOUDS = ("gke", "eks")


class GpuKind(StrEnum):
    A100_40GB = "A100-40GB"
    A100_80GB = "A100-80GB"
    H100_80GB = "H100-80GB"
    L4 = "L4"


@dataclass(frozen=True)
class MachineShape:
    """One machine type that carries GPUs, with what a node of it offers."""

    machine_type: str
    gpus: int
    vcpus: int
    memory_gib: float
    local_ssds: int  # NVMe disks that come bundled with the machine type
    spot_only: bool = False  # sold only as spot (or flex-start) capacity
    local_ssd_gib: int = 375  # size of each bundled disk (GCP local SSDs are 375 GiB)

    @property
    def local_nvme_gib(self) -> int:
        return self.local_ssds * self.local_ssd_gib


@dataclass(frozen=True)
class GpuSpec:
    kind: GpuKind
    memory_gb: int
    gke_accelerator: str  # the value GKE puts in the node label cloud.google.com/gke-accelerator
    shapes: dict[str, tuple[MachineShape, ...]]  # per cloud; the first shape per GPU count is the default
    # Ray's accelerator_type (ray.util.accelerators), distinct per kind: what a worker group advertises as the custom
    # resource `accelerator_type:<it>` and what a Serve LLM config asks for.
    ray_accelerator: str
    gpu_operator_product: str  # the NVIDIA GPU operator's (GPU feature discovery) nvidia.com/gpu.product label
    coreweave_class: str | None  # CoreWeave's gpu.nvidia.com/class label; None: CoreWeave does not sell it
    # What Ray detects by itself on such a node (`accelerator_type:<it>` from the NVML name: ray
    # _private/accelerators/nvidia_gpu.py maps both "NVIDIA A100-SXM4-40GB" and "...-80GB" to "A100").
    ray_detected: str = ""

    @property
    def ray_resource(self) -> str:
        """The Ray custom resource a GPU worker group of this kind advertises (Ray's own prefix)."""
        return f"{RAY_ACCELERATOR_PREFIX}{self.ray_accelerator}"

    def shape(self, cloud: str, gpus_per_node: int, machine_type: str | None = None) -> MachineShape | None:
        """The machine for this many GPUs on `cloud`: the named one, else the catalog's default."""
        return next((s for s in self.shapes.get(cloud, ()) if s.gpus == gpus_per_node
                     and (machine_type is None or s.machine_type == machine_type)), None)

    def shape_named(self, cloud: str, machine_type: str) -> MachineShape | None:
        return next((s for s in self.shapes.get(cloud, ()) if s.machine_type == machine_type), None)

    def gpus_per_node(self, cloud: str) -> tuple[int, ...]:
        """The node sizes (in GPUs) `cloud` sells this GPU in: GPUs are bought a whole node at a time."""
        return tuple(sorted({s.gpus for s in self.shapes.get(cloud, ())}))

    def machine_types(self, cloud: str) -> tuple[str, ...]:
        return tuple(s.machine_type for s in self.shapes.get(cloud, ()))

    @property
    def accelerator_name(self) -> str:
        """The usual lowercase accelerator name (nvidia-tesla-a100, nvidia-h100-80gb, nvidia-l4): GKE's spelling.

        cluster-autoscaler reads it from `k8s.amazonaws.com/accelerator` on AWS: the label marks a GPU node.
        """
        return self.gke_accelerator


def _a2_high(g: int) -> MachineShape:
    return MachineShape(f"a2-highgpu-{g}g", g, 12 * g, 85.0 * g, 0)


def _a2_ultra(g: int) -> MachineShape:
    return MachineShape(f"a2-ultragpu-{g}g", g, 12 * g, 170.0 * g, g)


def _a3_high(g: int) -> MachineShape:
    return MachineShape(f"a3-highgpu-{g}g", g, 26 * g, 234.0 * g, 2 * g, spot_only=g < 8)


# EC2 GPU instances (docs.aws.amazon.com/ec2/latest/instancetypes/ac.html). AWS sells A100s only
# as 8-GPU p4d/p4de machines: on EKS an A100 pool grows 8 GPUs at a time.
_P4D = MachineShape("p4d.24xlarge", 8, 96, 1152.0, 8, local_ssd_gib=931)  # 8 x 1000 GB NVMe
_P4DE = MachineShape("p4de.24xlarge", 8, 96, 1152.0, 8, local_ssd_gib=931)
_P5_1 = MachineShape("p5.4xlarge", 1, 16, 256.0, 1, local_ssd_gib=3576)  # 1 x 3.84 TB NVMe
_P5_8 = MachineShape("p5.48xlarge", 8, 192, 2048.0, 8, local_ssd_gib=3576)
_G6 = (  # L4; the first of each GPU count is the default, the others more host CPU/RAM per GPU
    MachineShape("g6.2xlarge", 1, 8, 32.0, 1, local_ssd_gib=419),  # 1 x 450 GB NVMe
    MachineShape("g6.xlarge", 1, 4, 16.0, 1, local_ssd_gib=232),
    MachineShape("g6.4xlarge", 1, 16, 64.0, 1, local_ssd_gib=558),
    MachineShape("g6.8xlarge", 1, 32, 128.0, 2, local_ssd_gib=419),
    MachineShape("g6.16xlarge", 1, 64, 256.0, 2, local_ssd_gib=873),
    MachineShape("g6.12xlarge", 4, 48, 192.0, 4, local_ssd_gib=875),
    MachineShape("g6.24xlarge", 4, 96, 384.0, 4, local_ssd_gib=875),
    MachineShape("g6.48xlarge", 8, 192, 768.0, 8, local_ssd_gib=875),
)

GPUS: dict[GpuKind, GpuSpec] = {
    GpuKind.A100_40GB: GpuSpec(
        GpuKind.A100_40GB, 40, "nvidia-tesla-a100",
        {"gke": tuple(_a2_high(g) for g in (1, 2, 4, 8)), "eks": (_P4D,)},
        "A100-40G", "NVIDIA-A100-SXM4-40GB", "A100_NVLINK", "A100",
    ),
    GpuKind.A100_80GB: GpuSpec(
        GpuKind.A100_80GB, 80, "nvidia-a100-80gb",
        {"gke": tuple(_a2_ultra(g) for g in (1, 2, 4, 8)), "eks": (_P4DE,)},
        "A100-80G", "NVIDIA-A100-SXM4-80GB", "A100_NVLINK_80GB", "A100",
    ),
    # a3-highgpu-1g/2g/4g exist for spot and flex-start capacity; 8g for every capacity type.
    GpuKind.H100_80GB: GpuSpec(
        GpuKind.H100_80GB, 80, "nvidia-h100-80gb",
        {"gke": tuple(_a3_high(g) for g in (1, 2, 4, 8)), "eks": (_P5_1, _P5_8)},
        "H100", "NVIDIA-H100-80GB-HBM3", "H100_NVLINK_80GB", "H100",
    ),
    GpuKind.L4: GpuSpec(
        GpuKind.L4,
        24,
        "nvidia-l4",
        {
            "gke": (
                MachineShape("g2-standard-8", 1, 8, 32.0, 0),
                MachineShape("g2-standard-24", 2, 24, 96.0, 0),
                MachineShape("g2-standard-48", 4, 48, 192.0, 0),
                MachineShape("g2-standard-96", 8, 96, 384.0, 0),
            ),
            "eks": _G6,
        },
        "L4", "NVIDIA-L4", None, "L4",
    ),
}


# Where each GPU machine family is sold, per region: the zones a node pool of it may span. A zone missing here
# fails node pool creation ("machine type not available in zone"). Read 2026-11-29 from the Compute Engine API's
# per-zone machine types as published in github.com/skypilot-org/skypilot-catalog catalogs/v8/gcp/vms.csv
# (commit 8427bbff988abdd050a9f51addd314ef31cb4e85), which lists the same zones as GCP's "GPU regions and zones"
# page (cloud.google.com/compute/docs/gpus/gpu-regions-zones). Every size of a family is sold in the same zones.
# AWS is left out on purpose: in its older regions (us-east-1 among them) zone NAMES map to different physical
# zones per account (docs.aws.amazon.com/global-infrastructure/latest/regions/az-ids.html), so only
# `aws ec2 describe-instance-type-offerings --location-type availability-zone` in the deploying account knows.
GPU_FAMILY_ZONES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "gke": {
        "a2-highgpu": {  # A100 40GB
            "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
            "us-east1": ("us-east1-b",),
            "us-west1": ("us-west1-b",),
            "europe-west4": ("europe-west4-a", "europe-west4-b"),
            # Same file at master, read 2026-11-30 (the multi-region example's prod-asia).
            "asia-northeast1": ("asia-northeast1-a", "asia-northeast1-c"),
        },
        "a2-ultragpu": {  # A100 80GB
            "us-central1": ("us-central1-a", "us-central1-c"),
            "us-east4": ("us-east4-c",),
            "us-east5": ("us-east5-a", "us-east5-b"),
            "europe-west4": ("europe-west4-a",),
        },
        "a3-highgpu": {  # H100 80GB
            "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c"),
            "us-east4": ("us-east4-a", "us-east4-b", "us-east4-c"),
            "us-east5": ("us-east5-a",),
            "us-west1": ("us-west1-a", "us-west1-b"),
            "us-west4": ("us-west4-a",),
            "europe-west4": ("europe-west4-b", "europe-west4-c"),
        },
        "g2-standard": {  # L4
            "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c"),
            "us-east1": ("us-east1-b", "us-east1-c", "us-east1-d"),
            "us-east4": ("us-east4-a", "us-east4-c"),
            "us-west1": ("us-west1-a", "us-west1-b", "us-west1-c"),
            "us-west4": ("us-west4-a", "us-west4-c"),
            "europe-west4": ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
        },
    },
}


def machine_family(machine_type: str) -> str:
    """`a3-highgpu-1g` → `a3-highgpu`, `g2-standard-8` → `g2-standard`, `p4d.24xlarge` → `p4d`."""
    return machine_type.rsplit("-", 1)[0] if "-" in machine_type else machine_type.split(".", 1)[0]


def zones_selling(cloud: str, machine_type: str, region: str) -> tuple[str, ...] | None:
    """The zones of `region` where `cloud` sells `machine_type`; None where the catalog does not know."""
    return GPU_FAMILY_ZONES.get(cloud, {}).get(machine_family(machine_type), {}).get(region)


HOURS_PER_MONTH = 730  # the billing convention: 8,760 hours / 12 (a per-month rate / 730 = per hour)


@dataclass(frozen=True)
class GpuPrice:
    """USD per GPU-hour, the whole machine's price divided by its GPUs (host CPU and RAM included)."""

    on_demand: float
    spot: float


GKE_GPU_PRICES: dict[GpuKind, GpuPrice] = {
    GpuKind.A100_40GB: GpuPrice(on_demand=3.67, spot=1.10),  # a2-highgpu-1g
    GpuKind.A100_80GB: GpuPrice(on_demand=5.07, spot=1.57),  # a2-ultragpu-1g
    # Spot: a3-highgpu-1g in us-central1, $6.571/h all-in (GPU $5.8632 + 26 vCPUs + 234 GiB) from the Cloud Billing
    # catalog as read 2026-09-26 by the third-party silybench-data (derived/csv/gpu_prices.csv); the 2025-06 figure
    # ($2.95) was stale. Google's page now promises discounts "up to 91%" and lets spot prices change daily
    # (cloud.google.com/spot-vms/pricing, read 2026-11-30): state what you see with `pricing.H100-80GB.spot`.
    # On demand: 2025-06 (the same catalog read gives $10.98 for the 1g shape, within 1 %).
    GpuKind.H100_80GB: GpuPrice(on_demand=11.06, spot=6.571),  # a3-highgpu-8g / 8 = a3-highgpu-1g
    GpuKind.L4: GpuPrice(on_demand=0.85, spot=0.34),  # g2-standard-8
}
# After AWS's June 2025 cut of P4/P5 on-demand prices. Spot: typical us-east-1 prices that month.
EKS_GPU_PRICES: dict[GpuKind, GpuPrice] = {
    GpuKind.A100_40GB: GpuPrice(on_demand=2.75, spot=1.20),  # p4d.24xlarge $21.96/h / 8
    GpuKind.A100_80GB: GpuPrice(on_demand=3.43, spot=1.50),  # p4de.24xlarge $27.45/h / 8
    GpuKind.H100_80GB: GpuPrice(on_demand=6.88, spot=2.90),  # p5.48xlarge $55.04/h / 8 (p5.4xlarge alike)
    GpuKind.L4: GpuPrice(on_demand=0.98, spot=0.40),  # g6.2xlarge $0.9776/h
}


@dataclass(frozen=True)
class CpuFamilyPrice:
    vcpu_hour: float
    gib_hour: float
    spot_vcpu_hour: float
    spot_gib_hour: float


GKE_CPU_PRICES: dict[str, CpuFamilyPrice] = {
    "e2": CpuFamilyPrice(0.021811, 0.002923, 0.00654, 0.000877),
    "n2": CpuFamilyPrice(0.031611, 0.004237, 0.00773, 0.001036),
    "n2d": CpuFamilyPrice(0.027502, 0.003686, 0.00646, 0.000866),
    "c3": CpuFamilyPrice(0.03465, 0.003938, 0.00575, 0.00077),
}
# EC2 prices whole instances, linear in size within these families: $/vCPU-hour with memory included
# (m7i.large $0.1008/h, c7i.large $0.08925/h, r7i.large $0.1323/h, ...). Spot: typical us-east-1.
EKS_CPU_PRICES: dict[str, CpuFamilyPrice] = {
    "m7i": CpuFamilyPrice(0.0504, 0.0, 0.0200, 0.0),
    "c7i": CpuFamilyPrice(0.044625, 0.0, 0.0170, 0.0),
    "r7i": CpuFamilyPrice(0.06615, 0.0, 0.0250, 0.0),
    "m6i": CpuFamilyPrice(0.048, 0.0, 0.0190, 0.0),
    "c6i": CpuFamilyPrice(0.0425, 0.0, 0.0160, 0.0),
    "r6i": CpuFamilyPrice(0.063, 0.0, 0.0240, 0.0),
}


@dataclass(frozen=True)
class PriceList:
    """One cloud's list prices: per GPU-hour by kind, per CPU family, and where they came from."""

    cloud: str
    as_of: str
    source: str
    gpu: dict[GpuKind, GpuPrice]
    cpu: dict[str, CpuFamilyPrice]
    seller: str  # who sells the machines, as the cost notes name it ("AWS sells A100-40GB in nodes of 8")


PRICE_LISTS: dict[str, PriceList] = {
    "gke": PriceList(
        "gke", "2025-06",  # the oldest figure's date (the H100 spot price is from 2026-09-26)
        "cloud.google.com/compute/gpus-pricing, /compute/vm-instance-pricing and /spot-vms/pricing "
        "(us-central1 list prices; spot prices vary)",
        GKE_GPU_PRICES, GKE_CPU_PRICES, "GKE"),
    "eks": PriceList(
        "eks", "2025-06",
        "aws.amazon.com/ec2/pricing/on-demand and /ec2/spot/pricing (us-east-1 list prices after the June 2025 "
        "P4/P5 reduction; spot prices vary; control plane, NAT and disks: the fee lines, infra/fees.py)",
        EKS_GPU_PRICES, EKS_CPU_PRICES, "AWS"),
}
# The small on-demand pool for cluster services, per cloud (4 vCPUs, 16 GiB on both).
SYSTEM_MACHINE_TYPE = {"gke": "e2-standard-4", "eks": "m7i.xlarge"}
# The cloud's built-in internal L7 GatewayClass (KubeRay's incremental upgrade routes through it).
# EKS has none until a Gateway API controller is installed; existing clusters have their own.
INTERNAL_GATEWAY_CLASS = {"gke": "gke-l7-rilb"}

# GiB of memory per vCPU for each predefined shape suffix (GKE) or family letter (EC2).
_MEMORY_PER_VCPU = {"standard": 4.0, "highmem": 8.0, "highcpu": 1.0}
_EC2_MEMORY_PER_VCPU = {"m": 4.0, "c": 2.0, "r": 8.0}
_EC2_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48,
              "16xlarge": 64, "24xlarge": 96, "48xlarge": 192}
_CPU_MACHINE = re.compile(r"^(?P<family>[a-z0-9]+)-(?P<shape>standard|highmem|highcpu)-(?P<vcpus>\d+)$")
_EC2_MACHINE = re.compile(r"^(?P<family>[a-z][0-9][a-z]*)\.(?P<size>[0-9]*x?large)$")
CPU_MACHINE_SYNTAX = {
    "gke": f"({'|'.join(GKE_CPU_PRICES)})-(standard|highmem|highcpu)-<vCPUs>",
    "eks": f"({'|'.join(EKS_CPU_PRICES)}).({'|'.join(_EC2_SIZES)})",
}


@dataclass(frozen=True)
class CpuMachine:
    machine_type: str
    cloud: str  # whose price list prices it
    family: str
    vcpus: int
    memory_gib: float


def parse_cpu_machine(machine_type: str, cloud: str | None = None) -> CpuMachine | None:
    """`n2-standard-32` → 32 vCPUs, 128 GiB (GKE); `m7i.8xlarge` → 32 vCPUs, 128 GiB (EC2).

    None for shapes the catalog does not price, or (with `cloud`) that this cloud does not sell.
    """
    m = _CPU_MACHINE.match(machine_type)
    if m and m["family"] in GKE_CPU_PRICES and cloud in (None, "gke"):
        vcpus = int(m["vcpus"])
        return CpuMachine(machine_type, "gke", m["family"], vcpus, vcpus * _MEMORY_PER_VCPU[m["shape"]])
    m = _EC2_MACHINE.match(machine_type)
    if m and m["family"] in EKS_CPU_PRICES and m["size"] in _EC2_SIZES and cloud in (None, "eks"):
        vcpus = _EC2_SIZES[m["size"]]
        return CpuMachine(machine_type, "eks", m["family"], vcpus, vcpus * _EC2_MEMORY_PER_VCPU[m["family"][0]])
    return None


def cpu_machine_price(machine: CpuMachine, spot: bool) -> float:
    p = PRICE_LISTS[machine.cloud].cpu[machine.family]
    if spot:
        return machine.vcpus * p.spot_vcpu_hour + machine.memory_gib * p.spot_gib_hour
    return machine.vcpus * p.vcpu_hour + machine.memory_gib * p.gib_hour
