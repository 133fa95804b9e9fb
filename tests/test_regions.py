"""Several regions as one fleet (issue 15): examples/fleet's Fleet.prod.yaml and its three region stacks."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from infra.config import ConfigError, parse_engine_config
from infra.config.fleetfile import REGIONAL_KEYS
from infra.config.loading import merge_fleet
from infra.fleet_view import _checks, plan_fleet
from infra.plan import read_stack_file, run_plan
from tests.conftest import ROOT, git
from tests.tls_testkit import make_ca

FLEET = ROOT / "examples" / "fleet"
REGIONS = ("prod-us", "prod-eu", "prod-asia")
NEW_DIGEST = "sha256:6d2a9f4e1c8b7a5d3f0e2c4b6a8d0f1e3c5b7a9d2f4e6c8a0b1d3f5e7c9a2b4d"  # staging's serving image


def config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["config"]


def parse(stack: str, root: Path = FLEET):
    """The region's config as `pulumi up` reads it: its engine values, merged with its fleet from `root`."""
    return parse_engine_config(read_stack_file(stack, root)[0], stack=stack, root=root)


@pytest.fixture
def fleet_copy(tmp_path) -> Path:
    for path in FLEET.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_region_files_hold_only_regional_keys_and_secrets_and_the_fleet_file_none():
    for stack in REGIONS:
        keys = {k.split(":", 1)[1] for k, v in config(FLEET / f"Pulumi.{stack}.yaml").items()
                if not (isinstance(v, dict) and set(v) == {"secure"})}
        assert keys <= REGIONAL_KEYS, (stack, keys - REGIONAL_KEYS)
    assert not {k.split(":", 1)[1] for k in config(FLEET / "Fleet.prod.yaml")} & REGIONAL_KEYS


def test_regions_differ_only_in_regional_keys_and_their_peers():
    merged = {s: merge_fleet(read_stack_file(s, FLEET)[0], s, FLEET) for s in REGIONS}
    us = merged["prod-us"]
    for stack in REGIONS[1:]:
        differ = {k.split(":", 1)[1] for k in set(us) | set(merged[stack]) if us.get(k) != merged[stack].get(k)}
        # models differ only in the peers added for each region, regions only in the peers' ranges filled in;
        # secrets' names follow the peers.
        assert differ - {"models", "regions"} <= \
            REGIONAL_KEYS | {"prodUsGatewayKey", "prodEuGatewayKey", "prodAsiaGatewayKey"}
        def shared(regions: str) -> list[dict]:  # what the merge fills in per region left out
            return [{k: v for k, v in r.items() if k not in ("networks", "own", "callsMe")}
                    for r in json.loads(regions)]

        assert shared(us["llm-fleet:regions"]) == shared(merged[stack]["llm-fleet:regions"])
        assert [r["stack"] for r in json.loads(merged[stack]["llm-fleet:regions"]) if r.get("own")] == [stack]
    models = {s: parse(s).models[0] for s in REGIONS}
    assert [f.backend_name for f in models["prod-eu"].fallbacks] == \
        ["peer-prod-us", "peer-prod-asia", "provider-together"]
    assert models["prod-us"].model_dump(exclude={"fallbacks"}) == models["prod-asia"].model_dump(exclude={"fallbacks"})


def test_each_region_gets_the_others_as_peers_with_their_key_as_a_secret():
    cfg = parse("prod-us")
    peers = [f for f in cfg.models[0].fallbacks if f.peer is not None]
    assert [(f.peer, f.url, f.api_key) for f in peers] == [
        ("prod-eu", "https://gateway.prod-eu.internal.acme.example/v1", "llm-fleet:prodEuGatewayKey"),
        ("prod-asia", "https://gateway.prod-asia.internal.acme.example/v1", "llm-fleet:prodAsiaGatewayKey")]
    assert "llm-fleet:prodEuGatewayKey" in cfg.backend_keys


@pytest.mark.parametrize("move, fragments", [
    # a shared key in a region file
    (lambda root: edit(root / "Pulumi.prod-eu.yaml", "config:\n", "config:\n  llm-fleet:traffic: {timezone: UTC}\n"),
     ["llm-fleet:traffic", "Pulumi.prod-eu.yaml", "Fleet.prod.yaml", "move it to Fleet.prod.yaml"]),
    # a regional key in the fleet file
    (lambda root: edit(root / "Fleet.prod.yaml", "config:\n", "config:\n  llm-fleet:systemPool: {maxNodes: 3}\n"),
     ["llm-fleet:systemPool", "Fleet.prod.yaml", "Pulumi.prod-eu.yaml", "regional", "move it to Pulumi.prod-eu.yaml"]),
    # a shared key in both
    (lambda root: edit(root / "Pulumi.prod-eu.yaml", "config:\n", "config:\n  llm-fleet:tier: prod\n"),
     ["llm-fleet:tier", "both", "Pulumi.prod-eu.yaml", "Fleet.prod.yaml", "remove it from Pulumi.prod-eu.yaml"]),
])
def test_a_key_in_the_wrong_file_is_one_line_naming_both_files_and_the_fix(fleet_copy, move, fragments):
    move(fleet_copy)
    with pytest.raises(ConfigError) as err:
        parse("prod-eu", fleet_copy)
    assert len(err.value.problems) == 1, err.value.problems
    assert all(f in err.value.problems[0] for f in fragments), err.value.problems[0]


def test_a_secret_in_the_fleet_file_is_refused(fleet_copy):
    edit(fleet_copy / "Fleet.prod.yaml", "config:\n", "config:\n  llm-fleet:hfToken:\n    secure: AAAB\n")
    with pytest.raises(ConfigError) as err:
        parse("prod-us", fleet_copy)
    assert err.value.problems == ["config error: llm-fleet:hfToken: in Fleet.prod.yaml, but it is a secret (encrypted "
                                  "per stack); move it to Pulumi.prod-us.yaml (and each region file of the fleet)"]


def test_artifacts_that_drift_between_regions_are_refused_naming_region_and_key(fleet_copy):
    edit(fleet_copy / "Pulumi.prod-asia.yaml", "qwen-7b: a09a35458c702b33eeacc393d103063234e8bc28",
         "qwen-7b: 0000000000000000000000000000000000000000")
    with pytest.raises(ConfigError) as err:
        parse("prod-us", fleet_copy)
    assert len(err.value.problems) == 1
    line = err.value.problems[0]
    assert "llm-fleet:artifacts.modelRevisions.qwen-7b" in line and "region prod-asia" in line
    assert "a09a35458c702b33eeacc393d103063234e8bc28" in line and "promote <source> prod" in line


def test_a_hand_written_peer_in_the_fleet_file_is_refused(fleet_copy):
    edit(fleet_copy / "Fleet.prod.yaml", "      fallbacks:\n",
         "      fallbacks:\n        - {peer: prod-eu, url: https://x.example/v1, apiKey: llm-fleet:prodEuGatewayKey}\n")
    with pytest.raises(ConfigError) as err:
        parse("prod-us", fleet_copy)
    assert err.value.problems == ["config error: llm-fleet:models[0].fallbacks[0].peer: written in Fleet.prod.yaml, "
                                  "but a fleet's peers come from its regions list (every other region, first); "
                                  "remove it"]


@pytest.fixture(scope="module")
def fleet_view():
    return plan_fleet("prod", FLEET)


@pytest.fixture(scope="module")
def region_plans():
    return {stack: run_plan(stack, FLEET) for stack in REGIONS}


def test_fleet_totals_are_the_sums_of_the_regions_own_plans(fleet_view, region_plans):
    plans = list(region_plans.values())
    assert [r.stack for r in fleet_view.rows] == list(REGIONS)
    assert fleet_view.daily_min == pytest.approx(sum(p.cost.daily_min for p in plans))
    assert fleet_view.daily_max == pytest.approx(sum(p.cost.daily_max for p in plans))
    assert fleet_view.gpus_max == {"A100-40GB": sum(pool.max_gpus for p in plans for pool in p.cfg.node_pools)} \
        == {"A100-40GB": 24}
    # Tokyo's stated price (pricing: 4.05/GPU-h) makes it dearer than Iowa at the same shape.
    asia, us = fleet_view.rows[2], fleet_view.rows[0]
    assert asia.daily_max > us.daily_max
    assert fleet_view.ok


def test_fleet_view_fails_a_region_over_its_gpu_quota_and_one_missing_a_peer(fleet_view):
    rows = [dataclasses.replace(fleet_view.rows[0], quota={"A100-40GB": 4}),
            dataclasses.replace(fleet_view.rows[1], peers=["prod-us"]), fleet_view.rows[2]]
    failed = {c.name: c.message for c in _checks(rows, []) if c.status == "fail"}
    assert failed == {"gpu-quota prod-us": "A100-40GB: 8 at maximum, quota 4",
                      "peers prod-eu": "gateway lacks peer(s) prod-asia"}


def test_plan_tier_prints_rows_totals_and_checks(fleet_view, capsys, monkeypatch):
    monkeypatch.setattr("infra.fleet_view.plan_fleet", lambda fleet, root: fleet_view)
    assert main(["plan", "--tier", "prod", "--json", "-C", str(FLEET)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"]["costPerDay"]["max"] == round(sum(r["costPerDay"]["max"] for r in doc["regions"]), 2)
    assert [r["peers"] for r in doc["regions"]] == [["prod-asia", "prod-eu"], ["prod-asia", "prod-us"],
                                                     ["prod-eu", "prod-us"]]


@pytest.fixture
def fleet_repo(fleet_copy) -> Path:
    git(fleet_copy, "init", "-q")
    git(fleet_copy, "add", ".")
    git(fleet_copy, "commit", "-qm", "fleet")
    return fleet_copy


def test_promote_to_a_fleet_writes_every_region_with_its_registry_and_copy_lines(fleet_repo, capsys):
    assert main(["promote", "staging", "prod", "--json", "-C", str(fleet_repo)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["dst"] for s in doc["stacks"]] == list(REGIONS) and all(s["written"] for s in doc["stacks"])
    for stack, region in zip(REGIONS, ("us-central1", "europe-west4", "asia-northeast1"), strict=True):
        image = config(fleet_repo / f"Pulumi.{stack}.yaml")["llm-fleet:artifacts"]["servingImage"]
        assert image == f"{region}-docker.pkg.dev/acme-llm-{stack}/llm-fleet/vllm-serving@{NEW_DIGEST}"
        copies = next(s["imageCopies"] for s in doc["stacks"] if s["dst"] == stack)
        assert {"from": f"us-central1-docker.pkg.dev/acme-llm-staging/llm-fleet/vllm-serving@{NEW_DIGEST}",
                "to": image} in copies
    assert parse("prod-eu", fleet_repo).artifacts.serving_image.endswith(NEW_DIGEST)  # still no drift


def test_one_regions_refusal_refuses_the_whole_promotion(fleet_repo, capsys):
    before = {p.name: p.read_bytes() for p in fleet_repo.glob("*.yaml")}
    edit(fleet_repo / "Pulumi.prod-eu.yaml", "  llm-fleet:budget:\n    monthlyAmount: 30000",
         "  llm-fleet:budget:\n    monthlyAmount: 31000")  # the 2nd region: uncommitted
    assert main(["promote", "staging", "prod", "-C", str(fleet_repo)]) == 2
    err = capsys.readouterr().err
    assert "Pulumi.prod-eu.yaml has uncommitted changes" in err
    for name in ("Pulumi.prod-us.yaml", "Pulumi.prod-asia.yaml", "Fleet.prod.yaml"):
        assert (fleet_repo / name).read_bytes() == before[name], name  # nothing written anywhere


def _peer_service(plan):
    return next(m for m in plan.manifests() if m["kind"] == "Service" and m["metadata"]["name"] == "gateway-peers")


def test_peers_reach_the_gateway_through_an_internal_lb_open_to_their_ranges_only(region_plans):
    plan = region_plans["prod-us"]
    service = _peer_service(plan)
    peers = ["10.40.0.0/20", "10.44.0.0/14", "10.60.0.0/20", "10.64.0.0/14"]  # eu, asia: subnet and pods ranges
    assert service["metadata"]["annotations"] == {
        "networking.gke.io/load-balancer-type": "Internal",
        "networking.gke.io/internal-load-balancer-allow-global-access": "true"}
    assert service["spec"]["loadBalancerSourceRanges"] == peers
    assert service["spec"]["externalTrafficPolicy"] == "Local"  # callers keep their address for the ipBlocks
    policy = next(m for m in plan.manifests() if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "gateway")
    blocks = [p["ipBlock"]["cidr"] for rule in policy["spec"]["ingress"] for p in rule["from"] if "ipBlock" in p]
    assert blocks == peers
    verdicts = {v.guard: v for v in plan.verdicts}
    assert verdicts["network-flows"].status == "pass" and verdicts["no-unrequested-load-balancer"].status == "pass"
    assert any("its gateway's peers, after its own replicas: prod-eu" in n for n in plan.notes)
    assert [(f.label, f.hourly_max) for f in plan.cost.fees if f.label == "internal LBs"] == [("internal LBs", 0.025)]


def test_the_peers_load_balancer_is_refused_public_or_wider_than_the_peers(region_plans):
    from infra.guards.base import StackPlan
    from infra.guards.exposure import no_unrequested_load_balancer

    plan = region_plans["prod-eu"]
    for mutate in (lambda m: m["spec"].update(loadBalancerSourceRanges=["0.0.0.0/0"]),
                   lambda m: m["metadata"]["annotations"].update({"networking.gke.io/load-balancer-type": "External"})):
        resources = []
        for r in plan.resources:
            if r.is_kubernetes_object and r.inputs.get("metadata", {}).get("name") == "gateway-peers":
                inputs = json.loads(json.dumps(r.inputs))
                mutate(inputs)
                r = dataclasses.replace(r, inputs=inputs)
            resources.append(r)
        verdict = no_unrequested_load_balancer(StackPlan(plan.cfg, {}, plan.cost, tuple(resources)))
        assert verdict.status == "fail"
        assert "must be internal and admit only the peer regions' ranges" in verdict.message


def test_fleet_view_fails_regions_whose_networks_overlap(region_plans):
    from infra.fleet_view import _disjoint

    us, eu = region_plans["prod-us"], region_plans["prod-eu"]
    assert _disjoint([us, eu]).status == "pass"
    clash = eu.cfg.model_copy(update={"gcp": eu.cfg.gcp.model_copy(update={"subnet_cidr": "10.10.0.0/20"})})
    check = _disjoint([us, dataclasses.replace(eu, cfg=clash)])
    assert (check.status, check.message) == ("fail", "prod-us 10.10.0.0/20 overlaps prod-eu 10.10.0.0/20")


def test_under_pulumi_up_the_program_reads_the_fleet_from_the_project_folder(monkeypatch):
    """`pulumi up` hands the program only the region file's values and runs it in the project folder: load_config
    merges the same fleet file there, into the same config the offline plan validates."""
    from pulumi.runtime import set_all_config

    from infra.config import load_config

    config, secret_keys = read_stack_file("prod-asia", FLEET)
    set_all_config(config, secret_keys)
    monkeypatch.chdir(FLEET)
    assert load_config("prod-asia") == parse("prod-asia")
    assert load_config("prod-asia").gcp.region == "asia-northeast1" and load_config("prod-asia").declared_models


def test_compare_reads_a_regions_fleet_as_it_was_at_the_ref(fleet_repo, capsys):
    edit(fleet_repo / "Fleet.prod.yaml", "replicas: {min: 2, max: 8}", "replicas: {min: 2, max: 6}")
    edit(fleet_repo / "Pulumi.prod-eu.yaml", "maxNodes: 8", "maxNodes: 6")
    assert main(["plan", "--stack", "prod-eu", "--json", "--compare", "HEAD", "-C", str(fleet_repo)]) == 0
    delta = json.loads(capsys.readouterr().out)["costDelta"]
    assert delta["daily"]["max"] < 0 and delta["daily"]["min"] == 0  # two A100s fewer at the maximum only


def test_promoting_to_one_region_of_a_fleet_is_refused_as_drift(fleet_repo, capsys):
    before = (fleet_repo / "Pulumi.prod-us.yaml").read_bytes()
    assert main(["promote", "staging", "prod-us", "-C", str(fleet_repo)]) == 2
    err = capsys.readouterr().err
    assert "llm-fleet:artifacts.servingImage" in err and "promote to all of them at once" in err
    assert (fleet_repo / "Pulumi.prod-us.yaml").read_bytes() == before


def drop(path: Path, key: str) -> None:
    data = yaml.safe_load(path.read_text())
    del data["config"][key]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _manifest(plan, kind: str, name: str) -> dict:
    return next(m for m in plan.manifests() if m["kind"] == kind and m["metadata"]["name"] == name)


def _resource(plan, type_: str):
    return next(r for r in plan.resources if r.type == type_)


def test_peers_reach_each_other_over_tls_on_443_with_a_certificate_for_the_regions_own_name(region_plans):
    from gateway.spec import from_json

    plan = region_plans["prod-us"]
    ca = config(FLEET / "Fleet.prod.yaml")["llm-fleet:peerCaCert"]
    # The load balancer serves 443 only (the peers' https:// URLs, and the only port their egress allows) ...
    assert _peer_service(plan)["spec"]["ports"] == [{"name": "peers", "port": 443, "targetPort": "peers"}]
    pod = _manifest(plan, "Deployment", "gateway")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 4000, "peers": 4443}
    # ... the peers' ranges reach the TLS listener only, never the plain port
    policy = _manifest(plan, "NetworkPolicy", "gateway")
    by_port = {tuple(p["port"] for p in rule["ports"]): [f.get("ipBlock", {}).get("cidr") for f in rule["from"]]
               for rule in policy["spec"]["ingress"]}
    assert by_port[(4443,)] == ["10.40.0.0/20", "10.44.0.0/14", "10.60.0.0/20", "10.64.0.0/14"]
    assert not any(cidr for cidrs in [by_port.get((4000,), [])] for cidr in cidrs)
    # The certificate: issued for this region's own name, by the fleet CA, renewed by `pulumi up` in its last month.
    request = _resource(plan, "tls:index/certRequest:CertRequest").inputs
    assert request["dnsNames"] == ["gateway.prod-us.internal.acme.example"]
    cert = _resource(plan, "tls:index/locallySignedCert:LocallySignedCert").inputs
    assert cert["caCertPem"] == ca and cert["validityPeriodHours"] == 8760 and cert["earlyRenewalHours"] == 720
    assert "server_auth" in cert["allowedUses"]
    secret = _manifest(plan, "Secret", "gateway-peer-tls")
    assert secret["type"] == "kubernetes.io/tls" and set(secret["stringData"]) == {"tls.crt", "tls.key", "ca.crt"}
    mounted = {v["name"]: v for v in pod["volumes"]}["peer-tls"]["secret"]["secretName"]
    assert mounted == "gateway-peer-tls"
    # The routing table: the listener and the CA the gateway trusts peers by; peers are asked for their own replicas.
    spec = from_json(_manifest(plan, "ConfigMap", "gateway-config")["data"]["spec.json"])
    assert spec.peer_tls is not None and spec.peer_tls.port == 4443
    assert spec.peer_tls.ca_file.startswith({m["name"]: m for m in container["volumeMounts"]}["peer-tls"]["mountPath"])
    peers = [b for b in spec.routes[0].backends if b.kind == "peer"]
    assert [(b.base_url, b.model) for b in peers] == [
        ("https://gateway.prod-eu.internal.acme.example/v1", "qwen-7b@local"),
        ("https://gateway.prod-asia.internal.acme.example/v1", "qwen-7b@local")]
    assert "gatewayPeersAddress" in plan.outputs


@pytest.mark.parametrize("change, fragments", [
    (lambda root: drop(root / "Pulumi.prod-eu.yaml", "llm-fleet:peerCaKey"),
     ["llm-fleet:peerCaKey: missing in Pulumi.prod-eu.yaml", "pulumi config set --secret llm-fleet:peerCaKey "
      "--stack prod-eu < fleet-ca.key"]),
    (lambda root: drop(root / "Fleet.prod.yaml", "llm-fleet:peerCaCert"),
     ["llm-fleet:peerCaCert: missing in Fleet.prod.yaml", "openssl req -x509"]),
    (lambda root: edit(root / "Fleet.prod.yaml", "-----BEGIN CERTIFICATE-----\n    MII",
                       "-----BEGIN CERTIFICATE-----\n    XXX"), ["peerCaCert", "not a PEM certificate"]),
    (lambda root: edit(root / "Fleet.prod.yaml", "https://gateway.prod-eu.internal.acme.example/v1",
                       "https://gateway.prod-eu.internal.acme.example:8443/v1"),
     ["port 8443", "allowed: 443", "drop the port"]),
])
def test_peer_tls_config_errors_are_one_line_naming_the_file_and_the_fix(fleet_copy, change, fragments):
    change(fleet_copy)
    with pytest.raises(ConfigError) as err:
        parse("prod-eu", fleet_copy)
    problems = err.value.problems
    assert len(problems) == 1, problems
    assert all(f in problems[0] for f in fragments), problems[0]


@pytest.mark.parametrize("ca, fragment", [
    (lambda: make_ca(ca=False), "is not a CA (basicConstraints CA:TRUE)"),
    (lambda: make_ca(days=10), "less than 30 days from now"),
    # trusted beside the public roots for every backend: unconstrained it could vouch for api.together.xyz
    (lambda: make_ca(permitted=None), "has no name constraints"),
    (lambda: make_ca(key_id=False), "has no subjectKeyIdentifier"),
    (lambda: make_ca(permitted=("gateways.acme.example",)),
     "gateway gateway.prod-us.internal.acme.example is outside the names the fleet CA may sign "
     "(gateways.acme.example)"),
])
def test_a_fleet_ca_that_cannot_sign_or_is_about_to_end_is_refused(fleet_copy, ca, fragment):
    text = (fleet_copy / "Fleet.prod.yaml").read_text()
    start = text.index("    -----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    pem = "\n".join("    " + line for line in ca().cert.strip().splitlines())
    (fleet_copy / "Fleet.prod.yaml").write_text(text[:start] + pem + text[end:])
    with pytest.raises(ConfigError) as err:
        parse("prod-us", fleet_copy)
    assert len(err.value.problems) == 1 and "peerCaCert" in err.value.problems[0], err.value.problems
    assert fragment in err.value.problems[0]


def test_a_stack_outside_a_fleet_is_told_to_drop_the_fleet_ca(tmp_path):
    from tests.conftest import stack_root

    text = (stack_root("prod") / "Pulumi.prod.yaml").read_text()
    pem = "\n".join("    " + line for line in make_ca().cert.strip().splitlines())
    (tmp_path / "Pulumi.prod.yaml").write_text(text.replace("config:\n", f"config:\n  llm-fleet:peerCaCert: |\n{pem}\n",
                                                            1))
    with pytest.raises(ConfigError) as err:
        parse("prod", tmp_path)
    assert err.value.problems == [
        "config error: llm-fleet:peerCaCert: set, but this stack has no peer regions (no llm-fleet:fleet with "
        "regions); used only by a fleet's regions; drop it (in Pulumi.prod.yaml)"]


def _as_eks_region(root: Path, stack: str = "prod-asia") -> None:
    """A region of the fleet on EKS instead: its own platform block, pools, registry and the charts EKS installs."""
    path = root / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text())
    values = data["config"]
    for key in ("llm-fleet:gcp", "llm-fleet:pricing"):
        values.pop(key, None)
    values.update({
        "llm-fleet:cloud": "eks",
        "llm-fleet:aws": {"region": "us-west-2", "zones": ["us-west-2a", "us-west-2b", "us-west-2c"],
                          "vpcCidr": "10.80.0.0/16", "admins": ["arn:aws:iam::123456789012:role/llm-fleet-deploy"]},
        "llm-fleet:nodePools": [
            {"name": "a100-serving", "gpu": "A100-40GB", "gpusPerNode": 8, "minNodes": 1, "maxNodes": 1,
             "capacity": "on-demand"},
            {"name": "rollout", "machineType": "m7i.8xlarge", "purpose": "rollout", "minNodes": 1, "maxNodes": 2}]})
    artifacts = values["llm-fleet:artifacts"]
    for key in ("servingImage", "rolloutImage", "gatewayImage"):
        artifacts[key] = "123456789012.dkr.ecr.us-west-2.amazonaws.com/llm-fleet/" + artifacts[key].rsplit("/", 1)[1]
    artifacts["charts"].update(clusterAutoscaler="9.50.1", nvidiaDevicePlugin="0.17.4", dcgmExporter="4.6.0",
                               metricsServer="3.13.0")
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_region_on_eks_peers_with_the_gke_regions_over_an_internal_nlb_and_tls(fleet_copy):
    _as_eks_region(fleet_copy)
    asia, us = run_plan("prod-asia", fleet_copy), run_plan("prod-us", fleet_copy)
    service = _peer_service(asia)
    assert service["metadata"]["annotations"] == {"service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                                                  "service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    assert service["spec"]["ports"] == [{"name": "peers", "port": 443, "targetPort": "peers"}]
    gke_peers = ["10.10.0.0/20", "10.16.0.0/14", "10.40.0.0/20", "10.44.0.0/14"]  # us, eu: subnet and pods ranges
    assert service["spec"]["loadBalancerSourceRanges"] == gke_peers
    assert _resource(asia, "tls:index/certRequest:CertRequest").inputs["dnsNames"] == [
        "gateway.prod-asia.internal.acme.example"]
    # The GKE regions admit the EKS region's VPC (its pods' addresses, VPC CNI) on their TLS listener.
    policy = _manifest(us, "NetworkPolicy", "gateway")
    tls_rule = next(r for r in policy["spec"]["ingress"] if r["ports"] == [{"port": 4443, "protocol": "TCP"}])
    assert "10.80.0.0/16" in [f["ipBlock"]["cidr"] for f in tls_rule["from"]]
    for plan in (asia, us):
        verdicts = {v.guard: v.status for v in plan.verdicts}
        assert verdicts["network-flows"] == verdicts["no-unrequested-load-balancer"] == "pass"
    # One fleet across two clouds: the charts only EKS installs are not drift; everything else still must match.
    view = plan_fleet("prod", fleet_copy)
    assert view.ok, [c for c in view.checks if c.status != "pass"]
    assert [r.stack for r in view.rows] == list(REGIONS)


def test_regions_on_two_clouds_still_refuse_a_shared_artifact_that_drifts(fleet_copy):
    _as_eks_region(fleet_copy)
    edit(fleet_copy / "Pulumi.prod-asia.yaml", "vllmVersion: 0.32.0", "vllmVersion: 0.31.0")
    with pytest.raises(ConfigError) as err:
        parse("prod-asia", fleet_copy)
    assert any("artifacts.vllmVersion: Pulumi.prod-asia.yaml pins 0.31.0, region prod-us" in p
               for p in err.value.problems), err.value.problems


def test_a_region_can_keep_its_requests_in_the_region_while_the_others_still_fall_back_to_it(fleet_copy):
    # Data residency: the EU region falls back to no other region; the US falls back to the EU only.
    edit(fleet_copy / "Fleet.prod.yaml", "      gateway: https://gateway.prod-eu.internal.acme.example/v1\n",
         "      gateway: https://gateway.prod-eu.internal.acme.example/v1\n      peers: []\n")
    edit(fleet_copy / "Fleet.prod.yaml", "      gateway: https://gateway.prod-us.internal.acme.example/v1\n",
         "      gateway: https://gateway.prod-us.internal.acme.example/v1\n      peers: [prod-eu]\n")
    for stack, key in (("prod-eu", "prodUsGatewayKey"), ("prod-eu", "prodAsiaGatewayKey"),
                       ("prod-us", "prodAsiaGatewayKey")):
        drop(fleet_copy / f"Pulumi.{stack}.yaml", f"llm-fleet:{key}")  # a key it no longer sends is not kept
    eu, us, asia = (parse(s, fleet_copy) for s in ("prod-eu", "prod-us", "prod-asia"))
    assert [f.backend_name for f in eu.models[0].fallbacks] == ["provider-together"]
    assert [f.backend_name for f in us.models[0].fallbacks] == ["peer-prod-eu", "provider-together"]
    assert [f.backend_name for f in asia.models[0].fallbacks] == ["peer-prod-us", "peer-prod-eu", "provider-together"]
    # Who may call whom follows: the EU admits the US and Asia; the US admits Asia only; Asia admits no one.
    assert eu.peer_networks() == ("10.10.0.0/20", "10.16.0.0/14", "10.60.0.0/20", "10.64.0.0/14")
    assert us.peer_networks() == ("10.60.0.0/20", "10.64.0.0/14")
    assert asia.peer_networks() == ()
    assert eu.has_peers and asia.has_peers  # the EU is called (TLS listener); Asia calls (trusts the fleet CA)
    eu_plan = run_plan("prod-eu", fleet_copy)
    assert _peer_service(eu_plan)["spec"]["loadBalancerSourceRanges"] == list(eu.peer_networks())
    assert {v.guard: v.status for v in eu_plan.verdicts}["network-flows"] == "pass"
    asia_plan = run_plan("prod-asia", fleet_copy)
    assert not [m for m in asia_plan.manifests() if m["metadata"].get("name") == "gateway-peers"]  # nobody calls it
    view = plan_fleet("prod", fleet_copy)
    assert view.ok, [c for c in view.checks if c.status != "pass"]
    assert {c.name: c.message for c in view.checks}["peers prod-eu"] == \
        "gateway falls back to (no other region: its peers: [])"


def test_a_peer_that_is_not_a_region_or_the_region_itself_is_refused(fleet_copy):
    edit(fleet_copy / "Fleet.prod.yaml", "      gateway: https://gateway.prod-eu.internal.acme.example/v1\n",
         "      gateway: https://gateway.prod-eu.internal.acme.example/v1\n      peers: [prod-eu, prod-mars]\n")
    with pytest.raises(ConfigError) as err:
        parse("prod-us", fleet_copy)
    assert err.value.problems == [
        "config error: llm-fleet:regions[1].peers: 'prod-eu' is the region itself; allowed: prod-us, prod-asia; fix "
        "the name or drop it",
        "config error: llm-fleet:regions[1].peers: 'prod-mars' is not a region of Fleet.prod.yaml; allowed: prod-us, "
        "prod-asia; fix the name or drop it"]


def test_a_region_others_fall_back_to_needs_its_key_before_anyones_first_up(fleet_copy, region_plans):
    # Given: used instead of a generated one, so the peers could hold it before this region's first `up`.
    types = {r.type for r in region_plans["prod-us"].resources}
    assert "random:index/randomPassword:RandomPassword" not in types
    drop(fleet_copy / "Pulumi.prod-eu.yaml", "llm-fleet:modelApiKey")
    with pytest.raises(ConfigError) as err:
        parse("prod-eu", fleet_copy)
    (problem,) = err.value.problems
    assert "llm-fleet:modelApiKey: missing in Pulumi.prod-eu.yaml; prod-us, prod-asia fall back" in problem
    assert "openssl rand -hex 32" in problem and "llm-fleet:prodEuGatewayKey in each of their files" in problem
    edit(fleet_copy / "Pulumi.prod-eu.yaml", "config:\n", "config:\n  llm-fleet:modelApiKey: tooshort\n")
    with pytest.raises(ConfigError) as err:
        parse("prod-eu", fleet_copy)
    assert any("modelApiKey" in p and "8 characters; allowed: 32 or more" in p for p in err.value.problems)
