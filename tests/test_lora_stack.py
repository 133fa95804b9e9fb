"""Issue 18, infra side: `models[].lora` in the stack — config, the serving pods' settings, Ray Serve LLM's
lora_config, and who may write or only read the adapter store."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import yaml

from infra.config import parse_stack_config
from infra.plan import run_plan
from tests.conftest import assert_one_config_error, stack_config, with_mode

LORA = {"source": "bucket:adapters/qwen", "maxRank": 64, "maxLoras": 4}


def with_lora(base: str, lora: dict | None = None, **serving: str) -> dict:
    cfg = copy.deepcopy(stack_config(base))
    cfg["models"][0]["lora"] = dict(lora or LORA)
    if "mode" in serving:
        with_mode(cfg, **serving)
    elif serving:
        cfg["serving"] = {**cfg.get("serving", {}), **serving}
    return cfg


@pytest.fixture(scope="module")
def lora_plan(tmp_path_factory):
    """Plans of a shipped stack with LoRA on its first model, under the shipped stack's name, once per module."""
    cache: dict[tuple, object] = {}

    def plan(base: str, **serving: str):
        key = (base, tuple(sorted(serving.items())))
        if key not in cache:
            folder = tmp_path_factory.mktemp(base)
            doc = {"config": {f"llm-fleet:{k}": v for k, v in with_lora(base, **serving).items()}}
            (folder / f"Pulumi.{base}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
            cache[key] = run_plan(base, folder)
        return cache[key]

    return plan


def container_env(plan, name: str) -> dict[str, str]:
    (dep,) = [o for o in plan.manifests() if o["kind"] == "Deployment" and o["metadata"]["name"] == name]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in c["env"]}


# --- config ------------------------------------------------------------------------------------------------------


def test_bucket_source_resolves_under_the_checkpoint_bucket():
    cfg = parse_stack_config(with_lora("prod"))
    model = cfg.models[0]
    assert cfg.adapter_root(model) == "gs://acme-llm-prod-checkpoints/run/adapters/qwen"
    assert (model.lora.max_rank, model.lora.max_loras, model.lora.name) == (64, 4, "policy")
    assert cfg.adapter_root(cfg.models[0].model_copy(update={"lora": None})) is None


@pytest.mark.parametrize(("lora", "fragments"), [
    ({"source": "bucket:a", "maxRank": 48}, ["models[0].lora.maxRank = 48", "1, 8, 16, 32, 64, 128, 256, 320, 512"]),
    ({"source": "bucket:a", "maxLoras": 1}, ["models[0].lora.maxLoras = 1", "2 or more"]),
    ({"source": "ftp://host/a"}, ["models[0].lora.source = 'ftp://host/a'", "bucket:<prefix>"]),
])
def test_bad_lora_values_are_one_line_naming_key_value_and_allowed(lora, fragments):
    assert_one_config_error(with_lora("prod", lora), fragments)


def test_checkpoint_form_needs_a_checkpoint_bucket():
    raw = with_lora("prod")
    raw["training"].pop("checkpointBucket")
    assert_one_config_error(raw, ["models[0].lora.source = 'bucket:adapters/qwen'", "training.checkpointBucket"])


@pytest.mark.parametrize("mode", ["vllm", "kuberay"])
def test_a_hub_adapter_source_is_refused_with_the_fix(mode):
    # Neither the image's store reader nor Ray Serve LLM reads a hub; polling one from every replica needs egress.
    raw = with_lora("prod", {"source": "hf://acme/policy"}, mode=mode)
    assert_one_config_error(raw, ["models[0].lora.source = 'hf://acme/policy'", "not a hub repository",
                                  "python -m serving.adapter_store publish"])


# --- workloads ---------------------------------------------------------------------------------------------------


def test_vllm_pods_get_the_adapter_settings(lora_plan):
    env = container_env(lora_plan("prod"), "vllm-qwen-7b")
    assert {k: v for k, v in env.items() if "ADAPTER" in k or "LORA" in k} == {
        "SERVING_ADAPTER_ROOT": "gs://acme-llm-prod-checkpoints/run/adapters/qwen", "SERVING_ADAPTER_NAME": "policy",
        "SERVING_MAX_LORA_RANK": "64", "SERVING_MAX_LORAS": "4"}


def test_models_without_lora_get_no_adapter_settings(plan_of):
    env = container_env(plan_of("prod"), "vllm-qwen-7b")
    assert not [k for k in env if "ADAPTER" in k or "LORA" in k]


def test_adapter_settings_parse_with_the_serving_settings(lora_plan, monkeypatch):
    """The env the stack writes is what serving/settings.py reads (the contract's names)."""
    from tests.test_serving_contract import plain_env, settings_from_env

    (dep,) = [o for o in lora_plan("prod").manifests()
              if o["kind"] == "Deployment" and o["metadata"]["name"] == "vllm-qwen-7b"]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    settings = settings_from_env(plain_env(container), monkeypatch)
    assert str(settings.adapter_root) == "gs://acme-llm-prod-checkpoints/run/adapters/qwen"
    assert (settings.adapter_name, settings.max_lora_rank, settings.max_loras) == ("policy", 64, 4)


def test_kuberay_serves_adapters_from_the_versions_folder(lora_plan):
    plan = lora_plan("prod", mode="kuberay")
    (ray,) = [o for o in plan.manifests() if o["kind"] == "RayService"]
    (llm,) = yaml.safe_load(ray["spec"]["serveConfigV2"])["applications"][0]["args"]["llm_configs"]
    # `qwen-7b:<step>` loads <root>/versions/<step>, the contract's version folder.
    assert llm["lora_config"] == {
        "dynamic_lora_loading_path": "gs://acme-llm-prod-checkpoints/run/adapters/qwen/versions",
        "max_num_adapters_per_replica": 4}
    assert {k: llm["engine_kwargs"][k] for k in ("enable_lora", "max_lora_rank", "max_loras")} == {
        "enable_lora": True, "max_lora_rank": 64, "max_loras": 4}
    llm_module = pytest.importorskip("ray.serve.llm", reason="Ray Serve LLM does not import here",
                                     exc_type=ImportError)
    parsed = llm_module.LLMConfig.model_validate(llm)
    assert parsed.lora_config.max_num_adapters_per_replica == 4
    verdicts = {v.guard: v for v in plan.verdicts}
    assert verdicts["workloads-have-their-own-identity"].status == "pass"
    # The Ray GPU workers read the store, the RayJob's trainer writes it.
    assert verdicts[ACCESS_GUARD].status == "pass", verdicts[ACCESS_GUARD].message


# --- identities: the trainer writes the store, serving only reads it --------------------------------------------


def test_gke_serving_reads_and_trainer_writes_the_adapter_bucket(lora_plan):
    plan = lora_plan("prod")
    grants = {(r.inputs["member"].split(":")[1].split("@")[0], r.inputs["role"])
              for r in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
              if r.inputs["bucket"] == "acme-llm-prod-checkpoints"}
    assert grants == {("llm-fleet-prod-serving", "roles/storage.objectViewer"),
                      ("llm-fleet-prod-training", "roles/storage.objectUser")}
    assert {v.guard: v.status for v in plan.verdicts}["workloads-have-their-own-identity"] == "pass"


def test_eks_serving_reads_only_the_adapter_prefix(lora_plan):
    plan = lora_plan("eks-prod")
    (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r.inputs.get("description") == "IRSA: llm-serving/"
               "model-server"]
    (policy,) = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.parent == role.urn]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    adapters = [s for s in statements if "acme-llm-prod-checkpoints" in json.dumps(s)]
    assert adapters == [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::acme-llm-prod-checkpoints",
         "Condition": {"StringLike": {"s3:prefix": ["run/adapters/qwen", "run/adapters/qwen/*"]}}},
        {"Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": "arn:aws:s3:::acme-llm-prod-checkpoints/run/adapters/qwen/*"}]


# --- the guard: who writes the store ----------------------------------------------------------------------------

ACCESS_GUARD = "adapter-store-written-by-trainer-only"


def access_verdict(plan, resources=None):
    from infra.guards.adapter_access import adapter_store_written_by_trainer_only
    from infra.guards.base import StackPlan

    if resources is None:
        (v,) = [v for v in plan.verdicts if v.guard == ACCESS_GUARD]
        return v
    return adapter_store_written_by_trainer_only(StackPlan(plan.cfg, {}, plan.cost, tuple(resources)))


def test_trainer_is_told_where_to_publish(lora_plan):
    (job,) = [o for o in lora_plan("prod").manifests() if o["kind"] == "Job"]
    (c,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["ADAPTER_ROOT"] == env["ADAPTER_ROOT_QWEN_7B"] == "gs://acme-llm-prod-checkpoints/run/adapters/qwen"
    assert env["ADAPTER_BASE_MODEL"] == "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize("base", ["prod", "eks-prod"])
def test_guard_passes_when_trainer_writes_and_serving_reads(lora_plan, base):
    v = access_verdict(lora_plan(base))
    assert v.status == "pass", v.message
    assert "adapters/qwen" in v.message


def test_guard_fails_a_serving_account_that_may_write_on_gke(lora_plan):
    plan = lora_plan("prod")

    def widen(r):
        if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember" and "serving" in r.inputs["member"]:
            return dataclasses.replace(r, inputs={**r.inputs, "role": "roles/storage.objectUser"})
        return r

    v = access_verdict(plan, [widen(r) for r in plan.resources])
    assert v.status == "fail"
    assert "serving account llm-serving/model-server may write the adapter store gs://acme-llm-prod-checkpoints/run/" \
           "adapters/qwen" in v.message


def test_guard_fails_a_serving_role_allowed_to_put_on_eks(lora_plan):
    plan = lora_plan("eks-prod")
    serving = {r.urn for r in plan.of_type("aws:iam/role:Role")
               if r.inputs.get("description") == "IRSA: llm-serving/model-server"}

    def put(r):
        if r.type == "aws:iam/rolePolicy:RolePolicy" and r.parent in serving:
            doc = json.loads(r.inputs["policy"])
            doc["Statement"].append({"Effect": "Allow", "Action": "s3:Put*",
                                     "Resource": "arn:aws:s3:::acme-llm-prod-checkpoints/run/*"})
            return dataclasses.replace(r, inputs={**r.inputs, "policy": json.dumps(doc)})
        return r

    v = access_verdict(plan, [put(r) for r in plan.resources])
    assert v.status == "fail" and "llm-serving/model-server may write" in v.message


def test_guard_fails_a_trainer_that_cannot_write_the_store_on_eks(lora_plan):
    plan = lora_plan("eks-prod")
    trainer = {r.urn for r in plan.of_type("aws:iam/role:Role")
               if r.inputs.get("description") == "IRSA: llm-training/trainer"}

    def read_only(r):
        if r.type == "aws:iam/rolePolicy:RolePolicy" and r.parent in trainer:
            doc = json.loads(r.inputs["policy"])
            for s in doc["Statement"]:
                s["Action"] = [a for a in s["Action"] if a in ("s3:GetObject", "s3:ListBucket")]
            return dataclasses.replace(r, inputs={**r.inputs, "policy": json.dumps(doc)})
        return r

    v = access_verdict(plan, [read_only(r) for r in plan.resources])
    assert v.status == "fail" and "trainer account llm-training/trainer cannot write" in v.message


def test_guard_passes_stacks_without_adapters(plan_of):
    assert access_verdict(plan_of("prod")).status == "pass"


# --- the guard: LoRA slots fit the GPU memory budget ------------------------------------------------------------


def memory_verdict(lora: dict, **model: object):
    from infra.guards.base import StackPlan
    from infra.guards.lora_memory import lora_slots_fit_gpu_memory

    raw = with_lora("prod", lora)
    raw["models"][0].update(model)
    return lora_slots_fit_gpu_memory(StackPlan(parse_stack_config(raw), {}, None))


def test_adapter_slots_are_sized_from_published_model_shapes():
    from infra.guards.lora_memory import elements_per_rank, lora_slot_gb

    # Qwen2.5-7B's own shape: 28 layers x (9 x 3584 + 2 x 512 + 3 x 18944) elements per unit of rank.
    assert elements_per_rank(7.62e9) == pytest.approx(28 * (9 * 3584 + 2 * 512 + 3 * 18944))
    # Between shapes: monotone, and Llama-3.1-8B's real 2.62 M (32 x 81920) within 5 %.
    assert elements_per_rank(8.03e9) == pytest.approx(32 * (9 * 4096 + 2 * 1024 + 3 * 14336), rel=0.05)
    model = parse_stack_config(with_lora("prod")).models[0]  # qwen-7b, 7.6B bfloat16, rank 64, 4 slots
    assert lora_slot_gb(model) == pytest.approx(2.523e6 * 64 * 4 * 2 / 1e9, rel=0.01)  # ~1.29 GB


def test_memory_guard_passes_qwen_7b_with_four_rank_64_slots_on_an_a100_40gb():
    v = memory_verdict(LORA)
    assert v.status == "pass"
    assert "4 x rank 64 adapter slots take ~1.3 GB beside 15.2 GB of weights; 28.8 GB usable" in v.message


def test_memory_guard_fails_slots_that_eat_the_kv_floor():
    # 512 x 16 slots of a 7.6B model: ~41 GB of LoRA weights on a 40 GB GPU.
    v = memory_verdict({"source": "bucket:a", "maxRank": 512, "maxLoras": 16})
    assert v.status == "fail"
    assert v.message.startswith("models[0].lora (qwen-7b): 16 x rank 512 adapter slots take ~41.3 GB")
    assert "lower maxLoras or maxRank" in v.message


# --- dashboard and alerts ---------------------------------------------------------------------------------------


def alert_rules(plan) -> dict[str, dict]:
    return {r["alert"]: r for o in plan.manifests() if o["kind"] in ("Rules", "PrometheusRule")
            for g in o["spec"]["groups"] for r in g["rules"]}


def test_dashboard_shows_each_replicas_adapter(lora_plan):
    plan = lora_plan("prod")
    (dashboard,) = plan.of_type("gcp:monitoring/dashboard:Dashboard")
    widgets = {w["title"]: w["xyChart"]["dataSets"][0]["timeSeriesQuery"]["prometheusQuery"]
               for w in json.loads(dashboard.inputs["dashboardJson"])["gridLayout"]["widgets"]}
    cluster = plan.of_type("gcp:container/cluster:Cluster")[0].inputs["name"]
    step = widgets["Adapter step per replica"]
    assert step == f'max by (model, instance) (llm_fleet_adapter_step{{cluster="{cluster}",namespace="llm-serving"}})'
    for title in ("Adapter published age (s)", "Adapter load (s)", "Adapter load failures (1h)"):
        assert "llm_fleet_adapter_" in widgets[title] and f'cluster="{cluster}"' in widgets[title]


def test_stacks_without_adapters_keep_their_dashboard_and_alerts(plan_of):
    plan = plan_of("prod")
    (dashboard,) = plan.of_type("gcp:monitoring/dashboard:Dashboard")
    assert "llm_fleet_adapter" not in dashboard.inputs["dashboardJson"]
    assert not [a for a in alert_rules(plan) if "Adapter" in a]


def test_alerts_on_a_failed_load_and_on_replicas_serving_different_steps(lora_plan):
    rules = alert_rules(lora_plan("prod"))
    failed, diverge = rules["LLMFleetAdapterLoadFailed"], rules["LLMFleetAdapterVersionsDiverge"]
    assert "increase(llm_fleet_adapter_load_failures_total{" in failed["expr"] and failed["expr"].endswith("> 0")
    assert diverge["expr"].startswith("max by (model) (llm_fleet_adapter_step{")
    assert "!= min by (model) (llm_fleet_adapter_step{" in diverge["expr"] and diverge["for"] == "10m"
    assert 'namespace="llm-serving"' in diverge["expr"]


def test_grafana_panels_name_the_replica(tmp_path):
    from infra.workloads.observability import dashboard_json, panel_queries

    panels = json.loads(dashboard_json(panel_queries(adapters=True)))["panels"]
    legends = {p["title"]: p["targets"][0]["legendFormat"] for p in panels}
    assert legends["Adapter step per replica"] == "{{model}} {{instance}}"
    assert legends["Running requests"] == "{{model_name}}"
