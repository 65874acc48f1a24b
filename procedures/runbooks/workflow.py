"""The manual's planned-maintenance workflow: 計画 → 告知 → 準備 → 実施 → 確認 → 完了.

``Workflow`` holds what one maintenance did, in the order it did it, so that
a failure anywhere after the backup rolls back exactly what was started, in
reverse order, and the completion notice and the work report can say what
happened. The component procedures themselves are the scenarios of their own
feature files, run inside the workflow's test (``run_scenario``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from procedures import record
from procedures.errors import ConfigError, PreconditionFailed, ProcedureError, RollbackFailed
from procedures.host import backups
from procedures.notices import Delivery, Kind, render
from procedures.notices.wording import change_lines, plan_time
from procedures.record import work_report
from procedures.runbooks.recovery import LogWatch, check_services, require_healthy
from procedures.runbooks.silences import MaintenanceSilence, expire_leftovers

if TYPE_CHECKING:
    from procedures.config.plan import Changes, Plan, Window
    from procedures.host import Host
    from procedures.run.decisions import DecisionEngine
    from procedures.run.maintenance import Maintenance

Outcome = Literal["running", "completed", "rolled_back", "rollback_failed"]
RunScenario = Callable[[str, str], None]  # (scenario id, title)
RollbacksOf = Callable[[str], list[str]]  # procedure id → its linked rollback ids
WORKFLOW_SCENARIO = "planned-maintenance"  # the workflow scenario's @id
LOG_MARKS = "log-marks.json"


def procedures_for(changes: Changes) -> list[tuple[str, str]]:
    """``(component, procedure scenario id)`` for every planned change, in the plan's order."""
    found: list[tuple[str, str]] = []
    for component in changes.planned():
        if component == "monitoring" and changes.monitoring is not None:
            change = changes.monitoring
            found += [("monitoring", "monitoring-images-update")] if change.images else []
            found += [("monitoring", "monitoring-config-update")] if change.config else []
            found += [("monitoring", "grafana-dashboards-update")] if change.dashboards else []
        else:
            found.append((component, f"{component}-update"))
    return found


@dataclass(frozen=True)
class BackupTarget:
    """Where a component's backups live, and how to take one."""

    component: str
    host: Host
    folder: str
    take: Callable[[dict[str, Any]], backups.Backup]


def current_version(m: Maintenance, component: str) -> Any:
    """What a component runs now, in the terms its procedure verifies."""
    if component == "gateway":
        return m.gateway().version()
    if component == "monitoring":
        return {name: info["image"] for name, info in m.monitoring().running_images().items()}
    if component == "cni":
        return m.cni().identity().get("sha256")
    return m.nebula().version().get("version")


def backup_target(m: Maintenance, component: str) -> BackupTarget:
    if component == "gateway":
        gateway = m.gateway()
        return BackupTarget("gateway", gateway.host, gateway.path(gateway.c.backups_dir), gateway.backup)
    if component == "monitoring":
        stack = m.monitoring()
        return BackupTarget("monitoring", stack.host, stack.c.backups_dir, stack.backup)
    if component == "cni":
        cni = m.cni()
        return BackupTarget("cni", cni.host, cni.c.backups_dir, cni.backup)
    node = m.nebula()
    return BackupTarget("nebula", node.host, node.c.backups_dir, node.backup)


@dataclass
class Workflow:
    m: Maintenance
    decide: DecisionEngine
    silence: MaintenanceSilence | None
    started_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    outcome: Outcome = "running"
    failure: str | None = None
    rollback_error: str | None = None
    incident: str | None = None
    backups: dict[str, backups.Backup] = field(default_factory=dict)
    started: list[tuple[str, str]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    notices: list[Delivery] = field(default_factory=list)
    report: Path | None = None
    logs: LogWatch = field(init=False)

    def __post_init__(self) -> None:
        self.logs = LogWatch(self.m)
        self.notifier = self.m.notifier()

    @property
    def plan(self) -> Plan:
        return self.m.plan

    # -- 1. 計画 (plan) -----------------------------------------------------------------
    def complete_plan(self) -> Window:
        """The plan holds every field the workflow needs (recorded); its window, for the timing checks."""
        gaps, window = self.plan.workflow_gaps(), self.plan.window
        if gaps or window is None:
            raise ConfigError(f"{self.m.plan_path}: the planned-maintenance workflow needs "
                              + ", ".join(f"'{g}'" for g in gaps) + " in the plan")
        record.data("the plan", self.plan.model_dump(mode="json", exclude_none=True))
        return window

    def check_plan(self) -> None:
        """At the start of the work: the plan is complete and its window is open now."""
        window, now = self.complete_plan(), datetime.now(UTC)
        if not window.starts <= now <= window.ends:
            raise PreconditionFailed(f"now ({window.local(now):%Y-%m-%d %H:%M}) is outside the maintenance window "
                                     f"{window.starts:%Y-%m-%d %H:%M} – {window.ends:%H:%M} {window.timezone}")

    # -- 2. 告知 (announcement) ----------------------------------------------------------
    def announce(self) -> None:
        """Send the announcement unless every channel already has it (it usually goes out days before)."""
        if not self.notifier.missing("announcement"):
            record.data("announcement already sent",
                        {c: asdict(d) for c, d in self.notifier.delivered("announcement").items()})
            return
        self.send("announcement")
        still = self.notifier.missing("announcement")
        if still:
            raise PreconditionFailed(f"the announcement did not reach: {', '.join(still)} (see the deliveries)")

    def send(self, kind: Kind, **facts: Any) -> list[Delivery]:
        deliveries = self.notifier.send(render(kind, self.plan, **facts))
        self.notices += deliveries
        return deliveries

    # -- 3. 準備 (preparation) -----------------------------------------------------------
    def back_up(self) -> None:
        for component in dict(procedures_for(self.plan.changes)):
            target = backup_target(self.m, component)
            self.backups[component] = target.take({"maintenance": self.plan.id, "taken_by": "workflow"})

    # -- 4. 実施 (execution) -------------------------------------------------------------
    def open_silence(self) -> str | None:
        if self.silence is None:
            raise PreconditionFailed("the plan needs a silence, and the inventory an Alertmanager, to silence "
                                     "the alerts the maintenance will raise")
        silence_id = self.silence.start(f"Planned maintenance {self.plan.id}: {'; '.join(self.plan.summary)}",
                                        holder="workflow")
        self.logs.mark()
        self.m.records_dir.mkdir(parents=True, exist_ok=True)
        (self.m.records_dir / LOG_MARKS).write_text(json.dumps({"offsets": self.logs.offsets,
                                                                "compose": sorted(self.logs.compose_seen)}))
        return silence_id

    def record_versions(self, when: Literal["before", "after"]) -> None:
        for component in dict(procedures_for(self.plan.changes)):
            self.versions.setdefault(component, {})[when] = current_version(self.m, component)
        record.data(f"versions {when}", self.versions)

    def run_procedures(self, run_scenario: RunScenario) -> None:
        for component, procedure in procedures_for(self.plan.changes):
            self.started.append((component, procedure))  # before it runs: a half-done procedure is rolled back too
            run_scenario(procedure, f"PROCEDURE {procedure} ({component})")
            self.finished.append(procedure)

    # -- 5. 復旧確認 (recovery confirmation) ------------------------------------------------
    def confirm_recovery(self) -> None:
        self.decide.verify("every service is up and healthy", lambda: require_healthy(check_services(self.m)))
        self.checks["サービス"] = "全サービス正常稼働（ヘルスチェック応答あり）"
        self.decide.verify("no new error lines in the last 50 log lines", self.logs.require_clean)
        self.checks["ログ"] = "新しいエラー行なし（直近 50 行）"

    # -- 6. 完了 (completion) --------------------------------------------------------------
    def expire_silence(self) -> None:
        """Ours, and any other silence this maintenance id left active (an earlier, crashed run)."""
        if self.m.inventory.components.monitoring is None:
            return
        if self.silence is not None:
            self.silence.expire(holder="workflow")
        expire_leftovers(self.m.monitoring().alertmanager, self.plan.id)

    def complete(self) -> None:
        self.outcome = "completed" if self.outcome == "running" else self.outcome
        self.send("completion", outcome=self.outcome, finished=plan_time(self.plan, datetime.now(UTC)),
                  done=self.done(), reason=self.failure or "")

    def prune_backups(self) -> None:
        for component in dict(procedures_for(self.plan.changes)):
            target = backup_target(self.m, component)
            backups.prune(target.host, target.folder, component, self.plan.retention.keep_backups)

    def write_report(self) -> None:
        self.report = work_report.write(self, self.m.run_dir)

    def finish(self, failure: str | None, rollback_error: str | None, incident: str | None) -> None:
        """Whatever happened (teardown): the silence ends, and the notice and the report say what happened."""
        self.failure = self.failure or failure
        self.rollback_error, self.incident = rollback_error, incident
        if rollback_error:
            self.outcome = "rollback_failed"
        elif failure and self.outcome in {"running", "completed"}:
            self.outcome = "rolled_back"
        if self.outcome == "running":  # interrupted before the end: nothing more to announce
            return
        closing: list[tuple[str, Callable[[], None]]] = [("expire the silence", self.expire_silence)]
        if self.outcome == "rolled_back" and not any(n.kind == "completion" for n in self.notices):
            closing.append(("send the completion notice", self.complete))
        closing.append(("write the work report", self.write_report))
        for what, action in closing:
            try:
                action()
            except ProcedureError as exc:  # the next closing action still runs
                record.text(f"could not {what}", str(exc))

    def done(self) -> list[str]:
        lines = change_lines(self.versions)
        if self.outcome != "completed" and self.rolled_back:
            lines.append("ロールバック: " + ", ".join(self.rolled_back))
        return lines

    # -- rollback ------------------------------------------------------------------------------
    def roll_back(self, run_scenario: RunScenario, rollbacks_of: RollbacksOf,
                  unfinished: list[tuple[str, list[str]]] | None = None) -> None:
        """Every started procedure's rollback, newest first; one failing does not stop the others.

        In the run that started them, the procedures are known; in a later ``--recover`` run they are
        what the journal shows as begun and not closed (``unfinished``, newest first).
        """
        rollbacks = [(rollback, component) for component, procedure in reversed(self.started)
                     for rollback in rollbacks_of(procedure)]
        if not rollbacks and unfinished:
            own = {WORKFLOW_SCENARIO, *rollbacks_of(WORKFLOW_SCENARIO)}
            ids = dict.fromkeys(u for name, undo in unfinished if name not in own for u in undo if u not in own)
            rollbacks = [(rollback, "from the journal") for rollback in ids]
        failures = []
        for rollback, component in rollbacks:
            try:
                run_scenario(rollback, f"ROLLBACK {rollback} ({component})")
                self.rolled_back.append(rollback)
            except ProcedureError as exc:
                failures.append(f"{rollback}: {exc}")
        if not rollbacks:
            record.text("rollback", "no procedure had started: nothing to roll back")
        if failures:
            raise RollbackFailed("ROLLBACK FAILED for " + "; ".join(failures))

    def post_rollback_checks(self) -> None:
        """The manual's ロールバック後の確認: health, logs, the silence, and the report to the people affected."""
        checks = check_services(self.m)
        require_healthy(checks)
        errors = self.logs.new_errors()  # the failed release's errors are expected: evidence, not a gate
        self.expire_silence()
        lines = [f"{c.name}: 正常" for c in checks]
        lines += [f"{name} のログに新しいエラー {len(found)} 行（原因調査で確認します）"
                  for name, found in errors.items()]
        self.send("rollback", finished=plan_time(self.plan, datetime.now(UTC)), reason=self.failure or "不明",
                  checks=lines)
        self.outcome = "rolled_back"
        self.checks["ロールバック後"] = "全サービス正常、サイレンス終了、ロールバック実施の通知送信済み"
