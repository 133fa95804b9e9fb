"""Validating rendered objects: core kinds against the Kubernetes OpenAPI schema, custom resources
against their operator's CRD schema (from ../shared/crds), both strict about unknown fields."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33"
CRD_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "crds"
CRD_FILES = {("keda.sh", "ScaledObject"): "keda-v2.20.2-scaledobjects.yaml",
             ("ray.io", "RayService"): "kuberay-v1.7.0-ray.io_rayservices.yaml",
             ("ray.io", "RayJob"): "kuberay-v1.7.0-ray.io_rayjobs.yaml",
             ("ray.io", "RayCluster"): "kuberay-v1.7.0-ray.io_rayclusters.yaml"}
# CRDs a cloud installs itself (no chart to take them from): their openAPIV3Schema, kept here with its source.
SCHEMA_DIR = Path(__file__).resolve().parent / "data" / "crds"
SCHEMA_FILES = {("cloud.google.com", "ComputeClass", "v1"): SCHEMA_DIR / "computeclass_v1.yaml"}


def is_core(obj: dict[str, Any]) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return group == "" or group.endswith(".k8s.io") or group in {"apps", "batch", "policy", "autoscaling"}


def _strict(schema: Any) -> Any:
    """Forbid fields the CRD does not declare (the API server would silently prune them)."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any] | None:
    kept = SCHEMA_FILES.get((group, kind, version))
    if kept is not None:
        schema = yaml.safe_load(kept.read_text())
        schema.setdefault("properties", {}).pop("metadata", None)
        return _strict(schema)
    name = CRD_FILES.get((group, kind))
    if name is None or not (CRD_DIR / name).is_file():
        return None
    crd = yaml.safe_load((CRD_DIR / name).read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
            # apiVersion/kind/metadata are checked by the API server itself, not the CRD.
            schema.setdefault("properties", {}).pop("metadata", None)
            return _strict(schema)
    return None


def validate(obj: dict[str, Any]) -> None:
    """Raise if `obj` is not valid; returns quietly for a custom resource with no schema here."""
    if is_core(obj):
        kubernetes_validate.validate(obj, desired_version=KUBERNETES_VERSION, strict=True)
        return
    group, _, version = obj["apiVersion"].rpartition("/")
    schema = crd_schema(group, obj["kind"], version)
    if schema is not None:
        body = {k: v for k, v in obj.items() if k != "metadata"}
        jsonschema.validate(body, schema)
