"""The gateway feature, unchanged, against a Windows host: WinRM stand-in + a simulated F:\\flatnet.

Asserts the exact PowerShell each Windows step sends, and the rollback's scripts in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

from procedures import powershell as ps
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
    health.shutdown()


def run_gateway_update(tmp_path: Path, wsman: WsmanStandIn, health_port: int) -> Run:
    inventory = {
        "name": "flatnet-windows",
        "hosts": {"win": {"transport": "winrm", "address": "127.0.0.1", "port": wsman.port, "user": "Administrator",
                          "scheme": "http", "auth": "basic", "password_env": "FLATNET_TEST_WINRM_PASSWORD",
                          "operation_timeout": 1, "command_timeout": 4}},
        "components": {"gateway": {
            "host": "win", "flavor": "windows", "root": ROOT, "binary": "nginx.exe", "pid_file": "logs/nginx.pid",
            "lua_check": None, "site_config": ["conf", "lualib/flatnet"],
            "front": {"url": f"http://127.0.0.1:{health_port}/"},
            "health": {"url": f"http://127.0.0.1:{health_port}/api/health", "version_field": "version"},
            "timeouts": {"healthy": 2, "start": 3, "stop": 3}}},
    }
    plan = {"id": "win-gw", "changes": {"gateway": {"release": f"{ROOT}\\releases\\openresty-1.27.1.2",
                                                     "version": "1.27.1.2"}}}
    return run_with_inventory(tmp_path, "features/gateway_update.feature", inventory, plan,
                              env={"FLATNET_TEST_WINRM_PASSWORD": PASSWORD})


def scripts(wsman: WsmanStandIn) -> list[str]:
    return [c.script for c in wsman.calls]


def rename(src: str, new_name: str) -> str:
    return ps.script(f"Rename-Item -LiteralPath {ps.quote(src)} -NewName {ps.quote(new_name)}")


LIVE = f"{ROOT}\\openresty"
NGINX = f"{LIVE}\\nginx.exe"
STOP = ps.script(f"Set-Location -LiteralPath {ps.quote(LIVE)}", ps.native_stderr_ok(NGINX, "-s", "stop"))
START = ps.script(f"Start-Process -FilePath {ps.quote(NGINX)} -WorkingDirectory {ps.quote(LIVE)}"
                  " -ArgumentList @() -WindowStyle Hidden")


def test_the_gateway_update_runs_unchanged_on_windows(tmp_path: Path, world) -> None:
    state, wsman, port = world
    run = run_gateway_update(tmp_path, wsman, port)
    assert run.rc == 0, run.output
    sent = scripts(wsman)
    test = ps.script(f"Set-Location -LiteralPath {ps.quote(ROOT + chr(92) + 'openresty-new')}",
                     ps.native_stderr_ok(f"{ROOT}\\openresty-new\\nginx.exe", "-t"))
    swap = [rename(f"{ROOT}\\openresty", "openresty-old"), rename(f"{ROOT}\\openresty-new", "openresty")]
    order = [sent.index(s) for s in (test, STOP, *swap, START)]
    assert order == sorted(order)
    assert state.running == "1.27.1.2"
    assert all(c.signalled and c.deleted for c in wsman.calls) and not wsman.open_shells
    assert all(c.command_line.startswith("powershell.exe -NoProfile -NonInteractive") for c in wsman.calls)
    grammar = ts.Parser(ts.Language(tsp.language()))
    unparsable = [s for s in set(sent) if grammar.parse(s.encode()).root_node.has_error]
    assert unparsable == []


@pytest.mark.parametrize("fault", ["unhealthy", "start fails", "start hangs"])
def test_a_failed_windows_update_rolls_back_with_the_scripts_in_order(tmp_path: Path, world, fault: str) -> None:
    state, wsman, port = world
    if fault == "unhealthy":
        state.healthy_versions.discard("1.27.1.2")
    else:  # only the update's start misbehaves; the rollback's start works
        state.fail[r"Start-Process"] = Reply(stderr="Start-Process : access denied", rc=1) \
            if fault == "start fails" else Reply(hang=True)
        respond = state.respond

        def once(script: str) -> Reply | None:
            reply = respond(script)
            if "Start-Process" in script:
                state.fail.clear()
            return reply

        wsman.responder = once

    run = run_gateway_update(tmp_path, wsman, port)

    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    sent = scripts(wsman)
    first_start = next(i for i, s in enumerate(sent) if "Start-Process" in s)
    to_failed = sent.index(rename(f"{ROOT}\\openresty", "openresty-failed"))
    old_back = sent.index(rename(f"{ROOT}\\openresty-old", "openresty"))
    restart = len(sent) - 1 - sent[::-1].index(START)
    assert first_start < to_failed < old_back < restart
    assert (STOP in sent[first_start:to_failed]) == (fault == "unhealthy")  # only a running new gateway is stopped
    assert state.running == "1.25.3.1"
    assert not wsman.open_shells
    if fault == "start hangs":
        assert "did not finish within 4s" in run.output
