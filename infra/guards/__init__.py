"""Guards: invariants checked on the whole plan, the same functions wherever they run.

A guard is a plain function of a `StackPlan` that returns a `Verdict`. Config guards need only
the config, pools and cost: `pulumi up` runs them before declaring anything and refuses on a
failure. Resource guards also read the declared resources (their inputs, as a provider
receives them): `plan` runs them on what the mock engine recorded, and the policy pack (infra/policy/)
on what the real engine sees. Severity can depend on the tier: an over-budget fleet is an
error in prod and a warning elsewhere.
"""

from __future__ import annotations

from infra.guards.adapter_access import adapter_store_written_by_trainer_only
from infra.guards.alerting import alerts_reach_someone
from infra.guards.api_keys import secrets_are_files, serving_apis_require_a_key
from infra.guards.base import Guard, StackPlan, Verdict
from infra.guards.budget import budget_covers_max_fleet
from infra.guards.capacity import warm_replicas_fit_pool_minimum
from infra.guards.ci import ci_installs_kubeconfig_exec
from infra.guards.ci_runners import ci_runner_reaches_cluster_api
from infra.guards.ci_trust import ci_secrets_need_approval
from infra.guards.cluster_features import network_policies_are_enforced, resource_metrics_have_a_provider
from infra.guards.control_plane import nodes_private_and_admins_named
from infra.guards.example_ranges import no_example_network_ranges
from infra.guards.exposure import no_unrequested_entry_points, no_unrequested_load_balancer
from infra.guards.flows import network_flows
from infra.guards.gateway import (
    drain_outlasts_gateway_requests,
    gateway_backends_are_https,
    gateway_has_a_caller,
    no_key_in_plain_text,
    prod_models_have_a_fallback,
)
from infra.guards.identities import workloads_have_their_own_identity
from infra.guards.images import images_pinned_by_digest
from infra.guards.ladders import (
    ladder_holds_its_models_at_max,
    prod_models_have_a_non_spot_rung,
    spot_serving_drains_within_notice,
)
from infra.guards.limit_ranges import limit_ranges_admit_every_pod
from infra.guards.lora_memory import lora_slots_fit_gpu_memory
from infra.guards.ordering import custom_resources_wait_for_their_definitions
from infra.guards.pod_security import pods_pass_restricted
from infra.guards.pools import every_gpu_pool_is_used
from infra.guards.ray import (
    blue_green_upgrade_has_headroom,
    serve_config_is_valid,
    serve_replicas_fit_worker_groups,
)
from infra.guards.scheduling import (
    autoscaling_fits_pool,
    gpu_pods_fit_one_node,
    gpu_pods_select_and_tolerate_their_pool,
    termination_grace_covers_drain,
)
from infra.guards.waits import waits_cover_startup_and_rollouts_progress


def config_guards() -> list[Guard]:
    return [budget_covers_max_fleet, every_gpu_pool_is_used, warm_replicas_fit_pool_minimum,
            ladder_holds_its_models_at_max, prod_models_have_a_non_spot_rung, spot_serving_drains_within_notice,
            lora_slots_fit_gpu_memory, prod_models_have_a_fallback, gateway_has_a_caller,
            drain_outlasts_gateway_requests, no_example_network_ranges]


def resource_guards() -> list[Guard]:
    return [gpu_pods_fit_one_node, gpu_pods_select_and_tolerate_their_pool, termination_grace_covers_drain,
            autoscaling_fits_pool, no_unrequested_load_balancer, images_pinned_by_digest,
            serve_config_is_valid, serve_replicas_fit_worker_groups, blue_green_upgrade_has_headroom,
            workloads_have_their_own_identity, adapter_store_written_by_trainer_only,
            ci_installs_kubeconfig_exec, ci_runner_reaches_cluster_api, ci_secrets_need_approval,
            network_policies_are_enforced, resource_metrics_have_a_provider,
            custom_resources_wait_for_their_definitions, waits_cover_startup_and_rollouts_progress,
            network_flows, pods_pass_restricted, nodes_private_and_admins_named,
            alerts_reach_someone,
            serving_apis_require_a_key, secrets_are_files, no_unrequested_entry_points,
            limit_ranges_admit_every_pod, gateway_backends_are_https, no_key_in_plain_text]


def run_guards(plan: StackPlan) -> list[Verdict]:
    """Config guards always; resource guards when the plan carries resources."""
    guards = config_guards() + (resource_guards() if plan.resources else [])
    return [guard(plan) for guard in guards]
