"""Recovery that works when the target misbehaves: a gateway master killed at every step of the update
and of its rollback, the way back after a failed rollback, and orphans left by a killed master.

Each outcome is judged from outside the program: the exit code, the pid files and the kernel's
listening sockets, the answers on the wire, and the sha256 of the live configuration.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from procedures.lab import Lab, gateway
from procedures.lab.processes import alive
from tests.conftest import PROJECT, feature_environment, run_features
from tests.gateway_observed import (
    answers,
    kill_9,
    live_hashes,
    lock_file,
    master,
    orphans,
    served_by_one_master,
    wait_settled,
)
from tests.record_breaker import BREAK_ENV

FEATURE = "features/gateway_update.feature"
TAKE_OVER = "the new release takes over from the running gateway"
VERIFY = "the gateway serves the new version"
TAKE_BACK = "the previous release takes over from the new one"
UPDATED, ROLLED_BACK = 0, 1
LABELS = {TAKE_OVER: "takeover", VERIFY: "verified", TAKE_BACK: "rollback-handback"}

# (pause point, masters killed there, lab fault, the outcome it must have)
KILLS = [
    (f"before:{TAKE_OVER}", ["serving"], None, ROLLED_BACK),            # the only master, just before the hand-over
    (f"after:{TAKE_OVER}", ["serving"], None, ROLLED_BACK),             # the new master
    (f"after:{TAKE_OVER}", ["previous"], None, UPDATED),                # the idle old master: the new one serves
    (f"after:{TAKE_OVER}", ["serving", "previous"], None, ROLLED_BACK),
    (f"after:{VERIFY}", ["serving"], None, ROLLED_BACK),                # verified, then the new master dies
    (f"after:{VERIFY}", ["previous"], None, UPDATED),
    (f"after:{VERIFY}", ["serving", "previous"], None, ROLLED_BACK),
    (f"before:{TAKE_BACK}", ["serving"], "unhealthy", ROLLED_BACK),    # the rollback starts; the new master dies
    (f"before:{TAKE_BACK}", ["previous"], "unhealthy", ROLLED_BACK),   # ... the master it hands back to dies
    (f"before:{TAKE_BACK}", ["serving", "previous"], "unhealthy", ROLLED_BACK),
    (f"after:{TAKE_BACK}", ["serving"], "unhealthy", ROLLED_BACK),     # handed back, then the old master dies
]


def paused_run(lab: Lab, tmp_path: Path, pause: str, *args: str) -> subprocess.Popen[str]:
    """The update, started in the background, stopping at ``pause`` until the test lets it go on."""
    env = feature_environment(lab, {"FLATNET_PAUSE_AT": pause})
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:xdist", f"--alluredir={tmp_path}/results",
                             FEATURE, *args], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_until(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def incident_bundle(output: str) -> Path:
    found = re.search(r"incident bundle: (\S+\.tar\.gz)", output)
    assert found and Path(found.group(1)).exists(), output
    return Path(found.group(1))


def assert_rolled_back(lab: Lab, before: dict[str, str]) -> None:
    assert answers(lab) == {gateway.CURRENT_VERSION}
    assert live_hashes(lab) == before
    assert served_by_one_master(lab), "the ports are not held by exactly one master and its workers"
    assert not lock_file(lab).exists()


def assert_updated(lab: Lab) -> None:
    assert answers(lab) == {gateway.NEW_VERSION}
    assert served_by_one_master(lab), "the ports are not held by exactly one master and its workers"
    assert not lock_file(lab).exists()


def kill_id(pause: str, victims: list[str]) -> str:
    when, step = pause.split(":", 1)
    return f"{when}-{LABELS[step]}-kill-{'+'.join(victims)}"


@pytest.mark.parametrize(("pause", "victims", "fault", "outcome"), KILLS, ids=[kill_id(p, v) for p, v, _, _ in KILLS])
def test_kill_9_of_a_gateway_master_never_passes_a_broken_update(lab: Lab, tmp_path: Path, pause: str,
                                                                 victims: list[str], fault: str | None,
                                                                 outcome: int) -> None:
    before, original = live_hashes(lab), master(lab)
    paused = lab.root / "maintenance/journal.paused"
    run = paused_run(lab, tmp_path, pause, *(["--lab-fault", fault] if fault else []))
    try:
        wait_until(paused.exists, f"the run to pause at {pause}")
        killed = kill_9(lab, victims)
        assert killed, f"no master to kill at {pause}"
        paused.unlink()
        out, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    wait_settled(lab)
    assert run.returncode == outcome, out
    assert orphans(lab) == [], "a gateway process was left without its master"
    if outcome == UPDATED:
        assert_updated(lab)
        assert master(lab) not in killed
    else:
        assert_rolled_back(lab, before)
        if "previous" not in victims and pause.startswith("after") and original not in killed:
            assert master(lab) == original, "the original master should have survived"


def test_recover_after_a_failed_rollback_then_a_clean_next_maintenance(lab: Lab, tmp_path: Path) -> None:
    """Exit 12, the advice it prints, each step of it, and the next maintenance runs as usual."""
    before = live_hashes(lab)
    failed = run_features(lab, tmp_path, FEATURE, "--lab-fault", "stuck-stop")
    assert failed.rc == 12, failed.output
    incident_bundle(failed.output)
    assert "clear the cause" in failed.output and "run the same command again with --recover" in failed.output
    assert lock_file(lab).exists(), "the lock stays after a failed rollback"

    refused = run_features(lab, tmp_path, FEATURE)
    assert refused.rc == 13 and "--recover" in refused.output, refused.output

    stuck = master(lab)  # the operator clears the cause: the release that refuses to quit is stopped by hand
    assert stuck is not None and master(lab, "previous") is not None
    os.kill(stuck, signal.SIGKILL)
    wait_until(lambda: not alive(stuck), "the stuck master to go")

    recovered = run_features(lab, tmp_path, FEATURE, "--recover")
    assert recovered.rc == 0, recovered.output
    wait_settled(lab)
    assert_rolled_back(lab, before)
    assert orphans(lab) == []
    journal = [json.loads(line) for line in (lab.root / "maintenance/journal.jsonl").read_text().splitlines()]
    assert journal[-1]["event"] == "recovered"

    again = run_features(lab, tmp_path, FEATURE, "--recover")
    assert again.rc == 4 and "nothing to recover" in again.output, again.output
    nxt = run_features(lab, tmp_path, FEATURE)
    assert nxt.rc == 0, nxt.output
    assert_updated(lab)


def test_a_record_failure_outside_the_steps_fails_the_rollback_and_recover_brings_the_target_back(
        lab: Lab, tmp_path: Path) -> None:
    """The embedded runner swallows nothing: a failure around the rollback's steps is a failed rollback."""
    before = live_hashes(lab)
    broken = run_features(lab, tmp_path, FEATURE, "-p", "tests.record_breaker", "--lab-fault", "unhealthy",
                          env={BREAK_ENV: "ROLLBACK:"})
    assert broken.rc == 12, broken.output
    assert "outside its steps" in broken.output and "the record cannot be written" in broken.output
    assert master(lab, "previous") is not None, "no rollback step ran: the old master still waits idle"
    journal = [json.loads(line) for line in (lab.root / "maintenance/journal.jsonl").read_text().splitlines()]
    events = {(e["scenario"], e.get("event")) for e in journal if "event" in e}
    assert ("gateway-rollback", "failed") in events and ("gateway-update", "rollback failed") in events

    recovered = run_features(lab, tmp_path, FEATURE, "--recover")
    assert recovered.rc == 0, recovered.output
    wait_settled(lab)
    assert_rolled_back(lab, before)


def test_lab_down_removes_workers_orphaned_by_a_killed_master(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab").up(("gateway",))
    try:
        killed = kill_9(lab, ["serving"])
        wait_until(lambda: bool(orphans(lab)), "the killed master's worker to be orphaned", 5)
        left = orphans(lab)
        assert left and all(pid not in killed for pid in left)
    finally:
        lab.down()
    assert all(not alive(pid) for pid in left), "lab down left the orphaned workers running"
