"""The supervisor's lifecycle phase and its allowed transitions (pure, unit-tested)."""

from __future__ import annotations

import enum


class Phase(enum.StrEnum):
    STARTING = "starting"  # vLLM launched, model not served yet
    READY = "ready"  # model served (and warmed up, if asked)
    DRAINING = "draining"  # SIGTERM received: unready, waiting for in-flight requests
    STOPPED = "stopped"  # drained and vLLM stopped on request: exit 0
    FAILED = "failed"  # vLLM exited without being asked to: exit non-zero


_ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.STARTING: frozenset({Phase.READY, Phase.DRAINING, Phase.FAILED}),
    Phase.READY: frozenset({Phase.DRAINING, Phase.FAILED}),
    Phase.DRAINING: frozenset({Phase.STOPPED, Phase.FAILED}),
    Phase.STOPPED: frozenset(),
    Phase.FAILED: frozenset(),
}


class InvalidTransition(RuntimeError):
    pass


class PhaseMachine:
    """Holds the current phase; refuses transitions that would hide a bug (e.g. failed → ready)."""

    def __init__(self) -> None:
        self._phase = Phase.STARTING

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def terminal(self) -> bool:
        return not _ALLOWED[self._phase]

    def to(self, new: Phase) -> None:
        if new is self._phase:
            return
        if new not in _ALLOWED[self._phase]:
            raise InvalidTransition(f"{self._phase} -> {new}")
        self._phase = new


def exit_code(phase: Phase, vllm_returncode: int | None) -> int:
    """The supervisor's exit code. Only a requested stop is a success.

    vLLM can exit 0 after its engine died, so an unrequested exit is a failure whatever its code;
    a signal death (negative returncode) maps to the shell convention 128 + signal.
    """
    if phase is Phase.STOPPED:
        return 0
    if vllm_returncode is None or vllm_returncode == 0:
        return 1
    return 128 - vllm_returncode if vllm_returncode < 0 else vllm_returncode
