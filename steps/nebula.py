"""Steps of the Nebula update (features/nebula_update.feature)."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.nebula_update import NebulaUpdate


@pytest.fixture
def nebula_update(maintenance: Maintenance, procedure_silence: object, decisions: DecisionEngine) -> NebulaUpdate:
    return NebulaUpdate(maintenance.nebula(), maintenance.plan.changes.nebula, decisions)


@given("Nebula サービスが稼働し、オーバーレイが通信できる")
def overlay_works(nebula_update: NebulaUpdate) -> None:
    nebula_update.check_overlay()


@given("ホスト証明書の有効期限に十分な余裕がある")
@then("ホスト証明書の有効期限に十分な余裕がある")
def certificate(nebula_update: NebulaUpdate) -> None:
    nebula_update.check_certificate()


@given("現在の Nebula のバージョンを記録する")
def version(nebula_update: NebulaUpdate) -> None:
    nebula_update.record_version()


@given("バイナリ・設定・証明書をチェックサム付きでバックアップする")
def backup(nebula_update: NebulaUpdate) -> None:
    nebula_update.take_backup()


@when("新しいリリースで設定テストが通る")
def config_test(nebula_update: NebulaUpdate) -> None:
    nebula_update.test_new_release()


@when("Nebula サービスを停止する")
def stop(nebula_update: NebulaUpdate) -> None:
    nebula_update.stop()


@when("2 つのバイナリをアトミックに置き換える")
def replace(nebula_update: NebulaUpdate) -> None:
    nebula_update.replace_binaries()


@when("Nebula サービスを開始する")
def start(nebula_update: NebulaUpdate) -> None:
    nebula_update.start()


@then("ハンドシェイク完了後、オーバーレイ経由で Lighthouse が ping と TCP に応答する")
def overlay(nebula_update: NebulaUpdate) -> None:
    nebula_update.verify_overlay()


@then("起動以降の Nebula ログに新しいエラー行がない")
def log_clean(nebula_update: NebulaUpdate) -> None:
    nebula_update.verify_log()


@then("Nebula が新しいバージョンを報告する")
def new_version(nebula_update: NebulaUpdate) -> None:
    nebula_update.verify_new_version()


@when("ロールバックのため Nebula サービスを停止する")
def stop_rollback(nebula_update: NebulaUpdate) -> None:
    nebula_update.stop_for_rollback()


@when("記録したバックアップからバイナリ・設定・証明書を復元する")
def restore(nebula_update: NebulaUpdate) -> None:
    nebula_update.restore()


@when("Nebula サービスを再び開始する")
def start_again(nebula_update: NebulaUpdate) -> None:
    nebula_update.start_after_rollback()


@then("オーバーレイが再び通信できる")
def overlay_again(nebula_update: NebulaUpdate) -> None:
    nebula_update.verify_after_rollback()
