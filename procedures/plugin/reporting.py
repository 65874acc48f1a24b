"""The Allure record: where results go, what the environment says, and redaction.

Each run writes its own results folder under ``reports/runs/<time>/`` (the
record of one maintenance) and ``reports/latest`` points at it. xdist workers
inherit the folder through the environment so that one run stays one record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from allure_commons.model2 import Parameter
from allure_pytest_bdd.pytest_bdd_listener import PytestBDDListener
from allure_pytest_bdd.steps import get_step_uuid

from procedures.record.secrets import RedactingFilter, redact
from procedures.run.maintenance import RESULTS_DIR_ENV, RUN_DIR_ENV

_FILTER = RedactingFilter()


def default_results_dir(config: pytest.Config) -> None:
    """Point allure at this run's folder when the run executes feature files."""
    if config.option.allure_report_dir:  # given: the run's other files go beside it
        os.environ.setdefault(RUN_DIR_ENV, str(Path(config.option.allure_report_dir).resolve().parent))
        os.environ.setdefault(RESULTS_DIR_ENV, str(Path(config.option.allure_report_dir).resolve()))
        return
    if not _runs_features(config):
        return
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        reports = config.rootpath / "reports"
        run_dir = str(reports / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S-%f"))
        os.environ[RUN_DIR_ENV] = run_dir  # inherited by xdist workers
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        latest = reports / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(Path(run_dir).relative_to(reports))
    config.option.allure_report_dir = str(Path(run_dir) / "allure-results")


def _runs_features(config: pytest.Config) -> bool:
    return any(".feature" in arg or Path(arg.split("::")[0]).name == "features" for arg in config.args)


def live_writer(config: pytest.Config) -> Callable[[str], None]:
    """Write a progress line to the real stderr at once, past pytest's output capture (as its live logging does)."""
    capture = config.pluginmanager.getplugin("capturemanager")

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            sys.stderr.write(redact(line) + "\n")
            sys.stderr.flush()
    return write


def install_log_redaction() -> None:
    """Every handler, pytest's capture included, sees only redacted messages."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_FILTER)
    logging.getLogger().addFilter(_FILTER)


def clean_step_parameters(config: pytest.Config, step: Any, step_func_args: dict[str, Any]) -> None:
    """Keep only the values parsed from the step text, redacted; fixtures' reprs are noise or worse."""
    listener = next((p for p in config.pluginmanager.get_plugins() if isinstance(p, PytestBDDListener)), None)
    if listener is None:
        return
    keep = {k for k, v in step_func_args.items() if isinstance(v, (str, int, float, bool))}
    with listener.lifecycle.update_step(uuid=get_step_uuid(step)) as result:
        if result is not None:
            result.parameters = [Parameter(name=p.name, value=redact(p.value))
                                 for p in result.parameters if p.name in keep]


def write_environment(config: pytest.Config, properties: dict[str, str]) -> None:
    results = config.option.allure_report_dir
    if not results or hasattr(config, "workerinput"):
        return
    Path(results).mkdir(parents=True, exist_ok=True)
    base = {"python": platform.python_version(), "pytest": pytest.__version__, "host": platform.node()}
    lines = [f"{k}={redact(str(v))}" for k, v in {**base, **properties}.items()]
    (Path(results) / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
