"""Steps of the monitoring stack procedures (features/monitoring_update.feature)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import given, then, when

from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.monitoring_update import MonitoringMaintenance
from procedures.runbooks.silences import MaintenanceSilence


@pytest.fixture
def monitoring(maintenance: Maintenance, maintenance_silence: MaintenanceSilence | None
               ) -> Iterator[MonitoringMaintenance]:
    work = MonitoringMaintenance(maintenance.monitoring(), maintenance.plan, maintenance_silence)
    yield work
    work.close_silence()  # the silence never outlives the test, whatever happened


@given("影響するコンポーネントがメンテナンス用サイレンスで覆われている")
def silence(monitoring: MonitoringMaintenance, request: pytest.FixtureRequest) -> None:
    monitoring.open_silence(request.node.name)


@given("監視の全エンドポイントが準備完了である")
def ready(monitoring: MonitoringMaintenance) -> None:
    monitoring.check_ready()


@given("compose ファイルと設定を、稼働中のイメージとともにバックアップする")
def backup(monitoring: MonitoringMaintenance) -> None:
    monitoring.take_backup()


@when("compose ファイルのイメージタグを新しいバージョンに更新する")
def new_tags(monitoring: MonitoringMaintenance) -> None:
    monitoring.set_new_image_tags()


@when("新しいイメージを取得する")
def pull(monitoring: MonitoringMaintenance) -> None:
    monitoring.pull()


@when("サービスを再起動する")
def restart(monitoring: MonitoringMaintenance) -> None:
    monitoring.restart()


@then("スタックが新しいイメージで稼働している")
def new_images(monitoring: MonitoringMaintenance, decisions: DecisionEngine) -> None:
    decisions.verify("スタックが新しいイメージで稼働している", monitoring.verify_new_images)


@when("新しい設定を配置する")
def apply_config(monitoring: MonitoringMaintenance) -> None:
    monitoring.apply_new_config()


@when("コンテナ内の promtool と amtool で設定を検証する")
def validate(monitoring: MonitoringMaintenance) -> None:
    monitoring.validate_config()


@when("Prometheus と Alertmanager が設定をリロードする")
def reload(monitoring: MonitoringMaintenance) -> None:
    monitoring.reload()


@then("Prometheus が新しい設定で動作している")
def served(monitoring: MonitoringMaintenance, decisions: DecisionEngine) -> None:
    decisions.verify("Prometheus が新しい設定で動作している", monitoring.verify_config_served)


@given("Grafana の全ダッシュボードをマニフェスト付きでエクスポートする")
def export(monitoring: MonitoringMaintenance) -> None:
    monitoring.export_dashboards()


@when("新しいダッシュボードをインポートする")
def import_new(monitoring: MonitoringMaintenance) -> None:
    monitoring.import_dashboards()


@then("Grafana が新しいダッシュボードのバージョンを返す")
def dashboards_new(monitoring: MonitoringMaintenance, decisions: DecisionEngine) -> None:
    decisions.verify("Grafana が新しいダッシュボードのバージョンを返す", monitoring.verify_dashboards)


@then("メンテナンス用サイレンスを解除する")
def silence_expired(monitoring: MonitoringMaintenance) -> None:
    monitoring.close_silence()


@when("バックアップした compose ファイルと設定を復元する")
def restore(monitoring: MonitoringMaintenance) -> None:
    monitoring.restore_files()


@when("スタックを以前のイメージで再び稼働させる")
def previous_images(monitoring: MonitoringMaintenance) -> None:
    monitoring.restart_previous_images()


@when("復元した設定を検証してリロードする")
def reload_restored(monitoring: MonitoringMaintenance) -> None:
    monitoring.reload_restored_config()


@then("スタックが更新前とまったく同じである")
def as_before(monitoring: MonitoringMaintenance) -> None:
    monitoring.verify_as_before()


@when("エクスポートしたダッシュボードを再インポートする")
def reimport(monitoring: MonitoringMaintenance) -> None:
    monitoring.reimport_dashboards()


@then("Grafana がエクスポート時のダッシュボードを返す")
def dashboards_exported(monitoring: MonitoringMaintenance) -> None:
    monitoring.verify_dashboards_as_exported()
