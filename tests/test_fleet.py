"""Rolling gateway updates on a fleet of real lab gateways: batches, the failure threshold, what rolls back,
the record per host under its batch, and the fleet read from an Ansible inventory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from procedures.config.inventory import GatewayFleet
from procedures.config.plan import Rolling
from procedures.lab import Lab, fleet, gateway
from tests.conftest import Run, lab_files_changed, run_features, running_lab

FEATURE = "features/gateway_fleet_update.feature"
OLD, NEW = gateway.CURRENT_VERSION, gateway.NEW_VERSION


@pytest.fixture
def six(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.setenv(fleet.COUNT_ENV, "6")
    with running_lab(tmp_path, ("gateway-fleet",)) as lab:
        yield lab


def versions(lab: Lab) -> dict[str, str]:
    members = lab.fleet()
    assert members is not None
    return {m.name: httpx.get(f"http://127.0.0.1:{m.api_port}/api/health", timeout=5).json()["version"]
            for m in members.members}


def hashes(lab: Lab) -> dict[str, str]:
    """sha256 of every live configuration file of every member."""
    folder = lab.root / "fleet"
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for member in sorted(folder.iterdir()) for sub in ("conf", "lualib")
            for p in sorted((member / "openresty" / sub).rglob("*")) if p.is_file()}


def roll(lab: Lab, tmp_path: Path, **rolling: object) -> Run:
    return run_features(lab, tmp_path, FEATURE, *lab_files_changed(
        lab, tmp_path, lambda _, plan: plan.update(rolling=rolling)))


def outcome_by_batch(run: Run) -> dict[str, dict[str, str]]:
    """The last 'fleet outcome by batch' in the record: batch → host → status."""
    last = run.attached("バッチごとの結果")[-1]
    return {batch: {h["host"]: h["status"] for h in hosts} for batch, hosts in last.items()}


@pytest.mark.parametrize(("serial", "hosts", "sizes"), [
    (10, 25, [10, 10, 5]), ("30%", 10, [3, 3, 3, 1]), ("1%", 10, [1] * 10), ("100%", 4, [4]), (1, 1, [1])])
def test_batches_follow_serial(serial: int | str, hosts: int, sizes: list[int]) -> None:
    names = [f"gw-{i}" for i in range(hosts)]
    batches = Rolling(serial=serial).batches(names)
    assert [len(b) for b in batches] == sizes and [n for b in batches for n in b] == names


@pytest.mark.parametrize("serial", [0, "0%", "150%", "ten", -5])
def test_a_bad_serial_is_refused(serial: object) -> None:
    with pytest.raises(ValueError, match="serial"):
        Rolling(serial=serial)


def test_a_fleet_needs_members_or_an_ansible_inventory_and_valid_members() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        GatewayFleet()
    with pytest.raises(ValueError, match="member 'gw-01': front"):
        GatewayFleet(defaults={"host": "lab", "root": "/srv/gw"}, members={"gw-01": {"front": {"url": "nope"}}})


def test_the_fleet_rolls_in_batches_and_records_every_host(six: Lab, tmp_path: Path) -> None:
    run = roll(six, tmp_path, serial=4)
    assert run.rc == 0, run.output
    assert set(versions(six).values()) == {NEW}
    assert outcome_by_batch(run) == {"batch 1": dict.fromkeys(["gw-01", "gw-02", "gw-03", "gw-04"], "updated"),
                                     "batch 2": dict.fromkeys(["gw-05", "gw-06"], "updated")}


def test_the_threshold_stops_the_roll_and_rolls_back_the_updated_hosts(six: Lab, tmp_path: Path) -> None:
    six.fleet().pin_site(["gw-03"])  # type: ignore[union-attr]
    before = hashes(six)
    run = roll(six, tmp_path, serial=2, max_fail_percentage=0, rollback_updated=True)
    assert run.rc == 1, run.output
    assert "batch 2: 1 of 2 failed (50% > max_fail_percentage 0): gw-03" in run.output
    assert outcome_by_batch(run) == {
        "batch 1": {"gw-01": "rolled back with the fleet", "gw-02": "rolled back with the fleet"},
        "batch 2": {"gw-03": "failed, rolled back", "gw-04": "rolled back with the fleet"},
        "batch 3": {"gw-05": "not started", "gw-06": "not started"}}
    assert set(versions(six).values()) == {OLD}
    assert hashes(six) == before


def test_updated_hosts_stay_when_the_plan_says_so(six: Lab, tmp_path: Path) -> None:
    six.fleet().pin_site(["gw-03"])  # type: ignore[union-attr]
    run = roll(six, tmp_path, serial=2, max_fail_percentage=0, rollback_updated=False)
    assert run.rc == 1, run.output
    assert versions(six) == {"gw-01": NEW, "gw-02": NEW, "gw-03": OLD, "gw-04": NEW, "gw-05": OLD, "gw-06": OLD}


def test_failures_under_the_threshold_let_the_roll_finish(six: Lab, tmp_path: Path) -> None:
    six.fleet().pin_site(["gw-03", "gw-06"])  # type: ignore[union-attr]
    run = roll(six, tmp_path, serial=2, max_fail_percentage=50, rollback_updated=True)
    assert run.rc == 1, run.output  # the procedure failed on two hosts; the roll went on (50% is not > 50%)
    assert "not every gateway was updated: gw-03 (failed, rolled back), gw-06 (failed, rolled back)" in run.output
    assert versions(six) == {"gw-01": NEW, "gw-02": NEW, "gw-03": OLD, "gw-04": NEW, "gw-05": NEW, "gw-06": OLD}


def test_the_fleet_comes_from_an_ansible_inventory(six: Lab, tmp_path: Path) -> None:
    members = six.fleet()
    assert members is not None
    hosts = members.write_ansible_inventory(tmp_path / "hosts.ini")

    def from_ansible(inventory: dict, plan: dict) -> None:
        defaults = inventory["components"]["gateway_fleet"]["defaults"]
        del defaults["host"]
        inventory["components"]["gateway_fleet"] = {
            "defaults": defaults, "ansible": {"inventory": str(hosts), "group": "gateways",
                                              "lock_dir": str(six.flatnet)}}
        plan["rolling"] = {"serial": "50%"}

    run = run_features(six, tmp_path, FEATURE, *lab_files_changed(six, tmp_path, from_ansible))
    assert run.rc == 0, run.output
    assert set(versions(six).values()) == {NEW}
    assert list(outcome_by_batch(run)) == ["batch 1", "batch 2"]


def test_a_missing_ansible_inventory_is_refused_before_any_action(six: Lab, tmp_path: Path) -> None:
    def broken(inventory: dict, _: dict) -> None:
        fleet_config = inventory["components"]["gateway_fleet"]
        fleet_config.pop("members")
        fleet_config["ansible"] = {"inventory": str(tmp_path / "nope.ini")}

    before = hashes(six)
    run = run_features(six, tmp_path, FEATURE, *lab_files_changed(six, tmp_path, broken))
    assert run.rc != 0 and "nope.ini does not exist" in run.output, run.output
    assert hashes(six) == before and set(versions(six).values()) == {OLD}
