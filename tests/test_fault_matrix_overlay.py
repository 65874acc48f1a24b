"""The fault matrix's Nebula and CNI rows, each on a module lab of its own (see tests/fault_matrix.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from procedures.lab import Lab
from tests.conftest import paused_run, run_features, running_lab
from tests.fault_matrix import CNI, NEBULA, Observed, Row, exit_code, run_row
from tests.test_cni import state as cni_files
from tests.test_nebula import files as nebula_files
from tests.test_nebula import overlay, overlay_works


@pytest.fixture(scope="module")
def neb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("matrix-neb"), ("gateway", "nebula")) as lab:
        yield lab


@pytest.fixture(scope="module")
def cni(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("matrix-cni"), ("gateway", "cni")) as lab:
        yield lab


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
    "nebula-broken": Row("nebula update", "binary cut short", "rolled back", "neb", nebula_fault("broken")),
    "nebula-no-handshake": Row("nebula update", "never completes a handshake", "rolled back", "neb",
                               nebula_fault("no-handshake")),
    "nebula-process-killed": Row("nebula update", "the new process killed -9 before verification",
                                 "updated (runit restarts it)", "neb", nebula_process_killed),
    "cni-not-a-plugin": Row("cni update", "build not executable", "rolled back", "cni", cni_fault("not-a-plugin")),
    "cni-add-fails": Row("cni update", "build fails every ADD", "rolled back", "cni", cni_fault("add-fails")),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_fault(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run_row(ROWS[name], request, tmp_path)
