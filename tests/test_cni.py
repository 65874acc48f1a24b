"""The CNI plugin update on the lab: real bridge plugin, real podman network, real packets."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from procedures.errors import LabError
from procedures.lab import Lab
from procedures.lab.cni import CURRENT_VERSION, NEW_VERSION, TEST_IMAGE, CniLab
from procedures.lab.processes import owned_pids
from procedures.run.maintenance import Maintenance
from tests.conftest import paused_run, run_features

# One lab per module: ./maint test runs with --dist loadfile, so a module stays on one worker
# (loadgroup does not group under pytest 9.2: pytest-xdist#1386).
FEATURE = "features/cni_update.feature"
SWAP_EVERY = 0.05  # seconds between two builds swapped under the concurrent CNI calls


@pytest.fixture(scope="module")
def clab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("clab") / "lab").up(("gateway", "cni"))
    yield lab
    lab.down()


def cni(lab: Lab) -> CniLab:
    part = lab.cni()
    assert part is not None
    return part


def state(lab: Lab) -> dict[str, tuple[str, int]]:
    files = [cni(lab).bin_dir / "flatnet", cni(lab).conflist]
    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode) for p in files}


def leftovers(lab: Lab) -> dict[str, list[str]]:
    """What the procedure's containers and namespaces left; podman tears a --rm container down
    asynchronously (conmon's cleanup), so give it a bounded moment first."""
    deadline = time.monotonic() + 15
    while (found := _leftovers(lab)) != {"netns": [], "veth": [], "containers": []} and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _leftovers(lab: Lab) -> dict[str, list[str]]:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
    # only this lab's bridge: another lab (monitoring, on the other worker) has veths of its own
    veths = subprocess.run(["ip", "-o", "link", "show", "master", cni(lab).state.bridge, "type", "veth"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    containers = cni(lab).podman.run("podman", "ps", "-aq").stdout.split()
    return {"netns": [n for n in netns if n.startswith("fncheck-")], "veth": veths, "containers": containers}


def installed_build(lab: Lab) -> str:
    return (cni(lab).bin_dir / "flatnet").read_bytes().rsplit(b"flatnet-lab-build ", 1)[-1].decode().strip()


def test_cni_update_on_the_lab(clab: Lab, tmp_path: Path) -> None:
    run = run_features(clab, tmp_path, FEATURE, "--lab-fault", "none")
    assert run.rc == 0, run.output
    assert installed_build(clab) == NEW_VERSION
    assert json.loads(cni(clab).conflist.read_text())["plugins"][0]["mtu"] == 1400
    evidence = "\n".join(p.read_text() for p in run.results.glob("*-attachment.*"))
    assert '"supportedVersions"' in evidence and '"sha256"' in evidence
    assert "3 packets transmitted, 3 packets received" in evidence
    assert '"ADD result"' in evidence and cni(clab).state.gateway.rsplit(".", 1)[0] + "." in evidence
    assert leftovers(clab) == {"netns": [], "veth": [], "containers": []}


@pytest.mark.parametrize("fault", ["not-a-plugin", "add-fails"])
def test_a_faulty_build_is_rolled_back(clab: Lab, tmp_path: Path, fault: str) -> None:
    before = state(clab)
    run = run_features(clab, tmp_path, FEATURE, "--lab-fault", fault)
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert state(clab) == before
    ping = cni(clab).podman.run("podman", "run", "--rm", "--network", "flatnet", "localhost/flatnet-lab/busybox-ping",
                                "ping", "-c", "1", "-W", "2", cni(clab).state.gateway, check=False)
    assert ping.returncode == 0, ping.stderr
    assert leftovers(clab) == {"netns": [], "veth": [], "containers": []}
    if fault == "add-fails":  # a failed verification goes through the plan's decision table, and says so
        decisions = [json.loads(p.read_text()) for p in run.results.glob("*-attachment.json")
                     if '"failure_class"' in p.read_text()]
        assert [(d["failure_class"], d["action"]) for d in decisions] == [("service_down", "rollback")], run.output


def test_a_container_that_stops_during_the_update_fails_it_and_rolls_back(clab: Lab, tmp_path: Path) -> None:
    """The manual's 'running containers keep the old setup until they restart' is checked, not only reported:
    a container that ran on the network before the update must still run after it."""
    before = state(clab)
    podman = cni(clab).podman
    podman.run("podman", "run", "-d", "--name", "resident", "--network", "flatnet", TEST_IMAGE, "sleep", "600")
    try:
        run = paused_run(clab, tmp_path, "before:再起動まで古い設定で動作するコンテナを報告する",
                         lambda: podman.run("podman", "rm", "-f", "-t", "0", "resident"), FEATURE)
    finally:
        podman.run("podman", "rm", "-f", "-t", "0", "--ignore", "resident", check=False)
    assert run.rc == 1, run.output
    assert "containers that ran on flatnet before the update are gone: resident" in run.output
    assert "rolled back (cni-rollback)" in run.output
    assert state(clab) == before
    assert leftovers(clab) == {"netns": [], "veth": [], "containers": []}


def test_an_emergency_rollback_on_a_later_day_restores_the_recorded_backup(clab: Lab, tmp_path: Path) -> None:
    (cni(clab).bin_dir / "flatnet").write_bytes(
        (cni(clab).builds / f"flatnet-{CURRENT_VERSION}").read_bytes())
    run = run_features(clab, tmp_path, FEATURE, "--lab-fault", "none")  # backs up CURRENT, installs NEW
    assert run.rc == 0 and installed_build(clab) == NEW_VERSION
    backups_dir = clab.flatnet / "backups"
    newest = sorted(backups_dir.glob("cni-*"))[-1]
    for other in backups_dir.glob("cni-*"):
        if other != newest:
            other.rename(other.with_name("old-" + other.name))  # only the backup this test made counts
    newest.rename(backups_dir / "cni-20200101_000000_000000")  # taken years ago, as far as names go

    rollback = run_features(clab, tmp_path, FEATURE, "--run-rollback", "cni-rollback")

    assert rollback.rc == 0, rollback.output
    assert installed_build(clab) == CURRENT_VERSION


def test_the_install_is_atomic_under_concurrent_cni_calls(clab: Lab) -> None:
    """ADD/DEL run in a loop while builds are swapped under them: not one of 300+ calls may fail.

    A call runs about 90 % of the time, so a swap that is not atomic (a copy over the running binary,
    or a call exec'ing a half-written one) fails a call within a few swaps; one swap per 50 ms gives
    about 70 over the 300 calls. Swapping flat out (about 450) found nothing more and took a core of
    its own: in the suite, beside three other workers on two cores, the calls then ran 2.5x slower."""
    maint = Maintenance.load(clab.inventory_path, clab.plan_path)
    plugin = maint.cni()
    config = json.dumps(plugin.plugin_config())
    env = {**os.environ, "CNI_PATH": plugin.cni_path, "CNI_NETNS": "/var/run/netns/fncheck-atomic",
           "CNI_IFNAME": "eth0", "CNI_CONTAINERID": "atomic-test"}
    subprocess.run(["ip", "netns", "add", "fncheck-atomic"], check=True)
    failures: list[str] = []
    calls = installs = 0
    stop = threading.Event()

    def loop() -> None:
        nonlocal calls
        while not stop.is_set():
            for command in ("ADD", "DEL"):
                calls += 1
                try:
                    out = subprocess.run([plugin.binary], input=config, env={**env, "CNI_COMMAND": command},
                                         capture_output=True, text=True, check=False)
                except OSError as exc:  # the binary missing or being written: exec itself failed
                    failures.append(f"{command}: {exc}")
                    continue
                if out.returncode != 0:
                    failures.append(f"{command}: {out.returncode} {out.stdout} {out.stderr}")

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        builds = [str(cni(clab).builds / f"flatnet-{v}") for v in (CURRENT_VERSION, NEW_VERSION)]
        deadline = time.monotonic() + 60
        while (calls < 300 or installs < 20) and time.monotonic() < deadline:
            plugin.install_binary(builds[installs % 2])
            installs += 1
            time.sleep(SWAP_EVERY)
    finally:
        stop.set()
        worker.join()
        try:
            subprocess.run([plugin.binary], input=config, env={**env, "CNI_COMMAND": "DEL"}, capture_output=True,
                           text=True, check=False)
        finally:
            subprocess.run(["ip", "netns", "del", "fncheck-atomic"], check=False)
    assert calls >= 300 and installs >= 20
    assert failures == []


def test_a_lab_that_cannot_start_leaves_nothing_running(clab: Lab, tmp_path: Path) -> None:
    """A second CNI lab finds its bridge name taken (a crashed lab's leftover): it must stop what it had started."""
    other = Lab(tmp_path / "other")
    bridge = CniLab.new_state(other.root).bridge
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        with pytest.raises(LabError, match=f"`ip link add {bridge} type bridge` exited 2: RTNETLINK answers"):
            other.up(("gateway", "cni"))
        assert owned_pids(other.root) == []
    finally:
        subprocess.run(["ip", "link", "del", bridge], check=True)


def test_a_lab_deep_in_the_file_system_has_its_containers_cleaned_up(tmp_path: Path) -> None:
    """conmon's exit command (`podman container cleanup`) must work wherever the lab lives: it refuses a
    run root over 50 characters, and a `podman run` then waits 20 s for an exit code nobody stores."""
    deep = Lab(tmp_path / ("a-folder-deep-enough-to-pass-podman-s-run-root-limit" * 2) / "lab")
    try:
        deep.up(("gateway", "cni"))
        podman = cni(deep).podman
        podman.run("podman", "run", "-d", "--rm", "--network", "none", TEST_IMAGE, "true")
        deadline = time.monotonic() + 15
        while (left := podman.run("podman", "ps", "-aq").stdout.split()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == [], "the exited container was not cleaned up by conmon's `podman container cleanup`"
    finally:
        deep.down()
