"""The planned-maintenance workflow on a real lab (gateway + monitoring): success, a rolled-back fault,
a failed rollback, and plans refused before anything runs."""

from __future__ import annotations

import json
import os
import signal
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from procedures.lab import Lab
from procedures.lab.mailbox import Mailbox
from procedures.run.pids import alive
from tests.conftest import lab_files_changed, paused_run, run_features, running_lab, wait_for
from tests.gateway_observed import live_hashes, lock_file, master, served_version, wait_settled
from tests.test_monitoring import _walk, attachments, stack, tree_hashes
from tests.test_wording import reads_as_written_by_a_person

FEATURE = "features/maintenance_workflow.feature"
PLAN_ID = "lab-maintenance"


@pytest.fixture(scope="module")
def wlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("wlab"), ("gateway", "monitoring")) as lab:
        yield lab


def silences_of_the_plan(lab: Lab) -> list[dict]:
    silences = httpx.get(stack(lab).url("alertmanager") + "/api/v2/silences", timeout=5).json()
    return [s for s in silences if s["createdBy"] == f"flatnet-maintenance {PLAN_ID}"]


def target_state(lab: Lab) -> dict[str, str]:
    return {**{f"gateway/{k}": v for k, v in live_hashes(lab).items()},
            **{f"monitoring/{k}": v for k, v in tree_hashes(lab).items()}}


def step_names(results: Path) -> list[str]:
    [result] = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    return [s["name"] for s in _walk(result.get("steps", []))]


def test_the_planned_maintenance_runs_end_to_end(wlab: Lab, tmp_path: Path) -> None:
    mails_before = len(Mailbox(wlab.root).mails())
    run = run_features(wlab, tmp_path, FEATURE)
    assert run.rc == 0, run.output
    evidence = attachments(run.results)

    # both notices, filled with the plan's real values, in Japanese
    for text in ("【メンテナンス予告】Flatnet システムメンテナンス",
                 "影響を受けるサービス: Flatnet Gateway、監視スタック", "作業責任者: ラボ運用担当",
                 "【完了】Flatnet システムメンテナンス", "全サービス正常稼働を確認",
                 "・Gateway (OpenResty) 1.25.3.1 → 1.27.1.2", "・Prometheus 2.42.0-lab.1 → 2.42.0-lab.2",
                 "・Alertmanager 0.25.0-lab.1 → 0.25.0-lab.2"):
        assert text in evidence, text
    mails = Mailbox(wlab.root).mails()[mails_before:]
    assert [m["Subject"] for m in mails] == ["【メンテナンス予告】Flatnet システムメンテナンス",
                                             "【完了】Flatnet システムメンテナンス"]
    for mail in mails:
        assert reads_as_written_by_a_person(mail.get_content()) == []
        assert "(Asia/Tokyo)" in mail.get_content() and "UTC" not in mail.get_content()

    # the silence: created, recorded, and expired at the end
    [silence] = silences_of_the_plan(wlab)
    assert silence["status"]["state"] == "expired" and silence["id"] in evidence

    # every checklist item ran as a step with evidence, in the manual's order
    names = step_names(run.results)
    for item in ("告知が全チャネルに届いている",
                 "計画した全コンポーネントの最新バックアップがマニフェストと一致する",
                 "計画した全手順にロールバック手順がある", "このメンテナンスのアラートがサイレンスされている",
                 "作業ログが記録されている", "実施した全手順が動作確認済みである",
                 "メンテナンス開始以降、ログに新しいエラー行がない",
                 "このメンテナンスのサイレンスが残っていない", "このメンテナンスの作業報告が作成されている"):
        assert any(item in n for n in names), item
    procedures = [n for n in names if n.startswith("手順 ")]
    assert procedures == ["手順 gateway-update (gateway)", "手順 monitoring-images-update (monitoring)",
                          "手順 monitoring-config-update (monitoring)", "手順 grafana-dashboards-update (monitoring)"]

    # the work report
    report = (wlab.root / "maintenance/work-report.md").read_text()
    assert "# 作業報告書: lab-maintenance" in report and "完了（全サービス正常稼働）" in report
    assert silence["id"] in report and "- Gateway (OpenResty) 1.25.3.1 → 1.27.1.2" in report
    assert reads_as_written_by_a_person(report) == [] and "UTC" not in report
    assert "# 作業報告書: lab-maintenance" in evidence  # attached to the record
    assert served_version(wlab) == "1.27.1.2"


def test_the_checklists_also_run_on_their_own(wlab: Lab, tmp_path: Path) -> None:
    """After the maintenance: the before and after checklists hold; the during one does not (no silence now)."""
    for checklist in ("pre_maintenance", "post_maintenance"):
        run = run_features(wlab, tmp_path, f"features/checklists/{checklist}.feature")
        assert run.rc == 0, run.output
    run = run_features(wlab, tmp_path, "features/checklists/during_maintenance.feature")
    assert run.rc == 1 and "no active silence created by maintenance lab-maintenance" in run.output


def window_from_now(start: timedelta, minutes: float) -> dict[str, str]:
    begin = datetime.now(UTC) + start
    return {"start": f"{begin:%Y-%m-%d %H:%M}", "end": f"{begin + timedelta(minutes=minutes):%Y-%m-%d %H:%M}",
            "timezone": "UTC"}


@pytest.mark.parametrize(("start", "minutes", "verdict"), [
    (timedelta(days=2), 120, None),  # days before the window, as the manual runs it: passes
    (timedelta(hours=-3), 120, "is over: set the next window in the plan"),
    (timedelta(days=2), 7, "the maintenance window is 7 minutes, the plan may need 10"),  # 5 down + 5 decide
])
def test_the_pre_maintenance_checklist_runs_days_before_the_window(
        wlab: Lab, tmp_path: Path, start: timedelta, minutes: float, verdict: str | None) -> None:
    files = lab_files_changed(wlab, tmp_path, lambda _, plan: plan.update(window=window_from_now(start, minutes)))
    run = run_features(wlab, tmp_path, "features/checklists/pre_maintenance.feature", *files)
    if verdict is None:
        assert run.rc == 0, run.output
    else:
        assert run.rc == 1 and verdict in run.output, run.output


def test_a_gateway_fault_rolls_everything_back_and_says_so(wlab: Lab, tmp_path: Path) -> None:
    before, version = target_state(wlab), served_version(wlab)
    mails_before = len(Mailbox(wlab.root).mails())
    run = run_features(wlab, tmp_path, FEATURE, "--lab-fault", "unhealthy")
    assert run.rc == 1, run.output
    assert "rolled back (planned-maintenance-rollback): every rollback step passed" in run.output

    assert target_state(wlab) == before and served_version(wlab) == version
    assert all(s["status"]["state"] == "expired" for s in silences_of_the_plan(wlab))
    names = step_names(run.results)
    assert any(n.startswith("ロールバック gateway-rollback") for n in names)
    assert any("ロールバック後の確認が通る" in n for n in names)

    mails = Mailbox(wlab.root).mails()[mails_before:]
    assert [m["Subject"] for m in mails] == ["【ロールバック実施】Flatnet システムメンテナンス",
                                             "【完了】Flatnet システムメンテナンス（ロールバック実施）"]
    assert "ロールバック理由:" in mails[1].get_content() and "does not serve 1.27.1.2" in mails[1].get_content()

    report = (wlab.root / "maintenance/work-report.md").read_text()
    assert "ロールバック済み" in report and "gateway-rollback" in report
    assert "一部機能不全 (partly_broken) → ロールバック" in report  # retried in the fix window, then rolled back
    assert reads_as_written_by_a_person(report) == []
    assert all(reads_as_written_by_a_person(m.get_content()) == [] for m in mails)


def test_a_failed_rollback_leaves_an_incident_bundle_and_escalates(wlab: Lab, tmp_path: Path) -> None:
    mails_before = len(Mailbox(wlab.root).mails())
    before, version = live_hashes(wlab), served_version(wlab)
    run = run_features(wlab, tmp_path, FEATURE, "--lab-fault", "stuck-stop")
    assert run.rc == 12, run.output
    bundle = Path(next(line.split("incident bundle: ", 1)[1] for line in run.output.splitlines()
                       if "incident bundle: " in line).strip())
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        compose_log = tar.extractfile(next(n for n in names if n.endswith("logs/podman-compose.log"))).read()
    for wanted in ("README.txt", "logs/gateway-error.log", "logs/podman-compose.log", "logs/podman-ps.txt",
                   "config/gateway/conf/nginx.conf", "config/monitoring/podman-compose.yml",
                   "config/monitoring/prometheus/prometheus.yml", "records/journal.jsonl", "records/deliveries.json"):
        assert any(n.endswith(wanted) for n in names), wanted
    assert any("/run/" in n and "-attachment." in n for n in names), "the run's record is in the bundle"
    assert b"flatnet-prometheus" in compose_log or b"ts=" in compose_log

    mails = Mailbox(wlab.root).mails()[mails_before:]
    [escalation] = [m for m in mails if "緊急" in m["Subject"]]
    assert escalation["Subject"] == "【緊急】Flatnet メンテナンス ロールバック失敗"
    assert str(bundle) in escalation.get_content()
    assert "ロールバック失敗 — エスカレーション済み" in (wlab.root / "maintenance/work-report.md").read_text()
    assert all(s["status"]["state"] == "expired" for s in silences_of_the_plan(wlab))

    # the way back the terminal advised: clear the cause (the release that will not quit), then --recover
    stuck = master(wlab)
    assert stuck is not None and "--recover" in run.output
    os.kill(stuck, signal.SIGKILL)
    wait_for(lambda: not alive(stuck))
    recovered = run_features(wlab, tmp_path, FEATURE, "--recover")
    assert recovered.rc == 0, recovered.output
    wait_settled(wlab)
    assert live_hashes(wlab) == before and served_version(wlab) == version
    assert not lock_file(wlab).exists()


INVALID_PLANS = {
    "window.end": ({"window": {"start": "2026-12-05 23:00", "end": "2026-12-05 22:00"}}, "window"),
    "window.timezone": ({"window": {"start": "2026-12-05 22:00", "end": "2026-12-05 23:00",
                                    "timezone": "Tokyo"}}, "window.timezone"),
    "impact.services": ({"impact": {"services": [], "users": ["x"], "expected_downtime_minutes": 1}},
                        "impact.services"),
    "notify.smtp.recipients": ({"notify": {"smtp": {"sender": "a@localhost", "recipients": ["not an address"]}}},
                               "notify.smtp.recipients.0"),
    "notify.smtp.password": ({"notify": {"smtp": {"sender": "a@localhost", "recipients": ["b@localhost"],
                                                  "password": "hunter2"}}}, "notify.smtp"),
    "staging": ({"staging": {"verified": "ok", "not_applicable": "no"}}, "staging"),
    "policy.partly_broken.fix_window_minutes": ({"policy": {"partly_broken": {"fix_window_minutes": -1}}},
                                                "policy.partly_broken.fix_window_minutes"),
    "downtime longer than the window": ({"window": {"start": "2026-12-05 22:00", "end": "2026-12-05 22:30"},
                                         "impact": {"services": ["x"], "users": ["y"],
                                                    "expected_downtime_minutes": 90}}, "longer than the window"),
}


@pytest.mark.parametrize("mistake", sorted(INVALID_PLANS))
def test_an_invalid_plan_is_refused_before_anything_runs(wlab: Lab, tmp_path: Path, mistake: str) -> None:
    overrides, named = INVALID_PLANS[mistake]
    plan = {**yaml.safe_load(wlab.plan_path.read_text()), **overrides}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, allow_unicode=True))
    ledger = wlab.root / "maintenance/deliveries.json"  # there once a workflow ran on this lab
    sent = ledger.read_text() if ledger.exists() else None
    pid, before = wlab.gateway_pid(), target_state(wlab)
    run = run_features(wlab, tmp_path, FEATURE, "--plan", str(path))
    assert run.rc == 4, run.output
    assert named in run.output, run.output
    assert (ledger.read_text() if ledger.exists() else None) == sent  # no notice went out
    assert wlab.gateway_pid() == pid and target_state(wlab) == before


def test_a_standalone_procedure_holds_the_plans_silence_and_always_lets_go(wlab: Lab, tmp_path: Path) -> None:
    """The manual silences alerts before every maintenance, not only in the workflow: the gateway update alone
    holds a silence scoped by the plan's matchers while it works (Watchdog, which always fires, is suppressed
    by it), and the silence is expired at the end, also when the update failed and was rolled back."""
    alertmanager = stack(wlab).url("alertmanager")

    def watchdog() -> dict:
        alerts = httpx.get(f"{alertmanager}/api/v2/alerts", params={"filter": "alertname=Watchdog"}, timeout=5).json()
        assert alerts, "Watchdog never reached Alertmanager"
        return alerts[0]

    wait_for(lambda: httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json(), 60)
    seen: dict[str, object] = {}

    def during_the_work() -> None:
        [active] = [s for s in silences_of_the_plan(wlab) if s["status"]["state"] == "active"]
        assert {"name": "component", "value": "gateway|monitoring", "isRegex": True, "isEqual": True} \
            in active["matchers"]
        wait_for(lambda: watchdog()["status"]["silencedBy"] == [active["id"]], 30)
        seen["silence"] = active["id"]

    run = paused_run(wlab, tmp_path, "before:新しいリリースが稼働中のゲートウェイから引き継ぐ", during_the_work,
                     "features/gateway_update.feature")
    assert run.rc == 0, run.output
    assert seen["silence"] and all(s["status"]["state"] == "expired" for s in silences_of_the_plan(wlab))
    wait_for(lambda: watchdog()["status"]["state"] == "active", 30)

    failed = run_features(wlab, tmp_path, "features/gateway_update.feature", "--lab-fault", "unhealthy")
    assert failed.rc == 1, failed.output
    assert all(s["status"]["state"] == "expired" for s in silences_of_the_plan(wlab))
