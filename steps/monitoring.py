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


@given("a maintenance silence covers the affected components")
def silence(monitoring: MonitoringMaintenance, request: pytest.FixtureRequest) -> None:
    monitoring.open_silence(request.node.name)


@given("every monitoring endpoint is ready")
def ready(monitoring: MonitoringMaintenance) -> None:
    monitoring.check_ready()


@given("the compose file and the configuration are backed up with the running images")
def backup(monitoring: MonitoringMaintenance) -> None:
    monitoring.take_backup()


@when("the compose file names the new image tags")
def new_tags(monitoring: MonitoringMaintenance) -> None:
    monitoring.set_new_image_tags()


@when("the new images are pulled")
def pull(monitoring: MonitoringMaintenance) -> None:
    monitoring.pull()


@when("the stack is restarted")
def restart(monitoring: MonitoringMaintenance) -> None:
    monitoring.restart()


@then("the stack runs the new images")
def new_images(monitoring: MonitoringMaintenance, decisions: DecisionEngine) -> None:
    decisions.verify("the stack runs the new images", monitoring.verify_new_images)


@when("the new configuration is copied into place")
def apply_config(monitoring: MonitoringMaintenance) -> None:
    monitoring.apply_new_config()


@when("the configuration passes promtool and amtool inside the containers")
def validate(monitoring: MonitoringMaintenance) -> None:
    monitoring.validate_config()


@when("Prometheus and Alertmanager reload it")
def reload(monitoring: MonitoringMaintenance) -> None:
    monitoring.reload()


@then("Prometheus serves the new configuration")
def served(monitoring: MonitoringMaintenance, decisions: DecisionEngine) -> None:
    decisions.verify("Prometheus serves the new configuration", monitoring.verify_config_served)


@given("every Grafana dashboard is exported with a manifest")
def export(monitoring: MonitoringMaintenance) -> None:
    monitoring.export_dashboards()


@when("the new dashboards are imported")
def import_new(monitoring: MonitoringMaintenance) -> None:
    monitoring.import_dashboards()


@then("Grafana serves the new dashboard versions")
def dashboards_new(monitoring: MonitoringMaintenance, decisions: DecisionEngine) -> None:
    decisions.verify("Grafana serves the new dashboard versions", monitoring.verify_dashboards)


@then("the maintenance silence is expired")
def silence_expired(monitoring: MonitoringMaintenance) -> None:
    monitoring.close_silence()


@when("the backed-up compose file and configuration are restored")
def restore(monitoring: MonitoringMaintenance) -> None:
    monitoring.restore_files()


@when("the stack runs the previous images again")
def previous_images(monitoring: MonitoringMaintenance) -> None:
    monitoring.restart_previous_images()


@when("the restored configuration is validated and reloaded")
def reload_restored(monitoring: MonitoringMaintenance) -> None:
    monitoring.reload_restored_config()


@then("the stack is exactly as before the update")
def as_before(monitoring: MonitoringMaintenance) -> None:
    monitoring.verify_as_before()


@when("the exported dashboards are imported again")
def reimport(monitoring: MonitoringMaintenance) -> None:
    monitoring.reimport_dashboards()


@then("Grafana serves the exported dashboards")
def dashboards_exported(monitoring: MonitoringMaintenance) -> None:
    monitoring.verify_dashboards_as_exported()
