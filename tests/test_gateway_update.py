"""The main job end to end on a real lab gateway: success, each fault, a failed rollback."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from procedures.drivers.prober import Prober
from procedures.lab import Lab, gateway
from procedures.lab.mailbox import Mailbox
from procedures.lab.processes import owned_pids
from procedures.run.pids import alive
from tests.conftest import lab_files_changed, paused_run, run_features, with_gateway_settings
from tests.gateway_observed import live_hashes, served_version

FEATURE = "features/gateway_update.feature"


def steps_of(result: dict) -> list[str]:
    return [s["name"] for s in result.get("steps", [])]


def test_update_installs_the_new_release(lab: Lab, features) -> None:
    pid_before = lab.gateway_pid()
    run = features(FEATURE)
    assert run.rc == 0, run.output
    assert served_version(lab) == gateway.NEW_VERSION
    [handover] = run.attached("新リリースへの引き継ぎ")
    assert handover["method"] == "binary-upgrade" and handover["failed"] == 0 and handover["requests"] > 0
    [masters] = run.attached("master プロセス")
    assert masters["previous"] == pid_before and lab.gateway_pid() == masters["new"] != pid_before
    assert not (lab.flatnet / "logs/nginx.pid.oldbin").exists()  # the previous master was retired
    [result] = run.result_files()
    assert result["status"] == "passed"
    assert any(s.startswith("ロールバック gateway-rollback: 不要") for s in steps_of(result))
    assert (run.results / "environment.properties").read_text().count("gateway.version.before=1.25.3.1") == 1


def test_update_selected_with_k(lab: Lab, features) -> None:
    run = features(FEATURE, "-k", "update")
    assert run.rc == 0, run.output
    assert "1 passed" in run.output


@pytest.mark.parametrize("fault", ["bad-config", "lua-error", "unhealthy"])
def test_a_faulty_release_is_rolled_back(lab: Lab, features, fault: str) -> None:
    before = live_hashes(lab)
    pid_before = lab.gateway_pid()
    with Prober(f"http://127.0.0.1:{lab.state.http_port}/", rate=300) as prober:
        run = features(FEATURE, "--lab-fault", fault)

    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert served_version(lab) == gateway.CURRENT_VERSION
    assert live_hashes(lab) == before
    [result] = run.result_files()
    assert result["status"] == "failed"
    failed_step = next(s for s in result["steps"] if s["status"] != "passed")
    [rollback] = [s for s in failed_step["steps"] if s["name"].startswith("ロールバック: ")]
    assert failed_step["name"] in rollback["name"]
    assert [s["status"] for s in rollback["steps"]] == ["passed"] * 3
    assert all(s["status"] == "skipped" for s in result["steps"][result["steps"].index(failed_step) + 1:])
    assert prober.report.failed == 0 and prober.report.requests > 100, prober.report
    assert lab.gateway_pid() == pid_before, "the old master must never be stopped"


def test_the_manual_stop_start_hand_over_is_still_there(lab: Lab, features, tmp_path: Path) -> None:
    pid_before = lab.gateway_pid()
    run = features(FEATURE, *with_gateway_settings(lab, tmp_path, handover="stop-start"))
    assert run.rc == 0, run.output
    [handover] = run.attached("新リリースへの引き継ぎ")
    assert handover["method"] == "stop-start" and handover["requests"] > 0
    [window] = run.attached("停止から起動までの時間 (ホスト上で計測)")
    assert 0 <= window["ms"] < 5000
    assert served_version(lab) == gateway.NEW_VERSION and lab.gateway_pid() != pid_before


def test_a_lingering_client_does_not_hold_the_update(lab: Lab, features) -> None:
    """A client half-way through its request keeps an old worker busy: it gets timeouts.drain, then TERM."""
    with socket.create_connection(("127.0.0.1", lab.state.http_port)) as lingering:
        lingering.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n")  # never finished
        time.sleep(0.05)
        run = features(FEATURE)
    assert run.rc == 0, run.output
    assert served_version(lab) == gateway.NEW_VERSION
    assert not (lab.flatnet / "logs/nginx.pid.oldbin").exists()
    assert "connections left after 2s: closing them" in "".join(
        p.read_text() for p in run.results.glob("*-attachment.txt"))


def test_the_prober_measures_an_outage(lab: Lab) -> None:
    live = lab.flatnet / "openresty"
    with Prober(f"http://127.0.0.1:{lab.state.http_port}/", rate=200) as prober:
        time.sleep(0.2)
        subprocess.run([live / "nginx", "-s", "stop"], check=True)
        while lab.gateway_pid() is not None:
            time.sleep(0.01)
        time.sleep(0.3)
        lab.start_gateway()
        time.sleep(0.2)
    report = prober.report
    assert report.failed > 10 and report.requests > report.failed
    assert 300 <= report.unavailable_ms < 2000, report
    # A stopping server refuses, resets, or closes a connection it accepted before answering (RemoteDisconnected,
    # http.client's ConnectionResetError): a race, whichever the prober meets. Never a timeout or an HTTP error.
    assert set(report.errors) <= {"ConnectionRefusedError", "ConnectionResetError", "RemoteDisconnected"}, report


def test_a_rollback_that_fails_is_loud(lab: Lab, features) -> None:
    run = features(FEATURE, "--lab-fault", "stuck-stop")
    assert run.rc == 12, run.output
    assert "ROLLBACK FAILED" in run.output
    [result] = run.result_files()
    assert result["status"] == "broken"
    assert "ROLLBACK-FAILED" in {label["value"] for label in result["labels"] if label["name"] == "tag"}


def test_a_failed_rollback_can_stop_the_service_and_tell_the_users(lab: Lab, tmp_path: Path) -> None:
    """ロールバック失敗時: the escalation reaches the development team, not the users; with the plan's
    on_rollback_failure: stop_service the gateway is stopped (the release that refuses a clean stop, by PID)
    and the users are told."""
    mails_before, master_before = len(Mailbox(lab.root).mails()), lab.gateway_pid()
    lab.use_fault("stuck-stop")
    files = lab_files_changed(lab, tmp_path, lambda _, plan: plan.update(on_rollback_failure="stop_service"))
    run = run_features(lab, tmp_path, FEATURE, *files)
    assert run.rc == 12, run.output

    assert lab.gateway_pid() is None and master_before is not None and not alive(master_before)
    with pytest.raises(httpx.ConnectError):  # nothing answers on the gateway's port any more
        httpx.get(f"http://127.0.0.1:{lab.state.http_port}/", timeout=2)
    mails = {m["Subject"]: m for m in Mailbox(lab.root).mails()[mails_before:]}
    assert mails["【緊急】Flatnet メンテナンス ロールバック失敗"]["To"] == "dev-team@localhost"
    stopped = mails["【重要】Flatnet サービス停止のお知らせ"]
    assert stopped["To"] == "ops@localhost, users@localhost"
    assert "・Gateway (OpenResty)" in stopped.get_content()


def test_emergency_rollback_by_name(lab: Lab, features) -> None:
    assert features(FEATURE).rc == 0
    before_update = lab.flatnet / "openresty-old"
    assert before_update.exists()
    run = features(FEATURE, "--run-rollback", "gateway-rollback")
    assert run.rc == 0, run.output
    assert served_version(lab) == gateway.CURRENT_VERSION
    assert "Gateway の問題発生時のロールバック" in run.result_files()[0]["name"]


def test_lab_teardown_leaves_nothing(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab").up()
    ports = (lab.state.http_port, lab.state.api_port)
    assert owned_pids(lab.root)
    lab.down()
    assert owned_pids(lab.root) == []
    for port in ports:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_a_c_configuration_outside_the_release_is_put_back_by_the_rollback(lab: Lab, tmp_path: Path) -> None:
    """As Flatnet runs it (nginx -c F:\\flatnet\\config\\nginx.conf): the swap never touches that folder, so the
    backup keeps it and the rollback restores it, byte for byte, even when it changed during the update."""
    config = lab.flatnet / "config"
    (config / "conf.d").mkdir(parents=True)
    for name in ("nginx.conf", "mime.types"):
        (config / name).write_bytes((lab.flatnet / "openresty/conf" / name).read_bytes())
    (config / "conf.d/site.conf").write_text("# the site's own includes\n")
    before = {p.relative_to(config): p.read_bytes() for p in config.rglob("*") if p.is_file()}
    lab.use_fault("unhealthy")  # the lab's plan, which the changed inventory's run uses, installs a sick release
    args = with_gateway_settings(lab, tmp_path, handover="stop-start", nginx_args=["-c", str(config / "nginx.conf")],
                                 config_companions=["conf.d", "mime.types"])

    def changed_meanwhile() -> None:
        (config / "nginx.conf").write_text((config / "nginx.conf").read_text() + "# edited during the window\n")
        (config / "conf.d/extra.conf").write_text("# added during the window\n")

    run = paused_run(lab, tmp_path, "before:新しいリリースが稼働中のゲートウェイから引き継ぐ", changed_meanwhile,
                     FEATURE, *args)
    assert run.rc == 1, run.output
    assert {p.relative_to(config): p.read_bytes() for p in config.rglob("*") if p.is_file()} == before
    assert served_version(lab) == gateway.CURRENT_VERSION
    [kept] = (lab.flatnet / "backups").glob("gateway_config-*/manifest.json")
    assert sorted(json.loads(kept.read_text())["files"]) == ["conf.d/site.conf", "mime.types", "nginx.conf"]
