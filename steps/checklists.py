"""Steps of the maintenance checklists (features/checklists/*.feature): each checks one item for real."""

from __future__ import annotations

import pytest
from pytest_bdd import then

from procedures.plugin.embed import Scenarios
from procedures.run.maintenance import Maintenance
from procedures.runbooks import checklists
from procedures.runbooks.workflow import Workflow


@then("作業時間帯が設定され、終わっておらず、計画に十分な長さがある")
def window(workflow: Workflow) -> None:
    checklists.window_is_ahead(workflow)


@then("影響を受けるサービスと利用者が特定されている")
def impact(workflow: Workflow) -> None:
    checklists.impact_is_identified(workflow)


@then("告知が全チャネルに届いている")
def announced(workflow: Workflow) -> None:
    checklists.notice_delivered(workflow, "announcement")


@then("計画した全コンポーネントの最新バックアップがマニフェストと一致する")
def backed_up(workflow: Workflow) -> None:
    checklists.backups_verified(workflow)


@then("計画した全手順にロールバック手順がある")
def rollbacks(workflow: Workflow, scenarios: Scenarios) -> None:
    checklists.rollbacks_present(workflow, scenarios.rollbacks_of)


@then("計画で導入する全ファイルが配置済みでチェックサムがある")
def staged(workflow: Workflow) -> None:
    checklists.releases_staged(workflow)


@then("ステージング環境での検証が済んでいるか、対象外と記されている")
def staging(workflow: Workflow) -> None:
    checklists.staging_verification(workflow)


@then("このメンテナンスのアラートがサイレンスされている")
def silenced(maintenance: Maintenance) -> None:
    checklists.silence_active(maintenance)


@then("作業ログが記録されている")
def recorded(request: pytest.FixtureRequest, maintenance: Maintenance) -> None:
    checklists.work_log_recorded(maintenance, request.config.option.allure_report_dir)


@then("実施した全手順が動作確認済みである")
def verified(maintenance: Maintenance) -> None:
    checklists.each_step_verified(maintenance)


@then("問題が起きてもすぐにロールバックを判断できる時間が残っている")
def time_to_decide(workflow: Workflow) -> None:
    checklists.time_left_to_roll_back(workflow)


@then("全サービスが正常である")
def healthy(maintenance: Maintenance) -> None:
    checklists.services_healthy(maintenance)


@then("メンテナンス開始以降、ログに新しいエラー行がない")
def logs_clean(workflow: Workflow) -> None:
    checklists.logs_clean(workflow)


@then("このメンテナンスのサイレンスが残っていない")
def silence_gone(maintenance: Maintenance) -> None:
    checklists.silence_expired(maintenance)


@then("完了通知が全チャネルに届いている")
def completed(workflow: Workflow) -> None:
    checklists.notice_delivered(workflow, "completion")


@then("このメンテナンスの作業報告が作成されている")
def work_report(maintenance: Maintenance) -> None:
    checklists.work_report_written(maintenance)


@then("古いバックアップが計画の保持期間まで整理されている")
def pruned(workflow: Workflow) -> None:
    checklists.backups_pruned(workflow)
