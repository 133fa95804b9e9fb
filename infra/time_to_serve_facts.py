"""The published figures behind the time-to-serve model (infra/time_to_serve.py), each with its source and date.

Every figure is a vendor's (or a maintainer's) published number, read on the date given; none is from memory. Where
only a different size or machine was measured, the figure is a rate (GB/s) or the measured model's time, and the
model says which. `MEASURED_HERE` holds what this repository's own benchmark measured on the CPU engine (the
engine half of issue 16 fills it); a test compares it with the benchmark's JSON when that exists.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_ON = "2026-11-30"


@dataclass(frozen=True)
class Fact:
    """One published figure: its value, what exactly was measured, and where it was published."""

    value: float
    unit: str  # "s" or "GB/s"
    what: str  # what was measured, on what
    source: str  # a URL (or repository + path + commit)
    published: str  # the page's date where it has one, else "n/a"
    read: str = READ_ON

    def as_json(self) -> dict[str, object]:
        return {"value": self.value, "unit": self.unit, "what": self.what, "source": self.source,
                "published": self.published, "read": self.read}


# --- node provisioning --------------------------------------------------------------------------------------------
# cluster-autoscaler (what GKE's pool autoscaler and this stack's EKS node groups use) adds a node in 3-5 minutes;
# we take the upper end for GPU nodes, whose drivers install at boot.
NODE_PROVISION = Fact(
    300, "s", "cluster-autoscaler adding a node through a node group: 'typically three to five minutes' (upper end)",
    "https://support.huaweicloud.com/intl/en-us/bestpractice-cce/cce_bestpractice_10080.html; AWS's EKS update of "
    "2026-05 (https://www.cnblogs.com/AmazonwebService/p/20016835): 'Cluster Autoscaler 3-5 minutes'",
    "2026-06-17")
# A bound, not a typical value: shown in the docs and used by nobody's budget.
GPU_ALLOCATABLE_LAG = Fact(
    900, "s", "a new GPU node may take 'up to 15 minutes before it reports that GPU is allocatable'",
    "kubernetes/autoscaler cluster-autoscaler/utils/gpu/gpu.go (commit message of the GPU-ready workaround)", "n/a")

# --- image pull ---------------------------------------------------------------------------------------------------
# No vendor publishes seconds for a whole pull of a ~10 GB image; a user's measurement, which AWS's "several minutes
# to pull and extract these large images" from ECR (containers blog, 2023-10-19) bears out.
IMAGE_PULL_FULL = Fact(
    230, "s", "a large deep-learning image pulled whole: 'created in just 20s, instead of 3m50s' (3m50s = 230 s); "
    "AWS: 'it can take several minutes to pull and extract these large images' from ECR",
    "https://roastidio.us/topic/8750009 (a user's measurement of Google's deep-learning image on GKE); "
    "https://aws.amazon.com/blogs/containers/reduce-container-startup-time-on-amazon-eks-with-bottlerocket-data-volume/",
    "2023-10-19")
IMAGE_PULL_STREAMED = Fact(
    20, "s", "the same image with GKE image streaming: the container created in 20 s (Google: 'from several "
    "minutes ... to a couple of seconds', then reads stream on demand)",
    "https://roastidio.us/topic/8750009; https://cloud.google.com/blog/products/containers-kubernetes/"
    "introducing-container-image-streaming-in-gke", "2021-11-03")
IMAGE_PULL_PRELOADED = Fact(
    0, "s", "GKE secondary boot disk in CONTAINER_IMAGE_CACHE mode: the image is on a disk GKE provisions 'in "
    "parallel with the node provisioning process', which it 'does not increase'; containerd reads it, no pull",
    "https://cloud.google.com/kubernetes-engine/docs/how-to/data-container-image-preloading", "n/a")
# EKS has no built-in preload; what it would take (documented, not built): a Bottlerocket data volume from an EBS
# snapshot holding the image, or prefetching on running nodes through Systems Manager.
EKS_PRELOAD_WAYS = ("https://aws.amazon.com/blogs/containers/reduce-container-startup-time-on-amazon-eks-with-"
                    "bottlerocket-data-volume/ (2023-10-19)",
                    "https://aws.amazon.com/blogs/containers/start-pods-faster-by-prefetching-images/")
DISK_IMAGE_BUILDER = "https://github.com/GoogleCloudPlatform/ai-on-gke/tree/main/tools/gke-disk-image-builder"

# --- weights ------------------------------------------------------------------------------------------------------
# Meta-Llama-3-8B, 15 GB in bf16 safetensors, AWS g5.12xlarge, Run:ai Model Streamer 0.6.0.
_STREAMER_BENCH = ("https://github.com/run-ai/runai-model-streamer/blob/001e588121bab1cd85b1fec6e533c905707e165b/"
                   "docs/src/benchmarks.md")
BUCKET_STREAM = Fact(
    round(15 / 4.24, 2), "GB/s", "Run:ai Model Streamer (vLLM --load-format runai_streamer) from Amazon S3: "
    "Meta-Llama-3-8B (15 GB) in 4.24 s; GCS is taken to stream alike (Google publishes only a chart)",
    _STREAMER_BENCH, "n/a")
DISK_LOAD_DEFAULT = Fact(
    round(15 / 47.99, 3), "GB/s", "vLLM's default safetensors loader from a gp3 SSD: Meta-Llama-3-8B (15 GB) in "
    "47.99 s (the streamer: 14.34 s from the same disk)",
    "https://developer.nvidia.com/blog/reducing-cold-start-latency-for-llm-inference-with-nvidia-runai-model-"
    "streamer (summarised at https://hyper.ai/en/headlines/62da06ca86a30dbdb45cccbf439905fa)", "2025-09-16")
HUB_DOWNLOAD = Fact(
    0.5, "GB/s", "the Hugging Face hub from Python: hf_transfer is 'a power user tool, to go beyond ~500MB/s ... "
    "where Python cannot cap out the available bandwidth' (so ~0.5 GB/s is the best case; a NAT or the CDN may be "
    "slower)", "https://pypi.org/project/hf-transfer/", "n/a")

# --- engine start-up and compilation ------------------------------------------------------------------------------
# Meta-Llama-3-8B on one GPU, vLLM (PR authors' logs): the reference for models up to ~16 GB of weights.
ENGINE_INIT_8B = Fact(
    14.18, "s", "vllm serve meta-llama/Meta-Llama-3-8B without torch.compile: 'init engine (profile, create kv "
    "cache, warmup model) took 14.18 seconds' (CUDA graphs 10 s of it)",
    "https://github.com/vllm-project/vllm/pull/11005", "2024-12-09")
PROCESS_START = Fact(
    30, "s", "vLLM process start-up outside the logged init (imports, CUDA context, API server): 'the response is "
    "received after 59s in total. There's a loss of ~30s, which isn't logged'",
    "https://github.com/vllm-project/vllm/issues/20264", "2025-06-30")
COMPILE_COLD_8B = Fact(
    25.16, "s", "the same with torch.compile and an empty cache: init grows by 25.16 s (Dynamo 4.60 s, Inductor "
    "14.77 s, Triton warm-up ~5 s)", "https://github.com/vllm-project/vllm/pull/11005", "2024-12-09")
COMPILE_WARM_8B = Fact(
    9.22, "s", "the same with a warm compile cache: Dynamo 5.03 s + 'load the compiled graph(s) ... from the "
    "cache, took 4.190 s'", "https://github.com/vllm-project/vllm/pull/16848", "2025-04-18")
# Llama-70B FP8 on 8 GPUs (a maintainer's measurement): the reference for anything larger.
ENGINE_INIT_70B = Fact(
    60, "s", "Llama-70B-FP8, TP=8: '~60s to capture the cudagraphs' (the P2P check's ~60 s is skipped with "
    "VLLM_SKIP_P2P_CHECK=1)", "https://github.com/vllm-project/vllm/issues/19824", "2025-06-19")
COMPILE_COLD_70B = Fact(
    85, "s", "Llama-70B-FP8, TP=8: '~15s to convert dynamo bytecode', '~70s to run torch.compile'",
    "https://github.com/vllm-project/vllm/issues/19824", "2025-06-19")
COMPILE_WARM_70B = Fact(
    15, "s", "Llama-70B-FP8, TP=8 with a warm cache: Dynamo's 15 s remain (vLLM traces before it looks up the "
    "cache, PR 16848); the Inductor step is loaded instead of run (its load time is unpublished for 70B)",
    "https://github.com/vllm-project/vllm/issues/19824; https://github.com/vllm-project/vllm/pull/16848",
    "2025-06-19")
SMALL_MODEL_GB = 16.0  # up to this many GB of weights the 8B references apply, above it the 70B ones

FACTS: dict[str, Fact] = {
    "nodeProvision": NODE_PROVISION, "gpuAllocatableLag": GPU_ALLOCATABLE_LAG,
    "imagePullFull": IMAGE_PULL_FULL, "imagePullStreamed": IMAGE_PULL_STREAMED,
    "imagePullPreloaded": IMAGE_PULL_PRELOADED,
    "bucketStream": BUCKET_STREAM, "diskLoadDefault": DISK_LOAD_DEFAULT, "hubDownload": HUB_DOWNLOAD,
    "engineInit8B": ENGINE_INIT_8B, "processStart": PROCESS_START,
    "compileCold8B": COMPILE_COLD_8B, "compileWarm8B": COMPILE_WARM_8B,
    "engineInit70B": ENGINE_INIT_70B, "compileCold70B": COMPILE_COLD_70B, "compileWarm70B": COMPILE_WARM_70B,
}

# What this repository measured with the real CPU engine (benchmarks/cold_start.py, issue 16's engine half), copied
# from its JSON (benchmarks/results/cold_start-2026-11-30.json; tests/test_time_to_serve.py keeps the two equal):
# seconds to ready (supervisor start to /readyz 200) with an empty and a warm shared compile cache, vLLM's compile step
# in each (its log, 1 s resolution), and the tiny model's weights through vLLM's own iterators from disk and from S3
# on loopback (moto). Taken on 2 cores shared with other sessions (load average 6-15 during the run): the ready times
# move by minutes with the load, the compile step is the figure to compare. CPU figures say how much a warm cache
# saves relative to a cold one, not GPU seconds, so the GPU breakdown keeps the published figures above and the plan
# shows these beside them.
MEASURED_HERE: dict[str, float | None] = {
    "compileCacheColdSeconds": 245.9,
    "compileCacheWarmSeconds": 247.5,
    "compileColdSeconds": 78.0,
    "compileWarmSeconds": 19.0,
    "loadFromBucketSeconds": 0.384,
    "loadFromDiskSeconds": 0.006,
}
# The run MEASURED_HERE copies (the README and the plan's table say when and how it was taken).
MEASURED_RUN: dict[str, str] = {
    "on": "2026-11-30",
    "command": "python benchmarks/cold_start.py --json benchmarks/results/cold_start-2026-11-30.json",
    "machine": "2 cores, load average 5.8 at the end",
}
# Where the benchmark writes them, if it writes JSON (tests/test_time_to_serve.py compares the two).
MEASURED_JSON_GLOB = "benchmarks/**/cold_start*.json"
