"""Issue 14 (infra side): the gateway in the stack. prod routes qwen-7b to its own replicas first, then to Together;
a provider-only model needs no GPU; the flows to and from the gateway are proven; keys never appear in plain text."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.spec import from_json
from infra.config import ConfigError, parse_engine_config, parse_stack_config
from infra.flows import evaluate
from infra.plan import read_stack_file, run_plan
from tests.conftest import assert_one_config_error, stack_config

LOCAL_QWEN = "http://vllm-qwen-7b.llm-serving.svc.cluster.local:8000/v1"
GATEWAY_URL = "http://gateway.llm-gateway.svc.cluster.local:4000/v1"
PLAIN_KEY = "tgp_v1_" + "x" * 40  # a provider key's shape, not a real one


def objects(plan, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return [m for m in plan.manifests() if m.get("kind") == kind
            and (namespace is None or m["metadata"].get("namespace") == namespace)]


def spec_of(plan):
    (config,) = [c for c in objects(plan, "ConfigMap", "llm-gateway") if c["metadata"]["name"] == "gateway-config"]
    return from_json(config["data"]["spec.json"])


def plan_stack(tmp_path: Path, stack: str, raw: dict[str, Any], extra: dict[str, Any] | None = None):
    doc = {"config": {**{f"llm-fleet:{k}": v for k, v in raw.items()}, **(extra or {})}}
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return run_plan(stack, tmp_path)


# --- prod as shipped ----------------------------------------------------------------------------------------------

def test_prod_routes_its_model_to_its_own_replicas_first_then_to_the_provider(plan_of):
    spec = spec_of(plan_of("prod"))
    (route,) = spec.routes
    assert route.model == "qwen-7b"
    assert [(b.name, b.kind, b.base_url, b.model) for b in route.backends] == [
        ("local", "local", LOCAL_QWEN, "qwen-7b"),
        ("provider-together", "provider", "https://api.together.xyz/v1", "Qwen/Qwen2.5-7B-Instruct-Turbo")]
    # The local replicas want the stack's model API key; Together its own, mounted from gateway-backend-keys.
    assert route.backends[0].api_key_file == spec.client_key_file == "/etc/llm-fleet/api-key/api-key"
    assert route.backends[1].api_key_file == "/var/run/llm-fleet/backend-keys/provider-together"
    assert (route.backends[1].usd_per_1m_input_tokens, route.backends[1].usd_per_1m_output_tokens) == (0.30, 0.30)
    assert spec.policy.overflow_queue_depth == 8 and spec.port == 4000


def test_prod_gateway_deployment_runs_the_launcher_restricted_with_the_keys_as_files(plan_of):
    plan = plan_of("prod")
    (deployment,) = objects(plan, "Deployment", "llm-gateway")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "gateway", "--spec", "/etc/llm-fleet/gateway/spec.json",
                                    "--port", "4000"]
    assert "@sha256:" in container["image"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert not container.get("env"), "no key (nor anything else) in the gateway's env"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/llm-fleet/gateway", "/etc/llm-fleet/api-key", "/var/run/llm-fleet/backend-keys"} <= mounts
    assert pod["serviceAccountName"] == "gateway" and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (secret,) = [s for s in objects(plan, "Secret", "llm-gateway") if s["metadata"]["name"] == "gateway-backend-keys"]
    assert set(secret["stringData"]) == {"provider-together"}
    (hpa,) = objects(plan, "HorizontalPodAutoscaler", "llm-gateway")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    (pdb,) = objects(plan, "PodDisruptionBudget", "llm-gateway")
    assert pdb["spec"]["maxUnavailable"] == 1  # with 2 pods at least, one always serves through a drain
    (service,) = objects(plan, "Service", "llm-gateway")
    assert service["spec"]["ports"][0]["port"] == 4000
    assert plan.outputs["gatewayUrl"] == GATEWAY_URL


def test_prod_gateway_pods_outlast_their_endpoints_and_spread_over_nodes_and_zones(plan_of):
    (deployment,) = objects(plan_of("prod"), "Deployment", "llm-gateway")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    wait = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep" and wait >= 5
    request_timeout = 600  # prod's serving.gateway.requestTimeoutS default: a stream may run that long
    assert pod["terminationGracePeriodSeconds"] >= wait + request_timeout
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == [
        "topology.kubernetes.io/zone", "kubernetes.io/hostname"]


def test_prod_model_pods_overflow_past_the_configured_queue_depth(plan_of):
    (model,) = objects(plan_of("prod"), "Deployment", "llm-serving")
    env = {e["name"]: e.get("value") for e in model["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SERVING_OVERFLOW_QUEUE_DEPTH"] == "8"


def test_prod_gateway_paths_are_needed_and_allowed(plan_of):
    plan = plan_of("prod")
    flows = {(str(r.flow.source), str(r.flow.destination), r.port): r for r in evaluate(plan.cfg, plan.resources)}
    to_model = flows[("llm-gateway/gateway", "llm-serving/vllm-qwen-7b", 8000)]
    out = [r for (src, _, port), r in flows.items() if src == "llm-gateway/gateway" and port == 443]
    assert to_model.allowed and [r.allowed for r in out] == [True]
    assert flows[("scrapers in gmp-system", "llm-gateway/gateway", 4000)].allowed
    # prod's rollout workers call the gateway (rollout.viaGateway), so failover and overflow cover them; the flow
    # is needed and allowed, and they no longer call the model directly.
    assert flows[("llm-rollout/rollout-worker", "llm-gateway/gateway", 4000)].allowed
    assert ("llm-rollout/rollout-worker", "llm-serving/vllm-qwen-7b", 8000) not in flows
    (worker,) = objects(plan, "Deployment", "llm-rollout")
    env = {e["name"]: e.get("value") for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OPENAI_BASE_URL"] == GATEWAY_URL
    (policy,) = [p for p in objects(plan, "NetworkPolicy", "llm-gateway") if p["spec"].get("ingress")]
    admitted = [value for rule in policy["spec"]["ingress"] for peer in rule["from"]
                for expr in peer["namespaceSelector"]["matchExpressions"] for value in expr["values"]]
    assert admitted == ["llm-rollout", "gmp-system"]  # the callers, then the scraper
    assert plan.ok


# --- config: refusals with their fix ------------------------------------------------------------------------------

def _with_fallback(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(stack_config("prod"))
    raw["models"][0]["fallbacks"][0].update(changes)
    return raw


def test_an_http_provider_is_refused_with_the_https_fix():
    assert_one_config_error(_with_fallback(url="http://api.together.xyz/v1"), [
        "models[0].fallbacks[0].url", "http://", "allowed: an https:// URL", "https://api.together.xyz/v1"])


def test_a_provider_without_its_price_or_key_is_refused():
    raw = _with_fallback()
    del raw["models"][0]["fallbacks"][0]["usdPer1MOutputTokens"]
    assert_one_config_error(raw, ["models[0].fallbacks[0]", "usdPer1MOutputTokens"])


def test_a_key_named_but_not_set_says_the_command():
    raw = stack_config("prod")
    del raw["togetherApiKey"]
    assert_one_config_error(raw, ["models[0].fallbacks[0].apiKey", "'llm-fleet:togetherApiKey'",
                                  "pulumi config set --secret llm-fleet:togetherApiKey"])


def test_a_plain_text_provider_key_is_refused_in_prod(tmp_path):
    raw = stack_config("prod")
    raw["togetherApiKey"] = PLAIN_KEY
    doc = {"config": {f"llm-fleet:{k}": v for k, v in raw.items()}}
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    config, secret_keys = read_stack_file("prod", tmp_path)
    with pytest.raises(ConfigError) as err:
        parse_engine_config(config, stack="prod", secret_keys=secret_keys)
    (line,) = err.value.problems
    assert "togetherApiKey" in line and "models[0].fallbacks[0].apiKey names it" in line
    assert "pulumi config set --secret llm-fleet:togetherApiKey <value> --stack prod" in line
    assert PLAIN_KEY not in line


def test_a_key_in_dev_reaches_only_the_secret_never_a_configmap_or_env(tmp_path):
    # dev accepts a plain-text key (with a warning); even then it is only in the Secret, never in a rendered file.
    raw = copy.deepcopy(stack_config("prod"))
    dev = stack_config("dev")
    dev["models"][0]["fallbacks"] = raw["models"][0]["fallbacks"]
    dev["models"][0]["fallbacks"][0]["model"] = "Qwen/Qwen2.5-1.5B-Instruct"
    dev["serving"]["gateway"] = {}
    dev["togetherApiKey"] = PLAIN_KEY
    plan = plan_stack(tmp_path, "dev", dev)
    # Rendered objects as the plan shows them: the Secret's value is a Pulumi secret output (masked), so the key is
    # in no ConfigMap, no env value, no annotation, nowhere in what a reviewer or `kubectl get -o yaml` of a
    # non-Secret object sees.
    assert [m["kind"] for m in plan.manifests() if PLAIN_KEY in json.dumps(m)] == []
    (secret,) = [s for s in objects(plan, "Secret", "llm-gateway") if s["metadata"]["name"] == "gateway-backend-keys"]
    assert list(secret["stringData"]) == ["provider-together"]
    assert any("togetherApiKey" in n and "accepted in dev only" in n for n in plan.notes)


def test_fallbacks_need_a_gateway():
    raw = stack_config("prod")
    del raw["serving"]["gateway"]
    del raw["rollout"]["viaGateway"]  # a line of its own: below
    assert_one_config_error(raw, ["models[0].fallbacks", "no serving.gateway", "add serving.gateway"])


def test_rollouts_via_a_gateway_need_one():
    raw = stack_config("staging")
    raw["rollout"]["viaGateway"] = True
    assert_one_config_error(raw, ["rollout.viaGateway = true", "no serving.gateway", "drop rollout.viaGateway"])


def test_the_gateway_needs_its_image():
    raw = stack_config("prod")
    del raw["artifacts"]["gatewayImage"]
    assert_one_config_error(raw, ["artifacts.gatewayImage", "required with serving.gateway"])


def test_the_gateway_keeps_two_pods_in_prod_by_default():
    raw = stack_config("prod")
    raw["serving"]["gateway"] = {}
    cfg = parse_stack_config(raw)
    assert cfg.serving.gateway is not None and cfg.serving.gateway.replicas.min == 2
    dev = stack_config("dev")
    dev["serving"]["gateway"] = {}
    assert parse_stack_config(dev).serving.gateway.replicas.min == 1


# --- tiered hosting: a model served by its provider only -----------------------------------------------------------

def test_a_provider_only_model_has_no_gpu_pool_and_no_deployment_and_is_routed_out(plan_of):
    plan = plan_of("dev-provider")
    assert plan.cfg.models == () and [m.name for m in plan.cfg.provider_models] == ["qwen-7b"]
    assert [p.pool for p in plan.cost.pools if p.gpu] == []
    assert objects(plan, "Deployment", "llm-serving") == [] and objects(plan, "ScaledObject") == []
    (route,) = spec_of(plan).routes
    assert [(b.kind, b.base_url, b.model) for b in route.backends] == [
        ("provider", "https://api.together.xyz/v1", "Qwen/Qwen2.5-7B-Instruct-Turbo")]
    # The rollout workers call it by the same name through the same URL as prod's clients do its own replicas.
    (worker,) = objects(plan, "Deployment", "llm-rollout")
    env = {e["name"]: e.get("value") for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LLM_FLEET_URL_QWEN_7B"] == GATEWAY_URL == plan_of("prod").outputs["gatewayUrl"]
    assert plan.ok


def test_a_provider_only_model_costs_its_tokens_at_the_provider_rate(plan_of):
    cost = plan_of("dev-provider").cost
    assert cost.gateway is not None
    (backend,) = cost.gateway.backends
    # 20M prompt and 2.56M output tokens a day at $0.30 per 1M each: $6.00 + $0.768.
    assert (backend.backend, backend.share) == ("provider-together", 1.0)
    assert backend.daily_expected == pytest.approx(6.768)
    # ... on top of the pools and fees, every day of the profile (the gateway's pods run on the system pool).
    assert cost.expected is not None and cost.expected.daily == pytest.approx(
        sum(p.hourly_min * 24 for p in cost.pools) + sum(f.daily_min for f in cost.fees) + 6.768, rel=0.02)


def test_a_provider_only_model_refuses_gpu_keys():
    raw = stack_config("prod")
    raw["models"][0]["provider"] = {"name": "together", "url": "https://api.together.xyz/v1", "model": "m",
                                    "usdPer1MInputTokens": 1, "usdPer1MOutputTokens": 1,
                                    "apiKey": "llm-fleet:togetherApiKey"}
    assert_one_config_error(raw, ["models[0]", "provider 'together' and", "gpu", "a provider-only model has no GPU"])


def test_prod_costs_the_gateway_pods_and_its_overflow_share_on_the_provider(plan_of):
    cost = plan_of("prod").cost
    assert cost.gateway is not None
    (backend,) = cost.gateway.backends
    tokens = next(t for t in cost.expected.tokens if t.model == "qwen-7b")
    # 5 % of the output qwen-7b's replicas serve over the week, at Together's $0.30 per 1M; prompt tokens unknown.
    assert backend.share == 0.05 and backend.input_tokens_per_day is None
    assert backend.daily_expected == pytest.approx(tokens.tokens_per_week / 7 * 0.05 * 0.30 / 1e6)
    assert any("inputTokensPerDay" in n for n in cost.notes)
    from infra.cost_lines import cost_lines
    lines = {line.name: line for line in cost_lines(cost)}
    assert lines["gateway qwen-7b on provider-together"].values[1] == pytest.approx(backend.daily_expected)
    assert lines["gateway pods (of pool system)"].values[0] == pytest.approx(2 * cost.gateway.pod_hourly * 24)


# --- guards -------------------------------------------------------------------------------------------------------

def _guard_on_config(raw: dict[str, Any]):
    from infra.guards.gateway import prod_models_have_a_fallback
    from infra.program import stack_plan

    return prod_models_have_a_fallback(stack_plan(parse_stack_config(raw)))


def test_a_prod_model_behind_the_gateway_needs_a_fallback_or_a_reason():
    raw = stack_config("prod")
    raw["models"][0].pop("fallbacks")
    raw.pop("togetherApiKey")
    verdict = _guard_on_config(raw)
    assert verdict.status == "fail" and "models[0] qwen-7b: no fallback" in verdict.message
    assert "models[].fallbacksNone" in verdict.message
    raw["models"][0]["fallbacksNone"] = "data may not leave the region"
    assert _guard_on_config(raw).status == "pass"
    staging = stack_config("staging")
    staging["serving"] = {**staging.get("serving", {}), "gateway": {}}
    assert _guard_on_config(staging).status == "pass"  # below prod, fallbacks are optional


def _caller_verdict(raw: dict[str, Any]):
    from infra.guards.gateway import gateway_has_a_caller
    from infra.program import stack_plan

    return gateway_has_a_caller(stack_plan(parse_stack_config(raw)))


@pytest.mark.parametrize("stack", ["prod", "eks-prod", "dev-provider"])
def test_a_gateway_nobody_may_call_fails_naming_the_keys_and_the_fix(stack):
    raw = stack_config(stack)
    raw["rollout"].pop("viaGateway")
    verdict = _caller_verdict(raw)
    assert verdict.status == "fail"  # in every tier: a config guard, so `pulumi up` refuses before declaring
    for key in ("serving.gateway", "rollout.viaGateway", "serving.apiAccessFrom", "admits only the metrics scraper",
                "set rollout.viaGateway: true", "drop serving.gateway"):
        assert key in verdict.message, (key, verdict.message)
    if stack != "dev-provider":  # prod's 5 % overflow on Together is priced for a gateway nobody calls
        assert "the cost table prices 5% of the models' tokens on their fallbacks" in verdict.message
    raw["serving"]["apiAccessFrom"] = ["llm-apps"]
    assert _caller_verdict(raw).message == "may be called by llm-apps (serving.apiAccessFrom)"
    raw["serving"]["apiAccessFrom"] = ["llm-gateway"]  # the gateway's own namespace is no client
    assert _caller_verdict(raw).status == "fail"


def test_the_shipped_gateways_have_callers_and_a_stack_without_one_passes():
    assert _caller_verdict(stack_config("prod")).message == "may be called by llm-rollout (rollout.viaGateway)"
    assert _caller_verdict(stack_config("staging")).message == "no gateway (serving.gateway)"


def test_a_fleet_region_is_called_by_its_peers(tmp_path):
    from infra.guards.gateway import gateway_has_a_caller
    from infra.program import stack_plan

    fleet = Path(__file__).resolve().parent.parent / "examples" / "fleet"
    for path in fleet.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text().replace("    viaGateway: true\n", ""))
    cfg = parse_engine_config(read_stack_file("prod-eu", tmp_path)[0], stack="prod-eu", root=tmp_path)
    verdict = gateway_has_a_caller(stack_plan(cfg))
    assert verdict.status == "pass"
    assert verdict.message == ("may be called by the fleet's peers from 10.10.0.0/20, 10.16.0.0/14, 10.60.0.0/20, "
                               "10.64.0.0/14 (regions)")


def test_an_http_backend_in_the_rendered_routing_table_fails_the_guard(plan_of):
    from infra.guards.gateway import gateway_backends_are_https
    from tests.conftest import with_object_edited

    def downgrade(inputs):
        inputs["data"]["spec.json"] = inputs["data"]["spec.json"].replace("https://api.together", "http://api.together")

    plan = plan_of("prod")
    assert gateway_backends_are_https(with_object_edited(plan, "ConfigMap", "gateway-config", lambda i: None)
                                      ).status == "pass"
    verdict = gateway_backends_are_https(with_object_edited(plan, "ConfigMap", "gateway-config", downgrade))
    assert verdict.status == "fail"
    assert "qwen-7b -> provider-together at http://api.together.xyz/v1" in verdict.message


def test_a_key_in_a_configmap_or_env_fails_the_guard(plan_of):
    from infra.guards.gateway import no_key_in_plain_text
    from tests.conftest import with_object_edited

    plan = plan_of("prod")

    def leak_in_config(inputs):
        inputs["data"]["notes"] = "backup key sk-" + "a" * 32

    def leak_in_env(inputs):
        container = inputs["spec"]["template"]["spec"]["containers"][0]
        container["env"] = [{"name": "TOGETHER_KEY", "value": "sk-" + "b" * 32}]

    verdict = no_key_in_plain_text(with_object_edited(plan, "ConfigMap", "gateway-config", leak_in_config))
    assert verdict.status == "fail"
    assert "ConfigMap llm-gateway/gateway-config data.notes (an API key)" in verdict.message
    verdict = no_key_in_plain_text(with_object_edited(plan, "Deployment", "gateway", leak_in_env))
    assert verdict.status == "fail" and "container gateway env TOGETHER_KEY" in verdict.message


# --- dashboard and alerts -------------------------------------------------------------------------------------------

def _rule_groups(plan) -> dict[str, list[dict[str, Any]]]:
    (rules,) = [m for m in plan.manifests() if m.get("kind") in ("Rules", "PrometheusRule")]
    return {g["name"]: g["rules"] for g in rules["spec"]["groups"]}


def test_prod_alerts_when_more_than_a_tenth_of_a_model_is_on_fallbacks_for_15_minutes(plan_of):
    rules = {r["alert"]: r for r in _rule_groups(plan_of("prod"))["llm-fleet-gateway"]}
    on_fallback = rules["LLMFleetGatewayOnFallback"]
    assert on_fallback["for"] == "15m" and on_fallback["expr"].endswith("> 0.1")
    # The share of each model's requests answered by a backend other than its own replicas, in this stack only.
    assert 'model_id!~".+/local"' in on_fallback["expr"] and "sum by (model)" in on_fallback["expr"]
    assert 'namespace="llm-gateway"' in on_fallback["expr"] and 'cluster="llm-fleet-prod"' in on_fallback["expr"]
    assert "LLMFleetGatewayBackendFailing" in rules


def test_a_provider_only_model_is_never_on_fallback(plan_of):
    rules = {r["alert"]: r for r in _rule_groups(plan_of("dev-provider"))["llm-fleet-gateway"]}
    assert 'model_id!~"(qwen-7b)/.+"' in rules["LLMFleetGatewayOnFallback"]["expr"]


def test_the_dashboard_shows_each_backend(plan_of):
    from infra.workloads.observability import GATEWAY_PANELS, panel_queries

    queries = dict(panel_queries(gateway='namespace="llm-gateway"'))
    assert set(GATEWAY_PANELS) <= set(queries)
    # LiteLLM's own series (the failover test reads them from the real proxy), split into model and backend.
    for metric in ("litellm_deployment_total_requests_total", "litellm_deployment_failure_responses_total",
                   "litellm_deployment_successful_fallbacks_total", "litellm_llm_api_latency_metric_bucket",
                   "litellm_input_tokens_metric_total", "litellm_output_tokens_metric_total"):
        assert any(metric in q and 'namespace="llm-gateway"' in q for q in queries.values()), metric
    assert '"backend", "$1", "model_id", ".+/([^/]+)"' in queries["Gateway failures/s per backend"]
    assert "litellm_" not in json.dumps(dict(panel_queries()))  # no gateway, no gateway panels
    prod = json.dumps([r.inputs for r in plan_of("prod").resources if "dashboard" in r.name])
    assert prod.count("litellm_deployment_total_requests_total") == 1


def test_on_an_existing_cluster_the_gateway_runs_on_its_system_nodes_and_the_guards_say_so(tmp_path):
    raw = stack_config("coreweave-prod")
    prod = stack_config("prod")
    raw["serving"] = {**raw.get("serving", {}), "gateway": prod["serving"]["gateway"]}
    raw["models"][0]["fallbacks"] = prod["models"][0]["fallbacks"]
    raw["togetherApiKey"] = prod["togetherApiKey"]
    raw["artifacts"]["gatewayImage"] = raw["artifacts"]["servingImage"].replace("vllm-serving", "gateway")
    raw["rollout"]["viaGateway"] = True
    plan = plan_stack(tmp_path, "coreweave-prod", raw)
    (gateway,) = objects(plan, "Deployment", "llm-gateway")
    assert gateway["spec"]["template"]["spec"].get("nodeSelector", {}) == {}  # coreweave names no system nodes
    verdict = {v.guard: v for v in plan.verdicts}["autoscaling-fits-pool"]
    assert verdict.status == "pass"
    assert "existing cluster's own system nodes" in verdict.message and "gateway (at most 6 x" in verdict.message
    assert plan.ok


def test_a_changed_route_or_key_rolls_the_gateway_pods(tmp_path):
    from infra.workloads.gateway import CONFIG_HASH_ANNOTATION, config_hash

    def rendered_hash(raw):
        folder = tmp_path / f"s{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        (gateway,) = objects(plan_stack(folder, "prod", raw), "Deployment", "llm-gateway")
        return gateway["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]

    raw = stack_config("prod")
    first = rendered_hash(raw)
    assert rendered_hash(copy.deepcopy(raw)) == first  # the same inputs: no restart
    moved = copy.deepcopy(raw)
    moved["serving"]["gateway"]["cooldownS"] = 45
    assert rendered_hash(moved) != first  # a changed policy or route
    # A rotated key (the offline plan masks every secret the same way, so checked on the digest itself).
    assert config_hash("{}", {"provider-together": "key-1"}) != config_hash("{}", {"provider-together": "key-2"})
    assert "key-1" not in config_hash("{}", {"provider-together": "key-1"})


def test_the_gateway_waits_for_a_system_node_rather_than_evict_the_clusters_own_services(plan_of):
    plan = plan_of("prod")
    (deployment,) = objects(plan, "Deployment", "llm-gateway")
    name = deployment["spec"]["template"]["spec"]["priorityClassName"]
    (priority,) = [m for m in plan.manifests() if m["kind"] == "PriorityClass" and m["metadata"]["name"] == name]
    assert priority["preemptionPolicy"] == "Never"  # KEDA, the operators, Prometheus (priority 0) share its pool
    assert priority["value"] >= 100_000  # still first in the queue for a new system node


def _drain_verdict(raw: dict[str, Any]):
    from infra.guards.gateway import drain_outlasts_gateway_requests
    from infra.program import stack_plan

    return drain_outlasts_gateway_requests(stack_plan(parse_stack_config(raw)))


def test_behind_a_gateway_replicas_drain_as_long_as_its_longest_request(plan_of):
    (model,) = [d for d in objects(plan_of("prod"), "Deployment", "llm-serving")]
    pod = model["spec"]["template"]["spec"]
    (engine,) = [c for c in pod["containers"] if c["name"] == "vllm"]
    env = {e["name"]: e.get("value") for e in engine["env"]}
    # prod sets no drain: it follows the gateway's default requestTimeoutS (600 s), and the pod's grace covers it.
    assert env["SERVING_DRAIN_TIMEOUT_S"] == "600" and pod["terminationGracePeriodSeconds"] > 600
    raw = stack_config("prod")
    raw["serving"]["gateway"]["requestTimeoutS"] = 300
    assert parse_stack_config(raw).serving.drain_timeout_seconds == 300
    raw["serving"]["gateway"]["requestTimeoutS"] = 45  # never below the drain's own default
    assert parse_stack_config(raw).serving.drain_timeout_seconds == 120
    assert parse_stack_config(stack_config("staging")).serving.drain_timeout_seconds == 120  # no gateway


def test_a_drain_set_shorter_than_the_gateway_requests_fails_in_prod_and_warns_below():
    raw = stack_config("prod")
    raw["serving"]["drainTimeoutSeconds"] = 120  # set by hand: kept, and the guard says what it cuts
    verdict = _drain_verdict(raw)
    assert verdict.status == "fail", verdict
    for part in ("serving.drainTimeoutSeconds = 120 s", "serving.gateway.requestTimeoutS = 600 s", "qwen-7b",
                 "set serving.drainTimeoutSeconds: 600", "lower serving.gateway.requestTimeoutS to 120"):
        assert part in verdict.message, (part, verdict.message)
    raw["serving"]["gateway"]["requestTimeoutS"] = 120
    assert _drain_verdict(raw).status == "pass"
    staging = stack_config("staging")
    staging["serving"] = {**staging.get("serving", {}), "gateway": {}, "drainTimeoutSeconds": 60}
    assert _drain_verdict(staging).status == "warn"
    assert _drain_verdict(stack_config("dev-provider")).message == "no vLLM replicas behind a gateway"
