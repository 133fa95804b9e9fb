"""The routing table survives the ConfigMap: what infra writes is what the gateway image reads."""

from __future__ import annotations

from gateway.spec import Backend, FailoverPolicy, GatewaySpec, Route, from_json, to_json


def test_a_spec_round_trips_through_json() -> None:
    local = Backend("local", "local", "http://qwen-7b.llm-serving.svc:8000/v1", "qwen-7b", "/keys/client")
    modal = Backend("provider-modal", "provider", "https://acme--qwen.modal.run/v1", "Qwen/Qwen2.5-7B-Instruct",
                    "/var/run/llm-fleet/backend-keys/provider-modal", 0.2, 0.6)
    spec = GatewaySpec(routes=(Route("qwen-7b", (local, modal)),), policy=FailoverPolicy(cooldown_s=12),
                       client_key_file="/keys/client")
    assert from_json(to_json(spec)) == spec
