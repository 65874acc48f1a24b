"""The fault matrix, on a lab with the gateway and the monitoring stack: each fault injected, and its outcome.

The rows on throwaway gateway labs (masters killed, ports taken) are in
test_fault_matrix_gateway_kills.py, the Nebula and CNI rows in test_fault_matrix_overlay.py;
what a row is and how it judges from outside is in tests/fault_matrix.py.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from procedures.lab import Lab, gateway
from tests import test_fault_matrix_gateway_kills, test_fault_matrix_overlay
from tests.conftest import Run, paused_run, run_features, running_lab, start_features, wait_for
from tests.fault_matrix import (
    GATEWAY,
    MONITORING,
    WORKFLOW,
    Observed,
    Row,
    exit_code,
    gateway_as_before,
    gateway_fault,
    gateway_master,
    incident,
    monitoring_as_before,
    monitoring_fault,
    release_whose_config_test_hangs,
    run_row,
    running_images,
)
from tests.gateway_observed import answers, live_hashes, lock_file, master
from tests.test_monitoring import active_silences, stack, tree_hashes


@pytest.fixture(scope="module")
def gm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("matrix-gm"), ("gateway", "monitoring")) as lab:
        yield lab


def workflow_fault(lab: Lab, tmp_path: Path) -> Observed:
    before, original = {**live_hashes(lab), **tree_hashes(lab)}, master(lab)
    run = run_features(lab, tmp_path, WORKFLOW, "--lab-fault", "unhealthy")
    rc = exit_code(run, 1)
    assert {**live_hashes(lab), **tree_hashes(lab)} == before and active_silences(lab) == []
    served = answers(lab)
    assert served == {gateway.CURRENT_VERSION}
    return Observed(rc, f"gateway {gateway.CURRENT_VERSION} 8 of 8; monitoring ready; no silence left",
                    "gateway and monitoring identical", gateway_master(lab, original, survives=True))


def backup_disk_full(lab: Lab, tmp_path: Path) -> Observed:
    before, original, backups = live_hashes(lab), master(lab), lab.flatnet / "backups"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(backups)], check=True)
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={backups}/filler", "bs=4k", "count=1"], check=False,
                       capture_output=True)
        run = run_features(lab, tmp_path, GATEWAY)
    finally:
        subprocess.run(["umount", str(backups)], check=True)
    assert "No space left on device" in run.output
    return gateway_as_before(lab, before, run, original)


def read_only_target(lab: Lab, tmp_path: Path) -> Observed:
    """The staging folder the release is laid out in is a read-only file system."""
    before, original, staging = live_hashes(lab), master(lab), lab.flatnet / "openresty-new"
    staging.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=4k", "tmpfs", str(staging)], check=True)
    try:
        run = run_features(lab, tmp_path, GATEWAY)
    finally:
        subprocess.run(["umount", str(staging)], check=True)
    assert "Read-only file system" in run.output or "Device or resource busy" in run.output, run.output
    return gateway_as_before(lab, before, run, original)


def hung_command(lab: Lab, tmp_path: Path) -> Observed:
    release = release_whose_config_test_hangs(lab, tmp_path, tmp_path / "hung.pid")
    inventory = yaml.safe_load(lab.inventory_path.read_text())
    inventory["hosts"]["lab"]["command_timeout"] = 3
    plan = yaml.safe_load(lab.plan_path.read_text())
    plan["changes"] = {"gateway": {"release": str(release), "version": gateway.NEW_VERSION}}
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True))
    before, pid = live_hashes(lab), lab.gateway_pid()
    started = time.monotonic()
    run = run_features(lab, tmp_path, GATEWAY, "--inventory", str(tmp_path / "inventory.yaml"),
                       "--plan", str(tmp_path / "plan.yaml"))
    assert "did not finish within 3s" in run.output or "timed out" in run.output, run.output
    assert time.monotonic() - started < 60
    observed = gateway_as_before(lab, before, run, pid)
    observed.exit += f" after {time.monotonic() - started:.0f} s (3 s deadline)"
    return observed


def concurrent_run(lab: Lab, tmp_path: Path) -> Observed:
    before, original = live_hashes(lab), master(lab)
    first = start_features(lab, tmp_path, "--lab-fault", "unhealthy")
    try:
        wait_for(lambda: lock_file(lab).exists())
        second = run_features(lab, tmp_path, GATEWAY)
        refused = exit_code(second, 13)
        assert "maintenance in progress" in second.output, second.output
    finally:
        first.communicate(timeout=120)
    assert first.returncode == 1
    observed = gateway_as_before(lab, before, Run(first.returncode, "", tmp_path), original)
    observed.exit = f"second {refused}, first {first.returncode}"
    return observed


def sigterm(lab: Lab, tmp_path: Path) -> Observed:
    before, original = live_hashes(lab), master(lab)
    run = start_features(lab, tmp_path, "--lab-fault", "unhealthy")
    journal = lab.root / "maintenance/journal.jsonl"
    wait_for(lambda: journal.exists() and f'"pid": {run.pid}' in journal.read_text()
             and "ならば ゲートウェイが新しいバージョンで応答する" in journal.read_text())
    run.send_signal(signal.SIGTERM)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 2 and "SIGTERM received" in out, out
    observed = gateway_as_before(lab, before, Run(1, out, tmp_path), original)
    observed.exit = "2 (interrupted)"
    return observed


def killed_mid_swap(lab: Lab, tmp_path: Path) -> Observed:
    """kill -9 between the two renames of the swap: the live folder is gone, the old one is aside."""
    before, original = live_hashes(lab), master(lab)
    paused = lab.root / "maintenance/journal.paused"
    pause = "after:展開した設定で設定テストが通る"
    run = start_features(lab, tmp_path, env={"FLATNET_PAUSE_AT": pause})
    wait_for(paused.exists)
    (lab.flatnet / "openresty").rename(lab.flatnet / "openresty-old")  # the first rename, as the swap does
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    assert not (lab.flatnet / "openresty").exists()
    recovered = run_features(lab, tmp_path, GATEWAY, "--recover")
    paused.unlink(missing_ok=True)
    rc = exit_code(recovered, 0)
    observed = gateway_as_before(lab, before, Run(1, "", tmp_path), original)
    observed.exit = f"-9, then --recover {rc}"
    return observed


def corrupt_backup(lab: Lab, tmp_path: Path) -> Observed:
    """The configuration rollback restores from a backup whose file was altered afterwards."""
    assert run_features(lab, tmp_path, MONITORING, "-k", "config").rc == 0
    after_update = tree_hashes(lab)
    backup = sorted((lab.flatnet / "backups").glob("monitoring-*"))[-1] / "prometheus/prometheus.yml"
    original = backup.read_bytes()
    backup.write_bytes(original + b"# altered\n")
    run = run_features(lab, tmp_path, MONITORING, "--run-rollback", "monitoring-config-rollback")
    observed = incident(run)
    assert "prometheus/prometheus.yml has sha256" in run.output
    assert re.search(r"■ .*: ROLLBACK FAILED$", run.output, re.M), run.output  # a failed emergency rollback says so
    assert tree_hashes(lab) == after_update  # nothing was overwritten from the corrupt backup
    backup.write_bytes(original)
    back = run_features(lab, tmp_path, MONITORING, "--run-rollback", "monitoring-config-rollback", "--force-unlock")
    assert back.rc == 0, back.output
    return Observed(observed, "stack ready (untouched)", "nothing overwritten from the altered backup")

def monitoring_container_killed(lab: Lab, tmp_path: Path) -> Observed:
    """Prometheus is killed right after the restart, while the new images are being verified."""
    before, images = tree_hashes(lab), running_images(lab)
    run = paused_run(lab, tmp_path, "after:サービスを再起動する",
                     lambda: stack(lab).podman.run("podman", "kill", "flatnet-prometheus"), MONITORING, "-k", "images")
    observed = monitoring_as_before(lab, before, images, run)
    observed.health += " (prometheus running again)"
    return observed


ROWS = {
    "gateway-bad-config": Row("gateway update", "release built without the Lua module", "unchanged", "gm",
                              gateway_fault("bad-config")),
    "gateway-lua-error": Row("gateway update", "release whose Lua does not compile", "unchanged", "gm",
                             gateway_fault("lua-error")),
    "gateway-unhealthy": Row("gateway update", "new gateway answers 503", "rolled back", "gm",
                             gateway_fault("unhealthy")),
    "gateway-hung-command": Row("gateway update", "`nginx -t` hangs", "unchanged", "gm", hung_command),
    "gateway-backup-disk-full": Row("gateway update", "backup folder full (4k tmpfs)", "unchanged", "gm",
                                    backup_disk_full),
    "gateway-read-only-target": Row("gateway update", "the staging folder is a read-only file system", "unchanged",
                                    "gm", read_only_target),
    "gateway-concurrent-run": Row("gateway update", "a second run while one is in progress", "refused", "gm",
                                  concurrent_run),
    "gateway-sigterm": Row("gateway update", "SIGTERM during verification", "rolled back", "gm", sigterm),
    "gateway-killed-mid-swap": Row("gateway update", "kill -9 between the two renames", "recovered", "gm",
                                   killed_mid_swap),
    "monitoring-corrupt-backup": Row("monitoring config rollback", "a backed-up file altered",
                                     "incident, exit 12", "gm", corrupt_backup),
    "monitoring-missing-tag": Row("monitoring images", "registry lacks the planned tag", "unchanged", "gm",
                                  monitoring_fault("missing-image-tag", "images")),
    "monitoring-bad-config": Row("monitoring config", "config fails promtool", "rolled back", "gm",
                                 monitoring_fault("bad-prometheus-config", "config")),
    "monitoring-alertmanager-down": Row("monitoring images", "Alertmanager down (no silence possible)",
                                        "unchanged", "gm", monitoring_fault("alertmanager-down", "images")),
    "monitoring-container-killed": Row("monitoring images", "Prometheus killed while the new images are verified",
                                       "rolled back", "gm", monitoring_container_killed),
    "workflow-gateway-unhealthy": Row("planned maintenance", "the gateway step fails verification",
                                      "rolled back", "gm", workflow_fault),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_fault(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run_row(ROWS[name], request, tmp_path)


def test_the_matrix_has_at_least_30_distinct_faults() -> None:
    every = [*ROWS.values(), *test_fault_matrix_gateway_kills.ROWS.values(), *test_fault_matrix_overlay.ROWS.values()]
    assert len({(r.procedure, r.fault) for r in every}) >= 30
