"""Canary for infra/sdk.py: each adapter against the installed Pulumi SDK, on values the SDK itself produced.

A failure here means an SDK release moved an internal `plan` or the policy pack relies on; the message says
which, so the fix is one function in infra/sdk.py, not a hunt through a plan that quietly changed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pulumi
import pulumi_kubernetes  # noqa: F401  (registers the Kubernetes resource modules has_resource_module looks up)
import pytest
from pulumi.runtime import set_all_config
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra import sdk


def canary(ok: bool, what: str) -> None:
    assert ok, f"Pulumi SDK internals changed: {what}; see infra/sdk.py"


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        return {}, []


class _Recorder(sdk.MockMonitor):
    """What plan's recording monitor relies on: the request fields and deserialize_properties."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.inputs: dict[str, dict[str, Any]] = {}
        self.stack_outputs: dict[str, Any] | None = None

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        self.inputs[request.name] = sdk.deserialize_properties(request.object)
        return response

    def RegisterResourceOutputs(self, request):
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = sdk.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


@pytest.fixture(scope="module")
def recorded() -> _Recorder:
    """A two-resource program under the mock engine in preview: a secret input and an input known only after apply."""
    loop = asyncio.new_event_loop()  # the SDK makes its futures on the thread's loop; earlier tests may leave none
    asyncio.set_event_loop(loop)
    try:
        mocks = _Mocks()
        monitor = _Recorder(mocks)
        pulumi.runtime.set_mocks(mocks, project="canary", stack="canary", preview=True, monitor=monitor)
        sdk.reset_root_stack()

        def program() -> None:
            # "later" is not in the mock's state during preview: the engine reports it as unknown.
            first = pulumi.CustomResource("canary:index:Thing", "first", {"known": 1, "later": None})
            pulumi.CustomResource("canary:index:Thing", "second", {
                "token": pulumi.Output.secret("s3cr3t"), "later": first.later})  # type: ignore[attr-defined]
            pulumi.export("answer", "42")

        try:
            sdk.run_program(program)
        except Exception as e:  # e.g. "Only one root Pulumi Stack may be active at once": ROOT was not reset
            pytest.fail(f"Pulumi SDK internals changed: run_in_stack after reset_root_stack raised {e!r}; "
                        "see infra/sdk.py")
        return monitor
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_run_sync_returns_what_the_awaitable_returns():
    async def forty_two() -> int:
        await asyncio.sleep(0)
        return 42

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        canary(sdk.run_sync(forty_two()) == 42, "_sync_await no longer returns the awaitable's result")
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_the_recording_monitor_sees_every_resource_with_its_inputs(recorded):
    canary({"first", "second"} <= set(recorded.inputs),
           f"MockMonitor.RegisterResource no longer sees every resource (saw {sorted(recorded.inputs)})")
    canary(recorded.inputs["first"].get("known") == 1,
           f"deserialize_properties no longer returns the declared inputs (got {recorded.inputs['first']})")


def test_run_program_after_reset_root_stack_reports_the_stack_outputs(recorded):
    canary(recorded.stack_outputs == {"answer": "42"},
           "run_in_stack after settings.ROOT.set(None) no longer registers the stack outputs on a new root stack "
           f"(got {recorded.stack_outputs})")


def test_a_secret_input_arrives_as_an_envelope_the_adapter_recognises(recorded):
    token = recorded.inputs["second"].get("token")
    canary(sdk.is_secret_envelope(token),
           f"rpc._special_sig_key/_special_secret_sig no longer mark a secret: {token!r}")
    canary(sdk.secret_value(token) == "s3cr3t",
           f"a secret envelope no longer carries its value under 'value': {token!r}")
    canary(not sdk.is_secret_envelope({"value": "s3cr3t"}), "is_secret_envelope takes any dict for a secret")


def test_an_input_known_only_after_apply_is_unknown(recorded):
    later = recorded.inputs["second"].get("later")
    canary(sdk.is_unknown(later), f"an unknown preview input is neither rpc.UNKNOWN nor output.Unknown: {later!r}")
    canary(not sdk.is_unknown(recorded.inputs["first"]["known"]), "is_unknown takes a known value for unknown")


def test_has_resource_module_tells_built_in_kubernetes_groups_from_crds():
    canary(sdk.has_resource_module("kubernetes", "apps/v1"),
           "rpc.get_resource_module no longer finds pulumi_kubernetes' apps/v1")
    canary(not sdk.has_resource_module("kubernetes", "monitoring.coreos.com/v1"),
           "rpc.get_resource_module finds a module for a CRD group no provider ships")


def test_engine_config_merges_the_environment_map_with_the_explicit_one(monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"canary:from-env": "env", "canary:both": "env"}))
    with sdk.no_explicit_config():
        canary(sdk.engine_config() == {"canary:from-env": "env", "canary:both": "env"},
               "config.CONFIG is not empty inside no_explicit_config, or get_config_env no longer reads PULUMI_CONFIG")
        set_all_config({"canary:both": "explicit"})
        canary(sdk.engine_config() == {"canary:from-env": "env", "canary:both": "explicit"},
               "set_all_config no longer fills config.CONFIG")
    canary(sdk.engine_config().get("canary:both") == "env",
           "no_explicit_config no longer restores the explicit map it replaced")


def test_policy_proxies_unwrap_to_what_the_engine_sent():
    # unknown_checking_proxy is how pulumi_policy wraps every resource's props before a policy sees them.
    props = unknown_checking_proxy({"spec": {"image": UNKNOWN_STRING_VALUE, "replicas": 2}, "ports": [80]})
    spec, ports = props["spec"], props["ports"]
    canary(sdk.is_policy_proxy(spec) and sdk.is_policy_proxy(ports),
           f"pulumi_policy.proxy no longer wraps dicts and lists in _DictProxy/_ListProxy: {type(spec)}, {type(ports)}")
    canary(not sdk.is_policy_proxy({"image": "x"}), "is_policy_proxy takes a plain dict for a proxy")
    target = sdk.policy_target(spec)
    canary(target == {"image": UNKNOWN_STRING_VALUE, "replicas": 2},
           f"a policy proxy no longer answers '__target' with what it wraps (got {target!r})")
    canary(list(sdk.policy_target(ports)) == [80], "a list proxy no longer answers '__target' with its list")
    canary(sdk.is_policy_unknown(UNKNOWN_STRING_VALUE) and sdk.is_policy_unknown(UNKNOWN_NUMBER_VALUE),
           "pulumi_policy.proxy._is_unknown no longer recognises the engine's unknown sentinels")
    canary(not sdk.is_policy_unknown("nginx:1.27"), "_is_unknown takes a plain string for unknown")
