"""Recovery that works when the target misbehaves: the way back after a failed rollback, a failure the
runner must not swallow, and the workers a killed master leaves behind. (A master killed at each step of
the update and of its rollback: the gateway-kill rows of tests/test_fault_matrix.py.)

Each outcome is judged from outside the program: the exit code, the pid files and the kernel's
listening sockets, the answers on the wire, and the sha256 of the live configuration.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tarfile
from pathlib import Path

from procedures.lab import Lab, gateway
from procedures.run.pids import alive
from tests.conftest import run_features, wait_for
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


def test_recover_after_a_failed_rollback_then_a_clean_next_maintenance(lab: Lab, tmp_path: Path) -> None:
    """Exit 12, the advice it prints, each step of it, and the next maintenance runs as usual."""
    before = live_hashes(lab)
    failed = run_features(lab, tmp_path, FEATURE, "--lab-fault", "stuck-stop")
    assert failed.rc == 12, failed.output
    with tarfile.open(incident_bundle(failed.output)) as bundle:  # this run's record, not the folder around it
        runs = {n.split("/run/", 1)[1].split("/", 1)[0] for n in bundle.getnames() if "/run/" in n}
    assert runs == {"allure-results"}, runs  # the lab beside the results (tmp_path/lab) stays out
    assert "clear the cause" in failed.output and "run the same command again with --recover" in failed.output
    assert lock_file(lab).exists(), "the lock stays after a failed rollback"

    refused = run_features(lab, tmp_path, FEATURE)
    assert refused.rc == 13 and "--recover" in refused.output, refused.output

    stuck = master(lab)  # the operator clears the cause: the release that refuses to quit is stopped by hand
    assert stuck is not None and master(lab, "previous") is not None
    os.kill(stuck, signal.SIGKILL)
    wait_for(lambda: not alive(stuck))

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
                          env={BREAK_ENV: "ロールバック:"})
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
        wait_for(lambda: bool(orphans(lab)), 5)
        left = orphans(lab)
        assert left and all(pid not in killed for pid in left)
    finally:
        lab.down()
    assert all(not alive(pid) for pid in left), "lab down left the orphaned workers running"
