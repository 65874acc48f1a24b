"""Which inventory and plan a run uses: given ones are validated at start-up; otherwise
another plugin's default (``pytest_flatnet_default_target``: the lab's) is asked for on first use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from procedures.config.plan import load_plan
from procedures.errors import ConfigError
from procedures.record import i18n
from procedures.record.secrets import redact
from procedures.run.dryrun import DryRun
from procedures.run.maintenance import Maintenance
from procedures.runbooks.workflow import WORKFLOW_SCENARIO

INVENTORY_ENV = "FLATNET_INVENTORY"
PLAN_ENV = "FLATNET_PLAN"
MAINTENANCE = pytest.StashKey[Maintenance]()
COMPONENTS = pytest.StashKey[tuple[str, ...]]()


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("flatnet", "flatnet maintenance")
    group.addoption("--inventory", metavar="PATH", default=os.environ.get(INVENTORY_ENV),
                    help=f"inventory YAML (or ${INVENTORY_ENV}); default: the lab")
    group.addoption("--plan", metavar="PATH", default=os.environ.get(PLAN_ENV),
                    help=f"maintenance plan YAML (or ${PLAN_ENV}); default: the lab's plan")


def validate_given(config: pytest.Config) -> None:
    """Refuse bad inventory or plan files before a single test runs."""
    inventory, plan = config.getoption("inventory"), config.getoption("plan")
    if inventory and not plan:
        raise pytest.UsageError("--inventory needs a --plan that says what to change")
    try:
        if inventory:
            _load(config, Path(inventory), Path(plan))
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


def note_components(config: pytest.Config, items: list[pytest.Item]) -> None:
    """What the selected procedures touch (``@component:<part>``): a default target starts only those."""
    config.stash[COMPONENTS] = tuple(sorted({m.args[0] for item in items for m in item.iter_markers("component")
                                             if m.args}))


def default_plan(config: pytest.Config) -> Path:
    """The plan given, else the default target's (``--recover`` reads its journal)."""
    given = config.getoption("plan") or config.hook.pytest_flatnet_default_plan(config=config)
    if given is None:
        raise pytest.UsageError("--recover needs --plan: the plan of the maintenance to recover")
    return Path(given)


def maintenance(config: pytest.Config) -> Maintenance:
    """The run's Maintenance: the given files, or the default target's, asked for on first use."""
    if MAINTENANCE not in config.stash:
        found = config.hook.pytest_flatnet_default_target(config=config, components=config.stash.get(COMPONENTS, ()))
        if found is None:
            raise pytest.UsageError("no target: give --inventory and --plan (the inventory of the site to maintain)")
        inventory, plan = found
        given = config.getoption("plan")
        _load(config, inventory, Path(given) if given else plan)
    return config.stash[MAINTENANCE]


def _load(config: pytest.Config, inventory: Path, plan: Path) -> None:
    config.stash[MAINTENANCE] = m = Maintenance.load(inventory, plan, _dry_run(config))
    i18n.use(m.plan.language)  # the record's language, decided once for the run


def _dry_run(config: pytest.Config) -> DryRun | None:
    """``--dry-run``, decided here once: the run's hosts, clients and notifier carry it."""
    return DryRun() if config.getoption("dry_run") else None
