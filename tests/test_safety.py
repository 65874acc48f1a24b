"""Safe to interrupt and safe to run twice, on a real lab gateway: the lock, kill -9 at every action
followed by --recover, and SIGTERM/SIGINT in the middle of a procedure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from procedures.lab import Lab, gateway
from procedures.run.pids import alive
from tests.conftest import lab_files_changed, run_features, running_lab, start_features, wait_for
from tests.fault_matrix import release_whose_config_test_hangs
from tests.gateway_observed import live_hashes, lock_file, served_version

FEATURE = "features/gateway_update.feature"
EXIT_LOCKED = 13
# Every step of the gateway update that changes something, each crashed before and after it runs.
ACTIONS = ["ゲートウェイの設定をマニフェスト付きでバックアップする",
           "新しいリリースを稼働中のサイト設定とともに展開する",
           "展開した設定で設定テストが通る",
           "新しいリリースが稼働中のゲートウェイから引き継ぐ",
           "ゲートウェイが新しいバージョンで応答する",
           "旧ゲートウェイを退役させる"]


@pytest.fixture(scope="module")
def slab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("slab")) as lab:
        yield lab


def journal(lab: Lab) -> list[dict]:
    path = lab.root / "maintenance/journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_second_run_refuses_while_the_first_holds_the_lock(slab: Lab, tmp_path: Path) -> None:
    first = start_features(slab, tmp_path, "--lab-fault", "unhealthy")  # slow: waits out the fix window
    try:
        # The lock is created (noclobber), then written: read it once it has its holder.
        wait_for(lambda: lock_file(slab).exists() and lock_file(slab).stat().st_size > 0)
        holder = json.loads(lock_file(slab).read_text())
        second = run_features(slab, tmp_path, FEATURE)
        assert second.rc == EXIT_LOCKED, second.output
        assert f"held by {holder['owner']} (pid {first.pid}) for maintenance lab-maintenance since" in second.output
        assert "Wait for it to finish" in second.output
    finally:
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 1, out  # the first run went on: failed, rolled back
    assert not lock_file(slab).exists(), "released at the end, also after a failure"


def test_a_stale_lock_is_reported_and_force_unlock_removes_it_on_record(slab: Lab, tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock_file(slab).write_text(json.dumps({"owner": "ops@elsewhere", "controller": os.uname().nodename,
                                           "pid": gone.pid, "maintenance": "mw-old", "run": "/runs/old",
                                           "since": "2026-11-28T01:00:00+09:00"}))
    refused = run_features(slab, tmp_path, FEATURE)
    assert refused.rc == EXIT_LOCKED
    assert "an unfinished maintenance left its lock" in refused.output and "that process is gone" in refused.output
    assert "--recover" in refused.output and "ops@elsewhere" in refused.output

    forced = run_features(slab, tmp_path, FEATURE, "--force-unlock")
    assert forced.rc == 0, forced.output
    assert "--force-unlock removed the lock on lab: ops@elsewhere" in forced.output
    evidence = "\n".join(p.read_text() for p in forced.results.glob("*-attachment.*"))
    assert '"maintenance": "mw-old"' in evidence  # the removed lock is in the record
    assert not lock_file(slab).exists()
    assert run_features(slab, tmp_path, "--run-rollback", "gateway-rollback", FEATURE).rc == 0  # back to before


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("action", ACTIONS)
def test_kill_9_at_each_action_then_recover(slab: Lab, tmp_path: Path, action: str, when: str) -> None:
    before, pid_before = live_hashes(slab), slab.gateway_pid()
    assert served_version(slab) == gateway.CURRENT_VERSION
    crashed = run_features(slab, tmp_path, FEATURE, env={"FLATNET_CRASH_AT": f"{when}:{action}"})
    assert crashed.rc == -signal.SIGKILL, crashed.output
    assert lock_file(slab).exists(), "the crashed run's lock stays behind"

    refused = run_features(slab, tmp_path, FEATURE)
    assert refused.rc == EXIT_LOCKED and "--recover" in refused.output, refused.output

    recovered = run_features(slab, tmp_path, FEATURE, "--recover")
    assert recovered.rc == 0, recovered.output
    assert served_version(slab) == gateway.CURRENT_VERSION
    assert live_hashes(slab) == before
    assert slab.gateway_pid() is not None and alive(slab.gateway_pid())
    assert not lock_file(slab).exists()
    assert journal(slab)[-1]["event"] == "recovered"
    if (action, when) != (ACTIONS[-1], "after"):  # until it is retired, the old master just takes over again
        assert slab.gateway_pid() == pid_before


def test_recover_refuses_when_nothing_is_unfinished(slab: Lab, tmp_path: Path) -> None:
    run = run_features(slab, tmp_path, FEATURE, "--recover")
    assert run.rc == 4 and "nothing to recover" in run.output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_procedure_rolls_back(slab: Lab, tmp_path: Path, sig: signal.Signals) -> None:
    before = live_hashes(slab)
    run = start_features(slab, tmp_path, "--lab-fault", "unhealthy")
    wait_for(lambda: any(e.get("step") == "ならば ゲートウェイが新しいバージョンで応答する" and e.get("pid") == run.pid
                         for e in journal(slab)))
    run.send_signal(sig)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == pytest.ExitCode.INTERRUPTED, out
    assert f"{sig.name} received: stopping the procedure and rolling back" in out
    assert f"interrupted by {sig.name}: the procedure stopped and its rollback ran" in out
    assert "every rollback step passed" in out
    assert served_version(slab) == gateway.CURRENT_VERSION and live_hashes(slab) == before
    assert not lock_file(slab).exists()


def test_ctrl_c_while_a_command_hangs_ends_that_command_with_the_run(slab: Lab, tmp_path: Path) -> None:
    """The release's `nginx -t` hangs (its deadline is minutes away) and the operator presses Ctrl-C: the hung
    command must be gone when the run ends, not live on beside the rollback or an operator's next step."""
    hung_pid = tmp_path / "hung.pid"
    release = release_whose_config_test_hangs(slab, tmp_path, hung_pid)
    files = lab_files_changed(slab, tmp_path, lambda _, plan: plan.update(
        changes={"gateway": {"release": str(release), "version": gateway.NEW_VERSION}}))
    before = live_hashes(slab)
    run = start_features(slab, tmp_path, *files)
    wait_for(lambda: (hung_pid.exists() and hung_pid.read_text().strip() != "") or run.poll() is not None)
    assert run.poll() is None, run.communicate()[0]
    hung = int(hung_pid.read_text())
    run.send_signal(signal.SIGINT)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == pytest.ExitCode.INTERRUPTED, out
    assert not alive(hung), f"the hung `nginx -t` ({hung}) outlived the run"
    assert served_version(slab) == gateway.CURRENT_VERSION and live_hashes(slab) == before
    assert not lock_file(slab).exists()
