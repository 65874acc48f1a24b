"""Steps of the rolling gateway update (features/gateway_fleet_update.feature)."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from procedures.plugin.embed import Scenarios
from procedures.run.maintenance import Maintenance
from procedures.runbooks.fleet import FleetUpdate, host_steps

HOST_PROCEDURE, HOST_ROLLBACK = "gateway-update", "gateway-rollback"


@pytest.fixture
def fleet_update(maintenance: Maintenance, procedure_silence: object) -> FleetUpdate:
    return FleetUpdate(maintenance.fleet(), maintenance.plan.changes.gateway, maintenance.plan.rolling,
                       maintenance.decisions)


@given("フリートの全ゲートウェイが稼働している")
def fleet_serving(fleet_update: FleetUpdate) -> None:
    fleet_update.check_serving()


@when("フリートをバッチごとに、各ホストをゲートウェイのアップデート手順で更新する")
def roll(fleet_update: FleetUpdate, scenarios: Scenarios) -> None:
    fleet_update.roll(host_steps(scenarios.step_functions(HOST_PROCEDURE)),
                      host_steps(scenarios.step_functions(HOST_ROLLBACK)))


@then("フリートの全ゲートウェイが更新された")
def all_updated(fleet_update: FleetUpdate) -> None:
    fleet_update.verify_all_updated()


@when("計画が求める場合は更新済みのゲートウェイをロールバックする")
def roll_back(fleet_update: FleetUpdate, scenarios: Scenarios) -> None:
    fleet_update.roll_back(host_steps(scenarios.step_functions(HOST_ROLLBACK)))


@then("ロールバック途中のまま残ったゲートウェイがない")
def none_half_rolled_back(fleet_update: FleetUpdate) -> None:
    fleet_update.verify_rolled_back()
