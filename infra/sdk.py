"""The only module that touches Pulumi SDK internals.

`plan` runs the real program under Pulumi's mock engine and the policy pack reads what the engine hands it;
both need a few SDK names that are not public API (underscored, or module state the SDK does not export).
They live here, each behind a small named function that says which internal it relies on, so an SDK
release that moves one breaks this module and its canary (tests/test_sdk.py) loudly, not a plan quietly.

Versions: requirements.txt allows pulumi>=3.200,<4 and pulumi-policy>=1.18,<2. Every internal below was
checked to exist, with the same meaning, in the pulumi 3.200.0 and pulumi-policy 1.18.0 wheels (the floors)
and in the tested pulumi 3.272.0 and pulumi-policy 1.21.0 (pulumi/runtime/*.py, pulumi_policy/proxy.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import pulumi.output
from pulumi.runtime import config as _config
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await
from pulumi_policy import proxy as _policy_proxy

T = TypeVar("T")

# pulumi.runtime.mocks.MockMonitor: the mock engine's resource monitor, which `set_mocks(monitor=...)` accepts.
# A subclass overrides RegisterResource/RegisterResourceOutputs, which take the engine's protobuf requests
# (resource_pb2.RegisterResourceRequest: type, name, parent, custom, protect, object, dependencies, ...).
MockMonitor = _mocks.MockMonitor


def run_sync(awaitable: Awaitable[T]) -> T:
    """Wait for `awaitable` on the thread's event loop, from synchronous code.

    Relies on pulumi.runtime.sync_await._sync_await (private; pulumi >= 3.200).
    """
    return _sync_await(awaitable)


def run_program(program: Callable[[], Awaitable[None] | None]) -> None:
    """Run `program` as a Pulumi stack (root stack resource, outputs, waiting for every registration).

    Relies on pulumi.runtime.run_in_stack (exported) driven by _sync_await (private; pulumi >= 3.200).
    """
    run_sync(run_in_stack(program))


def reset_root_stack() -> None:
    """Forget the root stack resource, so the next run_in_stack creates the one whose outputs are reported.

    `set_mocks` makes a throwaway root stack for unit tests. Relies on pulumi.runtime.settings.ROOT, the
    ContextVar behind get_root_resource (module state, not exported; pulumi >= 3.200).
    """
    _settings.ROOT.set(None)


def is_secret_envelope(value: Any) -> bool:
    """Whether a deserialized engine property is a secret: {<sig key>: <secret sig>, "value": ...}.

    Relies on pulumi.runtime.rpc._special_sig_key and _special_secret_sig (private; pulumi >= 3.200).
    """
    return isinstance(value, dict) and value.get(_rpc._special_sig_key) == _rpc._special_secret_sig


def secret_value(envelope: Mapping[str, Any]) -> Any:
    """The value a secret envelope (see is_secret_envelope) carries; rpc.serialize_property's "value" key."""
    return envelope.get("value")


def is_unknown(value: Any) -> bool:
    """Whether a mock-engine value is unknown during preview: the wire sentinel or an output.Unknown.

    Relies on pulumi.runtime.rpc.UNKNOWN (module constant, not exported) and pulumi.output.Unknown
    (not exported from pulumi; pulumi >= 3.200).
    """
    return value == _rpc.UNKNOWN or isinstance(value, pulumi.output.Unknown)


def deserialize_properties(struct: Any) -> dict[str, Any]:
    """A protobuf Struct from a RegisterResource(Outputs) request as Python data (secrets as envelopes).

    Relies on pulumi.runtime.rpc.deserialize_properties (not exported; pulumi >= 3.200).
    """
    return _rpc.deserialize_properties(struct)


def has_resource_module(package: str, module: str) -> bool:
    """Whether an installed provider SDK registered Python types for `package`'s `module` (e.g. "apps/v1").

    Relies on pulumi.runtime.rpc.get_resource_module (not exported; pulumi >= 3.200).
    """
    return _rpc.get_resource_module(package, module, "") is not None


def engine_config() -> dict[str, Any]:
    """The config the engine handed the program: the PULUMI_CONFIG environment map, overridden by the explicit
    map (newer language hosts, and `plan`, via set_all_config), as pulumi.Config reads it.

    Relies on pulumi.runtime.config.CONFIG, the ContextVar set_all_config fills (not exported; pulumi >= 3.200).
    """
    return {**_config.get_config_env(), **_config.CONFIG.get()}


def secret_keys() -> set[str]:
    """The config keys the engine marked secret (`secure:` in the stack file): PULUMI_CONFIG_SECRET_KEYS and the
    explicit set (set_all_config's second argument).

    Relies on pulumi.runtime.config._SECRET_KEYS (the ContextVar set_all_config fills; private, pulumi >= 3.200).
    """
    return {*(_config.get_config_secret_keys_env() or []), *_config._SECRET_KEYS.get()}


@contextmanager
def no_explicit_config() -> Iterator[None]:
    """Within: no explicit config map (as in a policy pack process), so only PULUMI_CONFIG counts.

    Relies on pulumi.runtime.config.CONFIG (see engine_config).
    """
    token = _config.CONFIG.set({})
    try:
        yield
    finally:
        _config.CONFIG.reset(token)


def is_policy_proxy(value: Any) -> bool:
    """Whether a policy `props` value is one of pulumi_policy's unknown-checking proxies (a dict or a list).

    Relies on pulumi_policy.proxy._DictProxy and _ListProxy (private; pulumi-policy >= 1.18).
    """
    return isinstance(value, _policy_proxy._DictProxy | _policy_proxy._ListProxy)


def policy_target(proxy: Any) -> Any:
    """What a policy proxy wraps, unknowns included (reading through the proxy raises on an unknown).

    Relies on the proxies answering the key "__target" with what they wrap (pulumi-policy >= 1.18).
    """
    return proxy["__target"]


def is_policy_unknown(value: Any) -> bool:
    """Whether a policy property value is one of the engine's unknown sentinels (string, number, object, ...).

    Relies on pulumi_policy.proxy._is_unknown (private; pulumi-policy >= 1.18).
    """
    return _policy_proxy._is_unknown(value)
