"""``--dry-run``: each selected procedure previewed step by step (see ``procedures/run/dryrun.py``).

The scenario is run by this module instead of pytest-bdd, so that a step that
cannot be previewed ends the preview instead of failing the procedure (and
starting a rollback of changes that were never made).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from procedures import record
from procedures.plugin import embed, target
from procedures.plugin.bdd import Step, scenario_wrapper_template_registry
from procedures.run.dryrun import DryRun
from procedures.run.maintenance import Maintenance

PROPERTY = "flatnet-dry-run"
PLAN = pytest.StashKey[str]()


def add_options(parser: pytest.Parser) -> None:
    parser.getgroup("flatnet").addoption(
        "--dry-run", action="store_true", default=False,
        help="read for real, change nothing: record every command, script and request that would be sent")


def enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("dry_run"))


def resolved_plan(m: Maintenance, items: list[pytest.Item]) -> str:
    changes = m.plan.changes.model_dump(mode="json", exclude_none=True)
    lines = ["DRY RUN: nothing on the targets will change; every operation is recorded as WOULD RUN",
             f"target:  {m.inventory.name} ({m.inventory_path})", f"plan:    {m.plan.id} ({m.plan_path})",
             *[f"host:    {name} ({spec.transport} {spec.address})" for name, spec in m.inventory.hosts.items()],
             *[f"change:  {name}: {json.dumps(changes[name], ensure_ascii=False)}"
               for name in m.plan.changes.planned()],
             *[f"runs:    {item.nodeid}" for item in items]]
    return "\n".join(lines)


def announce(session: pytest.Session, m: Maintenance) -> None:
    text = resolved_plan(m, session.items)
    session.config.stash[PLAN] = text
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("\n" + text, cyan=True, bold=True)


def record_plan(config: pytest.Config) -> None:
    text = config.stash.get(PLAN, None)
    if text:
        record.text("the resolved plan (dry run)", text)


def run_scenario(item: pytest.Function) -> bool:
    """Preview the scenario; False when the item is not a scenario (pytest then calls it as usual)."""
    template = scenario_wrapper_template_registry.get(item.obj)
    if template is None:
        return False
    request: pytest.FixtureRequest = item._request
    scenario = template.render({})
    hook = item.config.hook
    dry = target.maintenance(item.config).dry_run
    assert dry is not None, "--dry-run gives the maintenance its dry run"
    dry.begin()
    hook.pytest_bdd_before_scenario(request=request, feature=template.feature, scenario=scenario)
    try:
        embed.walk(request, scenario, Preview(dry))
        record.data(f"DRY RUN: {len(dry.withheld)} actions withheld", dry.withheld)
    finally:
        dry.end()
        hook.pytest_bdd_after_scenario(request=request, feature=template.feature, scenario=scenario)
    item.user_properties.append((PROPERTY, json.dumps([a["purpose"] for a in dry.withheld])))
    return True


class Preview(embed.Walk):
    """Steps run until one needs what was withheld; verifications of withheld changes are only listed."""

    def __init__(self, dry: DryRun) -> None:
        self.dry = dry

    def listed(self, step: Step, stopped: BaseException | None) -> str | None:
        if stopped is not None:
            return "would run"
        if step.type == "then" and self.dry.withheld:
            return "would verify: what it checks was withheld"
        return None

    def stops(self, step: Step, exc: BaseException) -> BaseException:
        if not self.dry.withheld:
            raise exc  # a real problem, found before anything would have changed
        record.text("the preview ends here", f"this step needs what was withheld:\n{exc}")
        return exc


def summary(terminalreporter: Any, previews: list[tuple[str, list[str]]]) -> None:
    terminalreporter.section("DRY RUN: what would have run", sep="=", cyan=True, bold=True)
    for nodeid, actions in previews:
        terminalreporter.line(f"{nodeid}: {len(actions)} actions withheld")
        for action in actions:
            terminalreporter.line(f"    WOULD RUN: {action}")
