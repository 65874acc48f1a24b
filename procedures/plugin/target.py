"""Which inventory and plan a run uses: given ones are validated at start-up,
otherwise the lab is started (once, under a lock) and its generated files used."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from procedures.errors import ConfigError, LabError
from procedures.lab import PARTS, Lab
from procedures.lab.monitoring import GRAFANA_PASSWORD_ENV
from procedures.maintenance import Maintenance
from procedures.plan import load_plan
from procedures.plugin.safety import EXIT_UNREACHABLE
from procedures.secrets import redact
from procedures.workflow import WORKFLOW_SCENARIO

INVENTORY_ENV = "FLATNET_INVENTORY"
PLAN_ENV = "FLATNET_PLAN"
MAINTENANCE = pytest.StashKey[Maintenance]()
LAB_PARTS = pytest.StashKey[tuple[str, ...]]()


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("flatnet", "flatnet maintenance")
    group.addoption("--inventory", metavar="PATH", default=os.environ.get(INVENTORY_ENV),
                    help=f"inventory YAML (or ${INVENTORY_ENV}); default: the lab")
    group.addoption("--plan", metavar="PATH", default=os.environ.get(PLAN_ENV),
                    help=f"maintenance plan YAML (or ${PLAN_ENV}); default: the lab's plan")
    group.addoption("--lab-fault", metavar="NAME", default=None,
                    help="lab only: inject a fault (see `./maint lab fault --help`); none clears it")


def validate_given(config: pytest.Config) -> None:
    """Refuse bad inventory or plan files before a single test runs."""
    inventory, plan = config.getoption("inventory"), config.getoption("plan")
    if inventory and not plan:
        raise pytest.UsageError("--inventory needs a --plan that says what to change")
    if inventory and config.getoption("lab_fault"):
        raise pytest.UsageError("--lab-fault only applies to the lab, not to --inventory")
    try:
        if inventory:
            config.stash[MAINTENANCE] = Maintenance.load(Path(inventory), Path(plan))
        elif plan:
            load_plan(Path(plan))
    except ConfigError as exc:
        raise pytest.UsageError(redact(str(exc))) from None


def check_workflow_plan(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A given plan that lacks what the planned-maintenance workflow needs is refused before it starts."""
    plan = config.getoption("plan")
    selected = any(m.args and m.args[0] == WORKFLOW_SCENARIO for item in items for m in item.iter_markers("id"))
    if plan and selected:
        gaps = load_plan(Path(plan)).workflow_gaps()
        if gaps:
            raise pytest.UsageError(f"{plan}: the planned-maintenance workflow needs "
                                    + ", ".join(f"'{g}'" for g in gaps) + " in the plan")


def note_lab_parts(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The lab starts only the parts the selected procedures touch (``@component:<part>``)."""
    parts = {m.args[0] for item in items for m in item.iter_markers("component") if m.args}
    config.stash[LAB_PARTS] = tuple(sorted(parts & set(PARTS))) or ("gateway",)


def lab_plan_path() -> Path:
    return Lab.default().plan_path


def maintenance(config: pytest.Config) -> Maintenance:
    """The run's Maintenance, starting the lab on first use when no inventory was given."""
    if MAINTENANCE not in config.stash:
        lab = Lab.default()
        fault = config.getoption("lab_fault")
        with _lab_lock(lab):
            if not (config.getoption("recover") and lab.inventory_path.exists()):  # a target to recover as it is
                parts = config.stash.get(LAB_PARTS, ("gateway",))
                try:
                    lab.up(parts)
                except LabError as exc:
                    pytest.exit(f"the lab did not start: {exc}", returncode=EXIT_UNREACHABLE)
                _say(config, f"lab {lab.root}: {', '.join(parts)} up (the parts these procedures touch)")
            lab_plan = lab.plan_with(None if fault == "none" else fault) if fault else lab.plan_path
        monitoring = lab.monitoring()
        if monitoring is not None:  # the lab's own credential, handed over the way a site's would be
            os.environ.setdefault(GRAFANA_PASSWORD_ENV, monitoring.state.grafana_password)
        plan = config.getoption("plan")
        config.stash[MAINTENANCE] = Maintenance.load(lab.inventory_path, Path(plan) if plan else lab_plan)
    return config.stash[MAINTENANCE]


class _lab_lock:
    """An exclusive file lock, so that xdist workers start one lab, not several."""

    def __init__(self, lab: Lab) -> None:
        lab.root.parent.mkdir(parents=True, exist_ok=True)
        self._path = lab.root.parent / f".{lab.root.name}.lock"

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _say(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(config, "workerinput"):
        reporter.write_line(text)
