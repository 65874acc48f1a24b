"""Steps of the Gateway update (features/gateway_update.feature)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_bdd import given, then, when

from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.gateway_update import GatewayUpdate


@pytest.fixture
def gateway_update(maintenance: Maintenance, decisions: DecisionEngine,
                   record_environment: Callable[[str, str], None]) -> Iterator[GatewayUpdate]:
    update = GatewayUpdate(maintenance.gateway(), maintenance.plan.changes.gateway, decisions)
    yield update
    record_environment("gateway.version.before", update.version_before or "unknown")
    record_environment("gateway.version.target", update.target_version or "not staged")


@given("the gateway is serving")
def gateway_serving(gateway_update: GatewayUpdate) -> None:
    gateway_update.check_serving()


@given("the current gateway version is recorded")
def current_version(gateway_update: GatewayUpdate) -> None:
    gateway_update.record_version()


@given("the gateway configuration is backed up with a manifest")
def backup(gateway_update: GatewayUpdate) -> None:
    gateway_update.take_backup()


@when("the new release is staged with the live site configuration")
def stage(gateway_update: GatewayUpdate) -> None:
    gateway_update.stage()


@when("the staged configuration passes the config test")
def config_test(gateway_update: GatewayUpdate) -> None:
    gateway_update.test_staged_config()


@when("the new release takes over from the running gateway")
def take_over(gateway_update: GatewayUpdate) -> None:
    gateway_update.take_over()


@then("the gateway serves the new version")
def serves_new(gateway_update: GatewayUpdate) -> None:
    gateway_update.verify_new_version()


@then("the previous gateway is retired")
def retire_previous(gateway_update: GatewayUpdate) -> None:
    gateway_update.retire_previous()


@when("the previous release takes over from the new one")
def take_back(gateway_update: GatewayUpdate) -> None:
    gateway_update.take_back()


@then("the gateway serves the version from before the update")
def serves_previous(gateway_update: GatewayUpdate) -> None:
    gateway_update.verify_previous_version()


@then("the gateway configuration is identical to the backup")
def config_identical(gateway_update: GatewayUpdate) -> None:
    gateway_update.verify_config_matches_backup()
