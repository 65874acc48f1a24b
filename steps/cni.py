"""Steps of the CNI plugin update (features/cni_update.feature)."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.cni_update import CniUpdate


@pytest.fixture
def cni_update(maintenance: Maintenance) -> CniUpdate:
    return CniUpdate(maintenance.cni(), maintenance.plan.changes.cni)


@given("the installed plugin's checksum and CNI versions are recorded")
def identity(cni_update: CniUpdate) -> None:
    cni_update.record_identity()


@given("the containers running on the flatnet network are listed")
def running(cni_update: CniUpdate) -> None:
    cni_update.list_running_containers()


@given("the plugin and its conflist are backed up with checksums")
def backup(cni_update: CniUpdate) -> None:
    cni_update.take_backup()


@when("the new plugin is installed atomically")
def install(cni_update: CniUpdate) -> None:
    cni_update.install()


@when("the conflist is updated if the plan changes it")
def conflist(cni_update: CniUpdate) -> None:
    cni_update.update_conflist()


@then("the new plugin answers CNI_COMMAND=VERSION")
def answers(cni_update: CniUpdate, decisions: DecisionEngine) -> None:
    decisions.verify("the new plugin answers CNI_COMMAND=VERSION", cni_update.verify_new_plugin)


@then("a new container on the network pings the gateway, and a CNI ADD/CHECK/DEL cycle succeeds")
def network(cni_update: CniUpdate, decisions: DecisionEngine) -> None:
    decisions.verify("a new container pings the gateway; ADD/CHECK/DEL succeeds", cni_update.verify_network)


@then("the containers that keep the old network setup until they restart are reported")
def report(cni_update: CniUpdate) -> None:
    cni_update.report_running_containers()


@when("the plugin and conflist are restored from the recorded backup")
def restore(cni_update: CniUpdate) -> None:
    cni_update.restore()


@then("they are identical to the backup and the network works again")
def restored(cni_update: CniUpdate) -> None:
    cni_update.verify_restored()
