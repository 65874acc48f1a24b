"""Hostile but legal values on the Windows side: the gateway and Nebula features, over ``wsl``, against a
simulated Windows that applies Windows' own rules to every value (``tests/windows_rules.py``).

The root and the service name hold a space, ``'``, a backtick, ``[ ]`` and non-ASCII at once. A script
that passes one of them the wrong way (a ``-Path`` or ``-Name`` read as a wildcard, a ``-c`` path that
Start-Process or PowerShell 5.1 splits in two, a quote not doubled) finds nothing, or starts nothing,
and the feature fails: each runs an update, and a rollback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from procedures.lab.http_standin import stop_serving
from procedures.lab.wsl import PowerShellStandIn
from procedures.lab.wsman import WsmanStandIn
from tests import windows_rules as win
from tests.conftest import Run, run_with_inventory
from tests.windows_nebula_world import NebulaWorld
from tests.windows_world import WindowsWorld

ROOT = "F:\\flat net's `[ネット]"
SERVICE = "Nebula `[overlay]' ネブラ"
GATEWAY_CONFIG = f"{ROOT}\\openresty\\conf\\nginx.conf"


def test_the_rules_the_simulated_windows_applies() -> None:
    """The stand-in's rules themselves, on the values below (so a test failing there fails for Windows' reason)."""
    assert win.literals("'it''s' 'x'") == ["it's", "x"]
    assert win.matching(ROOT + "\\backups\\*", [ROOT + "\\backups\\a"]) == []  # [ ] and ` read as a pattern
    assert win.matching(win.escape(ROOT) + "\\backups\\*", [ROOT + "\\backups\\a"]) == [ROOT + "\\backups\\a"]
    assert win.matching(SERVICE, [SERVICE]) == []
    joined = " ".join(["-c", GATEWAY_CONFIG])  # what Start-Process makes of ["-c", path]: the path in three
    assert win.argv(joined) == ["-c", "F:\\flat", "net's", "`[ネット]\\openresty\\conf\\nginx.conf"]
    assert win.argv(win.native_command_line(["-c", GATEWAY_CONFIG])) == ["-c", GATEWAY_CONFIG]
    assert win.argv(win.native_command_line(["-c", 'a "b" c'])) == ["-c", "a b c"]  # 5.1 loses the quotes


@pytest.fixture
def pc(tmp_path: Path) -> Iterator[tuple[dict[str, str], list]]:
    """The stand-in ``powershell.exe`` (its environment: first on PATH), answering from the test's world."""
    worlds: list = []

    def answer(script: str) -> object:
        return worlds[0].respond(script)

    standin = PowerShellStandIn(WsmanStandIn("Administrator", "-", responder=answer).answer)
    yield standin.start(tmp_path / "bin"), worlds
    standin.stop()


def gateway_run(tmp_path: Path, env: dict[str, str], world: WindowsWorld, *args: str) -> Run:
    tmp_path.mkdir(exist_ok=True)
    health, port = world.serve_health()
    try:
        inventory = {"name": "flatnet-pc", "hosts": {"win": {"transport": "wsl", "command_timeout": 4}},
                     "components": {"gateway": {
                         "host": "win", "flavor": "windows", "root": ROOT, "nginx_args": ["-c", GATEWAY_CONFIG],
                         "site_config": ["conf", "lualib/flatnet"], "front": {"url": f"http://127.0.0.1:{port}/"},
                         "health": {"url": f"http://127.0.0.1:{port}/api/health", "version_field": "version"},
                         "timeouts": {"healthy": 2, "start": 3, "stop": 3}}}}
        plan = {"id": "hostile-gw", "changes": {"gateway": {"release": f"{ROOT}\\releases\\openresty-1.27.1.2",
                                                             "version": "1.27.1.2"}},
                "policy": {"partly_broken": {"fix_window_minutes": 0.02, "retry_every_seconds": 0.5}}}
        return run_with_inventory(tmp_path, "features/gateway_update.feature", inventory, plan, *args,
                                  env=env)
    finally:
        stop_serving(health)


def test_hostile_gateway_update_then_an_emergency_rollback_in_a_later_run(tmp_path: Path, pc) -> None:
    env, worlds = pc
    world = WindowsWorld(root=ROOT)
    worlds.append(world)
    update = gateway_run(tmp_path / "update", env, world)
    assert update.rc == 0, update.output
    assert world.running == "1.27.1.2" and world.started_with[-1] == ["-c", GATEWAY_CONFIG]

    later = gateway_run(tmp_path / "later", env, world, "--run-rollback", "gateway-rollback")
    assert later.rc == 0, later.output  # the backup it needs is found under the hostile root (-Path, escaped)
    assert world.running == "1.25.3.1" and world.folders[f"{ROOT}\\openresty"] == "1.25.3.1"


def test_hostile_gateway_update_that_fails_is_rolled_back(tmp_path: Path, pc) -> None:
    env, worlds = pc
    world = WindowsWorld(root=ROOT)
    world.healthy_versions.discard("1.27.1.2")
    worlds.append(world)
    run = gateway_run(tmp_path, env, world)
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert world.running == "1.25.3.1" and world.folders[f"{ROOT}\\openresty"] == "1.25.3.1"
    assert world.started_with[-1] == ["-c", GATEWAY_CONFIG]  # the previous release, started as it was


def nebula_run(tmp_path: Path, env: dict[str, str], release: str) -> Run:
    inventory = {"name": "flatnet-pc", "hosts": {"win": {"transport": "wsl", "command_timeout": 10}}, "components": {
        "nebula": {"host": "win", "overlay_wait": 2, "service": {"manager": "windows", "name": SERVICE, "timeout": 2},
                   "bin_dir": f"{ROOT}\\nebula", "config": f"{ROOT}\\config\\nebula\\config.yaml",
                   "cert": f"{ROOT}\\config\\nebula\\host.crt", "ca_dir": f"{ROOT}\\pki",
                   "backups_dir": f"{ROOT}\\backups", "log": f"{ROOT}\\logs\\nebula.log",
                   "tcp_check_url": "http://10.100.0.1:8080/"}}}
    plan = {"id": "hostile-nebula", "changes": {"nebula": {"release": f"{ROOT}\\releases\\{release}",
                                                           "version": "1.6.1"}}}
    return run_with_inventory(tmp_path, "features/nebula_update.feature", inventory, plan, "-k", "update",
                              env=env)


@pytest.mark.parametrize(("release", "rc", "binary"), [("nebula-1.6.2", 0, "nebula 1.6.2"),
                                                       ("nebula-1.6.2-broken", 1, "nebula 1.6.1")])
def test_hostile_nebula_update_and_rollback(tmp_path: Path, pc, release: str, rc: int, binary: str) -> None:
    env, worlds = pc
    world = NebulaWorld(root=ROOT, service_name=SERVICE)
    worlds.append(world)
    run = nebula_run(tmp_path, env, release)
    assert run.rc == rc, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert world.drive[f"{ROOT}\\nebula\\nebula.exe"] == binary and world.service == "Running"
