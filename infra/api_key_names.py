"""Names the workloads that carry secrets and the guard that checks them share (no project imports: the policy pack
and the guards read them without loading the workload layer)."""

from __future__ import annotations

SERVING_API_KEY_FILE = "SERVING_API_KEY_FILE"  # serving pods: the file holding the key the API checks
OPENAI_API_KEY_FILE = "OPENAI_API_KEY_FILE"  # callers (rollout workers): the file holding the key they send
HF_TOKEN_PATH = "HF_TOKEN_PATH"  # huggingface_hub's own setting: the file holding the Hugging Face token
# KubeRay mode: the OpenAI app's ingress class that checks the key (infra/workloads/ray_keyed_ingress.py, shipped
# to the Ray pods as this module).
RAY_INGRESS_MODULE = "llm_fleet_ingress"
RAY_KEYED_INGRESS = f"{RAY_INGRESS_MODULE}:KeyedOpenAiIngress"
# Env vars whose value would be a secret: only ever a file's path (…_FILE, …_PATH) may stand in for them.
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY", "OPENAI_API_KEY")
