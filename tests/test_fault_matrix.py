"""The fault matrix: a fault injected into each procedure, and the outcome it must have.

Every row ends one of three ways: the procedure succeeds; or it stops or rolls
back and the target is byte-identical to before and healthy; or, only when the
rollback itself cannot succeed, an incident bundle and exit code 12.

Each row judges from outside the program: the exit code, the health of every
component it touched (answers on the wire, readiness, the overlay), the sha256
of their configuration and binaries, and for the gateway which master serves
(the pid files and the kernel's listening sockets). The table printed at the end
(also reports/fault-matrix.md) shows those observations, not the program's words.
"""

from __future__ import annotations

import os
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
from tests.conftest import PROJECT, Run, paused_run, run_features, running_lab, wait_for, with_gateway_settings
from tests.gateway_observed import answers, kill_9, live_hashes, lock_file, master, orphans, served_by_one_master
from tests.test_cni import state as cni_files
from tests.test_monitoring import active_silences, stack, tree_hashes
from tests.test_nebula import files as nebula_files
from tests.test_nebula import overlay, overlay_works
from tests.test_safety import start_features

GATEWAY = "features/gateway_update.feature"
MONITORING = "features/monitoring_update.feature"
CNI = "features/cni_update.feature"
NEBULA = "features/nebula_update.feature"
WORKFLOW = "features/maintenance_workflow.feature"
TABLE: list[tuple[str, ...]] = []
COLUMNS = ("procedure", "fault", "expected outcome", "exit", "health (seen from outside)",
           "configuration and binaries (sha256)", "gateway master")


@dataclass
class Observed:
    """What a row saw from outside the program, each field already asserted."""

    exit: str
    health: str
    files: str
    master: str = "—"


@dataclass(frozen=True)
class Row:
    procedure: str
    fault: str
    expected: str
    lab: str  # which lab fixture the row runs on
    check: Callable[[Lab, Path], Observed]  # asserts the outcome, returns what was observed


# -- labs ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def matrix_table() -> Iterator[None]:
    yield
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS),
             *["| " + " | ".join(row) + " |" for row in TABLE]]
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
    with running_lab(tmp_path_factory.mktemp("matrix-cni"), ("gateway", "cni")) as lab:
        yield lab


# -- outcomes, seen from outside ------------------------------------------------------------------------
def exit_code(run: Run | int, expected: int) -> str:
    rc = run if isinstance(run, int) else run.rc
    assert rc == expected, run if isinstance(run, int) else run.output
    return str(rc)


def gateway_master(lab: Lab, original: int | None, *, survives: bool) -> str:
    now = master(lab)
    assert orphans(lab) == [], "gateway workers left without their master"
    assert served_by_one_master(lab), "the ports are not held by exactly one master and its workers"
    if survives:
        assert now == original, f"the original master {original} should serve, {now} does"
        return f"original {original} serves"
    return f"{now} serves (original {original} {'alive' if original and master(lab) == original else 'gone'})"


def gateway_as_before(lab: Lab, before: dict[str, str], run: Run, original: int | None = None,
                      *, survives: bool = True) -> Observed:
    rc = exit_code(run, 1)
    assert "ROLLBACK FAILED" not in run.output
    served = answers(lab)
    assert served == {gateway.CURRENT_VERSION}
    assert live_hashes(lab) == before
    assert not lock_file(lab).exists()
    return Observed(rc, f"{sorted(served)[0]} in 8 of 8 answers", "identical",
                    gateway_master(lab, original, survives=survives) if original else "—")


def gateway_updated(lab: Lab, run: Run, original: int | None) -> Observed:
    rc = exit_code(run, 0)
    served = answers(lab)
    assert served == {gateway.NEW_VERSION}
    return Observed(rc, f"{gateway.NEW_VERSION} in 8 of 8 answers", "new release (as planned)",
                    gateway_master(lab, original, survives=False))


def incident(run: Run) -> str:
    assert run.rc == 12, run.output
    bundle = re.search(r"incident bundle: (\S+\.tar\.gz)", run.output)
    assert bundle and Path(bundle.group(1)).exists(), run.output
    return f"12, bundle {Path(bundle.group(1)).name}"


def gateway_fault(fault: str) -> Callable[[Lab, Path], Observed]:
    def check(lab: Lab, tmp_path: Path) -> Observed:
        before, original = live_hashes(lab), master(lab)
        return gateway_as_before(lab, before, run_features(lab, tmp_path, GATEWAY, "--lab-fault", fault), original)
    return check


def stuck_stop(lab: Lab, tmp_path: Path) -> Observed:
    run = run_features(lab, tmp_path, GATEWAY, "--lab-fault", "stuck-stop")
    served = answers(lab, 4)
    return Observed(incident(run), f"answers {sorted(served)} (two masters left for a human)", "new release live",
                    "both masters alive" if master(lab) and master(lab, "previous") else "?")


def monitoring_as_before(lab: Lab, before: dict[str, str], images: dict[str, str], run: Run) -> Observed:
    rc = exit_code(run, 1)
    assert tree_hashes(lab) == before and active_silences(lab) == []
    ready = {name: httpx.get(stack(lab).url(name) + "/-/ready", timeout=5).status_code
             for name in ("prometheus", "alertmanager")}
    assert set(ready.values()) == {200}, ready
    assert running_images(lab) == images
    return Observed(rc, "prometheus, alertmanager ready; previous images running; no silence left", "identical")


def running_images(lab: Lab) -> dict[str, str]:
    podman = stack(lab).podman
    return {name: podman.run("podman", "inspect", "--format", "{{.Image}} {{.State.Status}}", name).stdout.strip()
            for name in ("flatnet-prometheus", "flatnet-alertmanager")}


def monitoring_fault(fault: str, scenario: str) -> Callable[[Lab, Path], Observed]:
    def check(lab: Lab, tmp_path: Path) -> Observed:
        before, images = tree_hashes(lab), running_images(lab)
        try:
            run = run_features(lab, tmp_path, MONITORING, "-k", scenario, "--lab-fault", fault)
        finally:
            lab.inject(None)
        return monitoring_as_before(lab, before, images, run)
    return check


def cni_fault(fault: str) -> Callable[[Lab, Path], Observed]:
    def check(lab: Lab, tmp_path: Path) -> Observed:
        before = cni_files(lab)
        run = run_features(lab, tmp_path, CNI, "--lab-fault", fault)
        rc = exit_code(run, 1)
        assert cni_files(lab) == before
        stack_network(lab)
        return Observed(rc, "podman serves the flatnet network from the conflist", "plugin and conflist identical")
    return check


def stack_network(lab: Lab) -> None:
    part = lab.cni()
    assert part is not None
    assert part.podman.run("podman", "network", "exists", "flatnet", check=False).returncode == 0, "the network is gone"


def nebula_fault(fault: str) -> Callable[[Lab, Path], Observed]:
    def check(lab: Lab, tmp_path: Path) -> Observed:
        before = nebula_files(lab)
        run = run_features(lab, tmp_path, NEBULA, "--lab-fault", fault)
        rc = exit_code(run, 1)
        assert nebula_files(lab) == before and overlay_works(lab)
        return Observed(rc, "overlay: ping and TCP to the lighthouse", "binaries, config, certificates identical")
    return check


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


def port_taken_stop_start(lab: Lab, tmp_path: Path) -> Observed:
    """The manual's stop-start: the port is free for a moment, and another program takes it."""
    with Squatter(lab.state.http_port) as squatter:
        run = run_features(lab, tmp_path, GATEWAY, *with_gateway_settings(lab, tmp_path, handover="stop-start"))
        assert squatter.took_it
        assert master(lab) is None, "no gateway can run while another program holds its port"
    return Observed(incident(run), "front port held by the other program; no gateway master", "—", "none")


def port_taken_binary_upgrade(lab: Lab, tmp_path: Path) -> Observed:
    """The binary upgrade hands the listening socket over: the port is never free to take."""
    original = master(lab)
    with Squatter(lab.state.http_port) as squatter:
        run = run_features(lab, tmp_path, GATEWAY)
    assert not squatter.took_it
    observed = gateway_updated(lab, run, original)
    observed.health += "; the port was never free"
    return observed


# -- a master killed at each step of the update and of its rollback (paused there, kill -9, go on) --------------
TAKE_OVER = "新しいリリースが稼働中のゲートウェイから引き継ぐ"
VERIFY = "ゲートウェイが新しいバージョンで応答する"
TAKE_BACK = "旧リリースが新リリースから引き継ぐ"


def kill_at(pause: str, victims: list[str], *, updated: bool = False, unhealthy: bool = False,
            survives: bool = False) -> Callable[[Lab, Path], Observed]:
    """Pause the update at ``pause``, kill -9 the ``victims`` masters (``serving``: the pid file's,
    ``previous``: the idle one of a binary upgrade), let it go on. It may only pass when ``updated``."""
    def check(lab: Lab, tmp_path: Path) -> Observed:
        before, original = live_hashes(lab), master(lab)
        killed: list[int] = []
        result = paused_run(lab, tmp_path, pause, lambda: killed.extend(kill_9(lab, victims)),
                            GATEWAY, *(["--lab-fault", "unhealthy"] if unhealthy else []))
        assert killed, f"no master to kill at {pause}"
        wait_for(lambda: master(lab) is not None and not orphans(lab), 5)
        if updated:
            observed = gateway_updated(lab, result, original)
            assert master(lab) not in killed
        else:
            observed = gateway_as_before(lab, before, result, original, survives=survives)
        observed.master += f"; killed {' and '.join(victims)} ({', '.join(map(str, killed))})"
        return observed
    return check


def monitoring_container_killed(lab: Lab, tmp_path: Path) -> Observed:
    """Prometheus is killed right after the restart, while the new images are being verified."""
    before, images = tree_hashes(lab), running_images(lab)
    run = paused_run(lab, tmp_path, "after:サービスを再起動する",
                     lambda: stack(lab).podman.run("podman", "kill", "flatnet-prometheus"), MONITORING, "-k", "images")
    observed = monitoring_as_before(lab, before, images, run)
    observed.health += " (prometheus running again)"
    return observed


def service_pid(lab: Lab) -> int:
    status = subprocess.run(["sv", "status", str(overlay(lab).service)], capture_output=True, text=True,
                            check=True).stdout
    found = re.search(r"\(pid (\d+)\)", status)
    assert found, status
    return int(found.group(1))


def nebula_process_killed(lab: Lab, tmp_path: Path) -> Observed:
    """The new Nebula process is killed -9 right after its start, before the overlay is verified."""
    killed: list[int] = []

    def kill() -> None:
        killed.append(service_pid(lab))
        os.kill(killed[0], signal.SIGKILL)

    run = paused_run(lab, tmp_path, "after:Nebula サービスを開始する", kill, NEBULA, "-k", "update",
                     "--lab-fault", "none")
    rc = exit_code(run, 0)  # runit restarts it: the new release then serves, and is verified
    now, binary = service_pid(lab), overlay(lab).bin_dir / "nebula"
    assert now != killed[0] and overlay_works(lab)
    assert Path(f"/proc/{now}/exe").read_bytes() == binary.read_bytes()  # the running process is the new build
    assert binary.read_bytes().endswith(b"1.6.1-lab.2\n")
    restore = run_features(lab, tmp_path, NEBULA, "--run-rollback", "nebula-rollback")
    assert restore.rc == 0, restore.output
    return Observed(rc, f"runit restarted it (pid {killed[0]} → {now}); overlay verified",
                    "the running process's binary = the installed new build")


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
    "gateway-kill-only-master-before-takeover": Row(
        "gateway update", "kill -9 of the only master before the hand-over", "rolled back", "throwaway",
        kill_at(f"before:{TAKE_OVER}", ["serving"])),
    "gateway-kill-new-master-after-takeover": Row(
        "gateway update", "kill -9 of the new master after the hand-over", "rolled back", "throwaway",
        kill_at(f"after:{TAKE_OVER}", ["serving"], survives=True)),
    "gateway-kill-old-master-after-takeover": Row(
        "gateway update", "kill -9 of the idle old master after the hand-over", "updated", "throwaway",
        kill_at(f"after:{TAKE_OVER}", ["previous"], updated=True)),
    "gateway-kill-both-masters-after-takeover": Row(
        "gateway update", "kill -9 of both masters after the hand-over", "rolled back", "throwaway",
        kill_at(f"after:{TAKE_OVER}", ["serving", "previous"])),
    "gateway-kill-new-master-after-verification": Row(
        "gateway update", "kill -9 of the new master once verified, before retirement", "rolled back", "throwaway",
        kill_at(f"after:{VERIFY}", ["serving"], survives=True)),
    "gateway-kill-old-master-after-verification": Row(
        "gateway update", "kill -9 of the old master once verified", "updated", "throwaway",
        kill_at(f"after:{VERIFY}", ["previous"], updated=True)),
    "gateway-kill-both-masters-after-verification": Row(
        "gateway update", "kill -9 of both masters once verified", "rolled back", "throwaway",
        kill_at(f"after:{VERIFY}", ["serving", "previous"])),
    "gateway-kill-new-master-in-rollback": Row(
        "gateway rollback", "kill -9 of the new master as the rollback starts", "rolled back", "throwaway",
        kill_at(f"before:{TAKE_BACK}", ["serving"], unhealthy=True, survives=True)),
    "gateway-kill-old-master-in-rollback": Row(
        "gateway rollback", "kill -9 of the master it hands back to, as it starts", "rolled back", "throwaway",
        kill_at(f"before:{TAKE_BACK}", ["previous"], unhealthy=True)),
    "gateway-kill-both-masters-in-rollback": Row(
        "gateway rollback", "kill -9 of both masters as the rollback starts", "rolled back", "throwaway",
        kill_at(f"before:{TAKE_BACK}", ["serving", "previous"], unhealthy=True)),
    "gateway-kill-master-after-handback": Row(
        "gateway rollback", "kill -9 of the old master once handed back", "rolled back", "throwaway",
        kill_at(f"after:{TAKE_BACK}", ["serving"], unhealthy=True)),
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
    "nebula-broken": Row("nebula update", "binary cut short", "rolled back", "neb", nebula_fault("broken")),
    "nebula-no-handshake": Row("nebula update", "never completes a handshake", "rolled back", "neb",
                               nebula_fault("no-handshake")),
    "nebula-process-killed": Row("nebula update", "the new process killed -9 before verification",
                                 "updated (runit restarts it)", "neb", nebula_process_killed),
    "cni-not-a-plugin": Row("cni update", "build not executable", "rolled back", "cni", cni_fault("not-a-plugin")),
    "cni-add-fails": Row("cni update", "build fails every ADD", "rolled back", "cni", cni_fault("add-fails")),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_fault(name: str, request: pytest.FixtureRequest, tmp_path: Path, matrix_table: None) -> None:
    row = ROWS[name]
    lab = request.getfixturevalue(row.lab)
    seen = row.check(lab, tmp_path)
    TABLE.append((row.procedure, row.fault, row.expected, seen.exit, seen.health, seen.files, seen.master))


def test_the_matrix_has_at_least_30_distinct_faults() -> None:
    assert len({(r.procedure, r.fault) for r in ROWS.values()}) >= 30
