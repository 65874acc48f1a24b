"""Each checklist item checks the real state, and fails for the right reason when that state is wrong.

One lab (gateway + monitoring) on which the planned maintenance ran once, as it would have before a
checklist is run on its own: its backups, notices, silences and log marks are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from procedures.lab import Lab
from procedures.lab.monitoring import GRAFANA_PASSWORD_ENV
from tests.conftest import Run, lab_files_changed, run_features, running_lab
from tests.gateway_observed import served_version
from tests.test_monitoring import stack
from tests.test_workflow import FEATURE, PLAN_ID, target_state

PRE, DURING, POST = (f"features/checklists/{name}_maintenance.feature" for name in ("pre", "during", "post"))


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Run]]:
    """A lab after one planned maintenance: (the lab, that run, whose record is a passed run's)."""
    with running_lab(tmp_path_factory.mktemp("checklab"), ("gateway", "monitoring")) as lab:
        run = run_features(lab, tmp_path_factory.mktemp("first-run"), FEATURE)
        assert run.rc == 0, run.output
        yield lab, run


def test_the_rollback_item_fails_when_what_a_rollback_returns_to_is_not_on_the_target(
        ran: tuple[Lab, Run], tmp_path: Path) -> None:
    lab, _ = ran
    monitoring = yaml.safe_load(lab.inventory_path.read_text())["components"]["monitoring"]
    compose = Path(monitoring["compose_dir"]) / monitoring.get("compose_file", "podman-compose.yml")
    absent = compose.with_name("podman-compose.absent-image.yml")
    absent.write_text(compose.read_text().replace("prom/prometheus:", "prom/prometheus-never-pulled:"))
    try:
        files = lab_files_changed(lab, tmp_path, lambda inventory, _: inventory["components"]["monitoring"].update(
            compose_file=absent.name))
        run = run_features(lab, tmp_path, PRE, *files)
    finally:
        absent.unlink()
    assert run.rc == 1, run.output
    assert "the monitoring rollback restarts the stack with" in run.output
    assert "prometheus-never-pulled" in run.output and "Pull it on lab before the window" in run.output


def test_staging_verification_needs_a_passed_staging_record(ran: tuple[Lab, Run], tmp_path: Path) -> None:
    lab, first = ran
    said = lab_files_changed(lab, tmp_path, lambda _, plan: plan.update(staging={"verified": "ok"}))
    run = run_features(lab, tmp_path, PRE, *said)
    assert run.rc == 1 and "staging.verified (ok) is not the record of a staging run" in run.output, run.output

    recorded = lab_files_changed(lab, tmp_path, lambda _, plan: plan.update(staging={"verified": str(first.results)}))
    run = run_features(lab, tmp_path, PRE, *recorded)
    assert run.rc == 0, run.output


def test_the_work_log_item_fails_when_nothing_of_the_work_is_logged(ran: tuple[Lab, Run], tmp_path: Path) -> None:
    """Run alone, under a silence of the maintenance, nothing of this run has been done: the work log says so."""
    lab, _ = ran
    alertmanager = stack(lab).url("alertmanager")
    now = datetime.now(UTC)
    silence = httpx.post(f"{alertmanager}/api/v2/silences", timeout=5, json={
        "matchers": [{"name": "alertname", "value": "Watchdog", "isRegex": False}],
        "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat(),
        "createdBy": f"flatnet-maintenance {PLAN_ID}", "comment": "test: the checklist's silence item holds"}).json()
    try:
        run = run_features(lab, tmp_path, DURING)
    finally:
        httpx.delete(f"{alertmanager}/api/v2/silence/{silence['silenceID']}", timeout=5)
    assert run.rc == 1, run.output
    assert "holds no procedure step of this run" in run.output, run.output


def test_the_rollback_decision_item_stops_a_maintenance_without_the_time_to_roll_back(
        ran: tuple[Lab, Run], tmp_path: Path) -> None:
    """問題発生時はすぐにロールバックを判断: two minutes before the window ends, a problem could no longer be
    decided and rolled back in time, so the during checklist fails and the workflow rolls back now."""
    lab, _ = ran
    before, version = target_state(lab), served_version(lab)
    begin, end = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=2)
    window = {"start": f"{begin:%Y-%m-%d %H:%M}", "end": f"{end:%Y-%m-%d %H:%M}", "timezone": "UTC"}
    files = lab_files_changed(lab, tmp_path, lambda _, plan: plan.update(window=window))
    run = run_features(lab, tmp_path, FEATURE, *files, env={GRAFANA_PASSWORD_ENV: stack(lab).state.grafana_password})
    assert run.rc == 1, run.output
    assert "minutes are left in the maintenance window, and a rollback decision with its rollback may need 10" \
        in run.output
    assert "rolled back (planned-maintenance-rollback): every rollback step passed" in run.output
    assert target_state(lab) == before and served_version(lab) == version


def test_the_silence_item_cannot_pass_without_an_alertmanager(ran: tuple[Lab, Run], tmp_path: Path) -> None:
    lab, _ = ran
    files = lab_files_changed(lab, tmp_path, lambda inventory, _: inventory["components"].pop("monitoring"))
    run = run_features(lab, tmp_path, POST, *files)
    assert run.rc == 1, run.output
    assert "the inventory names no Alertmanager, so whether alerts are still silenced cannot be checked" in run.output
