"""The Nebula feature, unchanged, against a Windows host (WS-Man stand-in + a simulated F:\\ drive)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

from procedures.host import powershell as ps
from procedures.lab.wsman import Reply, WsmanStandIn
from tests.conftest import Run, run_with_inventory
from tests.windows_nebula_world import BIN, BROKEN, RELEASE, SILENT, NebulaWorld

PASSWORD = "Neb-P@ss!2026"
STOP = ps.script(f"Stop-Service -InputObject {ps.service('Nebula')}", ps.wait_service("Nebula", "Stopped", 2))
START = ps.script(f"Start-Service -InputObject {ps.service('Nebula')}", ps.wait_service("Nebula", "Running", 2))


@pytest.fixture
def world() -> Iterator[tuple[NebulaWorld, WsmanStandIn]]:
    world = NebulaWorld()
    wsman = WsmanStandIn("Administrator", PASSWORD, responder=world.respond).start()
    yield world, wsman
    wsman.stop()


def run_nebula_update(tmp_path: Path, wsman: WsmanStandIn, release: str) -> Run:
    inventory = {
        "name": "flatnet-windows",
        "hosts": {"win": {"transport": "winrm", "address": "127.0.0.1", "port": wsman.port, "user": "Administrator",
                          "scheme": "http", "auth": "basic", "password_env": "FLATNET_TEST_WINRM_PASSWORD",
                          "operation_timeout": 1, "command_timeout": 10}},
        "components": {"nebula": {  # every path from the manual's layout, by default
            "host": "win", "overlay_wait": 2, "service": {"manager": "windows", "timeout": 2},
            "tcp_check_url": "http://10.100.0.1:8080/"}},
    }
    plan = {"id": "win-nebula", "changes": {"nebula": {"release": release, "version": "1.6.1"}}}
    return run_with_inventory(tmp_path, "features/nebula_update.feature", inventory, plan, "-k", "update",
                              env={"FLATNET_TEST_WINRM_PASSWORD": PASSWORD})


def replaced(name: str, release: str) -> str:
    tmp = f"{BIN}\\{name}.new"
    return ps.script(f"Copy-Item -LiteralPath {ps.quote(release + chr(92) + name)} -Destination {ps.quote(tmp)} -Force",
                     f"Move-Item -LiteralPath {ps.quote(tmp)} -Destination {ps.quote(BIN + chr(92) + name)} -Force")


def test_the_nebula_update_runs_unchanged_on_windows(tmp_path: Path, world) -> None:
    state, wsman = world
    run = run_nebula_update(tmp_path, wsman, RELEASE)
    assert run.rc == 0, run.output
    sent = [c.script for c in wsman.calls]
    order = [sent.index(s) for s in (STOP, replaced("nebula.exe", RELEASE), replaced("nebula-cert.exe", RELEASE))]
    order.append(len(sent) - 1 - sent[::-1].index(START))
    assert order == sorted(order)
    assert state.drive[f"{BIN}\\nebula.exe"] == "nebula 1.6.2"
    recorded = "".join(p.read_text(errors="replace") for p in run.results.iterdir())
    assert "nebula-cert.exe" in recorded and PASSWORD not in recorded
    grammar = ts.Parser(ts.Language(tsp.language()))
    assert [s for s in set(sent) if grammar.parse(s.encode()).root_node.has_error] == []
    assert not wsman.open_shells


def test_a_broken_windows_release_is_rolled_back(tmp_path: Path, world) -> None:
    state, wsman = world
    before = dict(state.drive)
    run = run_nebula_update(tmp_path, wsman, BROKEN)
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    sent = [c.script for c in wsman.calls]
    # -test with the new binary fails before anything stops: no Stop-Service was ever sent
    assert STOP not in sent
    assert {k: v for k, v in state.drive.items() if "backups" not in k} == before
    assert state.service == "Running"


def test_a_silent_windows_release_is_rolled_back_with_the_scripts_in_order(tmp_path: Path, world) -> None:
    state, wsman = world
    before = dict(state.drive)
    run = run_nebula_update(tmp_path, wsman, SILENT)
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output and "no ping answer" in run.output
    sent = [c.script for c in wsman.calls]
    stops = [i for i, s in enumerate(sent) if s == STOP]
    starts = [i for i, s in enumerate(sent) if s == START]
    assert len(stops) == 2 and len(starts) == 2  # the update's, then the rollback's
    restore = next(i for i, s in enumerate(sent) if "Move-Item" in s and i > stops[1])
    assert starts[0] < stops[1] < restore < starts[1]
    assert {k: v for k, v in state.drive.items() if "backups" not in k} == before
    assert state.node_works


@pytest.mark.parametrize("fault, pattern, reply", [
    ("service start fails", r"Start-Service", Reply(stderr="Start-Service : Cannot start service Nebula", rc=1)),
    ("service stop hangs", r"Stop-Service", Reply(hang=True)),
])
def test_a_windows_service_failure_rolls_back(tmp_path: Path, world, fault: str, pattern: str, reply: Reply) -> None:
    state, wsman = world
    before = dict(state.drive)
    state.fail[pattern] = reply
    run = run_nebula_update(tmp_path, wsman, RELEASE)
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    sent = [c.script for c in wsman.calls]
    stops = [i for i, s in enumerate(sent) if s == STOP]
    assert len(stops) == 2 and sent[stops[1]:].count(START) == 1  # the rollback stops, restores, starts once
    assert {k: v for k, v in state.drive.items() if "backups" not in k} == before
    assert state.node_works and not wsman.open_shells
    if fault == "service stop hangs":
        assert "did not finish within 12s" in run.output
