"""Every rendered object of every stack is schema-valid: core kinds against Kubernetes 1.33, CRDs
against the operators' own CRD schemas (KEDA v2.20.2, KubeRay v1.7.0 from ../shared/crds)."""

from __future__ import annotations

import jsonschema
import pytest

from tests.k8s_schema import CRD_DIR, crd_schema, is_core, validate


def test_core_objects_are_valid_kubernetes(shipped_plan):
    core = [o for o in shipped_plan.manifests() if is_core(o)]
    kinds = {o["kind"] for o in core}
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "Namespace", "ResourceQuota",
            "LimitRange", "PriorityClass", "HorizontalPodAutoscaler", "Job", "Secret"} <= kinds
    for obj in core:
        validate(obj)


SERVED_MODEL = {"dev": "vllm-qwen-1b5", "staging": "vllm-qwen-7b", "prod": "vllm-qwen-7b"}


@pytest.mark.skipif(not (CRD_DIR / "keda-v2.20.2-scaledobjects.yaml").is_file(),
                    reason=f"KEDA CRD schema not found in {CRD_DIR} (the shared/ folder beside the checkout)")
def test_scaled_objects_match_the_keda_crd(shipped_plan):
    scaled = [o for o in shipped_plan.manifests() if o["kind"] == "ScaledObject"]
    # Each shipped stack serves one model as a plain Deployment, which KEDA scales.
    assert [o["metadata"]["name"] for o in scaled] == [SERVED_MODEL[shipped_plan.stack]]
    for obj in scaled:
        validate(obj)


@pytest.mark.skipif(not (CRD_DIR / "keda-v2.20.2-scaledobjects.yaml").is_file(), reason="KEDA CRD schema not found")
def test_crd_validation_catches_a_misspelt_field(plan_of):
    obj = next(o for o in plan_of("prod").manifests() if o["kind"] == "ScaledObject")
    broken = {**obj, "spec": {**obj["spec"], "maxReplicas": 3}}  # KEDA spells it maxReplicaCount
    with pytest.raises(jsonschema.ValidationError, match="maxReplicas"):
        validate(broken)
    assert crd_schema("keda.sh", "ScaledObject", "v1alpha1") is not None
