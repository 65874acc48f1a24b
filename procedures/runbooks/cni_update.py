"""The manual's CNI Plugin アップデート手順, correct where the manual is not.

- Version: the sha256 and the ``CNI_COMMAND=VERSION`` answer, not ``--version``.
- Backup: a recorded folder with a manifest, not ``flatnet.bak.$(date +%Y%m%d)``,
  so a rollback on another day restores the same files.
- Install: atomic, never a plain ``cp`` over a binary that may be executing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from procedures import record
from procedures.config.plan import CniChange
from procedures.drivers.cni import CniPlugin
from procedures.errors import ConfigError, VerificationFailed
from procedures.host import backups
from procedures.run.progress import Progress
from procedures.runbooks.base import Procedure, undo_step


@dataclass
class CniUpdate(Procedure):
    plugin: CniPlugin
    change: CniChange | None
    backup: backups.Backup | None = None
    before: dict[str, Any] = field(default_factory=dict)
    running: list[dict[str, str]] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)

    def record_identity(self) -> None:
        self.progress.prepared = True
        self.before = self.plugin.identity()
        record.data("plugin before", self.before)

    def list_running_containers(self) -> None:
        self.running = self.plugin.containers_on_network()
        record.data(f"containers on {self.plugin.c.network}", self.running)

    def take_backup(self) -> None:
        self.backup = self.plugin.backup({"identity_before": self.before})

    def install(self) -> None:
        if self.change is None:
            raise ConfigError("the plan has no changes.cni")
        self.progress.changed = True
        self.plugin.install_binary(self.change.binary)

    def update_conflist(self) -> None:
        if self.change is None or self.change.conflist is None:
            record.text("conflist", "the plan does not change the conflist")
            return
        self.plugin.install_conflist(self.change.conflist)

    def verify_new_plugin(self) -> None:
        after = self.plugin.identity()
        record.data("plugin after", {"before": self.before, "after": after})
        if after["version"] is None:
            raise VerificationFailed(f"the new plugin does not answer CNI_COMMAND=VERSION: {after.get('error')}")
        if self.change and after["sha256"] != self.plugin.identity(self.change.binary)["sha256"]:
            raise VerificationFailed("the installed plugin is not the planned binary")

    def verify_network(self) -> None:
        record.text("ping from a new container", self.plugin.ping_from_new_container())
        self.plugin.add_check_del()

    def report_running_containers(self) -> None:
        """The manual's note: running containers keep their old network setup until they restart.

        They must still be running: a new plugin binary never touches them, so one that is gone was hurt.
        """
        now = {c["id"] for c in self.plugin.containers_on_network()}
        gone = [c["name"] for c in self.running if c["id"] not in now]
        names = ", ".join(c["name"] for c in self.running if c["id"] in now) or "none"
        record.text("containers still on the old network setup",
                    f"These keep the network the old plugin set up until they restart: {names}"
                    + (f"\nGone since the update began: {', '.join(gone)}" if gone else ""))
        if gone:
            raise VerificationFailed(f"containers that ran on {self.plugin.c.network} before the update are gone: "
                                     f"{', '.join(gone)}. Look at why (podman ps -a, their logs)")

    # -- rollback ------------------------------------------------------------------------
    def _recorded(self) -> backups.Backup:
        return self.recorded(self.backup, self.plugin.host, self.plugin.c.backups_dir, "cni")

    @undo_step
    def restore(self) -> None:
        self.plugin.restore(self._recorded())

    @undo_step
    def verify_restored(self) -> None:
        backup = self._recorded()
        difference = backups.first_difference(
            backup.files, backups.tree_digest(self.plugin.host, backup.source, backup.paths))
        if difference:
            raise VerificationFailed(f"not restored from {backup.path}: {difference}")
        record.data("plugin restored", {"backup": backup.path, "identity": self.plugin.identity()})
        self.verify_network()
