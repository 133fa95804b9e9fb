"""serving/flags.py against vLLM's real parser (issue 17 item 7): every option vLLM registers is refused exactly when
it sets what the image refuses, and every abbreviation vLLM expands to a refused flag is refused too.

Marked vllm: building the parser imports the engine (tens of seconds); the rules themselves are tested without it in
test_serving_flags_security.py.
"""

from __future__ import annotations

import argparse
import importlib.util

import pytest

from serving.flags import flag_name, refused_flags

pytestmark = pytest.mark.vllm

# What the image refuses, by the attribute vLLM stores it in. `--no-trust-remote-code` shares trust_remote_code's
# attribute but only turns it off: it stays allowed.
REFUSED_DESTS = {"model", "served_model_name", "host", "port", "uds", "tensor_parallel_size", "max_model_len",
                 "gpu_memory_utilization", "api_key", "hf_token", "config", "trust_remote_code"}
ALLOWED_SPELLINGS = {"--no-trust-remote-code"}
# Refused only with SERVING_ADAPTER_ROOT set: the image owns LoRA, and runtime loads must reach the one API server.
ADAPTER_DESTS = {"enable_lora", "max_lora_rank", "max_loras", "max_cpu_loras", "api_server_count", "data_parallel_size"}
# Refused only with SERVING_OVERFLOW_QUEUE_DEPTH set: the overflow reads the queue gauge of the one API server.
OVERFLOW_DESTS = {"disable_log_stats", "api_server_count", "data_parallel_size"}


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm not installed (requirements-engine.txt)")
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    # The parser `python -m vllm.entrypoints.openai.api_server` builds (vllm/entrypoints/launchers/api_server/entry.py).
    return make_arg_parser(FlexibleArgumentParser(description="vLLM OpenAI-Compatible RESTful API server."))


@pytest.mark.parametrize(("adapters", "overflow"), [(False, False), (True, False), (False, True)],
                         ids=["plain", "adapters", "overflow"])
def test_every_vllm_option_is_refused_exactly_when_it_sets_a_refused_setting(parser: argparse.ArgumentParser,
                                                                             adapters: bool, overflow: bool) -> None:
    assert parser.allow_abbrev  # the premise of the prefix rule
    refused = REFUSED_DESTS | (ADAPTER_DESTS if adapters else set()) | (OVERFLOW_DESTS if overflow else set())
    wrong = []
    for option, action in parser._option_string_actions.items():
        should = action.dest in refused and option not in ALLOWED_SPELLINGS
        if bool(refused_flags([option], adapters=adapters, overflow=overflow)) != should:
            wrong.append(f"{option} ({action.dest}): {'refused' if not should else 'accepted'}")
    assert wrong == []


def test_every_abbreviation_vllm_expands_to_a_refused_flag_is_refused(parser: argparse.ArgumentParser) -> None:
    missed = []
    for option, action in parser._option_string_actions.items():
        if action.dest not in REFUSED_DESTS | ADAPTER_DESTS | OVERFLOW_DESTS or option in ALLOWED_SPELLINGS:
            continue
        for end in range(2, len(option)):
            prefix = option[:end]
            if prefix in ("-", "--"):
                continue
            try:
                found = parser._parse_optional(prefix)  # what argparse makes of the token (3.11: a 3-tuple)
            except SystemExit:  # ambiguous: vLLM refuses it itself
                continue
            if found and found[0] is action and not refused_flags([prefix], adapters=action.dest in ADAPTER_DESTS,
                                                                  overflow=action.dest in OVERFLOW_DESTS):
                missed.append(prefix)
    assert missed == []


def test_underscored_spellings_reach_the_same_flag(parser: argparse.ArgumentParser) -> None:
    # FlexibleArgumentParser rewrites `_` to `-` before argparse sees the token; flag_name does the same.
    for option in ("--api_key", "--max_model_len", "--trust_remote_code", "--hf_token"):
        assert flag_name(option) in parser._option_string_actions
