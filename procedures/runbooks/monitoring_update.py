"""The manual's 監視スタックアップデート: image update, configuration update, Grafana dashboards.

Each procedure opens the maintenance silence first and expires it last, also
after a failure and a rollback. Rollbacks look at the stack before acting, so
a stack that was never touched (a pull that failed, a config that failed
validation) is never restarted for nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from procedures import record
from procedures.config.plan import MonitoringChange, Plan
from procedures.drivers.monitoring import MonitoringStack
from procedures.errors import ConfigError, PreconditionFailed, VerificationFailed
from procedures.host import backups
from procedures.host.commands import sh
from procedures.run.progress import Progress
from procedures.runbooks.base import Procedure, undo_step
from procedures.runbooks.silences import MaintenanceSilence


@dataclass
class MonitoringMaintenance(Procedure):
    stack: MonitoringStack
    plan: Plan
    silence: MaintenanceSilence | None = None
    backup: backups.Backup | None = None
    dashboards_backup: backups.Backup | None = None
    images_before: dict[str, dict[str, str]] = field(default_factory=dict)
    dashboard_versions: dict[str, int] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)

    @property
    def change(self) -> MonitoringChange:
        if self.plan.changes.monitoring is None:
            raise ConfigError("the plan has no changes.monitoring")
        return self.plan.changes.monitoring

    # -- the window --------------------------------------------------------------------
    def open_silence(self, what: str) -> None:
        self.progress.prepared = True
        if self.silence is None:
            raise PreconditionFailed("the plan has no silence: say which alerts this maintenance may raise")
        self.silence.start(f"Planned maintenance {self.plan.id}: {what}", holder="monitoring")

    def close_silence(self) -> None:
        if self.silence is not None:
            self.silence.expire(holder="monitoring")

    def check_ready(self) -> None:
        self.stack.wait_ready()

    def take_backup(self) -> None:
        """Once per test: when one test runs several procedures (the workflow), the rollbacks return
        the stack to where it was before the first of them, not to a state a later one saw."""
        if self.backup is not None:
            record.text("backup kept", f"{self.backup.path} (taken before this test's first change) stays the "
                                       "state the rollback returns to")
            return
        self.images_before = self.stack.running_images()
        record.data("images before", self.images_before)
        self.backup = self.stack.backup({"images_before": self.images_before})

    # -- image update ----------------------------------------------------------------------
    def set_new_image_tags(self) -> None:
        self.progress.changed = True
        if not self.change.images:
            raise ConfigError("the plan has no changes.monitoring.images")
        self.stack.set_images(self.change.images)

    def pull(self) -> None:
        """podman-compose 1.0 exits 0 even when a pull fails, so each planned image is checked after."""
        self.stack.compose("pull", purpose="pull the new images")
        self.stack.require_images(list(self.change.images.values()))

    def restart(self) -> None:
        self.stack.compose("down", purpose="stop the stack")
        self.stack.compose("up", "-d", purpose="start the stack")

    def verify_new_images(self) -> None:
        self.stack.wait_ready()
        running = self.stack.running_images()
        record.data("images after", running)
        wanted = set(self.change.images.values())
        missing = wanted - {info["image"] for info in running.values() if info["state"] == "running"}
        if missing:
            raise VerificationFailed(f"not running the planned images: {', '.join(sorted(missing))}",
                                     failure_class="service_down")

    # -- configuration update -----------------------------------------------------------------
    def apply_new_config(self) -> None:
        self.progress.changed = True
        if self.change.config is None:
            raise ConfigError("the plan has no changes.monitoring.config")
        self.stack.apply_config(self.change.config.source)

    def validate_config(self) -> None:
        self.stack.validate_config()

    def reload(self) -> None:
        self.stack.reload()

    def verify_config_served(self) -> None:
        served = self.stack.prometheus.config()
        record.text("served Prometheus configuration", served)
        needles = self.change.config.verify_contains if self.change.config else ()
        missing = [needle for needle in needles if needle not in served]
        if missing:
            raise VerificationFailed(f"Prometheus does not serve the new configuration: missing {missing}")

    # -- dashboards -------------------------------------------------------------------------
    def export_dashboards(self) -> None:
        grafana = self.stack.grafana()
        exported = {d["uid"]: grafana.dashboard(d["uid"]) for d in grafana.search_dashboards()}
        self.dashboard_versions = {uid: int(body["dashboard"].get("version", 0)) for uid, body in exported.items()}
        self.dashboards_backup = backups.keep(
            self.stack.host, contents={f"{uid}.json": json.dumps(body, indent=2) for uid, body in exported.items()},
            backups_dir=self.stack.c.backups_dir, component="grafana",
            facts={"versions": self.dashboard_versions})

    def import_dashboards(self) -> None:
        self.progress.changed = True
        grafana = self.stack.grafana()
        for path in self.change.dashboards:
            dashboard = json.loads(self.stack.host.run(f"cat {sh(path)}", purpose=f"read {path}").stdout)
            saved = grafana.import_dashboard(dashboard, message=f"maintenance {self.plan.id}")
            record.data(f"dashboard {dashboard.get('uid')} imported", saved)

    def verify_dashboards(self) -> None:
        grafana = self.stack.grafana()
        for path in self.change.dashboards:
            wanted = json.loads(self.stack.host.run(f"cat {sh(path)}", purpose=f"read {path}").stdout)
            live = grafana.dashboard(wanted["uid"])["dashboard"]
            before = self.dashboard_versions.get(wanted["uid"], 0)
            record.data(f"dashboard {wanted['uid']} version", {"before": before, "after": live.get("version")})
            if live.get("version", 0) <= before or _content(live) != _content(wanted):
                raise VerificationFailed(
                    f"dashboard {wanted['uid']} is not the new one (version {live.get('version')})")

    # -- rollbacks ----------------------------------------------------------------------------
    def _recorded(self, component: str) -> backups.Backup:
        kept = self.backup if component == "monitoring" else self.dashboards_backup
        return self.recorded(kept, self.stack.host, self.stack.c.backups_dir, component)

    def _images_before(self) -> dict[str, str]:
        return _images(self.images_before or self._recorded("monitoring").facts.get("images_before", {}))

    @undo_step
    def restore_files(self) -> None:
        self.stack.restore(self._recorded("monitoring"))

    @undo_step
    def restart_previous_images(self) -> None:
        if _images(self.stack.running_images()) == self._images_before():
            record.text("restart", "the previous images are still running: the stack is left alone")
            return
        self.stack.compose("down", purpose="stop the stack")
        self.stack.compose("up", "-d", purpose="start the stack with the previous images")

    @undo_step
    def reload_restored_config(self) -> None:
        self.stack.validate_config()
        self.stack.reload()

    @undo_step
    def verify_as_before(self) -> None:
        backup = self._recorded("monitoring")
        self.stack.wait_ready()
        difference = backups.first_difference(
            backup.files, backups.tree_digest(self.stack.host, self.stack.c.compose_dir, backup.paths))
        if difference:
            raise VerificationFailed(f"the stack's files differ from backup {backup.path}: {difference}")
        running = _images(self.stack.running_images())
        if running != self._images_before():
            raise VerificationFailed(f"running {running}, expected the images from before: {self._images_before()}")
        record.data("restored", {"files": len(backup.files), "images": running})

    def _exported_dashboards(self) -> list[dict[str, Any]]:
        texts = backups.read_all(self.stack.host, self._recorded("grafana"))
        return [json.loads(text)["dashboard"] for text in texts.values()]

    @undo_step
    def reimport_dashboards(self) -> None:
        grafana = self.stack.grafana()
        for exported in self._exported_dashboards():
            grafana.import_dashboard(exported, message=f"rollback of maintenance {self.plan.id}")

    @undo_step
    def verify_dashboards_as_exported(self) -> None:
        grafana = self.stack.grafana()
        for exported in self._exported_dashboards():
            if _content(grafana.dashboard(exported["uid"])["dashboard"]) != _content(exported):
                raise VerificationFailed(f"dashboard {exported['uid']} does not match its export")


def _images(running: dict[str, dict[str, str]]) -> dict[str, str]:
    return {container: info["image"] for container, info in running.items()}


def _content(dashboard: dict[str, Any]) -> dict[str, Any]:
    """A dashboard without the fields Grafana itself assigns on save."""
    return {k: v for k, v in dashboard.items() if k not in {"id", "version"}}
