"""The bench spec's errors, the pricing arithmetic, the table and the throughput block (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.bench.cost import cost, ranking
from infra.bench.report import plain_table
from infra.bench.run import measured
from infra.bench.spec import Price, load_spec
from infra.bench.throughput import throughput_block
from infra.cli import main
from infra.config import ConfigError

GOOD = {"workload": {"promptTokens": 32, "outputTokens": 16, "concurrency": 2, "requests": 4, "maxSeconds": 30},
        "endpoints": [{"name": "local", "baseUrl": "http://127.0.0.1:9/v1", "model": "m",
                       "price": {"gpuHourUsd": 3.6, "gpus": 2}}]}


def _errors(tmp_path: Path, spec: dict) -> list[str]:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError) as e:
        load_spec(path)
    return e.value.problems


def _with(endpoint: dict | None = None, workload: dict | None = None) -> dict:
    return {"workload": {**GOOD["workload"], **(workload or {})},
            "endpoints": [{**GOOD["endpoints"][0], **(endpoint or {})}]}


def test_a_good_spec_loads(tmp_path: Path):
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    spec = load_spec(path)
    assert spec.endpoints[0].price.gpus == 2 and spec.workload.max_seconds == 30


@pytest.mark.parametrize(("spec", "expected"), [
    (_with(endpoint={"baseUrl": "127.0.0.1:9/v1"}),
     "endpoints[0].baseUrl = '127.0.0.1:9/v1': not an http(s) URL; allowed: a base URL such as"),
    (_with(endpoint={"price": {"gpuHourUsd": 3.6}}), "endpoints[0].price: gpuHourUsd and gpus go together"),
    (_with(endpoint={"price": {"gpuHourUsd": 3.6, "gpus": 1, "outputPer1MUsd": 1}}),
     "endpoints[0].price: give either gpuHourUsd with gpus"),
    (_with(endpoint={"apiKey": "sk-123"}), "endpoints[0].apiKey: unknown key; did you mean apiKeyEnv?"),
    (_with(workload={"concurrency": 0}), "workload.concurrency = 0: allowed: 1 or more"),
    (_with(endpoint={"api": "responses"}), "endpoints[0].api = 'responses': allowed: 'completions' or 'chat'"),
])
def test_bad_specs_name_file_key_value_and_what_is_allowed(tmp_path: Path, spec: dict, expected: str):
    problems = _errors(tmp_path, spec)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"bench spec error: {expected}"), problems[0]
    assert problems[0].endswith(f"(in {tmp_path / 'bench.yaml'})")


def test_an_api_key_variable_that_is_not_set_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BENCH_TEST_KEY", raising=False)
    problems = _errors(tmp_path, _with(endpoint={"apiKeyEnv": "BENCH_TEST_KEY"}))
    assert problems[0].startswith("bench spec error: endpoints[0].apiKeyEnv = BENCH_TEST_KEY: the variable is not set")


def test_duplicate_names_are_refused(tmp_path: Path):
    spec = {**GOOD, "endpoints": GOOD["endpoints"] * 2}
    assert "local appears more than once" in _errors(tmp_path, spec)[0]


def test_cli_exits_2_with_one_line_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["bench", "--base-url", "ftp://x", "--model", "m", "--gpus", "1", "--out",
                 str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("bench spec error: endpoints[0].baseUrl = 'ftp://x': not an http(s) URL")
    assert any("gpuHourUsd and gpus go together" in line for line in err) and len(err) == 2
    assert not (tmp_path / "r.json").exists()


RAW = {"completed": 6, "failed": 4, "duration": 10.0, "total_input_tokens": 600, "total_output_tokens": 3000,
       "output_throughput": 300.0, "p50_ttft_ms": 40.0, "p95_ttft_ms": 90.0, "p50_e2el_ms": 400.0,
       "p95_e2el_ms": 900.0,
       "errors": ["", "", "", "", "", "", "Internal Server Error", "Internal Server Error",
                  "NOT_SENT: maxSeconds reached before this request was sent", "NOT_SENT: maxSeconds reached"]}


def test_not_sent_requests_are_not_counted_as_failures():
    m = measured(RAW)
    assert (m.sent, m.completed, m.not_sent) == (8, 6, 2)
    assert m.success_rate == 0.75 and m.errors == {"Internal Server Error": 2}


def test_cost_per_gpu_hour_and_per_token():
    m = measured(RAW)
    hourly = cost(Price(gpu_hour_usd=3.6, gpus=2), m)  # $7.2/h for 10 s = $0.02 over 3000 tokens and 6 answers
    assert hourly.usd_per_1m_output == pytest.approx(0.02 / 3000 * 1e6)
    assert hourly.usd_per_inference == pytest.approx(0.02 / 6)
    per_token = cost(Price(input_per_1m_usd=1.0, output_per_1m_usd=2.0), m)  # 600 x $1 + 3000 x $2 per 1M
    assert per_token.usd_per_inference == pytest.approx((600 * 1 + 3000 * 2) / 1e6 / 6)
    assert per_token.usd_per_1m_output == pytest.approx((600 * 1 + 3000 * 2) / 3000)


def test_ranking_puts_endpoints_without_figures_last():
    rows = [{"name": "a", "k": None}, {"name": "b", "k": 2.0}, {"name": "c", "k": 1.0}]
    assert ranking(rows, "k") == ["c", "b", "a"]


def test_plain_table_shows_a_dash_for_missing_figures():
    row = {"name": "down", "cold_start_s": None, "ttft_p50_ms": None, "ttft_p95_ms": None, "e2e_p50_ms": None,
           "e2e_p95_ms": None, "output_tokens_per_s": 0.0, "success": "0/4 (0%)", "usd_per_1m_output": None,
           "usd_per_inference": None}
    last = plain_table([row]).splitlines()[-1].split()
    assert last[0] == "down" and last.count("-") == 7 and "0/4" in last


def _result(tmp_path: Path, completed: int = 6) -> Path:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({
        "date": "2026-11-30 11:00 UTC", "workload": {"promptTokens": 32, "outputTokens": 16, "concurrency": 8},
        "endpoints": [{"name": "fleet", "model": "qwen-7b",
                       "measured": {"completed": completed, "sent": 8, "output_tokens_per_s": 412.34}}]}))
    return path


def test_to_throughput_prints_the_block_a_stack_takes(tmp_path: Path):
    from infra.config.traffic import Throughput

    text = throughput_block(_result(tmp_path), "fleet")
    block = yaml.safe_load(text)["throughput"]
    parsed = Throughput.model_validate(block)  # what Pulumi.<stack>.yaml's models[].throughput accepts
    assert (parsed.output_tokens_per_second, parsed.concurrency) == (412.3, 8)
    assert "run.json, endpoint fleet, 2026-11-30 11:00 UTC" in parsed.source and "6/8 ok" in parsed.source
    halved = yaml.safe_load(throughput_block(_result(tmp_path), "fleet", replicas=2))["throughput"]
    assert (halved["outputTokensPerSecond"], halved["concurrency"]) == (206.2, 4)


def test_to_throughput_refuses_an_unknown_endpoint_or_no_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["bench", "--to-throughput", str(_result(tmp_path)), "--endpoint", "modal"]) == 2
    assert capsys.readouterr().err.strip() == (f"bench result error: --endpoint = modal: not in {tmp_path / 'run.json'}"
                                               "; allowed: fleet")
    with pytest.raises(ConfigError, match="no request succeeded"):
        throughput_block(_result(tmp_path, completed=0), "fleet")


def test_the_documented_example_spec_loads(monkeypatch: pytest.MonkeyPatch):
    from tests.conftest import ROOT

    monkeypatch.setenv("FLEET_API_KEY", "k1")
    monkeypatch.setenv("TOGETHER_API_KEY", "k2")
    spec = load_spec(ROOT / "docs" / "bench" / "bench.yaml")
    assert [e.name for e in spec.endpoints] == ["fleet-prod", "together"]
    assert spec.endpoints[1].api == "chat" and spec.endpoints[1].api_key() == "k2"
