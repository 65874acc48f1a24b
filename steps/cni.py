"""Steps of the CNI plugin update (features/cni_update.feature)."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.cni_update import CniUpdate


@pytest.fixture
def cni_update(maintenance: Maintenance, procedure_silence: object) -> CniUpdate:
    return CniUpdate(maintenance.cni(), maintenance.plan.changes.cni)


@given("導入済みプラグインのチェックサムと CNI バージョンを記録する")
def identity(cni_update: CniUpdate) -> None:
    cni_update.record_identity()


@given("flatnet ネットワークで実行中のコンテナを確認する")
def running(cni_update: CniUpdate) -> None:
    cni_update.list_running_containers()


@given("プラグインと conflist をチェックサム付きでバックアップする")
def backup(cni_update: CniUpdate) -> None:
    cni_update.take_backup()


@when("新しいプラグインをアトミックに配置する")
def install(cni_update: CniUpdate) -> None:
    cni_update.install()


@when("計画で変更する場合は conflist を更新する")
def conflist(cni_update: CniUpdate) -> None:
    cni_update.update_conflist()


@then("新しいプラグインが CNI_COMMAND=VERSION に応答する")
def answers(cni_update: CniUpdate, decisions: DecisionEngine) -> None:
    decisions.verify("新しいプラグインが CNI_COMMAND=VERSION に応答する", cni_update.verify_new_plugin)


@then("ネットワーク上の新しいコンテナからゲートウェイに ping が通り、CNI の ADD/CHECK/DEL が成功する")
def network(cni_update: CniUpdate, decisions: DecisionEngine) -> None:
    decisions.verify("ネットワーク上の新しいコンテナからゲートウェイに ping が通り、CNI の ADD/CHECK/DEL が成功する",
                     cni_update.verify_network)


@then("再起動まで古い設定で動作するコンテナを報告する")
def report(cni_update: CniUpdate, decisions: DecisionEngine) -> None:
    decisions.verify("再起動まで古い設定で動作するコンテナを報告する", cni_update.report_running_containers)


@when("記録したバックアップからプラグインと conflist を復元する")
def restore(cni_update: CniUpdate) -> None:
    cni_update.restore()


@then("バックアップと一致し、ネットワークが再び動作する")
def restored(cni_update: CniUpdate) -> None:
    cni_update.verify_restored()
