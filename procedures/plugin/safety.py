"""Safe to interrupt, safe to run twice: the maintenance lock, the journal, ``--recover``, and signals.

- Each run takes a lock on every target host (``procedures/run/lock.py``) when it
  first needs the targets, and the controller releases it at the end, also
  after a failure that was rolled back. After a failed rollback the lock stays:
  the next run refuses until the target was recovered.
- Every step of a procedure is journaled before and after it runs
  (``procedures/run/journal.py``), nested procedures too.
- ``--recover`` runs the rollbacks of every unfinished procedure in the journal,
  newest first, then closes them as recovered.
- SIGINT and SIGTERM during a procedure fail the running step, so its rollback
  runs like after any failure; a signal during a rollback never interrupts it.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Generator
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from procedures import record
from procedures.config.plan import load_plan
from procedures.errors import ProcedureError, TransportError
from procedures.plugin import embed
from procedures.record.secrets import redact
from procedures.run.journal import NAME as JOURNAL_NAME
from procedures.run.journal import Journal
from procedures.run.lock import LockHeld, MaintenanceLock
from procedures.run.maintenance import Maintenance, records_dir_of

if TYPE_CHECKING:
    from procedures.plugin.bdd import Feature, Scenario, Step

EXIT_LOCKED = 13
EXIT_UNREACHABLE = 14  # a target could not be reached (or the lab did not start): nothing was done
RUN_PID_ENV = "FLATNET_RUN_PID"
INTERRUPTED_PROPERTY = "flatnet-interrupted"
INTERRUPTED = pytest.StashKey[str]()
LOCKS_TAKEN = pytest.StashKey[str]()
LOCK_EVIDENCE = pytest.StashKey[list[tuple[str, dict[str, Any]]]]()
_rolling_back: list[bool] = []


class MaintenanceInterrupted(ProcedureError):
    """The operator (SIGINT) or the system (SIGTERM) stopped the run; the rollback runs now."""


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("flatnet")
    group.addoption("--force-unlock", action="store_true", default=False,
                    help="remove the maintenance lock left on the targets (recorded) before taking it")
    group.addoption("--recover", action="store_true", default=False,
                    help="bring the targets back from an unfinished maintenance: run the rollbacks its journal names")


def configure(config: pytest.Config) -> None:
    os.environ.setdefault(RUN_PID_ENV, str(os.getpid()))  # xdist workers inherit the controller's pid


# -- the lock ---------------------------------------------------------------------------------
def take_locks(config: pytest.Config, m: Maintenance) -> None:
    """Before the first procedure runs, in each process; exits with EXIT_LOCKED when held."""
    evidence = config.stash.setdefault(LOCK_EVIDENCE, [])
    taken: list[MaintenanceLock] = []
    try:
        _take_locks(config, m, evidence, taken)
    except TransportError as exc:  # the first contact with each target: nothing was changed yet
        for held in (t for t in taken if t.created):
            held.release()
        pytest.exit(f"{redact(str(exc))}\nNothing was changed. Check the host's address, port and credentials in "
                    f"{m.inventory_path} (hosts:), and that it is up.", returncode=EXIT_UNREACHABLE)
    except ProcedureError as exc:  # the lock could not be written: nothing was changed yet
        for held in (t for t in taken if t.created):
            held.release()
        pytest.exit(f"{redact(str(exc))}\nNothing was changed.", returncode=EXIT_LOCKED)
    config.stash[LOCKS_TAKEN] = json.dumps({"inventory": str(m.inventory_path), "plan": str(m.plan_path)})


def _take_locks(config: pytest.Config, m: Maintenance, evidence: list[tuple[str, Any]],
                taken: list[MaintenanceLock]) -> None:
    for lock in m.locks(int(os.environ[RUN_PID_ENV])):
        if config.getoption("force_unlock"):
            removed = lock.force_unlock()
            if removed:
                _say(config, f"--force-unlock removed the lock on {lock.host.name}: {removed.describe()}")
                evidence.append((f"FORCED UNLOCK on {lock.host.name}", {"path": lock.path, "removed": asdict(removed)}))
        try:
            lock.acquire()
        except LockHeld as exc:
            if not (exc.stale and config.getoption("recover")):
                for held in (t for t in taken if t.created):  # this run does not start: let go of the others
                    held.release()
                pytest.exit(str(exc), returncode=EXIT_LOCKED)
            _say(config, f"recovering: taking over the lock of {exc.holder.describe()}")
            evidence.append((f"stale lock taken over to recover on {lock.host.name}", asdict(exc.holder)))
            lock.force_unlock()
            lock.acquire()
        taken.append(lock)
        evidence.append((f"maintenance lock held on {lock.host.name}", {"path": lock.path, **asdict(lock.info)}))


def record_lock_evidence(config: pytest.Config) -> None:
    """The lock was taken before any test: its evidence goes into the first test's record."""
    for name, data in config.stash.get(LOCK_EVIDENCE, []):
        record.data(name, data)
    config.stash[LOCK_EVIDENCE] = []


def release_locks(config: pytest.Config, rollback_failed: bool) -> None:
    """At the end of the run (the controller): release what this run took, unless a rollback failed."""
    taken = config.stash.get(LOCKS_TAKEN, None)
    if taken is None:
        return
    if rollback_failed:
        _say(config, "the maintenance lock stays on the targets: a rollback failed (see ROLLBACK FAILED below)")
        return
    paths = json.loads(taken)
    m = Maintenance.load(Path(paths["inventory"]), Path(paths["plan"]))
    try:
        for lock in m.locks(int(os.environ[RUN_PID_ENV])):
            lock.held = True
            lock.release()
    except ProcedureError as exc:
        _say(config, f"could not release the maintenance lock: {exc}")
    finally:
        m.close()


def _say(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(text, yellow=True, bold=True)


# -- the journal -------------------------------------------------------------------------------
def journal_step(request: pytest.FixtureRequest, feature: Feature, scenario: Scenario, step: Step,
                 phase: str) -> None:
    journal = request.node.stash.get(embed.JOURNAL, None)
    if journal is not None:
        name, undo = embed.identity(feature, scenario)
        journal.step(name, f"{step.keyword} {step.name}", phase, undo)


def close_scenario(request: pytest.FixtureRequest, feature: Feature, scenario: Scenario, event: str) -> None:
    journal = request.node.stash.get(embed.JOURNAL, None)
    if journal is None:
        return
    name, _ = embed.identity(feature, scenario)
    journal.close(name, event)
    if embed.PROCEDURE_TAG in embed.scenario_tags(feature, scenario) and event == "passed":
        journal.close_undone_by(name, "recovered" if request.config.getoption("recover") else "rolled back")


def recover_ids(plan_path: Path) -> list[str]:
    """The rollbacks ``--recover`` runs, newest procedure first; refuses when nothing is unfinished."""
    journal = Journal(records_dir_of(load_plan(plan_path)) / JOURNAL_NAME, "")
    unfinished = journal.unfinished()
    ids = list(dict.fromkeys(undo for _, links in unfinished for undo in links))
    if not ids:
        raise pytest.UsageError(f"--recover: no unfinished procedure in {journal.path}: nothing to recover")
    return ids


# -- signals ------------------------------------------------------------------------------------
def guarded_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Around a test: SIGINT/SIGTERM raise MaintenanceInterrupted in the running step."""
    def interrupt(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if _rolling_back:
            _say(item.config, f"{name} received during the rollback: the rollback goes on")
            return
        item.stash[INTERRUPTED] = name
        raise MaintenanceInterrupted(f"{name} received: stopping the procedure and rolling back")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return (yield)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if INTERRUPTED in item.stash:
            message = f"interrupted by {item.stash[INTERRUPTED]}: the procedure stopped and its rollback ran"
            item.session.shouldstop = message
            item.user_properties.append((INTERRUPTED_PROPERTY, message))


class rolling_back:
    """While a rollback runs, signals are noted and ignored."""

    def __enter__(self) -> None:
        _rolling_back.append(True)

    def __exit__(self, *exc: object) -> None:
        _rolling_back.pop()
