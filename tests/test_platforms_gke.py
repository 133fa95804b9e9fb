"""GKE pool facts: what workloads will select on and fit into, computed without a cloud."""

from __future__ import annotations

import pytest

from infra.config import parse_stack_config
from infra.platforms.gke import gke_pool_facts
from infra.platforms.nodes import gke_allocatable
from tests.conftest import stack_config


@pytest.mark.parametrize(("vcpus", "mem", "cpu_alloc", "mem_alloc"), [
    # GKE's documented reservations: 1 vCPU keeps 0.94; 4 GiB keeps 3 GiB minus the 100 MiB eviction margin
    (1, 4.0, 0.94, 2.9),
    (12, 85.0, 12 - (0.06 + 0.01 + 2 * 0.005 + 8 * 0.0025), 85.0 - (1 + 0.8 + 0.8 + 0.06 * 69) - 100 / 1024),
    (96, 384.0, 96 - (0.06 + 0.01 + 2 * 0.005 + 92 * 0.0025),
     384.0 - (1 + 0.8 + 0.8 + 0.06 * 112 + 0.02 * 256) - 100 / 1024),
])
def test_allocatable_follows_gke_reservations(vcpus, mem, cpu_alloc, mem_alloc):
    cpu, memory = gke_allocatable(vcpus, mem)
    assert cpu == pytest.approx(cpu_alloc, abs=0.01)
    assert memory == pytest.approx(mem_alloc, abs=0.01)


def test_gpu_pool_facts_carry_selector_taint_and_shape():
    facts = gke_pool_facts(parse_stack_config(stack_config("prod")))
    a100 = facts["a100-serving"]
    assert a100.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100",
                                  "llm-fleet.dev/pool": "a100-serving"}
    assert a100.taints[0].key == "nvidia.com/gpu" and a100.taints[0].effect == "NoSchedule"
    assert (a100.machine_type, a100.gpus_per_node, a100.max_gpus) == ("a2-highgpu-1g", 1, 12)
    # a2-highgpu-1g: 12 vCPUs, 85 GiB. GKE keeps 0.06 + 0.01 + 2 x 0.005 + 8 x 0.0025 = 0.10 cores, and
    # 1 + 0.8 + 0.8 + 0.06 x 69 = 6.74 GiB plus the 100 MiB eviction threshold: 11.90 cores, 78.16 GiB for pods.
    assert a100.allocatable_cpu == pytest.approx(11.90, abs=0.005)
    assert a100.allocatable_memory_gib == pytest.approx(78.16, abs=0.005)
    assert facts["rollout"].gpu is None and facts["rollout"].taints == ()
    assert facts["system"].purpose == "system"


def test_configured_taints_are_added_to_the_gpu_taint():
    raw = stack_config("prod")
    raw["nodePools"][0]["taints"] = [{"key": "team", "value": "ml", "effect": "NoExecute"}]
    facts = gke_pool_facts(parse_stack_config(raw))
    assert [(t.key, t.effect) for t in facts["a100-serving"].taints] == [("nvidia.com/gpu", "NoSchedule"),
                                                                           ("team", "NoExecute")]


def test_a_pool_held_to_one_zone_gets_nodes_only_there(make_stack):
    from infra.plan import run_plan

    root, name = make_stack("prod", lambda c: c["nodePools"][0].update(zones=["us-central1-c"]))
    pools = {r.name: r.inputs for r in run_plan(name, root).of_type("gcp:container/nodePool:NodePool")}
    assert pools["gke-pool-a100-serving"]["nodeLocations"] == ["us-central1-c"]
    # the others keep every zone of the cluster (gcp.zones in Pulumi.prod.yaml)
    assert pools["gke-pool-rollout"]["nodeLocations"] == ["us-central1-a", "us-central1-c", "us-central1-f"]
