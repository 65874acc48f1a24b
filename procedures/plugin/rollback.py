"""The rollback engine: a failing procedure runs its rollback inside the same test.

A procedure scenario names its rollback with a tag, ``@rollback:<id>``; the
rollback scenario carries ``@rollback-procedure @id:<id>``. When any step of
the procedure fails, the rollback's steps run right there, nested under a
``ROLLBACK`` step in the record, sharing the procedure's fixtures. Running
inside the failing test is what makes this immune to ``-k``, ``-x``,
``--maxfail`` and xdist scheduling.

Rollback scenarios are deselected unless asked for by ``--run-rollback <id>``
(the emergency rollback). A rollback that fails turns the test into an error
(``RollbackFailed``), prints a ROLLBACK FAILED summary and makes pytest exit
with ``EXIT_ROLLBACK_FAILED``.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

import allure
import pytest

from procedures import notices, record
from procedures.errors import ProcedureError, RollbackFailed
from procedures.notices.wording import plan_time
from procedures.plugin import embed, safety
from procedures.plugin.bdd import Failed
from procedures.runbooks import incident, outage

if TYPE_CHECKING:
    from procedures.plugin.bdd import Feature, Scenario, ScenarioTemplate, Step

EXIT_ROLLBACK_FAILED = 12
PROCEDURE_TAG = embed.PROCEDURE_TAG

FAILURE = pytest.StashKey[tuple["Step", BaseException]]()
ROLLBACK_ERROR = pytest.StashKey[RollbackFailed]()
INCIDENT = pytest.StashKey[str]()
DONE = pytest.StashKey[set[str]]()
FAILED_ROLLBACKS = pytest.StashKey[list[tuple[str, str]]]()


def is_rollback(tags: set[str]) -> bool:
    return PROCEDURE_TAG in tags


def on_step_failure(request: pytest.FixtureRequest, feature: Feature, scenario: Scenario | ScenarioTemplate,
                    step: Step, exception: BaseException, features_dir: str) -> None:
    """Run the linked rollbacks now, while the failed step is still open in the record.

    That nests the rollback under the failure. Its outcome is kept for
    ``after_scenario``, which decides how the test ends.
    """
    request.node.stash.setdefault(FAILURE, (step, exception))
    tags = embed.scenario_tags(feature, scenario)
    if is_rollback(tags):
        return
    done = request.node.stash.setdefault(DONE, set())
    for link in embed.linked_rollbacks(tags):
        if link in done:
            continue
        done.add(link)
        started = time.monotonic()
        try:
            with safety.rolling_back():
                run_rollback(request, find_rollback(feature, link, features_dir), step, exception)
            record.data("time to rollback", {"rollback": link, "seconds": round(time.monotonic() - started, 3),
                                             "from": "the failed step", "to": "the rollback's last check passed"})
        except RollbackFailed as exc:
            request.node.stash[ROLLBACK_ERROR] = exc
            _mark_failed(request, str(exc))
            escalate(request, exc, f"{step.keyword} {step.name}: {exception}", tags)
            return
        request.node.user_properties.append(("rollback", f"{link}: passed"))


def after_scenario(request: pytest.FixtureRequest, feature: Feature, scenario: Scenario) -> BaseException | None:
    """What the test must raise now: the rollback's failure, or the rolled-back procedure's."""
    tags = embed.scenario_tags(feature, scenario)
    failure = request.node.stash.get(FAILURE, None)
    if is_rollback(tags):
        if failure is not None:  # an emergency rollback run by hand failed: a rollback error like any other
            _mark_failed(request, f"{scenario.name}: {failure[1]!r}")
            request.node.stash[ROLLBACK_ERROR] = RollbackFailed(f"{scenario.name}: {failure[1]}")
            escalate(request, request.node.stash[ROLLBACK_ERROR],
                     f"{failure[0].keyword} {failure[0].name}: {failure[1]}", tags)
        return None
    links = embed.linked_rollbacks(tags)
    if failure is None:
        for link in links:
            with record.step(f"ROLLBACK {link}: not needed, every step passed"):
                pass
        return None
    error: RollbackFailed | None = request.node.stash.get(ROLLBACK_ERROR, None)
    if error is not None:
        return error
    step, exc = failure
    done = ", ".join(sorted(request.node.stash.get(DONE, set()))) or "none linked"
    rolled_back: BaseException = Failed(f"procedure failed at {step.keyword} {step.name}: {type(exc).__name__}: {exc}\n"
                  f"rolled back ({done}): every rollback step passed", pytrace=False)
    return rolled_back


def journal_event(request: pytest.FixtureRequest, error: BaseException | None) -> str:
    """How the journal closes the scenario: only a failed rollback leaves it open (for --recover)."""
    if ROLLBACK_ERROR in request.node.stash:
        return "rollback failed"
    return "passed" if FAILURE not in request.node.stash else "rolled back" if error is not None else "failed"


def find_rollback(feature: Feature, link: str, features_dir: str) -> ScenarioTemplate:
    """The rollback scenario tagged ``@id:<link>``: in the same feature first, then any feature."""
    try:
        found_in, template = embed.find(link, features_dir, first=feature)
    except LookupError:
        raise RollbackFailed(f"no scenario tagged @{PROCEDURE_TAG} @{embed.ID_PREFIX}{link} in {feature.filename} "
                             f"or under {features_dir}") from None
    if not is_rollback(embed.scenario_tags(found_in, template)):
        raise RollbackFailed(f"@{embed.ID_PREFIX}{link} is not tagged @{PROCEDURE_TAG}")
    return template


def run_rollback(request: pytest.FixtureRequest, template: ScenarioTemplate, failed_step: Step,
                 cause: BaseException) -> None:
    """Run each rollback step in order; the first one that fails fails the rollback."""
    title = f"ROLLBACK: {template.name} (triggered by: {failed_step.keyword} {failed_step.name})"
    try:
        embed.run(request, template, title)
    except embed.StepFailed as exc:
        raise RollbackFailed(
            f"ROLLBACK FAILED in {template.name!r} {exc.where}: {exc.cause}\n"
            f"(the procedure had failed at {failed_step.keyword} {failed_step.name}: {cause})"
        ) from exc.cause


def escalate(request: pytest.FixtureRequest, error: RollbackFailed, cause: str, tags: set[str]) -> None:
    """ロールバック失敗時の対処: keep the evidence in an incident bundle, tell the development team (the plan's
    escalation channels), and, when the plan says ``on_rollback_failure: stop_service``, stop the procedure's
    components (its ``@component:`` tags) and tell the users.

    Whatever goes wrong here is recorded and never hides the failed rollback itself.
    """
    with record.step("ESCALATION: incident bundle and escalation notice"):
        m = request.node.stash.get(embed.MAINTENANCE, None)
        if m is None:  # the test never reached its targets: there is nothing to collect from
            record.text("escalation skipped", "this test has no maintenance targets")
            return
        try:
            archive = str(incident.collect(m, f"procedure failed at {cause}\n\n{error}"))
            request.node.stash[INCIDENT] = archive
            request.node.user_properties.append(("incident", archive))
            services = list(m.plan.impact.services) if m.plan.impact else list(m.inventory.components.model_dump(
                exclude_none=True))
            owner = f"{m.plan.owner.name} ({m.plan.owner.contact})" if m.plan.owner else "—"
            m.notifier().send(notices.render(
                "escalation", m.plan, finished=plan_time(m.plan, datetime.now().astimezone()), reason=cause,
                rollback_error=str(error).splitlines()[0], services=services, incident=archive, owner=owner))
            if m.plan.on_rollback_failure == "stop_service":
                outage.stop_and_tell(m, embed.scenario_components(tags), owner)
        except (ProcedureError, OSError) as exc:
            record.text("escalation problem", f"escalation incomplete: {type(exc).__name__}: {exc}")


def failure_of(request: pytest.FixtureRequest) -> str | None:
    failure = request.node.stash.get(FAILURE, None)
    return f"{failure[0].keyword} {failure[0].name}: {failure[1]}" if failure else None


def rollback_error_of(request: pytest.FixtureRequest) -> str | None:
    error = request.node.stash.get(ROLLBACK_ERROR, None)
    return str(error) if error else None


def incident_of(request: pytest.FixtureRequest) -> str | None:
    archive: str | None = request.node.stash.get(INCIDENT, None)
    return archive


def _mark_failed(request: pytest.FixtureRequest, message: str) -> None:
    request.node.user_properties.append(("rollback", f"FAILED: {message}"))
    allure.dynamic.tag("ROLLBACK-FAILED")  # type: ignore[no-untyped-call]


def select(items: list[pytest.Item], config: pytest.Config, wanted: list[str] | None) -> None:
    """Drop rollback scenarios from the run, or keep only those asked for by id, in that order."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        is_rb = item.get_closest_marker(PROCEDURE_TAG) is not None
        ids = {m.args[0] for m in item.iter_markers("id") if m.args}
        selected = (is_rb and bool(ids & set(wanted))) if wanted else not is_rb
        (keep if selected else drop).append(item)
    if wanted:
        keep.sort(key=lambda item: min(wanted.index(m.args[0]) for m in item.iter_markers("id")
                                       if m.args and m.args[0] in wanted))
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def collect_report(report: pytest.TestReport, config: pytest.Config) -> None:
    for name, value in report.user_properties:
        if report.when != "call":
            continue
        if name == "rollback" and str(value).startswith("FAILED"):
            config.stash.setdefault(FAILED_ROLLBACKS, []).append((report.nodeid, str(value)))
        if name == "incident":
            config.stash.setdefault(FAILED_ROLLBACKS, []).append((report.nodeid, f"incident bundle: {value}"))


def failed_rollbacks(config: pytest.Config) -> list[tuple[str, str]]:
    return config.stash.get(FAILED_ROLLBACKS, [])
