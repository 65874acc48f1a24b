"""The manual's Nebula アップデート: stop the service, replace nebula and nebula-cert, start, prove the overlay.

Improvements on the manual: the new binary tests the live config (``-test``)
before anything stops, both binaries are replaced atomically, and the backup
holds the config, the certificates and, when named, the CA folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from procedures import record
from procedures.config.plan import NebulaChange
from procedures.drivers.nebula import NebulaNode
from procedures.errors import ConfigError, VerificationFailed
from procedures.host import backups
from procedures.run.decisions import DecisionEngine
from procedures.run.progress import Progress
from procedures.runbooks.base import Procedure, undo_step
from procedures.runbooks.recovery import ERROR_LINE


@dataclass
class NebulaUpdate(Procedure):
    node: NebulaNode
    change: NebulaChange | None
    decide: DecisionEngine
    before: dict[str, Any] = field(default_factory=dict)
    backup: backups.Backup | None = None
    log_offset: int = 0
    progress: Progress = field(default_factory=Progress)

    def check_overlay(self) -> None:
        self.progress.prepared = True
        self.node.verify_overlay(0)

    def check_certificate(self) -> None:
        days = self.node.cert_days_left()
        record.data("host certificate", {"days_left": round(days, 1), "minimum": self.node.c.cert_min_days})
        if days < self.node.c.cert_min_days:
            raise VerificationFailed(f"the host certificate {self.node.c.cert} expires in {days:.1f} days "
                                     f"(minimum {self.node.c.cert_min_days}): renew it")

    def record_version(self) -> None:
        self.before = self.node.version()
        record.data("version before", self.before)

    def take_backup(self) -> None:
        self.backup = self.node.backup({"version_before": self.before})

    def _release(self) -> str:
        if self.change is None:
            raise ConfigError("the plan has no changes.nebula")
        return self.change.release

    def test_new_release(self) -> None:
        self.node.config_test(self._release())

    def stop(self) -> None:
        self.progress.changed = True
        self.node.service.stop()

    def replace_binaries(self) -> None:
        self.node.replace_binaries(self._release())

    def start(self) -> None:
        self.log_offset = self.node.log_size()
        self.node.service.start()

    def verify_overlay(self) -> None:
        self.node.verify_overlay(self.log_offset)

    def verify_log(self) -> None:
        """The manual's ``Get-Content nebula.log -Tail 50``: no new error line since the service started.
        A failure is the decision table's ``log_errors`` row (the operator decides, by the plan's deadline)."""
        self.decide.verify("no new error lines in the Nebula log since the start", self._log_is_clean)

    def _log_is_clean(self) -> None:
        tail = self.node.host.files.read_from(self.node.c.log, self.log_offset)
        errors = [line for line in tail.splitlines() if ERROR_LINE.search(line)]
        record.text("Nebula log since the start", tail[-20000:] or "(nothing new)")
        if errors:
            raise VerificationFailed(f"{len(errors)} new error line(s) in {self.node.c.log}: {errors[-1][:300]}",
                                     failure_class="log_errors")

    def verify_new_version(self) -> None:
        now, planned = self.node.version(), self.node.version(self._release())
        record.data("versions", {"before": self.before, "after": now})
        if now["sha256"] != planned["sha256"]:
            raise VerificationFailed("the installed binaries are not the planned release's")
        if self.change and self.change.version and now["version"] != self.change.version:
            raise VerificationFailed(f"nebula reports {now['version']!r}, the plan expects {self.change.version!r}")

    # -- rollback ---------------------------------------------------------------------------
    @undo_step
    def stop_for_rollback(self) -> None:
        self.node.service.stop()

    @undo_step
    def restore(self) -> None:
        self.node.restore(self.recorded(self.backup, self.node.host, self.node.c.backups_dir, "nebula"))

    @undo_step
    def start_after_rollback(self) -> None:
        self.start()

    @undo_step
    def verify_after_rollback(self) -> None:
        self.verify_overlay()
