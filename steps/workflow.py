"""Steps of the planned-maintenance workflow (features/maintenance_workflow.feature)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import given, then, when

from procedures.plugin import rollback
from procedures.plugin.embed import Scenarios
from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.silences import MaintenanceSilence
from procedures.runbooks.workflow import Workflow


@pytest.fixture
def workflow(maintenance: Maintenance, decisions: DecisionEngine, maintenance_silence: MaintenanceSilence | None,
             request: pytest.FixtureRequest) -> Iterator[Workflow]:
    work = Workflow(maintenance, decisions, maintenance_silence)
    yield work
    work.finish(rollback.failure_of(request), rollback.rollback_error_of(request), rollback.incident_of(request))


@given("the maintenance plan is complete and its window is open")
def plan_ready(workflow: Workflow) -> None:
    workflow.check_plan()


@given("the announcement has been sent on every channel")
def announce(workflow: Workflow) -> None:
    workflow.announce()


@given("every planned component is backed up and verified by checksum")
def back_up(workflow: Workflow) -> None:
    workflow.back_up()


@given("the pre-maintenance checklist passes")
def pre_checklist(scenarios: Scenarios) -> None:
    scenarios.run("pre-maintenance-checklist", "CHECKLIST 事前チェックリスト (before)")


@when("a silence covers the whole maintenance")
def silence(workflow: Workflow) -> None:
    workflow.open_silence()


@when("the versions before the work are recorded")
def versions_before(workflow: Workflow) -> None:
    workflow.record_versions("before")


@when("every planned procedure runs in the plan's order")
def procedures(workflow: Workflow, scenarios: Scenarios) -> None:
    workflow.run_procedures(scenarios.run)


@when("the during-maintenance checklist passes")
def during_checklist(scenarios: Scenarios) -> None:
    scenarios.run("during-maintenance-checklist", "CHECKLIST 実施中チェックリスト (during)")


@then("the recovery is confirmed: services, health endpoints and the last 50 log lines")
def recovery(workflow: Workflow) -> None:
    workflow.confirm_recovery()


@then("the versions after the work are recorded")
def versions_after(workflow: Workflow) -> None:
    workflow.record_versions("after")


@then("the maintenance's silence is expired")
def expire(workflow: Workflow) -> None:
    workflow.expire_silence()


@then("the completion notice is sent")
def completion(workflow: Workflow) -> None:
    workflow.complete()


@then("backups beyond the plan's retention are removed")
def prune(workflow: Workflow) -> None:
    workflow.prune_backups()


@then("the work report is written")
def report(workflow: Workflow) -> None:
    workflow.write_report()


@then("the post-maintenance checklist passes")
def post_checklist(scenarios: Scenarios) -> None:
    scenarios.run("post-maintenance-checklist", "CHECKLIST 事後チェックリスト (after)")


@when("every started procedure is rolled back, newest first")
def roll_back(workflow: Workflow, scenarios: Scenarios, request: pytest.FixtureRequest) -> None:
    workflow.failure = rollback.failure_of(request)
    workflow.roll_back(scenarios.run, scenarios.rollbacks_of, scenarios.unfinished())


@then("the post-rollback checks pass: health, logs, silence and the rollback notice")
def post_rollback(workflow: Workflow) -> None:
    workflow.post_rollback_checks()
