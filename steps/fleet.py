"""Steps of the rolling gateway update (features/gateway_fleet_update.feature)."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from procedures.plugin.embed import Scenarios
from procedures.run.maintenance import Maintenance
from procedures.runbooks.fleet import FleetUpdate, host_steps

HOST_PROCEDURE, HOST_ROLLBACK = "gateway-update", "gateway-rollback"


@pytest.fixture
def fleet_update(maintenance: Maintenance) -> FleetUpdate:
    return FleetUpdate(maintenance.fleet(), maintenance.plan.changes.gateway, maintenance.plan.rolling,
                       maintenance.decisions)


@given("every gateway of the fleet is serving")
def fleet_serving(fleet_update: FleetUpdate) -> None:
    fleet_update.check_serving()


@when("the fleet is updated batch by batch, each host by the gateway update procedure")
def roll(fleet_update: FleetUpdate, scenarios: Scenarios) -> None:
    fleet_update.roll(host_steps(scenarios.step_functions(HOST_PROCEDURE)),
                      host_steps(scenarios.step_functions(HOST_ROLLBACK)))


@then("every gateway of the fleet was updated")
def all_updated(fleet_update: FleetUpdate) -> None:
    fleet_update.verify_all_updated()


@when("the updated gateways are rolled back if the plan says so")
def roll_back(fleet_update: FleetUpdate, scenarios: Scenarios) -> None:
    fleet_update.roll_back(host_steps(scenarios.step_functions(HOST_ROLLBACK)))


@then("no gateway of the fleet is left half rolled back")
def none_half_rolled_back(fleet_update: FleetUpdate) -> None:
    fleet_update.verify_rolled_back()
