"""Shared fixtures: throwaway labs, and running the suite's own features in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# httpcore is imported before any in-process pytester run: such a run unloads the modules it imported, and
# httpx's lazily built map of httpcore errors would then miss the classes of the re-imported httpcore.
import httpcore  # noqa: F401
import pytest
import yaml

from procedures.lab import Lab
from procedures.lab.processes import nginx_on, owned_pids
from tests.forkserver import ForkedRun, Forkserver
from tests.sshd import Sshd, start_sshd

PROJECT = Path(__file__).resolve().parents[1]
MATRIX_ROW = "fault matrix row"  # a report's user property: a fault matrix row's line (tests/fault_matrix.py)
MATRIX_LINES: list[tuple[str, ...]] = []
DURATIONS = PROJECT / "tests/durations.json"
FILE_SECONDS: dict[str, float] = {}


@contextlib.contextmanager
def running_lab(folder: Path, parts: tuple[str, ...] = ("gateway",)) -> Iterator[Lab]:
    """A lab of its own under ``folder``, on free ports; torn down completely afterwards."""
    instance = Lab(folder / "lab").up(parts)
    try:
        yield instance
    finally:
        ports = instance.gateway_ports()
        instance.down()
    assert owned_pids(instance.root) + nginx_on(ports) == [], "the lab left processes behind"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with running_lab(tmp_path) as instance:
        yield instance


@dataclass
class Run:
    rc: int
    output: str
    results: Path

    def result_files(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in self.results.glob("*-result.json")]

    def attached(self, name: str) -> list[dict]:
        """Every JSON attachment called ``name`` in the record, each step's own before its sub-steps'."""
        def walk(node: dict) -> Iterator[dict]:
            for attachment in node.get("attachments", []):
                if attachment["name"] == name:
                    yield json.loads((self.results / attachment["source"]).read_text())
            for step in node.get("steps", []):
                yield from walk(step)
        return [found for result in self.result_files() for found in walk(result)]


def feature_environment(lab: Lab | None, env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the suite's own FLATNET_/xdist settings, pointed at ``lab``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("FLATNET_", "PYTEST_XDIST"))}
    environment |= {"FLATNET_LAB_DIR": str(lab.root)} if lab else {}
    return environment | (env or {})


def run_features(lab: Lab | None, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 300) -> Run:
    """``pytest features/...`` in a process of its own against ``lab`` (or an ``--inventory``), with its own
    results: forked from this worker's fork server, which has pytest and the procedures imported already."""
    results = tmp_path / f"allure-{len(list(tmp_path.glob('allure-*')))}"
    rc, output = forkserver().run(["-p", "no:xdist", f"--alluredir={results}", *args], PROJECT,
                                  feature_environment(lab, env), timeout)
    return Run(rc, output, results)


_FORKSERVER: list[Forkserver] = []


def forkserver() -> Forkserver:
    """This worker's fork server, started on first use (stopped by ``stop_the_forkserver``)."""
    if not _FORKSERVER:
        _FORKSERVER.append(Forkserver())
    return _FORKSERVER[0]


@pytest.fixture(scope="session", autouse=True)
def stop_the_forkserver() -> Iterator[None]:
    yield
    while _FORKSERVER:
        _FORKSERVER.pop().stop()


def run_with_inventory(tmp_path: Path, feature: str, inventory: dict, plan: dict, *args: str,
                       env: dict[str, str] | None = None) -> Run:
    """A feature against the given inventory and plan (written under ``tmp_path``), not a lab."""
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    return run_features(None, tmp_path, feature, "--inventory", str(tmp_path / "inventory.yaml"),
                        "--plan", str(tmp_path / "plan.yaml"), *args, env=env)


def with_gateway_settings(lab: Lab, tmp_path: Path, **settings: object) -> list[str]:
    """``--inventory``/``--plan`` arguments: the lab's own files, with the gateway's settings changed."""
    return lab_files_changed(lab, tmp_path, lambda inventory, _: inventory["components"]["gateway"].update(settings))


def lab_files_changed(lab: Lab, tmp_path: Path, change: Callable[[dict, dict], object]) -> list[str]:
    """``--inventory``/``--plan`` arguments: copies of the lab's own files, after ``change(inventory, plan)``."""
    inventory, plan = yaml.safe_load(lab.inventory_path.read_text()), yaml.safe_load(lab.plan_path.read_text())
    change(inventory, plan)
    (tmp_path / "lab-inventory.yaml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "lab-plan.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True))
    return ["--inventory", str(tmp_path / "lab-inventory.yaml"), "--plan", str(tmp_path / "lab-plan.yaml")]


@pytest.fixture
def features(lab: Lab, tmp_path: Path):
    return lambda *args, **kw: run_features(lab, tmp_path, *args, **kw)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:

    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def wait_for(condition: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def paused_run(lab: Lab, tmp_path: Path, pause: str, act: Callable[[], object], *args: str) -> Run:
    """``pytest *args`` in the background, paused at ``pause``; ``act()`` there (the fault), then it goes on."""
    paused = lab.root / "maintenance/journal.paused"
    run = start_features(lab, tmp_path, *args, env={"FLATNET_PAUSE_AT": pause}, feature=None)
    try:
        wait_for(paused.exists, 120)
        act()
        paused.unlink()
        out, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    return Run(run.wait(), out, tmp_path / "bg")


def start_features(lab: Lab, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                   feature: str | None = "features/gateway_update.feature") -> ForkedRun:
    """``pytest [feature] *args`` against ``lab``, started in the background (a ``Popen``-like run)."""
    return forkserver().start(["-p", "no:xdist", f"--alluredir={tmp_path}/bg", *([feature] if feature else []),
                               *args], PROJECT, feature_environment(lab, env))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heaviest test files first (every worker sorts alike). ``--dist loadfile`` hands files out in collection
    order, so a long file handed out last is the run's tail: the seconds each file took in a full run are in
    tests/durations.json (``FLATNET_STORE_DURATIONS=1 ./maint test`` writes them); a file not there goes first."""
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    items.sort(key=lambda item: -seconds.get(item.location[0], float("inf")))  # stable: a file keeps its order


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The fault matrix's lines, as their tests report them (on the controller, under xdist); each file's seconds."""
    if report.when == "call":
        MATRIX_LINES.extend(tuple(line) for name, line in report.user_properties if name == MATRIX_ROW)
    FILE_SECONDS[report.location[0]] = FILE_SECONDS.get(report.location[0], 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With FLATNET_STORE_DURATIONS set, a passed run writes each file's seconds (on the controller)."""
    if os.environ.get("FLATNET_STORE_DURATIONS") and not hasattr(session.config, "workerinput") and exitstatus == 0:
        DURATIONS.write_text(json.dumps({name: round(seconds, 1) for name, seconds in sorted(FILE_SECONDS.items())},
                                        indent=1) + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The fault matrix's table, from whichever workers ran its rows: printed, and in reports/fault-matrix.md."""
    if MATRIX_LINES and not hasattr(config, "workerinput"):
        from tests.fault_matrix import table
        (PROJECT / "reports").mkdir(exist_ok=True)
        (PROJECT / "reports/fault-matrix.md").write_text(table(MATRIX_LINES))
        terminalreporter.write("\n\nFAULT MATRIX\n" + table(MATRIX_LINES))
