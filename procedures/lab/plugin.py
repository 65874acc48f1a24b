"""The lab as the default target: a pytest plugin that starts the lab's parts a run needs.

Loaded by the project's ``conftest.py`` beside ``procedures.plugin``; the
product asks for a default target through its hooks (``plugin/hooks.py``) and
never imports the lab. Without this plugin a run needs ``--inventory``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from procedures.errors import LabError
from procedures.lab import PARTS, Lab
from procedures.lab.monitoring import GRAFANA_PASSWORD_ENV
from procedures.plugin.safety import EXIT_UNREACHABLE


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("flatnet").addoption(
        "--lab-fault", metavar="NAME", default=None,
        help="lab only: inject a fault (see `./maint lab fault --help`); none clears it")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("inventory") and config.getoption("lab_fault"):
        raise pytest.UsageError("--lab-fault only applies to the lab, not to --inventory")


def pytest_flatnet_default_target(config: pytest.Config, components: tuple[str, ...]) -> tuple[Path, Path]:
    """Start the parts these procedures touch (once, under a lock: xdist workers share one lab)."""
    lab = Lab.default()
    fault = config.getoption("lab_fault")
    with _lab_lock(lab):
        if not (config.getoption("recover") and lab.inventory_path.exists()):  # a target to recover as it is
            parts = tuple(sorted(set(components) & set(PARTS))) or ("gateway",)
            try:
                lab.up(parts)
            except LabError as exc:
                pytest.exit(f"the lab did not start: {exc}", returncode=EXIT_UNREACHABLE)
            _say(config, f"lab {lab.root}: {', '.join(parts)} up (the parts these procedures touch)")
        plan = lab.plan_with(None if fault == "none" else fault) if fault else lab.plan_path
    monitoring = lab.monitoring()
    if monitoring is not None:  # the lab's own credential, handed over the way a site's would be
        os.environ.setdefault(GRAFANA_PASSWORD_ENV, monitoring.state.grafana_password)
    return lab.inventory_path, plan


def pytest_flatnet_default_plan(config: pytest.Config) -> Path:
    return Lab.default().plan_path


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
