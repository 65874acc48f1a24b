"""The one scenario runner: a scenario's steps inside another test (rollbacks, checklists, the workflow's
and the fleet's procedures) and the dry run's preview.

The steps run with the calling test's fixtures, nested under one step in the
record, so a checklist run by the workflow and a rollback run by a failed
procedure read like part of the test that ran them. ``walk`` runs the steps;
a ``Walk`` says which steps are only listed and which failure stops the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from procedures import record
from procedures.errors import ProcedureError
from procedures.plugin import manual
from procedures.plugin.bdd import (
    Failed,
    Feature,
    Scenario,
    ScenarioTemplate,
    Step,
    call_fixture_func,
    get_features,
    get_required_args,
    get_step_function,
    inject_fixture,
    parse_step_arguments,
)
from procedures.run import live
from procedures.run.journal import Journal
from procedures.run.maintenance import Maintenance

ID_PREFIX = "id:"
LINK_PREFIX = "rollback:"
COMPONENT_PREFIX = "component:"
PROCEDURE_TAG = "rollback-procedure"
JOURNAL = pytest.StashKey[Journal]()  # set once the test has its maintenance
MAINTENANCE = pytest.StashKey[Maintenance]()  # the test's maintenance, once a step asked for it


class StepFailed(ProcedureError):
    """An embedded scenario failed; ``where`` says at which step (or outside its steps) and ``cause`` why."""

    def __init__(self, scenario: str, step: Step | None, cause: BaseException) -> None:
        self.scenario, self.step, self.cause = scenario, step, cause
        self.where = f"at {step.keyword} {step.name}" if step else "outside its steps"
        super().__init__(f"{scenario!r} failed {self.where}: {cause}")


def scenario_tags(feature: Feature, scenario: Scenario | ScenarioTemplate) -> set[str]:
    rule_tags = scenario.rule.tags if scenario.rule else set()
    return set(scenario.tags) | set(feature.tags) | set(rule_tags)


def scenario_id(tags: set[str]) -> str | None:
    return next((t.removeprefix(ID_PREFIX) for t in tags if t.startswith(ID_PREFIX)), None)


def linked_rollbacks(tags: set[str]) -> list[str]:
    return sorted(t.removeprefix(LINK_PREFIX) for t in tags if t.startswith(LINK_PREFIX))


def scenario_components(tags: set[str]) -> list[str]:
    """What a scenario touches: its ``@component:<part>`` tags."""
    return sorted(t.removeprefix(COMPONENT_PREFIX) for t in tags if t.startswith(COMPONENT_PREFIX))


def identity(feature: Feature, scenario: Scenario | ScenarioTemplate) -> tuple[str, list[str]]:
    """How the journal names a scenario, and what undoes it: its linked rollbacks; a rollback undoes itself
    (a rollback cut short or failed is run again by ``--recover``)."""
    tags = scenario_tags(feature, scenario)
    name = scenario_id(tags) or scenario.name
    return name, [name] if PROCEDURE_TAG in tags else linked_rollbacks(tags)


def find(wanted: str, features_dir: str, *, first: Feature | None = None) -> tuple[Feature, ScenarioTemplate]:
    """The scenario tagged ``@id:<wanted>``: in ``first`` (the caller's feature) first, then any feature."""
    for feature in [*([first] if first else []), *get_features([features_dir])]:
        for template in feature.scenarios.values():
            if scenario_id(scenario_tags(feature, template)) == wanted:
                return feature, template
    raise LookupError(f"no scenario tagged @{ID_PREFIX}{wanted} under {features_dir}")


def run(request: pytest.FixtureRequest, template: ScenarioTemplate, title: str) -> None:
    """Run every step in order; the first failure stops the rest (shown as not run) and raises StepFailed.

    Each step is journaled like a top-level one, under the scenario's id. A failure anywhere in here,
    inside a step or around the steps (the journal, the record), fails the scenario: nothing is swallowed.
    """
    scenario = template.render({})
    name, undo = identity(template.feature, template)
    journal = request.node.stash.get(JOURNAL, None)
    error: StepFailed | None = None
    try:
        live.say(title)
        with record.step(title), live.nested():
            stopped = walk(request, scenario, Walk(), name=name, undo=undo, journal=journal)
            if stopped is not None:
                raise StepFailed(scenario.name, *stopped)  # marks the enclosing record step as failed
    except StepFailed as raised:
        error = raised
    except (Exception, Failed) as exc:  # noqa: BLE001 - outside the steps, and still the scenario's failure
        error = StepFailed(scenario.name, None, exc)
    if error is not None:
        if journal:
            journal.close(name, "failed")
        raise error from error.cause
    if journal:
        journal.close(name, "passed")
        if PROCEDURE_TAG in scenario_tags(template.feature, template):
            journal.close_undone_by(name, "rolled back")


class Walk:
    """Run every step; after the first failure, list the rest as not run."""

    def listed(self, step: Step, stopped: BaseException | None) -> str | None:
        """Why ``step`` is only listed, not run (None: run it)."""
        return "not run" if stopped is not None else None

    def stops(self, step: Step, exc: BaseException) -> BaseException:
        """The failure that stops the scenario (a walk may raise instead, to fail it outright)."""
        return exc


def walk(request: pytest.FixtureRequest, scenario: Scenario, policy: Walk, *, name: str = "",
         undo: list[str] | None = None, journal: Journal | None = None) -> tuple[Step, BaseException] | None:
    """Each step in order, in the record and on the operator's screen; the step and failure that stopped it."""
    stopped: tuple[Step, BaseException] | None = None
    for step in (s for s in scenario.steps if s.background is None):
        text = f"{step.keyword} {step.name}"
        note = policy.listed(step, stopped[1] if stopped else None)
        if note is not None:
            with record.step(f"{text} ({note})"):
                live.say(f"- {text} ({note})")
            continue
        try:
            with record.step(text), live.step(text):
                manual.attach(step.name)
                if journal:
                    journal.step(name, text, "begin", undo or [])
                call_step(request, step)
                if journal:
                    journal.step(name, text, "end", undo or [])
        except (Exception, Failed) as exc:  # noqa: BLE001 - any failure fails the scenario
            stopped = (step, policy.stops(step, exc))
    return stopped


def call_step(request: pytest.FixtureRequest, step: Step) -> None:
    context = get_step_function(request=request, step=step)
    if context is None:
        raise LookupError(f"no step definition matches {step.keyword} {step.name!r}")
    kwargs: dict[str, Any] = parse_step_arguments(step=step, context=context)
    if step.datatable is not None:
        kwargs["datatable"] = step.datatable.raw()
    if step.docstring is not None:
        kwargs["docstring"] = step.docstring
    wanted = get_required_args(context.step_func)
    kwargs = {k: v for k, v in kwargs.items() if k in wanted}
    kwargs |= {arg: request.getfixturevalue(arg) for arg in wanted if arg not in kwargs}
    value = call_fixture_func(fixturefunc=context.step_func, request=request, kwargs=kwargs)
    if context.target_fixture is not None:
        inject_fixture(request, context.target_fixture, value)


class Scenarios:
    """What steps use to run other scenarios by id (a fixture: ``scenarios``)."""

    def __init__(self, request: pytest.FixtureRequest, features_dir: str) -> None:
        self.request, self.features_dir = request, features_dir

    def run(self, wanted: str, title: str) -> None:
        _, template = find(wanted, self.features_dir)
        run(self.request, template, title)

    def step_functions(self, wanted: str) -> list[tuple[str, Callable[..., object], list[str]]]:
        """Each step of scenario ``wanted`` as (text, step function, the arguments it takes), to run elsewhere."""
        _, template = find(wanted, self.features_dir)
        found = []
        for step in (s for s in template.render({}).steps if s.background is None):
            context = get_step_function(request=self.request, step=step)
            if context is None:
                raise LookupError(f"no step definition matches {step.keyword} {step.name!r}")
            found.append((f"{step.keyword} {step.name}", context.step_func, list(get_required_args(context.step_func))))
        return found

    def unfinished(self) -> list[tuple[str, list[str]]]:
        """What this maintenance's journal shows as begun and not closed, newest first (for --recover)."""
        journal = self.request.node.stash.get(JOURNAL, None)
        return journal.unfinished() if journal is not None else []

    def rollbacks_of(self, wanted: str) -> list[str]:
        """The rollback ids a procedure links, each checked to exist; [] when the procedure is missing."""
        try:
            feature, template = find(wanted, self.features_dir)
        except LookupError:
            return []
        links = linked_rollbacks(scenario_tags(feature, template))
        for link in links:
            find(link, self.features_dir, first=feature)
        return links
