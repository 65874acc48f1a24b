"""Steps of the Nebula update (features/nebula_update.feature)."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.nebula_update import NebulaUpdate


@pytest.fixture
def nebula_update(maintenance: Maintenance, decisions: DecisionEngine) -> NebulaUpdate:
    return NebulaUpdate(maintenance.nebula(), maintenance.plan.changes.nebula, decisions)


@given("the Nebula service runs and the overlay works")
def overlay_works(nebula_update: NebulaUpdate) -> None:
    nebula_update.check_overlay()


@given("the host certificate is valid for long enough")
@then("the host certificate is valid for long enough")
def certificate(nebula_update: NebulaUpdate) -> None:
    nebula_update.check_certificate()


@given("the current Nebula version is recorded")
def version(nebula_update: NebulaUpdate) -> None:
    nebula_update.record_version()


@given("the binaries, config and certificates are backed up with checksums")
def backup(nebula_update: NebulaUpdate) -> None:
    nebula_update.take_backup()


@when("the new release passes the config test")
def config_test(nebula_update: NebulaUpdate) -> None:
    nebula_update.test_new_release()


@when("the Nebula service is stopped")
def stop(nebula_update: NebulaUpdate) -> None:
    nebula_update.stop()


@when("both binaries are replaced atomically")
def replace(nebula_update: NebulaUpdate) -> None:
    nebula_update.replace_binaries()


@when("the Nebula service is started")
def start(nebula_update: NebulaUpdate) -> None:
    nebula_update.start()


@then("the lighthouse answers ping and TCP through the overlay after a completed handshake")
def overlay(nebula_update: NebulaUpdate) -> None:
    nebula_update.verify_overlay()


@then("the Nebula log has no new error lines since the start")
def log_clean(nebula_update: NebulaUpdate) -> None:
    nebula_update.verify_log()


@then("Nebula reports the new version")
def new_version(nebula_update: NebulaUpdate) -> None:
    nebula_update.verify_new_version()


@when("the Nebula service is stopped for the rollback")
def stop_rollback(nebula_update: NebulaUpdate) -> None:
    nebula_update.stop_for_rollback()


@when("the binaries, config and certificates are restored from the recorded backup")
def restore(nebula_update: NebulaUpdate) -> None:
    nebula_update.restore()


@when("the Nebula service is started again")
def start_again(nebula_update: NebulaUpdate) -> None:
    nebula_update.start_after_rollback()


@then("the overlay works again")
def overlay_again(nebula_update: NebulaUpdate) -> None:
    nebula_update.verify_after_rollback()
