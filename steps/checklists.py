"""Steps of the maintenance checklists (features/checklists/*.feature): each checks one item for real."""

from __future__ import annotations

import pytest
from pytest_bdd import then

from procedures.plugin.embed import Scenarios
from procedures.run.maintenance import Maintenance
from procedures.runbooks import checklists
from procedures.runbooks.workflow import Workflow


@then("the maintenance window is set, not over, and long enough for the plan")
def window(workflow: Workflow) -> None:
    checklists.window_is_ahead(workflow)


@then("the affected services and users are identified")
def impact(workflow: Workflow) -> None:
    checklists.impact_is_identified(workflow)


@then("the announcement was delivered on every channel")
def announced(workflow: Workflow) -> None:
    checklists.notice_delivered(workflow, "announcement")


@then("a fresh backup of every planned component matches its manifest")
def backed_up(workflow: Workflow) -> None:
    checklists.backups_verified(workflow)


@then("every planned procedure has a rollback scenario")
def rollbacks(workflow: Workflow, scenarios: Scenarios) -> None:
    checklists.rollbacks_present(workflow, scenarios.rollbacks_of)


@then("every file the plan installs is staged and checksummed")
def staged(workflow: Workflow) -> None:
    checklists.releases_staged(workflow)


@then("the staging verification is done or marked not applicable")
def staging(workflow: Workflow) -> None:
    checklists.staging_verification(workflow)


@then("the maintenance's alerts are silenced")
def silenced(maintenance: Maintenance) -> None:
    checklists.silence_active(maintenance)


@then("the work log is being recorded")
def recorded(request: pytest.FixtureRequest) -> None:
    checklists.work_log_recorded(request.config.option.allure_report_dir)


@then("every procedure that ran was verified")
def verified(maintenance: Maintenance) -> None:
    checklists.each_step_verified(maintenance)


@then("every service is healthy")
def healthy(maintenance: Maintenance) -> None:
    checklists.services_healthy(maintenance)


@then("no new error lines appeared in the logs since the maintenance began")
def logs_clean(workflow: Workflow) -> None:
    checklists.logs_clean(workflow)


@then("no silence of this maintenance is still active")
def silence_gone(maintenance: Maintenance) -> None:
    checklists.silence_expired(maintenance)


@then("the completion notice was delivered on every channel")
def completed(workflow: Workflow) -> None:
    checklists.notice_delivered(workflow, "completion")


@then("the work report is written for this maintenance")
def work_report(maintenance: Maintenance) -> None:
    checklists.work_report_written(maintenance)


@then("old backups are pruned to the plan's retention")
def pruned(workflow: Workflow) -> None:
    checklists.backups_pruned(workflow)
