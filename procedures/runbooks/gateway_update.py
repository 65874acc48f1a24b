"""The manual's Gateway update (Gateway アップデート手順) and its rollback, step by step.

Each method is one step of ``features/gateway_update.feature``. State that the
rollback needs (the version before, the backup) is also written to the backup
manifest on the target, so an emergency rollback in a later run finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from procedures import record
from procedures.config.plan import GatewayChange
from procedures.drivers.gateway import Gateway
from procedures.errors import ConfigError, VerificationFailed
from procedures.host import backups
from procedures.run import parallel
from procedures.run.decisions import DecisionEngine
from procedures.run.progress import Progress
from procedures.runbooks.base import Procedure, undo_step


@dataclass
class GatewayUpdate(Procedure):
    gateway: Gateway
    change: GatewayChange | None
    decide: DecisionEngine
    version_before: str | None = None
    backup: backups.Backup | None = None
    target_version: str | None = None
    new_master: int | None = None  # the master the new release started: the one that must serve it
    progress: Progress = field(default_factory=Progress)

    # -- 事前準備 (preparation) -----------------------------------------------------
    def check_serving(self) -> None:
        self.progress.prepared = True
        health = self.gateway.health()
        if not health.serving:
            raise VerificationFailed("the gateway is not serving before the update; fix that first")

    def record_version(self) -> str:
        self.version_before = self.gateway.version()
        record.data("version before", {"version": self.version_before})
        return self.version_before

    def take_backup(self) -> backups.Backup:
        self.backup = self.gateway.backup({"version_before": self.version_before,
                                           "release": self.change.release if self.change else None})
        self.gateway.retire_leftovers(self.backup)
        return self.backup

    # -- アップデート実行 (update) ------------------------------------------------------
    def stage(self) -> str:
        if self.change is None:
            raise ConfigError("the plan has no changes.gateway: nothing to install")
        self.progress.changed = True
        staged = self.gateway.stage(self.change.release)
        if self.change.version and staged != self.change.version:
            raise VerificationFailed(f"the staged release reports {staged}, the plan expects {self.change.version}")
        self.target_version = staged
        record.data("versions", {"before": self.version_before, "staged": staged})
        return staged

    def test_staged_config(self) -> None:
        self.gateway.config_test(self.gateway.staging)

    def take_over(self) -> None:
        self.new_master = self.gateway.take_over()

    # -- 動作確認 (verification) ---------------------------------------------------
    def verify_new_version(self) -> None:
        if not self.target_version:
            raise VerificationFailed("no release was staged, so there is no version to expect")
        target = self.target_version
        self.decide.verify("ゲートウェイが新しいバージョンで応答する",
                           lambda: self.gateway.wait_serving(target, self.new_master))
        self.decide.latency("the gateway front page", self.gateway.front_seconds)
        record.data("versions", {"before": self.version_before, "after": self.target_version})

    def retire_previous(self) -> None:
        """Let the previous master go, then look again: the new master may have died since it was verified."""
        self.gateway.retire_previous()
        if self.target_version:
            self.gateway.wait_serving(self.target_version, self.new_master)

    # -- ロールバック (rollback) ----------------------------------------------------
    def _recorded_backup(self) -> backups.Backup:
        self.backup = self.recorded(self.backup, self.gateway.host, self.gateway.path(self.gateway.c.backups_dir),
                                    "gateway")
        return self.backup

    def _version_before(self) -> str:
        backup = self._recorded_backup()
        expected = self.version_before or backup.facts.get("version_before")
        if not expected:
            raise VerificationFailed(f"backup {backup.path} does not record the version before the update")
        return str(expected)

    @undo_step
    def take_back(self) -> None:
        """Hand the gateway back to the previous release; the old one is never stopped for nothing. A ``-c``
        configuration outside the release is put back first, so the previous release starts with its own."""
        self.gateway.restore_outside_config(self._recorded_backup())
        self.gateway.take_back(self._version_before())

    @undo_step
    def verify_previous_version(self) -> None:
        """The previous release serves; if its master died during the rollback, the hand-back is done again."""
        expected = self._version_before()
        try:
            self.gateway.wait_serving(expected)
        except VerificationFailed as exc:
            if self.gateway.pid() is not None:
                raise
            record.text("the gateway's master died during the rollback", f"{exc}\nhanding back again")
            self.gateway.take_back(expected)
            self.gateway.wait_serving(expected)

    @undo_step
    def verify_config_matches_backup(self) -> None:
        backup, host = self._recorded_backup(), self.gateway.host
        _, live = parallel.run_all([lambda: backup.verify(host), self.gateway.snapshot],
                                   concurrent=host.transport.concurrent)
        difference = backups.first_difference(backup.files, live)
        if difference:
            raise VerificationFailed(f"the live configuration differs from backup {backup.path}: {difference}")
        record.data("live configuration matches the backup", {"backup": backup.path, "files": len(backup.files)})
        if outside := self.gateway.outside_config_backup(backup):
            difference = backups.first_difference(
                outside.files, backups.tree_digest(host, outside.source, outside.paths))
            if difference:
                raise VerificationFailed(f"the -c configuration in {outside.source} differs from backup "
                                         f"{outside.path}: {difference}")
            record.data("the -c configuration matches its backup", {"backup": outside.path,
                                                                   "files": len(outside.files)})
