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


@given("メンテナンス計画がそろい、作業時間帯に入っている")
def plan_ready(workflow: Workflow) -> None:
    workflow.check_plan()


@given("全チャネルに告知を送信済みである")
def announce(workflow: Workflow) -> None:
    workflow.announce()


@given("計画した全コンポーネントのバックアップを取得し、チェックサムで確認する")
def back_up(workflow: Workflow) -> None:
    workflow.back_up()


@given("事前チェックリストを満たす")
def pre_checklist(scenarios: Scenarios) -> None:
    scenarios.run("pre-maintenance-checklist", "CHECKLIST 事前チェックリスト (before)")


@when("メンテナンス全体をサイレンスで覆う")
def silence(workflow: Workflow) -> None:
    workflow.open_silence()


@when("作業前のバージョンを記録する")
def versions_before(workflow: Workflow) -> None:
    workflow.record_versions("before")


@when("計画した各手順を計画の順に実施する")
def procedures(workflow: Workflow, scenarios: Scenarios) -> None:
    workflow.run_procedures(scenarios.run)


@when("実施中チェックリストを満たす")
def during_checklist(scenarios: Scenarios) -> None:
    scenarios.run("during-maintenance-checklist", "CHECKLIST 実施中チェックリスト (during)")


@then("復旧を確認する: サービス状態、ヘルスチェック、ログの末尾 50 行")
def recovery(workflow: Workflow) -> None:
    workflow.confirm_recovery()


@then("作業後のバージョンを記録する")
def versions_after(workflow: Workflow) -> None:
    workflow.record_versions("after")


@then("このメンテナンスのサイレンスを解除する")
def expire(workflow: Workflow) -> None:
    workflow.expire_silence()


@then("完了通知を送信する")
def completion(workflow: Workflow) -> None:
    workflow.complete()


@then("計画の保持期間を過ぎたバックアップを削除する")
def prune(workflow: Workflow) -> None:
    workflow.prune_backups()


@then("作業報告を作成する")
def report(workflow: Workflow) -> None:
    workflow.write_report()


@then("事後チェックリストを満たす")
def post_checklist(scenarios: Scenarios) -> None:
    scenarios.run("post-maintenance-checklist", "CHECKLIST 事後チェックリスト (after)")


@when("開始した全手順を新しい順にロールバックする")
def roll_back(workflow: Workflow, scenarios: Scenarios, request: pytest.FixtureRequest) -> None:
    workflow.failure = rollback.failure_of(request)
    workflow.roll_back(scenarios.run, scenarios.rollbacks_of, scenarios.unfinished())


@then("ロールバック後の確認が通る: ヘルス、ログ、サイレンス、ロールバック通知")
def post_rollback(workflow: Workflow) -> None:
    workflow.post_rollback_checks()
