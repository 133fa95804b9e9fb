"""Names every layer shares: node labels, namespaces, service accounts, tags, KEDA's ports.

One small module with no imports of its own, so clouds, cluster services, workloads and guards all
agree on a name without importing each other.
"""

# Labels every platform puts on its nodes, so workloads select pools the same way everywhere.
POOL_LABEL = "llm-fleet.dev/pool"
GPU_LABEL = "llm-fleet.dev/gpu"
PURPOSE_LABEL = "llm-fleet.dev/purpose"
# The label every Kubernetes object the stack creates carries.
PART_OF = {"app.kubernetes.io/part-of": "llm-fleet"}
# The taint GPU nodes carry so that only pods that asked for a GPU land there.
GPU_TAINT_KEY = "nvidia.com/gpu"
# What every cloud resource of a stack is labelled (GCP) or tagged (AWS) with; budgets filter on the stack's.
STACK_TAG, TIER_TAG = "llm-fleet-stack", "llm-fleet-tier"

# The workload namespaces, and the one service account each workload runs as (never `default`). Platforms bind
# them to cloud identities (EKS: IAM roles through IRSA; GKE: Google service accounts through Workload Identity).
SERVING_NAMESPACE, SERVING_SERVICE_ACCOUNT = "llm-serving", "model-server"
TRAINING_NAMESPACE, TRAINING_SERVICE_ACCOUNT = "llm-training", "trainer"
ROLLOUT_NAMESPACE, ROLLOUT_SERVICE_ACCOUNT = "llm-rollout", "rollout-worker"
# The gateway (serving.gateway): its namespace, account, pods' name label and its Service's name and port.
GATEWAY_NAMESPACE, GATEWAY_SERVICE_ACCOUNT, GATEWAY_APP = "llm-gateway", "gateway", "gateway"
GATEWAY_PORT = 4000
# KubeRay mode: the Ray head (its autoscaler sidecar calls the Kubernetes API), the rollout worker group, and the
# pod that submits the training RayJob.
RAY_HEAD_SERVICE_ACCOUNT, RAY_ROLLOUT_SERVICE_ACCOUNT = "ray-head", "ray-rollout"
RAY_SUBMITTER_SERVICE_ACCOUNT = "ray-job-submitter"

# Where the cluster services layer installs KEDA's operator: platforms bind cloud identities to it.
KEDA_NAMESPACE, KEDA_OPERATOR_SA = "keda", "keda-operator"
# Where the API server calls KEDA (chart 2.20.2, github.com/kedacore/charts keda/values.yaml): the metrics
# server's container port (service.portHttpsTarget) and the admission webhooks' (webhooks.port, default 9443).
KEDA_METRICS_SERVER_PORT, KEDA_WEBHOOK_PORT = 6443, 9443
