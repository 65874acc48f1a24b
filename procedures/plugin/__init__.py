"""The pytest plugin: feature collection, target selection, rollback, and the record.

Each hook here is a one-line call into the module that owns the subject.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from procedures.plugin import collect, embed, hooks, manual, outcome, preview, reporting, rollback, safety, target
from procedures.record.report import LANGUAGE_PROPERTY
from procedures.run import live
from procedures.run.decisions import DecisionEngine
from procedures.run.maintenance import Maintenance
from procedures.runbooks.silences import MaintenanceSilence, expire_leftovers

FEATURES_DIR = str(Path(__file__).resolve().parents[2] / "features")
STEP_STARTED = pytest.StashKey[float]()
# The one way back after a failed rollback; tests/test_process_death.py follows it step by step.
RECOVERY_ADVICE = (
    "The way back:",
    "  1. read the incident bundle above; the maintenance lock stays, so no other run can start;",
    "  2. clear the cause (for example stop the process that refuses to stop),",
    "     then run the same command again with --recover: it takes the lock over, runs the rollback",
    "     again from the target's present state, verifies it, and releases the lock when it passes;",
    "  3. only if you brought the target back entirely by hand: --force-unlock removes the lock (recorded).",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    target.add_options(parser)
    parser.getgroup("flatnet").addoption(
        "--run-rollback", metavar="ID", default=None,
        help="emergency rollback: run only the rollback scenario tagged @id:<ID>")
    safety.add_options(parser)
    preview.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # What start-up built (modules, classes, pydantic's schemas: about half a million objects) lives as long
    # as the run: out of the collector's way, its collections no longer scan it again and again (-0.4 s).
    gc.freeze()
    for name, text in (("rollback", "rollback(id): the scenario's rollback, run if a step fails"),
                       ("id", "id(name): a scenario's stable name"),
                       ("component", "component(name): what the procedure touches (the lab starts that part)"),
                       (rollback.PROCEDURE_TAG, "a rollback scenario; runs only when triggered")):
        config.addinivalue_line("markers", f"{name}: {text}")
    config.pluginmanager.register(RunObserver(config), "flatnet-run-observer")
    reporting.default_results_dir(config)
    reporting.install_log_redaction()
    target.validate_given(config)
    safety.configure(config)
    if any(str(Path(arg.split("::")[0]).resolve()).startswith(FEATURES_DIR) for arg in config.args):
        live.install(reporting.live_writer(config))  # a maintenance run: the operator follows it line by line


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return collect.collect_file(file_path, parent)


def pytest_bdd_apply_tag(tag: str, function: Callable[..., Any]) -> Callable[..., Any] | None:
    """``@k:v`` becomes ``pytest.mark.k("v")``: colon names cannot be registered as markers."""
    if tag in {"xfail", "skip"}:
        raise pytest.UsageError(f"@{tag} would hide a failed procedure and its rollback; remove the tag")
    if ":" not in tag:
        return None
    name, value = tag.split(":", 1)
    getattr(pytest.mark, name)(value)(function)
    return function


def pytest_itemcollected(item: pytest.Item) -> None:
    """``-k gateway-update`` (or ``-k update``) selects by the scenario's ``@id``: names are the manual's Japanese."""
    marker = item.get_closest_marker("id")
    if marker is not None and marker.args:
        item.extra_keyword_matches.add(str(marker.args[0]))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.getoption("run_rollback")
    if config.getoption("recover"):
        wanted = safety.recover_ids(target.default_plan(config))
    rollback.select(items, config, [wanted] if isinstance(wanted, str) else wanted)
    target.check_workflow_plan(config, items)
    target.note_components(config, items)


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    live.say(f"▶ {scenario.keyword}: {scenario.name}")
    outcome.remember_before(request, lambda: target.maintenance(request.config), embed.scenario_tags(feature, scenario))


def pytest_bdd_before_step(request: pytest.FixtureRequest, step: Any, **_: Any) -> None:
    request.node.stash[STEP_STARTED] = live.started(f"{step.keyword} {step.name}")


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_step_error(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                          exception: BaseException, **_: Any) -> None:
    live.ended(f"{step.keyword} {step.name}", request.node.stash.get(STEP_STARTED, 0.0), exception)
    with live.nested():
        rollback.on_step_failure(request, feature, scenario, step, exception, FEATURES_DIR)


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_step_func_lookup_error(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                                      exception: BaseException) -> None:
    rollback.on_step_failure(request, feature, scenario, step, exception, FEATURES_DIR)


@pytest.hookimpl(wrapper=True)
def pytest_bdd_after_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> Generator[None]:
    error = rollback.after_scenario(request, feature, scenario)
    event = rollback.journal_event(request, error)
    live.say(f"■ {scenario.name}: {event.upper() if event == 'rollback failed' else event}")
    outcome.describe(request, lambda: target.maintenance(request.config), event)
    safety.close_scenario(request, feature, scenario, event)
    yield
    if error is not None:
        raise error


@pytest.hookimpl(trylast=True)
def pytest_bdd_before_step_call(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any,
                                step_func_args: dict[str, Any], **_: Any) -> None:
    reporting.clean_step_parameters(request.config, step, step_func_args)
    manual.attach(step.name)  # inside the step's record (allure opened it in before_step)
    safety.journal_step(request, feature, scenario, step, "begin")


def pytest_bdd_after_step(request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any, **_: Any) -> None:
    live.ended(f"{step.keyword} {step.name}", request.node.stash.get(STEP_STARTED, 0.0))
    safety.journal_step(request, feature, scenario, step, "end")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Before the first procedure runs: the targets are locked, or the run stops here."""
    config = session.config
    asked = [Path(arg.split("::")[0]).resolve() for arg in config.args]  # the xdist controller collects nothing
    procedures = [str(p) for p in (*asked, *(item.path for item in session.items))]
    if config.option.collectonly or not any(p.startswith(FEATURES_DIR) for p in procedures):
        return
    if preview.enabled(config):
        preview.announce(session, target.maintenance(config))
    else:
        safety.take_locks(config, target.maintenance(config))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if preview.enabled(pyfuncitem.config) and preview.run_scenario(pyfuncitem):
        return True
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from safety.guarded_call(item))


class RunObserver:
    """Sees every report (also those from xdist workers) and closes the run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.environment: dict[str, str] = {}
        self.interrupted: str | None = None
        self.previews: list[tuple[str, list[str]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rollback.collect_report(report, self.config)
        for name, value in report.user_properties:
            if name.startswith("env:"):
                self.environment[name.removeprefix("env:")] = str(value)
            elif name == safety.INTERRUPTED_PROPERTY:
                self.interrupted = str(value)
            elif name == preview.PROPERTY and report.when == "call":
                self.previews.append((report.nodeid, json.loads(str(value))))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        reporting.write_environment(self.config, self.environment)
        if hasattr(self.config, "workerinput"):
            return
        failed = bool(rollback.failed_rollbacks(self.config))
        safety.release_locks(self.config, failed)
        if failed:
            session.exitstatus = rollback.EXIT_ROLLBACK_FAILED
        elif self.interrupted:
            session.exitstatus = pytest.ExitCode.INTERRUPTED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        failed = rollback.failed_rollbacks(self.config)
        if failed:
            terminalreporter.section("ROLLBACK FAILED", sep="!", red=True, bold=True)
            for nodeid, message in failed:
                terminalreporter.line(f"{nodeid}: {message}", red=True, bold=True)
            terminalreporter.line("The target is in an unknown state: a human must take over now.", red=True)
            for line in RECOVERY_ADVICE:
                terminalreporter.line(line, red=True)
        if self.previews:
            preview.summary(terminalreporter, self.previews)
        if self.interrupted:
            terminalreporter.section("INTERRUPTED", sep="!", yellow=True, bold=True)
            terminalreporter.line(self.interrupted, yellow=True, bold=True)
        results = self.config.option.allure_report_dir
        if results and not hasattr(self.config, "workerinput"):
            terminalreporter.line(f"maintenance record (Allure results): {results}")


@pytest.fixture
def maintenance(request: pytest.FixtureRequest) -> Maintenance:
    """The validated inventory and plan of this run (the lab's when none was given)."""
    m = target.maintenance(request.config)
    request.node.stash[embed.MAINTENANCE] = m
    if preview.enabled(request.config):
        preview.record_plan(request.config)
    else:
        request.node.stash[embed.JOURNAL] = m.journal()
        safety.record_lock_evidence(request.config)
    for key, value in (("target", m.inventory.name), ("inventory", str(m.inventory_path)),
                       ("plan", f"{m.plan.id} ({m.plan_path})"), (LANGUAGE_PROPERTY, m.plan.language)):
        request.node.user_properties.append((f"env:{key}", value))
    return m


@pytest.fixture
def decisions(maintenance: Maintenance) -> DecisionEngine:
    """This test's rollback decisions (the plan's decision table), shared by every step that verifies."""
    return maintenance.decisions()


@pytest.fixture
def maintenance_silence(maintenance: Maintenance) -> MaintenanceSilence | None:
    """This test's one Alertmanager silence (None when the plan or the inventory has none)."""
    return maintenance.silence()


@pytest.fixture
def procedure_silence(maintenance_silence: MaintenanceSilence | None,
                      request: pytest.FixtureRequest) -> Iterator[MaintenanceSilence | None]:
    """The manual silences alerts before every maintenance: a procedure holds the plan's silence from its first
    step to the end of its test, rollback included, and lets go whatever happened (the workflow holds its own)."""
    if maintenance_silence is None or maintenance_silence.holders:  # none planned, or the workflow's covers it
        yield maintenance_silence
        return
    expire_leftovers(maintenance_silence.client, maintenance_silence.maintenance_id)  # from a run killed earlier
    maintenance_silence.start(f"procedure {request.node.name}", holder="procedure")
    try:
        yield maintenance_silence
    finally:
        maintenance_silence.expire(holder="procedure")


@pytest.fixture
def scenarios(request: pytest.FixtureRequest) -> embed.Scenarios:
    """Run other scenarios by ``@id`` inside this test (checklists, the workflow's procedures)."""
    return embed.Scenarios(request, FEATURES_DIR)


@pytest.fixture
def record_environment(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Add a key to the run's environment.properties (travels from xdist workers too)."""
    return lambda key, value: request.node.user_properties.append((f"env:{key}", value))

