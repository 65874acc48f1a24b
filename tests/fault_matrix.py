"""The fault matrix's common part: a row, what it observed, and the outcomes each row asserts from outside.

Every row ends one of three ways: the procedure succeeds; or it stops or rolls
back and the target is byte-identical to before and healthy; or, only when the
rollback itself cannot succeed, an incident bundle and exit code 12.

Each row judges from outside the program: the exit code, the health of every
component it touched (answers on the wire, readiness, the overlay), the sha256
of their configuration and binaries, and for the gateway which master serves
(the pid files and the kernel's listening sockets). The rows live in three test
files, one per kind of lab, so that ``--dist loadfile`` spreads them over the
workers; each row hands what it saw to the controller (``MATRIX_ROW``), whose
conftest prints the table at the end and writes it to reports/fault-matrix.md.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path

import httpx
import pytest

from procedures.lab import Lab, gateway
from tests.conftest import MATRIX_ROW, Run, run_features
from tests.gateway_observed import answers, live_hashes, lock_file, master, orphans, served_by_one_master
from tests.test_monitoring import active_silences, stack, tree_hashes

GATEWAY = "features/gateway_update.feature"
MONITORING = "features/monitoring_update.feature"
CNI = "features/cni_update.feature"
NEBULA = "features/nebula_update.feature"
WORKFLOW = "features/maintenance_workflow.feature"
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



def run_row(row: Row, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Run the row on its lab and hand its line of the table to the controller."""
    seen = row.check(request.getfixturevalue(row.lab), tmp_path)
    request.node.user_properties.append((MATRIX_ROW, (row.procedure, row.fault, row.expected, *astuple(seen))))


def table(lines: list[tuple[str, ...]]) -> str:
    return "\n".join(["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS),
                      *["| " + " | ".join(line) + " |" for line in sorted(lines)]]) + "\n"


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


def release_whose_config_test_hangs(lab: Lab, folder: Path, pid_file: Path) -> Path:
    """A copy of the lab's new release whose `nginx -t` writes its PID to ``pid_file`` and sleeps 10 minutes."""
    release = folder / "openresty-hangs"
    shutil.copytree(lab.releases / f"openresty-{gateway.NEW_VERSION}", release, symlinks=True)
    (release / "nginx").rename(release / "nginx.real")
    (release / "nginx").write_text(f'#!/bin/sh\ncase " $* " in *" -t "*) echo $$ > {pid_file}; exec sleep 600 ;; esac\n'
                                   'exec "$(dirname "$0")/nginx.real" "$@"\n')
    (release / "nginx").chmod(0o755)
    return release


def gateway_fault(fault: str) -> Callable[[Lab, Path], Observed]:
    def check(lab: Lab, tmp_path: Path) -> Observed:
        before, original = live_hashes(lab), master(lab)
        return gateway_as_before(lab, before, run_features(lab, tmp_path, GATEWAY, "--lab-fault", fault), original)
    return check

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


