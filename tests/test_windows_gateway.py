"""The gateway feature, unchanged, against a Windows host: WinRM stand-in + a simulated F:\\flatnet.

Asserts the exact PowerShell each Windows step sends, and the rollback's scripts in order.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

from procedures.host import powershell as ps
from procedures.lab.http_standin import stop_serving
from procedures.lab.wsman import Reply, WsmanStandIn
from tests.conftest import Run, run_with_inventory
from tests.windows_world import ROOT, WindowsWorld

PASSWORD = "Gw-P@ss!2026"


@pytest.fixture
def world() -> Iterator[tuple[WindowsWorld, WsmanStandIn, int]]:
    world = WindowsWorld()
    wsman = WsmanStandIn("Administrator", PASSWORD, responder=world.respond).start()
    health, port = world.serve_health()
    yield world, wsman, port
    wsman.stop()
    stop_serving(health)


def run_gateway_update(tmp_path: Path, wsman: WsmanStandIn, health_port: int, *args: str) -> Run:
    inventory = {
        "name": "flatnet-windows",
        "hosts": {"win": {"transport": "winrm", "address": "127.0.0.1", "port": wsman.port, "user": "Administrator",
                          "scheme": "http", "auth": "basic", "password_env": "FLATNET_TEST_WINRM_PASSWORD",
                          "operation_timeout": 1, "command_timeout": 4}},
        "components": {"gateway": {
            "host": "win", "flavor": "windows", "site_config": ["conf", "lualib/flatnet"],  # F:\\flatnet by default
            "front": {"url": f"http://127.0.0.1:{health_port}/"},
            "health": {"url": f"http://127.0.0.1:{health_port}/api/health", "version_field": "version"},
            "timeouts": {"healthy": 2, "start": 3, "stop": 3}}},
    }
    plan = {"id": "win-gw", "changes": {"gateway": {"release": f"{ROOT}\\releases\\openresty-1.27.1.2",
                                                     "version": "1.27.1.2"}},
            "policy": {"partly_broken": {"fix_window_minutes": 0.02, "retry_every_seconds": 0.5}}}
    return run_with_inventory(tmp_path, "features/gateway_update.feature", inventory, plan, *args,
                              env={"FLATNET_TEST_WINRM_PASSWORD": PASSWORD})


def scripts(wsman: WsmanStandIn) -> list[str]:
    return [c.script for c in wsman.calls]


LIVE = f"{ROOT}\\openresty"
NGINX = f"{LIVE}\\nginx.exe"
START = ps.script(ps.start_process(NGINX, [], LIVE))


def test_the_gateway_update_runs_unchanged_on_windows(tmp_path: Path, world) -> None:
    state, wsman, port = world
    run = run_gateway_update(tmp_path, wsman, port)
    assert run.rc == 0, run.output
    sent = scripts(wsman)
    test = ps.script(f"Set-Location -LiteralPath {ps.quote(ROOT + chr(92) + 'openresty-new')}",
                     ps.native_stderr_ok(f"{ROOT}\\openresty-new\\nginx.exe", "-t"))
    [hand_over] = [s for s in sent if "# hand-over:" in s]  # stop, rename, rename, start: one round trip
    assert sent.index(test) < sent.index(hand_over)
    inside = [ps.native_stderr_ok(NGINX, "-s", "stop"), "Wait-Process",
              ps.rename(f"{ROOT}\\openresty", "openresty-old"), ps.rename(f"{ROOT}\\openresty-new", "openresty"),
              START.split("\n")[3]]
    order = [hand_over.index(part) for part in inside]
    assert order == sorted(order)
    assert state.running == "1.27.1.2"
    recorded = "".join(p.read_text(errors="replace") for p in run.results.iterdir())
    basic = base64.b64encode(f"Administrator:{PASSWORD}".encode()).decode()
    assert "Rename-Item" in recorded and PASSWORD not in recorded and basic not in recorded
    assert '"ms": 42' in recorded  # the script's own stopwatch, stop to start, is in the record
    assert all(c.signalled and c.deleted for c in wsman.calls) and not wsman.open_shells
    assert all(c.command_line.startswith("powershell.exe -NoProfile -NonInteractive") for c in wsman.calls)
    grammar = ts.Parser(ts.Language(tsp.language()))
    unparsable = [s for s in set(sent) if grammar.parse(s.encode()).root_node.has_error]
    assert unparsable == []


FAULTS = {  # an injected fault strikes the update's call once; the rollback's calls succeed
    "unhealthy": None,
    "stop fails": (r"'-s' 'stop'", Reply(stderr="nginx.exe exited 1", rc=1)),
    "rename fails": (r"Rename-Item", Reply(stderr="Rename-Item : The process cannot access the file", rc=1)),
    "start fails": (r"Start-Process", Reply(stderr="Start-Process : access denied", rc=1)),
    "start hangs": (r"Start-Process", Reply(hang=True)),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_windows_update_rolls_back_with_the_scripts_in_order(tmp_path: Path, world, fault: str) -> None:
    state, wsman, port = world
    if fault == "unhealthy":
        state.healthy_versions.discard("1.27.1.2")
    else:
        pattern, reply = FAULTS[fault]
        state.fail[pattern] = reply

    run = run_gateway_update(tmp_path, wsman, port)

    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert state.running == "1.25.3.1" and state.folders[LIVE] == "1.25.3.1"
    assert not wsman.open_shells
    sent = scripts(wsman)
    if fault in ("unhealthy", "start fails", "start hangs"):  # swapped in: one script swaps back and starts
        [hand_back] = [s for s in sent if "# hand-back:" in s]
        inside = [ps.rename(LIVE, "openresty-failed"), ps.rename(f"{ROOT}\\openresty-old", "openresty"),
                  START.split("\n")[3]]
        order = [hand_back.index(part) for part in inside]
        assert order == sorted(order)
        assert ("'-s' 'stop'" in hand_back) == (fault == "unhealthy")  # only a running gateway is stopped
    else:  # never swapped in: nothing is renamed back
        assert not any("# hand-back:" in s for s in sent)
    if fault == "rename fails":  # the old gateway had been stopped: the rollback starts it again
        hand_over = next(i for i, s in enumerate(sent) if "# hand-over:" in s)
        assert START in sent[hand_over:]
    if fault == "start hangs":
        assert "did not finish within 4s" in run.output


def test_an_emergency_rollback_in_a_later_run_finds_the_newest_backup_on_windows(tmp_path: Path, world) -> None:
    """The later run has only the target: it lists F:\\flatnet\\backups\\gateway-*\\manifest.json, literally."""
    state, wsman, port = world
    (tmp_path / "update").mkdir()
    (tmp_path / "rollback").mkdir()
    assert run_gateway_update(tmp_path / "update", wsman, port).rc == 0
    assert state.running == "1.27.1.2"
    run = run_gateway_update(tmp_path / "rollback", wsman, port, "--run-rollback", "gateway-rollback")
    assert run.rc == 0, run.output
    assert state.running == "1.25.3.1" and state.folders[LIVE] == "1.25.3.1"
    wanted = "Get-ChildItem -Path ([WildcardPattern]::Escape('F:\\flatnet\\backups') + '\\gateway-*\\manifest.json')"
    assert any(wanted in s for s in scripts(wsman))
