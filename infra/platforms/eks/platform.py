"""The `EksPlatform` component: composes network, cluster, node groups, add-ons, registry, weights bucket, IRSA
roles and budget into the `Platform` every later layer consumes.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.platforms.aws_budget import AwsBudget
from infra.platforms.eks.addons import cluster_autoscaler, core_addons, gp3_storage_class, gpu_daemons, metrics_server
from infra.platforms.eks.args import EksArgs
from infra.platforms.eks.cluster import eks_cluster, eks_kubeconfig
from infra.platforms.eks.ecr import ecr_registry
from infra.platforms.eks.facts import GP3_STORAGE_CLASS
from infra.platforms.eks.identity import IrsaRoles
from infra.platforms.eks.network import eks_network
from infra.platforms.eks.node_groups import eks_node_group
from infra.platforms.eks.peers import gateway_peers_record
from infra.platforms.eks.weights import weights_bucket
from infra.seam import IdentityRequest, Platform, WorkloadIdentity


class EksPlatform(pulumi.ComponentResource):
    """An EKS cluster with a managed node group per pool, node autoscaling, a registry, a bucket and a budget."""

    platform: Platform

    def __init__(self, name: str, args: EksArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:platform:EksPlatform", name, None, opts)
        # Every AWS resource of the stack carries its tags: the budget filters on them.
        provider = aws.Provider(f"{name}-aws", region=args.region,
                                default_tags=aws.ProviderDefaultTagsArgs(tags=args.tags),
                                opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        # Stateful or slow-to-rebuild resources: `pulumi destroy` in prod must be a deliberate act.
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))
        cluster_name = f"llm-fleet-{pulumi.get_stack()}"

        private_subnets = eks_network(name, args, cluster_name, child)
        built = eks_cluster(name, args, cluster_name, private_subnets, child, stateful)
        cluster = built.cluster
        exports: dict[str, object] = {}
        self._irsa = IrsaRoles(name, built.oidc, self, child, exports)
        self._name, self._child, self._peer_dns = name, child, args.peer_dns

        node_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=built.node_policies))
        # A pool may be held to some zones; a capacity reservation pool to the reservation's one zone.
        groups = [eks_node_group(name, spec, cluster, built.node_role,
                                 [private_subnets[z] for z in spec.zones] or list(private_subnets.values()),
                                 args.tags, node_opts)
                  for spec in args.node_groups]
        system_group = groups[0]  # args.node_groups lists the system pool first

        # Core add-ons, after the first nodes exist (CoreDNS needs somewhere to run).
        core_addons(name, cluster, self._irsa,
                    pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[system_group])))
        registry_url = ecr_registry(name, args, stateful)
        self._weights = weights_bucket(name, args, child, stateful)

        kubeconfig = pulumi.Output.secret(eks_kubeconfig(cluster, args.region))
        k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True,
                                    # The deploy role is admin only through its access entry (aws.admins).
                                    opts=pulumi.ResourceOptions(parent=self,
                                                                depends_on=[system_group, *built.admin_access]))
        gp3_storage_class(name, args, k8s_provider, self)
        cluster_autoscaler(name, args, cluster, self._irsa, k8s_provider, self)
        metrics_server(name, args, k8s_provider, self)
        gpu_metrics = gpu_daemons(name, args, k8s_provider, self)

        budget = None
        if args.budget is not None:
            budget = AwsBudget(f"{name}-budget", args.budget,
                               opts=pulumi.ResourceOptions(parent=self, provider=provider))

        exports.update({"clusterName": cluster.name, "kubeconfig": kubeconfig, "registryUrl": registry_url,
                        "weightsBucket": self._weights.bucket, "budgetName": budget.budget_name if budget else None})
        self.platform = Platform(
            cloud="eks",
            provider=k8s_provider,
            pools=args.pools,
            storage_class=GP3_STORAGE_CLASS,
            registry=registry_url,
            managed_prometheus=None,  # Amazon Managed Prometheus needs SigV4 proxies: self-hosted instead
            # The AWS Load Balancer Controller reads the scheme; the in-tree controller the `internal` flag.
            internal_lb_annotations={"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                                     "service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
            exports=exports,
            notes=args.notes,
            workload_identity=self._workload_identity,
            gpu_metrics=gpu_metrics,
            peer_dns=self._peer_dns_record if args.peer_dns is not None else None,
        )
        self.register_outputs(exports)

    def _workload_identity(self, request: IdentityRequest) -> WorkloadIdentity:
        """An IRSA role for the request's service account (see `IrsaRoles.for_workload`)."""
        return self._irsa.for_workload(request, self._weights)

    def _peer_dns_record(self, nlb_name: pulumi.Output[str]) -> None:
        """The gateway's CNAME to its peers' NLB, once the Service reports the NLB's name (see `eks.peers`)."""
        assert self._peer_dns is not None
        gateway_peers_record(self._name, self._peer_dns, nlb_name, self._child)
