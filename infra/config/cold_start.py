"""The `serving.coldStart` block: the optional mechanisms that shorten a new replica's start, and their rules.

Three mechanisms, each optional: a shared compile cache in a bucket (the first replica seeds it, the next ones load
vLLM's compiled graphs instead of compiling), weights streamed from a bucket (vLLM's Run:ai streamer, what a gs:// or
s3:// model source already uses), and the serving image preloaded on GKE GPU nodes (a secondary boot disk). No tier
turns any on by default: each needs something the stack does not own (a bucket the serving identity may write, the
weights copied to a bucket, a disk image built from the serving image), and the plan says what each would save.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra.config.base import ConfigModel

CACHE_PATTERN = r"^(bucket:[\w.\-/]*|gs://[\w.-]+(/\S*)?|s3://[\w.-]+(/\S*)?)$"
# A Compute Engine image: its name (in the stack's project) or projects/<project>/global/images/<name>.
DISK_IMAGE_PATTERN = r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/global/images/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
CHECKPOINT_SCHEME = "bucket:"


class PreloadImage(ConfigModel):
    """The serving image preloaded on GPU nodes from a disk image (GKE secondary boot disk)."""

    disk_image: str = Field(pattern=DISK_IMAGE_PATTERN)
    """The disk image holding the serving image, built with gke-disk-image-builder: its name in the stack's project,
    or `projects/<project>/global/images/<name>`. Rebuild it for every new `artifacts.servingImage`."""


class ColdStart(ConfigModel):
    """How new replicas start faster: a shared compile cache, weights from a bucket, a preloaded image."""

    compile_cache: str | None = Field(default=None, pattern=CACHE_PATTERN)
    """Where replicas share vLLM's compiled graphs: `bucket:<prefix>` (under `training.checkpointBucket`), `gs://…`
    or `s3://…`. The serving identity may read and write it (the first replica seeds it). Default: none, every new
    replica compiles from scratch."""
    weights: Literal["hub", "bucket"] = "hub"
    """Where weights come from: `hub` (default: a model's `hf://` source is downloaded by every new replica) or
    `bucket` (every model streams its weights from a `gs://`/`s3://` source; an `hf://` source is refused)."""
    preload_image: PreloadImage | None = None
    """GKE only: `{diskImage}`, a disk image with the serving image, attached to the serving GPU nodes as a
    secondary boot disk (`CONTAINER_IMAGE_CACHE`), so a new node pulls nothing. Default: none (image streaming)."""


def compile_cache_url(cold: ColdStart, checkpoint_bucket: str | None) -> str | None:
    """The compile cache as a URL: `bucket:<prefix>` resolved under the checkpoint bucket, anything else as written."""
    cache = cold.compile_cache
    if cache is None or not cache.startswith(CHECKPOINT_SCHEME):
        return cache.rstrip("/") if cache else None
    assert checkpoint_bucket is not None, "validated by cold_start_problems"
    prefix = cache.removeprefix(CHECKPOINT_SCHEME).strip("/")
    return f"{checkpoint_bucket.rstrip('/')}/{prefix}" if prefix else checkpoint_bucket.rstrip("/")


def _bucket(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


def cold_start_problems(cold: ColdStart, cloud: str, checkpoint_bucket: str | None,
                        model_sources: list[tuple[int, str]], adapter_roots: list[str],
                        mode: str = "vllm") -> list[str]:
    """What `serving.coldStart` needs from the rest of the stack: one finished line per problem."""
    problems: list[str] = []
    where = "serving.coldStart"
    cache = cold.compile_cache
    if cache is not None and mode == "kuberay":
        # Ray Serve LLM's replicas run artifacts.rayImage, not the serving image that reads SERVING_COMPILE_CACHE_URL.
        return [f"{where}.compileCache = {cache!r}: serving.mode 'kuberay' runs Ray Serve LLM's image, which does not "
                "read the serving image's shared compile cache; allowed: only with serving.mode: vllm; remove it"]
    if cache is not None and cache.startswith(CHECKPOINT_SCHEME) and checkpoint_bucket is None:
        problems.append(f"{where}.compileCache = {cache!r}: names the checkpoint bucket, but training.checkpointBucket "
                        "is not set; allowed: set training.checkpointBucket (gs://… or s3://…), or give the cache as "
                        "a bucket URL")
    url = compile_cache_url(cold, checkpoint_bucket) if not problems else None
    if url is not None:
        scheme, own = url.split("://", 1)[0], {"gke": "gs", "eks": "s3"}.get(cloud)
        if own is not None and scheme != own:
            problems.append(f"{where}.compileCache = {cache!r}: a {scheme}:// bucket, but cloud {cloud!r} grants its "
                            f"pods {own}:// buckets only; allowed: {own}://<bucket>/<prefix> or bucket:<prefix>")
        for root in adapter_roots:
            # GKE grants roles on whole buckets: writing the cache there would let replicas overwrite the adapters
            # the trainer publishes (the adapter-store guard); on S3 the grant is per prefix, so only overlap matters.
            same = _bucket(root) == _bucket(url) if scheme == "gs" else _overlaps(root, url)
            if same and root.split("://", 1)[0] == scheme:
                shared = "the bucket" if scheme == "gs" else "a prefix"
                problems.append(f"{where}.compileCache = {cache!r}: shares {shared} of the adapter store {root}, "
                                "which serving pods may only read; allowed: a "
                                "compile cache in another bucket (GKE grants per bucket) or another prefix (S3)")
    if cold.weights == "bucket":
        for i, source in model_sources:
            if source.startswith("hf://"):
                problems.append(f"models[{i}].source = {source!r}: serving.coldStart.weights is 'bucket', so weights "
                                "stream from a bucket; allowed: gs://<bucket>/<path> or s3://<bucket>/<path>; copy the "
                                "weights there (huggingface-cli download, then gcloud storage cp / aws s3 cp), or set "
                                "weights: hub")
    if cold.preload_image is not None and cloud != "gke":
        problems.append(f"{where}.preloadImage = {{diskImage: {cold.preload_image.disk_image}}}: secondary boot disks "
                        f"are GKE's; cloud {cloud!r} has no built-in image preload; allowed: only with cloud: gke; "
                        "remove it (on EKS a Bottlerocket data volume from an EBS snapshot would do it, outside this "
                        "stack)")
    return problems
