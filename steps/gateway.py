"""Steps of the Gateway update (features/gateway_update.feature)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_bdd import given, then, when

from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.gateway_update import GatewayUpdate


@pytest.fixture
def gateway_update(maintenance: Maintenance, procedure_silence: object, decisions: DecisionEngine,
                   record_environment: Callable[[str, str], None]) -> Iterator[GatewayUpdate]:
    update = GatewayUpdate(maintenance.gateway(), maintenance.plan.changes.gateway, decisions)
    yield update
    record_environment("gateway.version.before", update.version_before or "unknown")
    record_environment("gateway.version.target", update.target_version or "not staged")


@given("ゲートウェイが稼働している")
def gateway_serving(gateway_update: GatewayUpdate) -> None:
    gateway_update.check_serving()


@given("現在のゲートウェイのバージョンを記録する")
def current_version(gateway_update: GatewayUpdate) -> None:
    gateway_update.record_version()


@given("ゲートウェイの設定をマニフェスト付きでバックアップする")
def backup(gateway_update: GatewayUpdate) -> None:
    gateway_update.take_backup()


@when("新しいリリースを稼働中のサイト設定とともに展開する")
def stage(gateway_update: GatewayUpdate) -> None:
    gateway_update.stage()


@when("展開した設定で設定テストが通る")
def config_test(gateway_update: GatewayUpdate) -> None:
    gateway_update.test_staged_config()


@when("新しいリリースが稼働中のゲートウェイから引き継ぐ")
def take_over(gateway_update: GatewayUpdate) -> None:
    gateway_update.take_over()


@then("ゲートウェイが新しいバージョンで応答する")
def serves_new(gateway_update: GatewayUpdate) -> None:
    gateway_update.verify_new_version()


@then("旧ゲートウェイを退役させる")
def retire_previous(gateway_update: GatewayUpdate) -> None:
    gateway_update.retire_previous()


@when("旧リリースが新リリースから引き継ぐ")
def take_back(gateway_update: GatewayUpdate) -> None:
    gateway_update.take_back()


@then("ゲートウェイが更新前のバージョンで応答する")
def serves_previous(gateway_update: GatewayUpdate) -> None:
    gateway_update.verify_previous_version()


@then("ゲートウェイの設定がバックアップと一致する")
def config_identical(gateway_update: GatewayUpdate) -> None:
    gateway_update.verify_config_matches_backup()
