"""The rates a stack states as its own, marked in what the user sees (issue 12 review, items 4 and 5).

Every figure is worked out by hand in the comment beside it."""

from __future__ import annotations

import pytest

from infra.config import parse_stack_config
from infra.cost import fleet_cost
from infra.platforms import pool_facts
from infra.report import plan_json
from tests.conftest import stack_config


def _cost(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def _alt(cost, name):
    return next(a for a in cost.alternatives if a.name == name)


def test_prod_states_the_teams_modal_rate_and_modal_shows_the_1008_a_day_finance_knows():
    # Pulumi.prod.yaml: currentRates.modal.A100-40GB = 3.50. At max 12 replicas x 1 GPU x $3.50 x 24 h = $1,008.00
    # for the A100s (a stated rate is all-in: no CPU and memory added); the training H100 stays at Modal's list
    # $3.9492/h plus its pod's 24.5 vCPUs (12.25 physical cores x $0.04716) and 219 GiB (x $0.007992) = $2.327958/h:
    # (3.9492 + 2.327958) x 24 = $150.65. Row: $1,158.65.
    modal = _alt(_cost(stack_config("prod")), "Modal")
    a100 = next(line for line in modal.lines if line.priced_as.value == "A100-40GB")
    assert a100.your_rate and a100.hourly_max * 24 == pytest.approx(1008.00)
    assert "A100-40GB at your rate $3.50/GPU-h" in modal.note
    assert round(modal.hourly_max * 24, 2) == 1158.65


def test_a_pricing_override_is_marked_your_rate_in_the_table_json_and_notes(plan_of):
    # coreweave-prod: pricing.A100-40GB.onDemand 2.06 replaces CoreWeave's list (which sells no A100-40GB).
    plan = plan_of("coreweave-prod")
    pools = {p["name"]: p for p in plan_json(plan)["pools"]}
    assert pools["a100-serving"]["yourRate"] is True and pools["h100-training"]["yourRate"] is False
    assert ("cost: pool a100-serving: A100-40GB on-demand at your rate $2.06/GPU-h (`pricing:`), not CoreWeave's "
            "published price") in plan.notes


def test_coreweave_on_coreweave_is_priced_as_the_stacks_own_pools_with_its_commitment(plan_of):
    # coreweave-prod's GPU pools by hand. a100-serving: 1 committed node at 8 x 2.06 x 0.4 = $6.592/h, a second
    # on-demand node 8 x 2.06 = $16.48/h. h100-training: 0..1 node of 8 x $6.155 (49.24/8) = $49.24/h.
    # min: 6.592 x 24 = $158.21/day; max: (6.592 + 16.48 + 49.24) x 24 = $1,735.49/day.
    # At CoreWeave's list it would read $518.40 (1 node of A100-80GB 21.60 x 24) .. $2,218.56 (2 x 21.60 + 49.24) x 24.
    coreweave = _alt(plan_of("coreweave-prod").cost, "CoreWeave")
    assert round(coreweave.hourly_min * 24, 2) == 158.21
    assert round(coreweave.hourly_max * 24, 2) == 1735.49
    assert round(coreweave.list_hourly_max * 24, 2) == 2218.56
    assert coreweave.note.startswith("this stack's own provider: priced as its GPU pools")
    # Expected: the a100 pool's week, (5 x (24 x 6.592 + 12 x 16.48) + 2 x 24 x 6.592) / 7 = $299.47 a day
    # (tests/test_cost_commitments.py); the suspended H100 adds nothing.
    assert round(coreweave.hourly_expected * 24, 2) == 299.47


def test_other_stacks_keep_coreweave_at_its_list_price():
    # prod (GKE): CoreWeave is an alternative, not the stack's provider: 2 A100-80GB nodes + 1 H100 node at max,
    # (2 x 21.60 + 49.24) x 24 = $2,218.56.
    coreweave = _alt(_cost(stack_config("prod")), "CoreWeave")
    assert coreweave.own is None and round(coreweave.hourly_max * 24, 2) == 2218.56


def test_the_60_percent_contract_discount_is_noted_as_coreweaves_ceiling(plan_of):
    notes = plan_of("coreweave-prod").notes
    assert ("pool a100-serving: commitment at 60% off is CoreWeave's advertised best case (\"up to 60%\" for "
            "committed usage), a ceiling, not a quote; set commitment.rate or commitment.discount to your "
            "contract's figure") in notes


def test_a_contract_discount_below_the_ceiling_gets_no_ceiling_note():
    raw = stack_config("coreweave-prod")
    raw["nodePools"][0]["commitment"] = {"plan": "contract", "nodes": 1, "discount": 0.45}
    assert not any("advertised best case" in n for n in _cost(raw).notes)


def test_eks_counts_each_nat_gateways_public_ipv4_address():
    # eks-prod: natGatewayPerZone over 3 zones = 3 NAT gateways, each with one Elastic IP at $0.005/h:
    # 3 x 0.005 x 24 = $0.36/day, at the minimum and the maximum.
    from tests.test_cost_fees import fees
    line = fees(_cost(stack_config("eks-prod")))["NAT public IPv4"]
    assert round(line.daily_min, 2) == 0.36 and round(line.daily_max, 2) == 0.36
    assert line.basis == "3 x $0.005/h"


# Item 1: the training job's duty cycle and the rollout workers' peak in the expected walk.
# prod: peak is weekdays 08:00-20:00 Chicago = 5 x 12 = 60 h a week; off-peak the other 108 h.

def _prod_traffic(**extra):
    raw = stack_config("prod")
    raw["traffic"] = {**raw["traffic"], **extra}
    return _cost(raw)


def test_without_a_profile_training_and_rollout_count_at_their_minimum_and_the_summary_says_so():
    from infra.expected_report import expected_summary
    cost = _cost(stack_config("prod"))
    e = cost.expected
    # h100-training 0..1, suspended: no node. rollout 1..4 n2-standard-32 at $1.553888/h (32 x 0.031611 vCPU +
    # 128 x 0.004237 GiB): 1 node all week, 168 x 1.553888 = $261.05 a week.
    assert e.pools_per_week["h100-training"] == 0
    assert e.pools_per_week["rollout"] == pytest.approx(168 * 1.553888)
    assert expected_summary(cost).endswith(
        "Counted without a profile: training as `training.suspend` says (no node: suspended; set traffic.training); "
        "rollout workers at their pool's minimum (set traffic.rollout)")


@pytest.mark.parametrize("duty", [{"hoursPerWeek": 42}, {"hoursPerDay": 6}])
def test_the_training_duty_cycle_counts_its_node_that_share_of_the_week(duty):
    # 42 h a week (or 6 h x 7 days) of the 1-GPU a3-highgpu-1g spot node at $6.571/h: 42 x 6.571 = $275.982 a week.
    e = _prod_traffic(training=duty).expected
    assert e.pools_per_week["h100-training"] == pytest.approx(275.982)
    assert not any("training" in phrase for phrase in e.leaves_out)


def test_rollout_workers_at_peak_run_the_nodes_their_cpu_needs():
    # n2-standard-32: 31.85 cores allocatable - 1 for DaemonSets = 30.85 -> 30 one-core workers per node (memory:
    # (118.58 - 3) / 2 GiB = 57, not the limit). Peak 100 workers: ceil(100 / 30) = 4 nodes for 60 h; off-peak 20
    # workers: 1 node for 108 h. (60 x 4 + 108 x 1) x 1.553888 = 348 x 1.553888 = $540.753 a week, $77.25 a day.
    e = _prod_traffic(rollout={}).expected
    assert e.pools_per_week["rollout"] == pytest.approx(348 * 1.553888)
    assert round(e.pools_per_week["rollout"] / 7, 2) == 77.25
    # Stated workers: 45 at peak -> ceil(45 / 30) = 2 nodes for 60 h; 20 off-peak -> 1 node: (120 + 108) x 1.553888.
    e = _prod_traffic(rollout={"peak": 45}).expected
    assert e.pools_per_week["rollout"] == pytest.approx(228 * 1.553888)


def test_coreweave_training_node_is_visible_at_its_duty_cycle():
    # coreweave-prod: CoreWeave rents the H100 as a whole 8-GPU node at $49.24/h; 40 h a week of training bills
    # 40 x 49.24 = $1,969.60 a week, $281.37 a day on average; before, a suspended job counted $0.
    raw = stack_config("coreweave-prod")
    raw["traffic"]["training"] = {"hoursPerWeek": 40}
    e = _cost(raw).expected
    assert e.pools_per_week["h100-training"] == pytest.approx(1969.60)
    assert round(e.pools_per_week["h100-training"] / 7, 2) == 281.37


def test_traffic_training_needs_exactly_one_duty_key():
    from tests.conftest import assert_one_config_error
    raw = stack_config("prod")
    raw["traffic"]["training"] = {"hoursPerDay": 6, "hoursPerWeek": 42}
    assert_one_config_error(raw, ["traffic.training", "give exactly one of hoursPerDay (0..24) or hoursPerWeek"])


def test_traffic_rollout_workers_must_lie_in_the_rollout_replicas():
    from tests.conftest import assert_one_config_error
    raw = stack_config("prod")
    raw["traffic"]["rollout"] = {"peak": 150}
    assert_one_config_error(raw, ["traffic.rollout.peak = 150: outside rollout.replicas {min: 20, max: 100}",
                                  "allowed: 20..100"])


# Item 7: the alternatives' expected column, each provider billed its way at the same replica walk.

def test_alternatives_expected_bills_each_provider_its_way_at_the_walks_loads():
    cost = _cost(stack_config("prod"))
    rows = {a.name: a for a in cost.alternatives}
    # Modal per GPU-second at your $3.50: (60 h x 12 + 108 h x 4) GPU-hours = 1,152 a week x 3.50 = $4,032 a week,
    # $576.00 a day (training suspended: no H100 hours).
    assert round(rows["Modal"].hourly_expected * 24, 2) == 576.00
    # CoreWeave in 8-GPU nodes of A100-80GB at $2.70: peak 12 replicas = 2 nodes ($43.20/h), off-peak 4 = 1 node
    # ($21.60/h): 60 x 43.20 + 108 x 21.60 = $4,924.80 a week, $703.54 a day.
    assert round(rows["CoreWeave"].hourly_expected * 24, 2) == 703.54


def test_the_alternatives_table_shows_the_expected_column(plan_of):
    from rich.console import Console

    from infra.report import alternatives_table
    console = Console(width=220, record=True)
    console.print(alternatives_table(plan_of("prod").cost))
    text = console.export_text()
    assert "$/day expected" in text
    modal = next(line for line in text.splitlines() if line.startswith("│ Modal"))
    assert "$576.00" in modal


# Item 3: Modal bills the container's CPU and memory besides the GPU.

def test_modal_at_list_adds_the_cpu_and_memory_each_served_replica_requests():
    # prod without currentRates: each A100-40GB replica's pod on a2-highgpu-1g asks 10.5 vCPUs and 75 GiB
    # (gpu_pod_resources). Modal: 10.5 / 2 = 5.25 physical cores x $0.04716/h ($0.0000131/s) = $0.24759/h, and
    # 75 GiB x $0.007992/h ($0.00000222/s) = $0.5994/h: $0.84699/h a replica. At max 12 replicas x 0.84699 x 24 =
    # $243.93/day besides 12 x $2.10 x 24 = $604.80 of GPUs.
    raw = stack_config("prod")
    del raw["currentRates"]
    a100 = next(line for line in _alt(_cost(raw), "Modal").lines if line.priced_as.value == "A100-40GB")
    assert round(a100.host_max * 24, 2) == 243.93
    assert round(a100.hourly_max * 24, 2) == round(604.80 + 243.93, 2)
    assert "A100-40GB pods' CPU and memory: $243.93/day at max" in a100.note


def test_only_modal_bills_cpu_and_memory_separately():
    # CoreWeave's GPU price "includes the host device vCPU, RAM and ephemeral storage" (docs.coreweave.com/resources/
    # billing-and-charges, read 2026-11-30); RunPod's and Lambda's list a GPU's vCPUs and RAM with its price (not
    # re-checked here): only Modal's meters are separate.
    cost = _cost(stack_config("prod"))
    for name in ("RunPod", "RunPod Serverless", "CoreWeave", "Lambda"):
        assert all(line.host_max == 0 for line in _alt(cost, name).lines)


# Item 2: dated prices, and a header as old as its stalest figure.

def test_the_alternatives_header_names_the_oldest_figure_and_json_dates_each_row(plan_of):
    from rich.console import Console

    from infra.report import alternatives_table, plan_json
    plan = plan_of("prod")
    console = Console(width=220, record=True)
    console.print(alternatives_table(plan.cost))
    # Modal's A100-40GB, RunPod's L4 and CoreWeave's HGX A100 figures are from 2025: the header says so.
    assert "published prices, the oldest from 2025; each row's date in --json" in console.export_text()
    dates = {a["name"]: a["asOf"] for a in plan_json(plan)["cost"]["alternatives"]}
    assert dates == {"Modal": "2025", "RunPod": "2025", "RunPod Serverless": "2026-11-30", "CoreWeave": "2025",
                     "Lambda": "2026-09-20"}


def test_lambda_prices_the_a100s_at_its_2026_rates():
    # Lambda A100 SXM 40GB $1.99/GPU-h (1x..8x; read 2026-09-20/2026-11-09): prod's 4 warm replicas on 1-GPU
    # instances 4 x 1.99 x 24 = $191.04/day; at max 12 x 1.99 x 24 = $573.12 + the 1x H100 at $4.29 x 24 = $102.96:
    # $676.08/day.
    lam = _alt(_cost(stack_config("prod")), "Lambda")
    assert round(lam.hourly_min * 24, 2) == 191.04 and round(lam.hourly_max * 24, 2) == 676.08


def test_gke_h100_spot_is_the_2026_catalog_figure():
    # a3-highgpu-1g spot, us-central1, $6.571/h (Cloud Billing catalog read 2026-09-26): prod's h100-training pool
    # at max is 1 node: 6.571 x 24 = $157.70/day.
    pool = next(p for p in _cost(stack_config("prod")).pools if p.pool == "h100-training")
    assert round(pool.hourly_max * 24, 2) == 157.70


# Item 9: what is not counted is named with its unit price.

def test_gke_names_its_usage_priced_services_with_their_prices():
    notes = _cost(stack_config("prod")).notes
    assert ("cost: usage-priced, not counted: Managed Service for Prometheus samples ($0.15 per million, the first "
            "50 billion a month); Cloud Logging ($0.50/GiB ingested beyond 50 GiB a project a month); Artifact "
            "Registry storage ($0.10/GB-month beyond 0.5 GB) (prices as read 2026-11-30)") in notes


def test_eks_names_its_control_plane_logs_and_ecr_storage():
    notes = _cost(stack_config("eks-prod")).notes
    assert ("cost: usage-priced, not counted: the control plane's api/audit/authenticator logs in CloudWatch Logs "
            "(per GB ingested and stored); ECR storage ($0.10/GB-month) (prices as read 2026-11-30)") in notes


# Item 6: an existing cluster's minimum and expected assume its own autoscaler.

def test_existing_cluster_note_says_min_assumes_its_autoscaler_and_names_the_max(plan_of):
    # coreweave-prod: min $196.92/day (1 committed A100 node at 8 x 2.06 x 0.4 x 24 = $158.21, plus 1 rollout
    # m7i.8xlarge node $38.71); every pool at maxNodes $1,890.32/day (tests above and the cost table).
    notes = plan_of("coreweave-prod").notes
    assert ("cost: on an existing cluster the minimum and expected figures assume the cluster's own autoscaler "
            "releases idle nodes down to each pool's minNodes (nothing this stack creates scales them); without one, "
            "or with the nodes reserved, every pool runs at maxNodes: $1,890.32/day, not $196.92") in notes
    assert not any("cluster's own autoscaler" in n for n in plan_of("prod").notes)


# Item 11: an existing cluster priced as a provider takes the rate the stack states it pays there.

def test_existing_cluster_priced_as_coreweave_takes_currentrates_coreweave():
    # coreweave-prod with currentRates.coreweave.H100-80GB = 5.00: the 8-H100 training node costs 8 x 5.00 = $40/h,
    # not CoreWeave's list $49.24 (6.155 x 8); at max 40 x 24 = $960.00/day. Marked as the stack's own rate.
    raw = stack_config("coreweave-prod")
    raw["currentRates"] = {"coreweave": {"H100-80GB": 5.00}}
    cost = _cost(raw)
    pool = next(p for p in cost.pools if p.pool == "h100-training")
    assert pool.node_hourly == pytest.approx(40.0) and round(pool.hourly_max * 24, 2) == 960.00
    assert pool.your_rate
    assert ("cost: pool h100-training: H100-80GB on-demand at your rate $5.00/GPU-h (`currentRates`), not "
            "CoreWeave's published price") in cost.notes


def test_a_stated_cluster_rate_is_enough_for_a_kind_the_provider_does_not_list():
    # CoreWeave lists no A100-40GB: a currentRates entry for it satisfies the config as pricing.onDemand does.
    raw = stack_config("coreweave-prod")
    del raw["pricing"]
    raw["currentRates"] = {"coreweave": {"A100-40GB": 2.06}}
    pool = next(p for p in _cost(raw).pools if p.pool == "a100-serving")
    assert pool.node_hourly == pytest.approx(8 * 2.06)  # 8-GPU node at $2.06: $16.48/h, as with pricing:


def test_runpod_serverless_bills_the_warm_minimum_at_the_active_rate():
    # prod: 4 warm A100 replicas (priced as A100-80GB) as active workers at $0.00060/s = $2.16/h: 4 x 2.16 x 24 =
    # $207.36/day at the minimum. At max, the 8 replicas above them at flex $0.00076/s = $2.736/h and the training
    # H100 at flex $0.00116/s = $4.176/h: (4 x 2.16 + 8 x 2.736 + 4.176) x 24 = $832.90/day.
    # Expected: the 4 active all week (4 x 2.16 x 168 = $1,451.52) + 8 flex for the 60 peak hours (8 x 2.736 x 60 =
    # $1,313.28) = $2,764.80 a week, $394.97 a day.
    row = _alt(_cost(stack_config("prod")), "RunPod Serverless")
    assert round(row.hourly_min * 24, 2) == 207.36
    assert round(row.hourly_max * 24, 2) == 832.90
    assert round(row.hourly_expected * 24, 2) == 394.97
    assert "4 warm GPU(s) as always-on workers at $2.16/GPU-h" in row.note
