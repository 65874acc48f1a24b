"""The fault matrix: a fault injected into each procedure, and the outcome it must have.

Every row ends one of three ways: the procedure succeeds; or it stops or rolls
back and the target is byte-identical to before and healthy; or, only when the
rollback itself cannot succeed, an incident bundle and exit code 12. The module
prints the matrix as a table at the end and writes it to reports/fault-matrix.md.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from procedures.lab import Lab, gateway
from tests.conftest import PROJECT, Run, cni_machine_lock, run_features, running_lab, with_gateway_settings
from tests.gateway_observed import live_hashes, lock_file, served_version
from tests.test_monitoring import active_silences, stack, tree_hashes
from tests.test_safety import start_features, wait_for

GATEWAY = "features/gateway_update.feature"
MONITORING = "features/monitoring_update.feature"
CNI = "features/cni_update.feature"
NEBULA = "features/nebula_update.feature"
WORKFLOW = "features/maintenance_workflow.feature"
TABLE: list[tuple[str, str, str, str]] = []


@dataclass(frozen=True)
class Row:
    procedure: str
    fault: str
    expected: str
    lab: str  # which lab fixture the row runs on
    check: Callable[[Lab, Path], str]  # asserts the outcome, returns what was observed


# -- labs ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def matrix_table() -> Iterator[None]:
    yield
    lines = ["| procedure | fault | expected outcome | observed |", "|---|---|---|---|",
             *[f"| {p} | {f} | {e} | {o} |" for p, f, e, o in TABLE]]
    (PROJECT / "reports").mkdir(exist_ok=True)
    (PROJECT / "reports/fault-matrix.md").write_text("\n".join(lines) + "\n")
    print("\n\nFAULT MATRIX\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def gm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("matrix-gm"), ("gateway", "monitoring")) as lab:
        yield lab


@pytest.fixture
def throwaway(tmp_path: Path) -> Iterator[Lab]:
    """A gateway lab for rows that leave it broken on purpose."""
    with running_lab(tmp_path) as lab:
        yield lab


@pytest.fixture(scope="module")
def neb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("matrix-neb"), ("gateway", "nebula")) as lab:
        yield lab


@pytest.fixture(scope="module")
def cni(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with cni_machine_lock(), running_lab(tmp_path_factory.mktemp("matrix-cni"), ("gateway", "cni")) as lab:
        yield lab


# -- outcomes ----------------------------------------------------------------------------------------
def gateway_as_before(lab: Lab, before: dict[str, str], run: Run) -> str:
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert live_hashes(lab) == before and served_version(lab) == gateway.CURRENT_VERSION
    assert not lock_file(lab).exists()
    return "stopped or rolled back: files identical, old version serving"


def incident(run: Run) -> str:
    assert run.rc == 12, run.output
    bundle = re.search(r"incident bundle: (\S+\.tar\.gz)", run.output)
    assert bundle and Path(bundle.group(1)).exists(), run.output
    return f"exit 12, incident bundle {Path(bundle.group(1)).name}"


def gateway_fault(fault: str) -> Callable[[Lab, Path], str]:
    def check(lab: Lab, tmp_path: Path) -> str:
        before = live_hashes(lab)
        return gateway_as_before(lab, before, run_features(lab, tmp_path, GATEWAY, "--lab-fault", fault))
    return check


def stuck_stop(lab: Lab, tmp_path: Path) -> str:
    return incident(run_features(lab, tmp_path, GATEWAY, "--lab-fault", "stuck-stop"))


def monitoring_fault(fault: str, scenario: str) -> Callable[[Lab, Path], str]:
    def check(lab: Lab, tmp_path: Path) -> str:
        before = tree_hashes(lab)
        try:
            run = run_features(lab, tmp_path, MONITORING, "-k", scenario, "--lab-fault", fault)
        finally:
            lab.inject(None)
        assert run.rc == 1, run.output
        assert tree_hashes(lab) == before and active_silences(lab) == []
        assert all(httpx.get(stack(lab).url(s) + "/-/ready", timeout=5).status_code == 200
                   for s in ("prometheus", "alertmanager"))
        return "stopped before a change or rolled back: files identical, stack ready, no silence left"
    return check


def component_fault(feature: str, fault: str) -> Callable[[Lab, Path], str]:
    def check(lab: Lab, tmp_path: Path) -> str:
        run = run_features(lab, tmp_path, feature, "--lab-fault", fault)
        assert run.rc == 1, run.output
        assert "ROLLBACK FAILED" not in run.output and "every rollback step passed" in run.output
        return "rolled back; the rollback verified the restored files and the service"
    return check


def workflow_fault(lab: Lab, tmp_path: Path) -> str:
    before = {**live_hashes(lab), **tree_hashes(lab)}
    run = run_features(lab, tmp_path, WORKFLOW, "--lab-fault", "unhealthy")
    assert run.rc == 1, run.output
    assert {**live_hashes(lab), **tree_hashes(lab)} == before and active_silences(lab) == []
    return "workflow rolled back, silence expired, completion notice says so"


def backup_disk_full(lab: Lab, tmp_path: Path) -> str:
    before, backups = live_hashes(lab), lab.flatnet / "backups"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(backups)], check=True)
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={backups}/filler", "bs=4k", "count=1"], check=False,
                       capture_output=True)
        run = run_features(lab, tmp_path, GATEWAY)
    finally:
        subprocess.run(["umount", str(backups)], check=True)
    assert "No space left on device" in run.output
    return gateway_as_before(lab, before, run)


def read_only_target(lab: Lab, tmp_path: Path) -> str:
    """The staging folder the release is laid out in is a read-only file system."""
    before, staging = live_hashes(lab), lab.flatnet / "openresty-new"
    staging.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=4k", "tmpfs", str(staging)], check=True)
    try:
        run = run_features(lab, tmp_path, GATEWAY)
    finally:
        subprocess.run(["umount", str(staging)], check=True)
    assert "Read-only file system" in run.output or "Device or resource busy" in run.output, run.output
    return gateway_as_before(lab, before, run)


def hung_command(lab: Lab, tmp_path: Path) -> str:
    release = tmp_path / "openresty-hangs"
    shutil.copytree(lab.releases / f"openresty-{gateway.NEW_VERSION}", release, symlinks=True)
    (release / "nginx").rename(release / "nginx.real")
    (release / "nginx").write_text('#!/bin/sh\ncase " $* " in *" -t "*) sleep 600 ;; esac\n'
                                   'exec "$(dirname "$0")/nginx.real" "$@"\n')
    (release / "nginx").chmod(0o755)
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
    assert time.monotonic() - started < 60 and lab.gateway_pid() == pid
    return gateway_as_before(lab, before, run) + "; killed at its 3 s deadline"


def concurrent_run(lab: Lab, tmp_path: Path) -> str:
    before = live_hashes(lab)
    first = start_features(lab, tmp_path, "--lab-fault", "unhealthy")
    try:
        wait_for(lambda: lock_file(lab).exists())
        second = run_features(lab, tmp_path, GATEWAY)
        assert second.rc == 13 and "maintenance in progress" in second.output, second.output
    finally:
        first.communicate(timeout=120)
    assert first.returncode == 1 and live_hashes(lab) == before
    return "second run refused (exit 13, holder named); first run unaffected"


def sigterm(lab: Lab, tmp_path: Path) -> str:
    before = live_hashes(lab)
    run = start_features(lab, tmp_path, "--lab-fault", "unhealthy")
    journal = lab.root / "maintenance/journal.jsonl"
    wait_for(lambda: journal.exists() and f'"pid": {run.pid}' in journal.read_text()
             and "Then the gateway serves the new version" in journal.read_text())
    run.send_signal(signal.SIGTERM)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 2 and "SIGTERM received" in out, out
    assert live_hashes(lab) == before and served_version(lab) == gateway.CURRENT_VERSION
    return "rolled back, exit 2 (interrupted): files identical"


def killed_mid_swap(lab: Lab, tmp_path: Path) -> str:
    """kill -9 between the two renames of the swap: the live folder is gone, the old one is aside."""
    before = live_hashes(lab)
    paused = lab.root / "maintenance/journal.paused"
    pause = "after:the staged configuration passes the config test"
    run = start_features(lab, tmp_path, env={"FLATNET_PAUSE_AT": pause})
    wait_for(paused.exists)
    (lab.flatnet / "openresty").rename(lab.flatnet / "openresty-old")  # the first rename, as the swap does
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    assert not (lab.flatnet / "openresty").exists()
    recovered = run_features(lab, tmp_path, GATEWAY, "--recover")
    paused.unlink(missing_ok=True)
    assert recovered.rc == 0, recovered.output
    assert live_hashes(lab) == before and served_version(lab) == gateway.CURRENT_VERSION
    return "--recover: files identical, old version serving"


def corrupt_backup(lab: Lab, tmp_path: Path) -> str:
    """The configuration rollback restores from a backup whose file was altered afterwards."""
    assert run_features(lab, tmp_path, MONITORING, "-k", "configuration").rc == 0
    after_update = tree_hashes(lab)
    backup = sorted((lab.flatnet / "backups").glob("monitoring-*"))[-1] / "prometheus/prometheus.yml"
    original = backup.read_bytes()
    backup.write_bytes(original + b"# altered\n")
    run = run_features(lab, tmp_path, MONITORING, "--run-rollback", "monitoring-config-rollback")
    observed = incident(run)
    assert "prometheus/prometheus.yml has sha256" in run.output
    assert tree_hashes(lab) == after_update  # nothing was overwritten from the corrupt backup
    backup.write_bytes(original)
    back = run_features(lab, tmp_path, MONITORING, "--run-rollback", "monitoring-config-rollback", "--force-unlock")
    assert back.rc == 0, back.output
    return observed + "; the altered file is named; nothing overwritten"


class Squatter:
    """Another program trying, all the time, to take the gateway's port for itself."""

    def __init__(self, port: int) -> None:
        self.port, self.socket, self.stop = port, socket.socket(), threading.Event()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.thread = threading.Thread(target=self._try, daemon=True)
        self.took_it = False

    def _try(self) -> None:
        while not self.stop.wait(0.0001):
            try:
                self.socket.bind(("127.0.0.1", self.port))
            except OSError:
                continue
            self.socket.listen()
            self.took_it = True
            return

    def __enter__(self) -> Squatter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.socket.close()


def port_taken_stop_start(lab: Lab, tmp_path: Path) -> str:
    """The manual's stop-start: the port is free for a moment, and another program takes it."""
    with Squatter(lab.state.http_port) as squatter:
        run = run_features(lab, tmp_path, GATEWAY, *with_gateway_settings(lab, tmp_path, handover="stop-start"))
    assert squatter.took_it
    return incident(run)


def port_taken_binary_upgrade(lab: Lab, tmp_path: Path) -> str:
    """The binary upgrade hands the listening socket over: the port is never free to take."""
    with Squatter(lab.state.http_port) as squatter:
        run = run_features(lab, tmp_path, GATEWAY)
    assert run.rc == 0 and not squatter.took_it, run.output
    assert served_version(lab) == gateway.NEW_VERSION
    return "updated; the port was never free"


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
    "gateway-stuck-stop": Row("gateway update", "new gateway ignores stop and quit", "incident, exit 12", "throwaway",
                              stuck_stop),
    "gateway-port-in-use": Row("gateway update (stop-start)", "another program takes the port during the swap",
                               "incident, exit 12", "throwaway", port_taken_stop_start),
    "gateway-port-squatter": Row("gateway update", "another program tries to take the port during the hand-over",
                                 "updated", "throwaway", port_taken_binary_upgrade),
    "monitoring-missing-tag": Row("monitoring images", "registry lacks the planned tag", "unchanged", "gm",
                                  monitoring_fault("missing-image-tag", "images")),
    "monitoring-bad-config": Row("monitoring config", "config fails promtool", "rolled back", "gm",
                                 monitoring_fault("bad-prometheus-config", "configuration")),
    "monitoring-alertmanager-down": Row("monitoring images", "Alertmanager down (no silence possible)",
                                        "unchanged", "gm", monitoring_fault("alertmanager-down", "images")),
    "workflow-gateway-unhealthy": Row("planned maintenance", "the gateway step fails verification",
                                      "rolled back", "gm", workflow_fault),
    "nebula-broken": Row("nebula update", "binary cut short", "rolled back", "neb",
                         component_fault(NEBULA, "broken")),
    "nebula-no-handshake": Row("nebula update", "never completes a handshake", "rolled back", "neb",
                               component_fault(NEBULA, "no-handshake")),
    "cni-not-a-plugin": Row("cni update", "build not executable", "rolled back", "cni",
                            component_fault(CNI, "not-a-plugin")),
    "cni-add-fails": Row("cni update", "build fails every ADD", "rolled back", "cni",
                         component_fault(CNI, "add-fails")),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_fault(name: str, request: pytest.FixtureRequest, tmp_path: Path, matrix_table: None) -> None:
    row = ROWS[name]
    lab = request.getfixturevalue(row.lab)
    observed = row.check(lab, tmp_path)
    TABLE.append((row.procedure, row.fault, row.expected, observed))


def test_the_matrix_has_at_least_15_distinct_faults() -> None:
    assert len({(r.procedure, r.fault) for r in ROWS.values()}) >= 15
