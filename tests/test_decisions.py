"""The rollback decision table as policy: each class, its window, and the operator hand-off."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from procedures.config.plan import DecisionPolicy
from procedures.errors import FailureClass, VerificationFailed
from procedures.run.decisions import DecisionEngine, OperatorDesk, answer

FAST = DecisionPolicy.model_validate({
    "partly_broken": {"fix_window_minutes": 0.01, "retry_every_seconds": 0.1},   # 0.6 s
    "degraded": {"decide_within_minutes": 0.01, "retry_every_seconds": 0.1, "threshold_ms": 50, "samples": 3},
    "log_errors": {"decide_within_minutes": 0.01},
})


def engine(tmp_path: Path, policy: DecisionPolicy = FAST) -> DecisionEngine:
    return DecisionEngine(policy, OperatorDesk(tmp_path / "decisions"))


class Check:
    """A verification that fails with ``failure_class`` the first ``failures`` times it runs."""

    def __init__(self, failure_class: FailureClass, failures: int) -> None:
        self.failure_class, self.failures, self.calls = failure_class, failures, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise VerificationFailed(f"failure {self.calls}", failure_class=self.failure_class)


def test_the_manual_defaults() -> None:
    policy = DecisionPolicy()
    assert policy.service_down.decide_within_minutes == 5
    assert policy.partly_broken.fix_window_minutes == 15
    assert policy.degraded.decide_within_minutes == 30
    assert policy.log_errors.decide_within_minutes == 60


def test_a_passing_check_decides_nothing(tmp_path: Path) -> None:
    decide = engine(tmp_path)
    decide.verify("ok", Check("service_down", 0))
    assert decide.decisions == []


def test_service_down_rolls_back_at_once(tmp_path: Path) -> None:
    decide, check = engine(tmp_path), Check("service_down", 99)
    with pytest.raises(VerificationFailed, match="failure 1"):
        decide.verify("gateway up", check)
    assert check.calls == 1
    [decision] = decide.decisions
    assert (decision.failure_class, decision.action, decision.attempts) == ("service_down", "rollback", 1)
    assert decision.deadline and "at once" in decision.reason


def test_partly_broken_recovers_inside_the_fix_window(tmp_path: Path) -> None:
    decide, check = engine(tmp_path), Check("partly_broken", 2)
    decide.verify("health", check)
    [decision] = decide.decisions
    assert (decision.action, decision.attempts, check.calls) == ("continue", 3, 3)


def test_partly_broken_rolls_back_when_the_fix_window_closes(tmp_path: Path) -> None:
    decide, check = engine(tmp_path), Check("partly_broken", 99)
    started = time.monotonic()
    with pytest.raises(VerificationFailed):
        decide.verify("health", check)
    assert time.monotonic() - started >= 0.5  # it really waited out the window
    [decision] = decide.decisions
    assert decision.action == "rollback" and decision.attempts == check.calls > 3
    assert "0.01-minute window" in decision.reason


def test_degraded_is_measured_against_the_threshold(tmp_path: Path) -> None:
    decide = engine(tmp_path)
    decide.latency("fast page", lambda: 0.001)
    assert decide.decisions == []
    with pytest.raises(VerificationFailed, match="over the 50 ms threshold"):
        decide.latency("slow page", lambda: 0.08)
    [decision] = decide.decisions
    assert (decision.failure_class, decision.action) == ("degraded", "rollback")
    timings = iter([0.08] * 3 + [0.001] * 100)  # slow at first, then back under the threshold
    decide.latency("warming page", lambda: next(timings))
    assert decide.decisions[-1].action == "continue"


def test_log_errors_are_handed_to_the_operator(tmp_path: Path) -> None:
    decide = engine(tmp_path, FAST.model_copy(update={"log_errors": FAST.log_errors.model_copy(
        update={"decide_within_minutes": 0.5})}))

    asked: list[str] = []  # what the operator was asked; checked here, not in the helper thread

    def operator() -> None:  # what `./maint decide continue` does
        deadline = time.monotonic() + 20
        while not (answered := answer(tmp_path / "decisions", "continue")) and time.monotonic() < deadline:
            time.sleep(0.05)
        asked.extend(request.read_text() for request in answered)

    helper = threading.Thread(target=operator)
    helper.start()
    decide.verify("logs", lambda: (_ for _ in ()).throw(
        VerificationFailed("3 new error lines", failure_class="log_errors")))
    helper.join(timeout=10)
    assert len(asked) == 1 and "error lines" in asked[0]
    [decision] = decide.decisions
    assert (decision.action, decision.reason.startswith("the operator said continue")) == ("continue", True)


def test_no_operator_answer_applies_the_plan_default(tmp_path: Path) -> None:
    decide = engine(tmp_path)
    with pytest.raises(VerificationFailed):
        decide.verify("logs", Check("log_errors", 99))
    [decision] = decide.decisions
    assert decision.action == "rollback" and "no operator answer before the deadline" in decision.reason
