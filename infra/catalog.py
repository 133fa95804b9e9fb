"""GPU and machine catalog: what each GPU kind is on each cloud, and what it costs.

Owns: GPU kinds, their memory, the GKE machine shapes that carry them, the list prices the
cost model uses (dated, with their source, overridable from the stack config), CPU machine
prices, and the published per-GPU prices of the alternatives users weigh.

Prices are point-in-time list prices in USD for us-central1. They are not a quote: spot
prices move (GCP may change them daily), regions differ by up to ~40 %, and negotiated or
committed-use discounts are not reflected. Override them per stack with `pricing:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


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
    local_ssds: int  # 375 GiB NVMe disks that come bundled with the machine type
    spot_only: bool = False  # sold only as spot (or flex-start) capacity


@dataclass(frozen=True)
class GpuSpec:
    kind: GpuKind
    memory_gb: int
    gke_accelerator: str  # the value GKE puts in the node label cloud.google.com/gke-accelerator
    gke_shapes: tuple[MachineShape, ...]
    ray_accelerator: str  # Ray's accelerator_type (ray.util.accelerators)

    def gke_shape(self, gpus_per_node: int) -> MachineShape | None:
        return next((s for s in self.gke_shapes if s.gpus == gpus_per_node), None)

    @property
    def gke_gpus_per_node(self) -> tuple[int, ...]:
        return tuple(sorted({s.gpus for s in self.gke_shapes}))


def _a2_high(g: int) -> MachineShape:
    return MachineShape(f"a2-highgpu-{g}g", g, 12 * g, 85.0 * g, 0)


def _a2_ultra(g: int) -> MachineShape:
    return MachineShape(f"a2-ultragpu-{g}g", g, 12 * g, 170.0 * g, g)


def _a3_high(g: int) -> MachineShape:
    return MachineShape(f"a3-highgpu-{g}g", g, 26 * g, 234.0 * g, 2 * g, spot_only=g < 8)


GPUS: dict[GpuKind, GpuSpec] = {
    GpuKind.A100_40GB: GpuSpec(
        GpuKind.A100_40GB, 40, "nvidia-tesla-a100", tuple(_a2_high(g) for g in (1, 2, 4, 8)), "A100"
    ),
    GpuKind.A100_80GB: GpuSpec(
        GpuKind.A100_80GB, 80, "nvidia-a100-80gb", tuple(_a2_ultra(g) for g in (1, 2, 4, 8)), "A100"
    ),
    # a3-highgpu-1g/2g/4g exist for spot and flex-start capacity; 8g for every capacity type.
    GpuKind.H100_80GB: GpuSpec(
        GpuKind.H100_80GB, 80, "nvidia-h100-80gb", tuple(_a3_high(g) for g in (1, 2, 4, 8)), "H100"
    ),
    GpuKind.L4: GpuSpec(
        GpuKind.L4,
        24,
        "nvidia-l4",
        (
            MachineShape("g2-standard-8", 1, 8, 32.0, 0),
            MachineShape("g2-standard-24", 2, 24, 96.0, 0),
            MachineShape("g2-standard-48", 4, 48, 192.0, 0),
            MachineShape("g2-standard-96", 8, 96, 384.0, 0),
        ),
        "L4",
    ),
}


@dataclass(frozen=True)
class GpuPrice:
    """USD per GPU-hour, the whole machine's price divided by its GPUs (host CPU and RAM included)."""

    on_demand: float
    spot: float


PRICES_AS_OF = "2025-06"
PRICES_SOURCE = (
    "cloud.google.com/compute/gpus-pricing, /compute/vm-instance-pricing and /spot-vms/pricing "
    "(us-central1 list prices; spot prices vary)"
)

GKE_GPU_PRICES: dict[GpuKind, GpuPrice] = {
    GpuKind.A100_40GB: GpuPrice(on_demand=3.67, spot=1.10),  # a2-highgpu-1g
    GpuKind.A100_80GB: GpuPrice(on_demand=5.07, spot=1.57),  # a2-ultragpu-1g
    GpuKind.H100_80GB: GpuPrice(on_demand=11.06, spot=2.95),  # a3-highgpu-8g / 8
    GpuKind.L4: GpuPrice(on_demand=0.85, spot=0.34),  # g2-standard-8
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
# GiB of memory per vCPU for each predefined shape suffix.
_MEMORY_PER_VCPU = {"standard": 4.0, "highmem": 8.0, "highcpu": 1.0}
_CPU_MACHINE = re.compile(r"^(?P<family>[a-z0-9]+)-(?P<shape>standard|highmem|highcpu)-(?P<vcpus>\d+)$")


@dataclass(frozen=True)
class CpuMachine:
    machine_type: str
    family: str
    vcpus: int
    memory_gib: float


def parse_cpu_machine(machine_type: str) -> CpuMachine | None:
    """`n2-standard-32` → 32 vCPUs, 128 GiB; None for shapes the catalog does not price."""
    m = _CPU_MACHINE.match(machine_type)
    if not m or m["family"] not in GKE_CPU_PRICES:
        return None
    vcpus = int(m["vcpus"])
    return CpuMachine(machine_type, m["family"], vcpus, vcpus * _MEMORY_PER_VCPU[m["shape"]])


def cpu_machine_price(machine: CpuMachine, spot: bool) -> float:
    p = GKE_CPU_PRICES[machine.family]
    if spot:
        return machine.vcpus * p.spot_vcpu_hour + machine.memory_gib * p.spot_gib_hour
    return machine.vcpus * p.vcpu_hour + machine.memory_gib * p.gib_hour


def cpu_machine_types() -> list[str]:
    return [f"{f}-{s}-<vCPUs>" for f in GKE_CPU_PRICES for s in _MEMORY_PER_VCPU]


@dataclass(frozen=True)
class Alternative:
    name: str
    source: str
    per_gpu_hour: dict[GpuKind, float]  # a kind missing here is not offered


ALTERNATIVES_AS_OF = "2025"
ALTERNATIVES: tuple[Alternative, ...] = (
    Alternative(
        "Modal",
        "modal.com/pricing (serverless, billed per second while running)",
        {GpuKind.A100_40GB: 2.10, GpuKind.A100_80GB: 2.50, GpuKind.H100_80GB: 3.95, GpuKind.L4: 0.80},
    ),
    Alternative(
        "RunPod",
        "runpod.io/pricing (secure cloud, on-demand pods)",
        {GpuKind.A100_80GB: 1.64, GpuKind.H100_80GB: 2.69, GpuKind.L4: 0.43},
    ),
    Alternative(
        "CoreWeave",
        "coreweave.com/pricing (8-GPU HGX nodes, per GPU)",
        {GpuKind.A100_80GB: 2.70, GpuKind.H100_80GB: 6.16},
    ),
    Alternative(
        "Lambda",
        "lambda.ai/service/gpu-cloud (on-demand instances)",
        {GpuKind.A100_40GB: 1.29, GpuKind.A100_80GB: 1.79, GpuKind.H100_80GB: 2.99},
    ),
)
