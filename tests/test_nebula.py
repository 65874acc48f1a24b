"""The Nebula update on a real overlay between network namespaces, with the node under runit."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from procedures.lab import Lab
from procedures.lab.nebula import NebulaLab
from procedures.lab.processes import owned_pids
from tests.conftest import paused_run, run_features

FEATURE = "features/nebula_update.feature"


@pytest.fixture(scope="module")
def nlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("nlab") / "lab").up(("gateway", "nebula"))
    overlay = lab.nebula()
    assert overlay is not None
    yield lab
    lab.down()
    names = (overlay.state.lighthouse_netns, overlay.state.host_netns, overlay.state.veth)
    assert not any(n in _ip("netns", "list") for n in names), "a lab namespace is left"
    assert overlay.state.veth not in _ip("-o", "link"), "a lab veth is left"
    assert owned_pids(lab.root) == []


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def overlay(lab: Lab) -> NebulaLab:
    part = lab.nebula()
    assert part is not None
    return part


def files(lab: Lab) -> dict[str, str]:
    node = overlay(lab)
    paths = [node.bin_dir / "nebula", node.bin_dir / "nebula-cert", *sorted(node.config_dir.iterdir())]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() + oct(p.stat().st_mode) for p in paths}


def overlay_works(lab: Lab) -> bool:
    netns = overlay(lab).state.host_netns
    ping = subprocess.run(["ip", "netns", "exec", netns, "busybox", "ping", "-c", "1", "-W", "2", "10.100.0.1"],
                          capture_output=True, check=False)
    tcp = subprocess.run(["ip", "netns", "exec", netns, "timeout", "3", "busybox", "wget", "-q", "-O-",
                          "http://10.100.0.1:8080/"], capture_output=True, text=True, check=False)
    return ping.returncode == 0 and "lighthouse" in tcp.stdout


def test_nebula_update_on_the_lab(nlab: Lab, tmp_path: Path) -> None:
    run = run_features(nlab, tmp_path, FEATURE, "-k", "update", "--lab-fault", "none")
    assert run.rc == 0, run.output
    evidence = "\n".join(p.read_text() for p in run.results.glob("*-attachment.*"))
    assert '"before"' in evidence and '"after"' in evidence and '"sha256"' in evidence
    assert "1 packets received" in evidence and "flatnet lighthouse over the overlay" in evidence
    assert "Handshake message received" in evidence and "stage:2" in evidence
    assert (overlay(nlab).bin_dir / "nebula").read_bytes().endswith(b"flatnet-lab-build 1.6.1-lab.2\n")


@pytest.mark.parametrize("fault", ["broken", "no-handshake"])
def test_a_faulty_release_is_rolled_back(nlab: Lab, tmp_path: Path, fault: str) -> None:
    before = files(nlab)
    run = run_features(nlab, tmp_path, FEATURE, "-k", "update", "--lab-fault", fault)
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert files(nlab) == before
    assert overlay_works(nlab)


def test_a_new_error_line_in_the_nebula_log_is_decided_as_log_errors_and_rolled_back(nlab: Lab,
                                                                                    tmp_path: Path) -> None:
    """The manual reads the log after the update: an error line written while the new release runs is the
    decision table's log_errors row; nobody answers before the plan's deadline, so the plan's default rolls back."""
    before = files(nlab)
    log = overlay(nlab).flatnet / "logs/nebula.log"

    def error_in_the_log() -> None:
        with log.open("a") as out:
            out.write('time="2026-12-03T01:00:00Z" level=error msg="Failed to write to tun" error="lab fault"\n')

    run = paused_run(nlab, tmp_path, "before:起動以降の Nebula ログに新しいエラー行がない",
                     error_in_the_log, FEATURE, "-k", "update", "--lab-fault", "none")
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert files(nlab) == before and overlay_works(nlab)
    decisions = [json.loads(p.read_text()) for p in run.results.glob("*-attachment.json")
                 if '"failure_class": "log_errors"' in p.read_text()]
    assert [(d["failure_class"], d["action"]) for d in decisions] == [("log_errors", "rollback")], run.output
    assert "Failed to write to tun" in decisions[0]["reason"]


def test_a_certificate_near_expiry_fails_the_check(nlab: Lab, tmp_path: Path) -> None:
    node = overlay(nlab)
    short = tmp_path / "short.crt"
    subprocess.run(["nebula-cert", "sign", "-ca-crt", str(node.pki / "ca.crt"), "-ca-key", str(node.pki / "ca.key"),
                    "-name", "host", "-ip", "10.100.1.1/16", "-duration", "36h", "-out-crt", str(short),
                    "-out-key", str(tmp_path / "short.key")], check=True, capture_output=True)
    inventory = yaml.safe_load(nlab.inventory_path.read_text())
    inventory["components"]["nebula"]["cert"] = str(short)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))

    run = run_features(nlab, tmp_path, FEATURE, "-k", "certificate", "--inventory", str(path),
                       "--plan", str(nlab.plan_path))

    assert run.rc == 1, run.output
    assert "expires in 1.5 days (minimum 30): renew it" in run.output


def test_the_emergency_rollback_restores_the_latest_recorded_backup(nlab: Lab, tmp_path: Path) -> None:
    node = overlay(nlab)
    for binary in ("nebula", "nebula-cert"):  # start from the current release (renamed over: it may be running)
        staged = node.bin_dir / f".{binary}.test"
        shutil.copy2(node.release("lab.1") / binary, staged)
        os.replace(staged, node.bin_dir / binary)
    assert run_features(nlab, tmp_path, FEATURE, "-k", "update", "--lab-fault", "none").rc == 0
    assert (node.bin_dir / "nebula").read_bytes().endswith(b"1.6.1-lab.2\n")

    run = run_features(nlab, tmp_path, FEATURE, "--run-rollback", "nebula-rollback")

    assert run.rc == 0, run.output
    assert (node.bin_dir / "nebula").read_bytes().endswith(b"1.6.1-lab.1\n")
    assert overlay_works(nlab)
