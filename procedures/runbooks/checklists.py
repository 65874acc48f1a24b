"""The manual's メンテナンスチェックリスト, each item a check of the real state.

Operators used to tick these by hand. Each function checks one item, records
its evidence, and raises when the item does not hold. They read the target,
Alertmanager and the maintenance's records folder, so a checklist also runs on
its own (``pytest features/checklists/pre_maintenance.feature``), outside a workflow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from procedures import record
from procedures.errors import PreconditionFailed, VerificationFailed
from procedures.host import backups
from procedures.notices import Kind
from procedures.record.work_report import NAME as WORK_REPORT
from procedures.runbooks.recovery import LogWatch, check_services, require_healthy
from procedures.runbooks.silences import ours
from procedures.runbooks.workflow import LOG_MARKS, Workflow, backup_target, procedures_for

if TYPE_CHECKING:
    from procedures.host import Host
    from procedures.run.maintenance import Maintenance


# -- 事前チェックリスト (before) ---------------------------------------------------------------
def window_is_ahead(w: Workflow) -> None:
    """Days before, as the manual runs it: the window is set, not over, and holds the plan's worst case."""
    window, now = w.complete_plan(), datetime.now(UTC)
    if window.ends <= now:
        raise PreconditionFailed(f"the maintenance window {window.starts:%Y-%m-%d %H:%M} – {window.ends:%H:%M} "
                                 f"{window.timezone} is over: set the next window in the plan ({w.m.plan_path})")
    length, needed = (window.ends - window.starts).total_seconds() / 60, w.plan.minutes_needed()
    if length < needed:
        raise PreconditionFailed(
            f"the maintenance window is {length:.0f} minutes, the plan may need {needed:.0f}: its downtime and its "
            f"longest rollback decision (policy) must fit; lengthen the window or shorten policy in {w.m.plan_path}")
    record.data("maintenance window", {
        "window": f"{window.starts:%Y-%m-%d %H:%M} – {window.ends:%Y-%m-%d %H:%M} ({window.timezone})",
        "state": "open now" if window.starts <= now else f"starts in {window.starts - now}".split(".")[0],
        "minutes": round(length), "minutes needed at worst": round(needed, 1)})


def impact_is_identified(w: Workflow) -> None:
    impact = w.plan.impact
    if impact is None:
        raise PreconditionFailed("the plan does not say which services and users are affected (impact)")
    record.data("impact", impact.model_dump())


def notice_delivered(w: Workflow, kind: Kind) -> None:
    missing = w.notifier.missing(kind)
    if missing:
        raise VerificationFailed(f"the {kind} notice has not been delivered on: {', '.join(missing)}")
    record.data(f"{kind} delivered", {c: d.at for c, d in w.notifier.delivered(kind).items()})


def backups_verified(w: Workflow) -> None:
    """The newest backup of each planned component is recent and still matches its manifest, file by file."""
    oldest = datetime.now(UTC) - timedelta(hours=w.plan.retention.backup_max_age_hours)
    for component in dict(procedures_for(w.plan.changes)):
        target = backup_target(w.m, component)
        backup = backups.latest(target.host, target.folder, component)
        if datetime.fromisoformat(backup.taken_at) < oldest:
            raise VerificationFailed(f"the newest {component} backup ({backup.taken_at}) is older than "
                                     f"{w.plan.retention.backup_max_age_hours:g} hours: take a fresh one")
        backup.verify(target.host)
        record.data(f"{component} backup verified", {"path": backup.path, "taken_at": backup.taken_at,
                                                     "files": len(backup.files)})


def rollbacks_present(w: Workflow, rollbacks_of: Callable[[str], list[str]]) -> None:
    """Every planned procedure exists and links a rollback scenario that exists."""
    found = {procedure: rollbacks_of(procedure) for _, procedure in procedures_for(w.plan.changes)}
    missing = [procedure for procedure, links in found.items() if not links]
    if missing:
        raise PreconditionFailed(f"no rollback scenario for: {', '.join(missing)}")
    record.data("rollback scenarios", found)


def releases_staged(w: Workflow) -> None:
    """Every file the plan installs is on the target, checksummed; releases report the planned version."""
    changes, staged = w.plan.changes, {}
    if changes.gateway:
        gateway = w.m.gateway()
        staged["gateway"] = _checksummed(gateway.host, changes.gateway.release)
        version = gateway.version(changes.gateway.release)
        if changes.gateway.version and version != changes.gateway.version:
            raise PreconditionFailed(f"{changes.gateway.release} is {version}, the plan says {changes.gateway.version}")
    if changes.nebula:
        node = w.m.nebula()
        staged["nebula"] = _checksummed(node.host, changes.nebula.release)
    if changes.cni:
        cni = w.m.cni()
        staged["cni"] = _checksummed(cni.host, changes.cni.binary)
    if changes.monitoring:
        stack, change = w.m.monitoring(), changes.monitoring
        for image in change.images.values():  # pulled ahead: the running stack is not touched
            stack.podman("pull", "-q", image, purpose=f"stage {image}", change=True)
        stack.require_images(list(change.images.values()))
        staged["monitoring images"] = dict(change.images)
        for path in ([change.config.source] if change.config else []) + list(change.dashboards):
            staged[path] = _checksummed(stack.host, path)
    record.data("staged files (sha256)", staged)


def _checksummed(host: Host, path: str) -> dict[str, str]:
    parent, name = host.files.path.split(path)
    listing = host.files.listing(parent, [name])
    if not listing:
        raise PreconditionFailed(f"{path} is not on {host.name}: stage it first")
    return {rel: digest for _size, digest, _mode, rel in listing}


def staging_verification(w: Workflow) -> None:
    staging = w.plan.staging
    if staging is None:
        raise PreconditionFailed("the plan says nothing about staging verification: give staging.verified "
                                 "(the evidence) or staging.not_applicable (why)")
    record.data("staging verification", staging.model_dump(exclude_none=True))


# -- 実施中チェックリスト (during) ---------------------------------------------------------------
def silence_active(m: Maintenance) -> None:
    if m.inventory.components.monitoring is None:
        raise VerificationFailed("no Alertmanager in the inventory: alerts are not silenced")
    active = ours(m.monitoring().alertmanager, m.plan.id)
    if not active:
        raise VerificationFailed(f"no active silence created by maintenance {m.plan.id}")
    record.data("active maintenance silences", [{"id": s["id"], "endsAt": s["endsAt"]} for s in active])


def work_log_recorded(results_dir: str | None) -> None:
    """A probe written to the record must be on disk: the record is being written as the work goes."""
    if not results_dir:
        raise VerificationFailed("no Allure results folder: this run is not being recorded")
    probe = f"work-log-probe {datetime.now(UTC).isoformat()}"
    record.text("work log probe", probe)
    if not any(probe in p.read_text(errors="replace") for p in Path(results_dir).glob("*-attachment.txt")):
        raise VerificationFailed(f"the record in {results_dir} is not being written")


def each_step_verified(m: Maintenance) -> None:
    """Every procedure this run finished passed all its steps, verifications included (per the journal)."""
    entries = [e for e in m.journal().entries() if e["run"] == str(m.run_dir)]
    closed = {e["scenario"]: e["event"] for e in entries if "event" in e and not e["scenario"].endswith("checklist")}
    if not closed:
        raise VerificationFailed(f"no procedure of maintenance {m.plan.id} has finished in this run yet")
    unverified = {name: event for name, event in closed.items() if event != "passed"}
    if unverified:
        raise VerificationFailed(f"not verified: {unverified}")
    record.data("procedures of this run and how they ended", closed)


# -- 事後チェックリスト (after) ----------------------------------------------------------------
def services_healthy(m: Maintenance) -> None:
    require_healthy(check_services(m))


def logs_clean(w: Workflow) -> None:
    """No error line since the maintenance began (the marks it saved in its records)."""
    marks_path = w.m.records_dir / LOG_MARKS
    if not w.logs.offsets and marks_path.exists():
        marks = json.loads(marks_path.read_text())
        w.logs = LogWatch(w.m, marks["offsets"], set(marks["compose"]))
    w.logs.require_clean()


def silence_expired(m: Maintenance) -> None:
    if m.inventory.components.monitoring is None:
        return
    active = ours(m.monitoring().alertmanager, m.plan.id)
    if active:
        raise VerificationFailed(f"maintenance silences still active: {', '.join(s['id'] for s in active)}")
    record.text("silences", f"no active silence of maintenance {m.plan.id}")


def work_report_written(m: Maintenance) -> None:
    path = m.records_dir / WORK_REPORT
    if not path.exists() or m.plan.id not in path.read_text(encoding="utf-8"):
        raise VerificationFailed(f"no work report for {m.plan.id} at {path}")
    record.text("work report", path.read_text(encoding="utf-8"))


def backups_pruned(w: Workflow) -> None:
    keep = w.plan.retention.keep_backups
    counts = {}
    for component in dict(procedures_for(w.plan.changes)):
        target = backup_target(w.m, component)
        counts[component] = len(backups.all_of(target.host, target.folder, component))
    over = {c: n for c, n in counts.items() if n > keep}
    if over:
        raise VerificationFailed(f"more backups than the plan keeps ({keep}): {over}")
    record.data(f"backups kept (retention {keep})", counts)
