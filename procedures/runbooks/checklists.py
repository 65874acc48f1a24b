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
from procedures.runbooks.workflow import LOG_MARKS, Workflow, backup_target, current_version, procedures_for

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
    """Every planned procedure links a rollback, and what that rollback returns to is there on the target.

    A rollback goes back to what runs now: the gateway's current release, the monitoring images the
    compose file names (restarted without the registry), the CNI plugin and the Nebula binary in place.
    """
    found = {procedure: rollbacks_of(procedure) for _, procedure in procedures_for(w.plan.changes)}
    missing = [procedure for procedure, links in found.items() if not links]
    if missing:
        raise PreconditionFailed(f"no rollback scenario for: {', '.join(missing)}")
    returns_to = {component: _what_the_rollback_returns_to(w.m, component)
                  for component, _ in procedures_for(w.plan.changes)}
    record.data("rollback scenarios", {"scenarios": found, "returns to": returns_to})


def _what_the_rollback_returns_to(m: Maintenance, component: str) -> object:
    if component == "monitoring":
        stack = m.monitoring()
        images = stack.compose_images()
        absent = stack.absent_images(list(images.values()))
        if absent:
            raise PreconditionFailed(
                f"the monitoring rollback restarts the stack with {', '.join(absent)}, which {stack.host.name} does "
                f"not hold: without it a rollback needs the registry. Pull it on {stack.host.name} before the window")
        return images
    now = current_version(m, component)
    if not now:
        raise PreconditionFailed(f"the {component} rollback has nothing to return to: the running {component} does "
                                 f"not tell its version on {getattr(m, component)().host.name}; check it first")
    return now


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
    """Verified on staging means a staging run's record, here, in which every procedure passed."""
    staging = w.plan.staging
    if staging is None:
        raise PreconditionFailed("the plan says nothing about staging verification: give staging.verified "
                                 "(the evidence) or staging.not_applicable (why)")
    evidence = staging.model_dump(exclude_none=True)
    if staging.verified is not None:
        evidence["results"] = _staging_results(Path(staging.verified), w.m.plan_path)
    record.data("staging verification", evidence)


def _staging_results(where: Path, plan_path: Path) -> dict[str, str]:
    folder = where / "allure-results" if (where / "allure-results").is_dir() else where
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*-result.json"))]
    if not results:
        raise PreconditionFailed(
            f"staging.verified ({where}) is not the record of a staging run: give the folder of that run's "
            f"record (reports/runs/<time>) in {plan_path}, or staging.not_applicable with why")
    outcome = {r["name"]: r["status"] for r in results}
    failed = sorted(name for name, status in outcome.items() if status != "passed")
    if failed:
        raise PreconditionFailed(f"the staging run recorded in {where} did not pass: {', '.join(failed)}. "
                                 "Fix it on staging and run it again before the window")
    return outcome


# -- 実施中チェックリスト (during) ---------------------------------------------------------------
def silence_active(m: Maintenance) -> None:
    if m.inventory.components.monitoring is None:
        raise VerificationFailed("no Alertmanager in the inventory: alerts are not silenced")
    active = ours(m.monitoring().alertmanager, m.plan.id)
    if not active:
        raise VerificationFailed(f"no active silence created by maintenance {m.plan.id}")
    record.data("active maintenance silences", [{"id": s["id"], "endsAt": s["endsAt"]} for s in active])


def work_log_recorded(m: Maintenance, results_dir: str | None) -> None:
    """The work done so far is on disk: this run's procedure steps in the journal, their evidence in the record."""
    if not results_dir:
        raise VerificationFailed("no Allure results folder: this run is not being recorded")
    journal = m.journal()
    steps = [e for e in journal.entries() if e["run"] == str(m.run_dir) and "phase" in e
             and not e["scenario"].endswith("checklist")]
    if not steps:
        raise VerificationFailed(f"the work log ({journal.path}) holds no procedure step of this run: "
                                 f"nothing of maintenance {m.plan.id} has been done and logged yet")
    since = datetime.fromisoformat(steps[0]["at"]).timestamp()
    written = [p for p in Path(results_dir).glob("*-attachment*") if p.stat().st_mtime >= since]
    if not written:
        raise VerificationFailed(f"the record in {results_dir} holds no evidence of this run's steps: "
                                 "it is not being written (disk full? permissions?)")
    record.data("work log", {"journal": str(journal.path), "procedure steps logged": len(steps),
                             "last": f"{steps[-1]['scenario']}: {steps[-1]['step']}",
                             "evidence files written": len(written)})


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


def time_left_to_roll_back(w: Workflow) -> None:
    """問題発生時はすぐにロールバックを判断: a problem found now can still be decided and rolled back in the window."""
    window, now = w.plan.window or w.complete_plan(), datetime.now(UTC)
    left, needed = (window.ends - now).total_seconds() / 60, w.plan.minutes_needed()
    if left < needed:
        raise VerificationFailed(
            f"{max(left, 0):.0f} minutes are left in the maintenance window, and a rollback decision with its "
            f"rollback may need {needed:.0f}: decide now (roll back), or extend the window in {w.m.plan_path}")
    record.data("time left to decide and roll back", {"minutes left": round(left, 1),
                                                       "minutes needed at worst": round(needed, 1)})


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
        raise VerificationFailed("the inventory names no Alertmanager, so whether alerts are still silenced "
                                 "cannot be checked: look at the site's alerting by hand, or add monitoring")
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
