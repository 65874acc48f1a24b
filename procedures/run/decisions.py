"""The manual's rollback decision table (ロールバック判断基準), applied by code.

A verification reports the class of its failure (``VerificationFailed.failure_class``);
the engine applies the plan's policy for that class and records the class, the
deadline, the action and the reason:

==================  ==============================  ====================================
class               manual                          engine
==================  ==============================  ====================================
service_down        即時ロールバック (5分以内)          roll back at once
partly_broken       修正を試みる (15分以内)            re-verify until the fix window closes
degraded            調査して判断 (30分以内)            re-measure against the threshold
log_errors          調査して判断 (1時間以内)           ask the operator; default at deadline
==================  ==============================  ====================================
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from procedures import record
from procedures.config.plan import DecisionPolicy
from procedures.errors import FailureClass, VerificationFailed
from procedures.run import live

Action = Literal["rollback", "continue"]


@dataclass(frozen=True)
class Decision:
    check: str
    failure_class: FailureClass
    action: Action
    deadline: str
    reason: str
    attempts: int


class OperatorDesk:
    """Hands a decision to a person: a request file, answered by writing ``continue`` or ``rollback``.

    ``./maint decide continue|rollback`` writes the answer file for the open request.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def ask(self, check: str, question: str, deadline: float, poll: float) -> Action | None:
        self.folder.mkdir(parents=True, exist_ok=True)
        request = self.folder / f"{int(time.time() * 1000)}.request"
        answer = request.with_suffix(".answer")
        written = request.with_suffix(".writing")  # whole or not at all: ./maint decide may look at any moment
        written.write_text(f"{check}\n{question}\nanswer: echo continue|rollback > {answer}\n", encoding="utf-8")
        written.rename(request)
        print(f"\nOPERATOR DECISION NEEDED: {question}\n  answer within {max(0.0, deadline - time.monotonic()):.0f} s"
              f" with: ./maint decide continue|rollback {self.folder.parent}", file=sys.__stderr__, flush=True)
        while time.monotonic() < deadline:
            if answer.exists():
                said = answer.read_text().strip().lower()
                if said in {"continue", "rollback"}:
                    return "continue" if said == "continue" else "rollback"
            time.sleep(poll)
        return None


@dataclass
class DecisionEngine:
    policy: DecisionPolicy
    desk: OperatorDesk
    decisions: list[Decision] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _seen: datetime = field(default_factory=lambda: datetime.now().astimezone())

    def verify(self, check: str, verification: Callable[[], object]) -> None:
        """Run ``verification``; on failure apply the table. Raises when the decision is to roll back."""
        try:
            verification()
            return
        except VerificationFailed as first:
            failure = first
        self._seen = datetime.now().astimezone()  # the decision deadlines count from the first failure
        handler = {"service_down": self._at_once, "partly_broken": self._retry, "degraded": self._retry,
                   "log_errors": self._ask}[failure.failure_class]
        handler(check, failure, verification)

    def latency(self, check: str, sample: Callable[[], float]) -> None:
        """Verify that the p95 of ``samples`` timings stays under the threshold (the 'degraded' row)."""
        rule = self.policy.degraded

        def measure() -> None:
            timings = sorted(sample() * 1000 for _ in range(rule.samples))
            p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
            record.data(f"latency: {check}", {"samples_ms": [round(t, 2) for t in timings], "p95_ms": round(p95, 2),
                                              "median_ms": round(statistics.median(timings), 2),
                                              "threshold_ms": rule.threshold_ms})
            if p95 > rule.threshold_ms:
                raise VerificationFailed(f"{check}: p95 {p95:.0f} ms is over the {rule.threshold_ms:.0f} ms threshold",
                                         failure_class="degraded")

        self.verify(check, measure)

    # -- the rows ------------------------------------------------------------------------
    def _at_once(self, check: str, failure: VerificationFailed, _: Callable[[], object]) -> None:
        minutes = self.policy.service_down.decide_within_minutes
        self._decide(check, failure, "rollback", minutes, "the service is down: the manual rolls back at once", 1)
        raise failure

    def _retry(self, check: str, failure: VerificationFailed, verification: Callable[[], object]) -> None:
        if failure.failure_class == "degraded":
            window, every = self.policy.degraded.decide_within_minutes, self.policy.degraded.retry_every_seconds
        else:
            window, every = self.policy.partly_broken.fix_window_minutes, self.policy.partly_broken.retry_every_seconds
        deadline, attempts = self.clock() + window * 60, 1
        rollback_at = live.until(deadline - self.clock())
        while self.clock() + every <= deadline:
            live.say(f"re-verify ({failure.failure_class}) attempt {attempts + 1}, every {every:g} s, "
                     f"rollback at {rollback_at} ({window:g} min window): {check}")
            self.sleep(every)
            attempts += 1
            try:
                with record.step(f"re-verify ({failure.failure_class}, attempt {attempts}): {check}"):
                    verification()
            except VerificationFailed as again:
                failure = again
                continue
            self._decide(check, failure, "continue", window, f"the check passed again on attempt {attempts}",
                         attempts)
            return
        self._decide(check, failure, "rollback", window,
                     f"still failing after {attempts} attempts in the {window:g}-minute window", attempts)
        raise failure

    def _ask(self, check: str, failure: VerificationFailed, _: Callable[[], object]) -> None:
        rule = self.policy.log_errors
        deadline = self.clock() + rule.decide_within_minutes * 60
        live.waiting("./maint decide (log_errors)", deadline - self.clock(), f"on deadline: {rule.on_deadline}")
        answer = self.desk.ask(check, f"{check}: {failure}. Continue or roll back?", deadline, poll=0.2)
        if answer is None:
            self._decide(check, failure, rule.on_deadline, rule.decide_within_minutes,
                         f"no operator answer before the deadline: the plan says {rule.on_deadline}", 1)
        else:
            self._decide(check, failure, answer, rule.decide_within_minutes, f"the operator said {answer}", 1)
        if self.decisions[-1].action == "rollback":
            raise failure

    def _decide(self, check: str, failure: VerificationFailed, action: Action, minutes: float, reason: str,
                attempts: int) -> None:
        deadline = (self._seen + timedelta(minutes=minutes)).isoformat(timespec="seconds")
        decision = Decision(check, failure.failure_class, action, deadline, f"{reason} ({failure})", attempts)
        self.decisions.append(decision)
        record.data(f"decision: {failure.failure_class} → {action}", asdict(decision))


def answer(folder: Path, said: Action) -> list[Path]:
    """Answer every open request in ``folder`` (what ``./maint decide`` does)."""
    open_requests = [r for r in sorted(folder.glob("*.request")) if not r.with_suffix(".answer").exists()]
    for request in open_requests:
        request.with_suffix(".answer").write_text(f"{said}\n", encoding="utf-8")
    return open_requests


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"continue", "rollback"}:
        print("usage: ./maint decide continue|rollback [RUN_DIR]   (default: reports/latest)")
        return 2
    run_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2] / "reports" / "latest"
    answered = answer(run_dir / "decisions", "continue" if argv[0] == "continue" else "rollback")
    for request in answered:
        print(f"{argv[0]}: {request.read_text(encoding='utf-8').splitlines()[0]}")
    if not answered:
        print(f"no open decision under {run_dir / 'decisions'}")
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
