"""A fleet region's gateway-peers load balancer keeps one address, and its gateway's name resolves to it (issue 15).

GKE: a reserved internal address in the node subnet, pinned on the Service and protected in prod, and (with
`gcp.peerDnsZone`) the A record in that zone. EKS: no address can be pinned with the in-tree controller; the plan
says the record is the user's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.config import ConfigError
from infra.config.peer_dns import has_peer_load_balancer, record_name
from infra.plan import run_plan
from tests.conftest import ROOT
from tests.test_regions import FLEET, _as_eks_region, _peer_service, edit, parse

ADDRESS, RECORD = "gcp:compute/address:Address", "gcp:dns/recordSet:RecordSet"
ROUTE53 = "aws:route53/record:Record"
HOST = "gateway.prod-eu.internal.acme.example"


@pytest.fixture
def fleet_copy(tmp_path) -> Path:
    for path in FLEET.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _only(plan, type_: str):
    found = [r for r in plan.resources if r.type == type_]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


@pytest.fixture(scope="module")
def prod_eu():
    return run_plan("prod-eu", FLEET)


def test_the_service_pins_the_address_reserved_in_the_regions_node_subnet(prod_eu):
    address = _only(prod_eu, ADDRESS)
    subnet = next(r for r in prod_eu.resources
                  if r.type == "gcp:compute/subnetwork:Subnetwork" and r.name == "gke-nodes")
    assert {k: address.inputs[k] for k in ("addressType", "purpose", "region", "project", "subnetwork")} == {
        "addressType": "INTERNAL", "purpose": "GCE_ENDPOINT", "region": "europe-west4", "project": "acme-llm-prod-eu",
        "subnetwork": "gke-nodes-id"}
    assert subnet.urn in address.dependencies
    # The peers' DNS points at it: a `pulumi destroy` of prod must not free it by accident.
    assert address.protect
    service = _peer_service(prod_eu)
    assert service["spec"]["loadBalancerIP"] == "plan-placeholder-address"  # the Address's mocked `address`
    peers_service = next(r for r in prod_eu.resources if r.type == "kubernetes:core/v1:Service"
                         and r.name == "gateway-peers")
    assert address.urn in peers_service.dependencies


def test_the_record_is_the_regions_gateway_name_as_an_a_record_on_that_address(prod_eu):
    record = _only(prod_eu, RECORD)
    address = _only(prod_eu, ADDRESS)
    assert record.inputs == {"project": "acme-llm-prod-eu", "managedZone": "prod-eu-internal", "type": "A",
                             "name": f"{HOST}.", "ttl": 60, "rrdatas": ["plan-placeholder-address"]}
    assert address.urn in record.dependencies
    assert any(f"writes the A record {HOST} → it in the Cloud DNS zone prod-eu-internal" in n for n in prod_eu.notes)


def test_without_a_zone_the_address_is_still_reserved_and_the_record_is_left_to_the_user(fleet_copy):
    edit(fleet_copy / "Pulumi.prod-eu.yaml", "    peerDnsZone: prod-eu-internal\n", "")
    plan = run_plan("prod-eu", fleet_copy)
    assert _only(plan, ADDRESS).protect
    assert not [r for r in plan.resources if r.type == RECORD]
    assert any(f"the record {HOST} → it is yours to make, or set gcp.peerDnsZone" in n for n in plan.notes)


def test_outside_prod_the_address_is_not_protected(fleet_copy):
    # The same regions as a staging fleet (a fleet named prod must be on prod: the config refuses otherwise).
    (fleet_copy / "Fleet.prod.yaml").rename(fleet_copy / "Fleet.trial.yaml")
    edit(fleet_copy / "Fleet.trial.yaml", "llm-fleet:tier: prod", "llm-fleet:tier: staging")
    for region in ("us", "eu", "asia"):
        edit(fleet_copy / f"Pulumi.prod-{region}.yaml", "llm-fleet:fleet: prod", "llm-fleet:fleet: trial")
    assert not _only(run_plan("prod-eu", fleet_copy), ADDRESS).protect


def test_an_eks_region_pins_nothing_and_is_told_the_record_is_its_own(fleet_copy):
    _as_eks_region(fleet_copy)
    plan = run_plan("prod-asia", fleet_copy)
    assert not [r for r in plan.resources if r.type in (ADDRESS, RECORD, ROUTE53)]
    assert "loadBalancerIP" not in _peer_service(plan)["spec"]
    assert any("a record gateway.prod-asia.internal.acme.example → the gateway-peers NLB's DNS name" in n
               and "or set aws.peerDnsZoneId" in n for n in plan.notes)


def _as_eks_region_with_zone(fleet_copy: Path, zone_id: str) -> None:
    _as_eks_region(fleet_copy)
    path = fleet_copy / "Pulumi.prod-asia.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"]["llm-fleet:aws"]["peerDnsZoneId"] = zone_id
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_an_eks_region_with_a_zone_gets_a_cname_to_the_nlbs_dns_name(fleet_copy):
    _as_eks_region_with_zone(fleet_copy, "Z0123456789ABCDEFGHIJ")
    plan = run_plan("prod-asia", fleet_copy)
    record = _only(plan, ROUTE53)
    # The NLB's name as the Service reports it once the NLB is up (the plan's mock stands for it).
    assert {k: record.inputs[k] for k in ("zoneId", "type", "name", "ttl", "records")} == {
        "zoneId": "Z0123456789ABCDEFGHIJ", "type": "CNAME", "name": "gateway.prod-asia.internal.acme.example",
        "ttl": 60, "records": ["plan-placeholder-lb-hostname"]}
    service = next(r for r in plan.resources if r.type == "kubernetes:core/v1:Service" and r.name == "gateway-peers")
    assert service.urn in record.dependencies
    assert plan.outputs["gatewayPeersAddress"] == "plan-placeholder-lb-hostname"
    assert any("writes the CNAME gateway.prod-asia.internal.acme.example → the gateway-peers NLB's DNS name" in n
               for n in plan.notes)


def test_a_route53_zone_id_that_is_not_one_is_one_line(fleet_copy):
    _as_eks_region_with_zone(fleet_copy, "internal.acme.example")
    with pytest.raises(ConfigError) as err:
        parse("prod-asia", fleet_copy)
    assert len(err.value.problems) == 1 and "aws.peerDnsZoneId" in err.value.problems[0]
    assert "internal.acme.example" in err.value.problems[0]


def test_a_zone_outside_the_gateways_name_stops_up_in_one_line(fleet_copy):
    # What the cloud answers for the zone at `up` (the offline plan does not ask it). In a process of its own: a
    # program that fails part-way leaves the SDK's pending work behind for the next plan in this one.
    script = f"""
from pathlib import Path
from infra.plan import _PlanMocks, run_plan
original = _PlanMocks.call
def call(self, args):
    if args.token == "gcp:dns/getManagedZone:getManagedZone":
        return {{"name": args.args["name"], "dnsName": "other.acme.example."}}, []
    return original(self, args)
_PlanMocks.call = call
run_plan("prod-eu", Path({str(fleet_copy)!r}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert (f"gcp.peerDnsZone: zone 'prod-eu-internal' holds other.acme.example, but the region's gateway name {HOST} "
            "(its regions[].gateway) is not below it") in done.stderr


def test_record_name_is_the_fqdn_inside_the_zone_and_refuses_one_outside():
    assert record_name(HOST, "z", "internal.acme.example.") == f"{HOST}."
    assert record_name(HOST, "z", "Prod-EU.internal.acme.example") == f"{HOST}."
    assert record_name(HOST, "z", None) == f"{HOST}."
    with pytest.raises(ValueError) as err:
        record_name(HOST, "z", "internal.acme.example.com.")
    assert str(err.value) == (
        f"gcp.peerDnsZone: zone 'z' holds internal.acme.example.com, but the region's gateway name {HOST} (its "
        "regions[].gateway) is not below it; allowed: a zone whose DNS name contains the gateway's name; name another "
        "zone, or rename the gateway in the fleet file")
    with pytest.raises(ValueError):  # the zone's apex itself: a suffix match is not enough
        record_name("xacme.example", "z", "acme.example.")
    with pytest.raises(ValueError, match=r"^aws.peerDnsZoneId: zone 'Z1' holds acme.example, "):
        record_name("acme.example", "Z1", "acme.example.", "aws.peerDnsZoneId")  # the apex: no CNAME may go there


def test_a_fleet_region_nobody_falls_back_to_keeps_its_protected_address_and_record(fleet_copy):
    # Asia is a peer of no one: no load balancer. Its address stays declared (protected in prod): dropping it would
    # make Pulumi refuse the region's next preview and up, a protected resource being deleted.
    for stack, peer in (("prod-us", "prod-eu"), ("prod-eu", "prod-us")):
        line = f"gateway: https://gateway.{stack}.internal.acme.example/v1\n"
        edit(fleet_copy / "Fleet.prod.yaml", line, f"{line}      peers: [{peer}]\n")
    plan = run_plan("prod-asia", fleet_copy)
    assert not has_peer_load_balancer(plan.cfg)
    assert not any(r.type == "kubernetes:core/v1:Service" and r.name == "gateway-peers" for r in plan.resources)
    (address,) = [r for r in plan.resources if r.type == ADDRESS]
    assert address.protect
    assert [r.type for r in plan.resources if r.type == RECORD] == [RECORD]
    assert ("fleet prod: no region falls back to this one, so there is no gateway-peers load balancer; its reserved "
            "internal address and its A record gateway.prod-asia.internal.acme.example in prod-asia-internal stay "
            "(protected in prod) for when one does again") in plan.notes


def test_a_zone_on_a_stack_outside_a_fleet_is_refused(tmp_path):
    from tests.conftest import stack_root

    text = (stack_root("prod") / "Pulumi.prod.yaml").read_text()
    assert "  llm-fleet:gcp:\n" in text
    (tmp_path / "Pulumi.prod.yaml").write_text(text.replace("  llm-fleet:gcp:\n",
                                                            "  llm-fleet:gcp:\n    peerDnsZone: acme-internal\n", 1))
    with pytest.raises(ConfigError) as err:
        parse("prod", tmp_path)
    assert err.value.problems == [
        "config error: llm-fleet:gcp.peerDnsZone: 'acme-internal' is set, but this stack is not a region of a fleet "
        "(no llm-fleet:fleet), so no peer calls its gateway; allowed: only on a fleet's region stack; drop it (in "
        "Pulumi.prod.yaml)"]


def test_a_zone_name_cloud_dns_would_refuse_is_one_line(fleet_copy):
    edit(fleet_copy / "Pulumi.prod-eu.yaml", "peerDnsZone: prod-eu-internal", "peerDnsZone: Prod_EU")
    with pytest.raises(ConfigError) as err:
        parse("prod-eu", fleet_copy)
    assert len(err.value.problems) == 1 and "gcp.peerDnsZone" in err.value.problems[0]
    assert "Prod_EU" in err.value.problems[0]


@pytest.mark.parametrize("where, stack", [("examples/fleet", "prod-us"), (".", "prod")])
def test_the_platform_reserves_an_address_on_every_gke_fleet_region_and_only_there(where, stack):
    plan = run_plan(stack, ROOT / where)
    has_service = any(r.type == "kubernetes:core/v1:Service" and r.name == "gateway-peers" for r in plan.resources)
    has_address = any(r.type == ADDRESS for r in plan.resources)
    assert has_service == has_address == has_peer_load_balancer(plan.cfg) == (stack == "prod-us")
