"""The Windows side over WSL interop (transport ``wsl``): the same scripts as over WinRM, run by a stand-in
``powershell.exe`` on PATH that hands each one to the same simulated Windows the WS-Man stand-in uses."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from procedures.config.inventory import HostSpec
from procedures.errors import CommandTimeout, TransportError
from procedures.host import Host
from procedures.host import powershell as ps
from procedures.lab.http_standin import stop_serving
from procedures.lab.wsl import PowerShellStandIn
from procedures.lab.wsman import Reply, WsmanStandIn
from procedures.run.pids import alive
from procedures.transports.wsl import ARGUMENTS, FRAME, WslTransport
from tests.conftest import Run, run_with_inventory
from tests.windows_nebula_world import BIN, RELEASE, NebulaWorld
from tests.windows_world import ROOT, WindowsWorld

PASSWORD = "Wsl-P@ss!2026"
# What differs between two runs of the same update: the time (backup folders, manifests), the lock's holder.
STAMP = re.compile(r"\d{8}_\d{6}_\d{6}|\d{4}-\d\d-\d\dT[\d:.+-]+")
HOLDER = re.compile(r"GetBytes\('\{\"owner\".*?\}'\)")
ENCODED = re.compile(r"FromBase64String\('([A-Za-z0-9+/=]*)'\)")


def host(transport: str, wsman: WsmanStandIn | None, timeout: float = 4) -> dict:
    if transport == "wsl":
        return {"transport": "wsl", "command_timeout": timeout}
    assert wsman is not None
    return {"transport": "winrm", "address": "127.0.0.1", "port": wsman.port, "user": "Administrator",
            "scheme": "http", "auth": "basic", "password_env": "FLATNET_TEST_WINRM_PASSWORD",
            "operation_timeout": 1, "command_timeout": timeout}


def gateway_update(tmp_path: Path, transport: str, world: WindowsWorld) -> tuple[Run, list[str]]:
    """The gateway feature against a fresh simulated F:\\flatnet, over ``transport``; and the scripts it sent."""
    wsman = WsmanStandIn("Administrator", PASSWORD, responder=world.respond).start()
    standin = PowerShellStandIn(wsman.answer)
    health, port = world.serve_health()
    try:
        env = {"FLATNET_TEST_WINRM_PASSWORD": PASSWORD, **standin.start(tmp_path / "bin")}
        inventory = {"name": "flatnet-pc", "hosts": {"win": host(transport, wsman)}, "components": {"gateway": {
            "host": "win", "flavor": "windows", "site_config": ["conf", "lualib/flatnet"],
            "front": {"url": f"http://127.0.0.1:{port}/"},
            "health": {"url": f"http://127.0.0.1:{port}/api/health", "version_field": "version"},
            "timeouts": {"healthy": 2, "start": 3, "stop": 3}}}}
        plan = {"id": "pc-gw", "changes": {"gateway": {"release": f"{ROOT}\\releases\\openresty-1.27.1.2",
                                                       "version": "1.27.1.2"}},
                "policy": {"partly_broken": {"fix_window_minutes": 0.02, "retry_every_seconds": 0.5}}}
        run = run_with_inventory(tmp_path, "features/gateway_update.feature", inventory, plan, env=env)
    finally:
        wsman.stop()
        standin.stop()
        stop_serving(health)
    if transport == "winrm":
        return run, [call.script for call in wsman.calls]
    assert standin.calls and all(call.argv[:-1] == list(ARGUMENTS) for call in standin.calls)
    assert all(script.startswith(FRAME) for script in standin.scripts())
    return run, [script.removeprefix(FRAME) for script in standin.scripts()]


def without_run_facts(script: str) -> str:
    script = ENCODED.sub(lambda m: "FromBase64String(" + base64.b64decode(m.group(1)).decode() + ")", script)
    return STAMP.sub("<time>", HOLDER.sub("<this run's lock holder>", script))


def same_scripts(a: list[str], b: list[str]) -> bool:
    """The same scripts, each as often, but for the time and the lock's holder; and not trivially so: a
    hand-over is among them. (Their order may differ where two reads run at once: WSL runs them side by
    side, a WinRM session one after the other; the features' own tests check the order that matters.)"""
    assert any("# hand-" in s for s in a)
    return sorted(without_run_facts(s) for s in a) == sorted(without_run_facts(s) for s in b)


def test_the_gateway_update_over_wsl_sends_the_winrm_scripts_and_succeeds(tmp_path: Path) -> None:
    world = WindowsWorld()
    run, over_wsl = gateway_update(tmp_path / "wsl", "wsl", world)
    assert run.rc == 0, run.output
    assert world.running == "1.27.1.2" and world.folders[f"{ROOT}\\openresty"] == "1.27.1.2"
    [hand_over] = [s for s in over_wsl if "# hand-over:" in s]
    assert ps.rename(f"{ROOT}\\openresty", "openresty-old") in hand_over
    _, over_winrm = gateway_update(tmp_path / "winrm", "winrm", WindowsWorld())
    assert same_scripts(over_wsl, over_winrm)


def test_a_failed_update_over_wsl_rolls_back_with_the_same_scripts_as_winrm(tmp_path: Path) -> None:
    broken, also_broken = WindowsWorld(), WindowsWorld()
    for world in (broken, also_broken):
        world.healthy_versions.discard("1.27.1.2")
    run, over_wsl = gateway_update(tmp_path / "wsl", "wsl", broken)
    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert broken.running == "1.25.3.1" and broken.folders[f"{ROOT}\\openresty"] == "1.25.3.1"
    assert any("# hand-back:" in s for s in over_wsl)
    _, over_winrm = gateway_update(tmp_path / "winrm", "winrm", also_broken)
    assert same_scripts(over_wsl, over_winrm)


def test_the_nebula_update_runs_over_wsl(tmp_path: Path) -> None:
    world = NebulaWorld()
    standin = PowerShellStandIn(WsmanStandIn("Administrator", PASSWORD, responder=world.respond).answer)
    try:
        env = standin.start(tmp_path / "bin")
        inventory = {"name": "flatnet-pc", "hosts": {"win": host("wsl", None, timeout=10)}, "components": {"nebula": {
            "host": "win", "overlay_wait": 2, "service": {"manager": "windows", "timeout": 2},
            "tcp_check_url": "http://10.100.0.1:8080/"}}}
        plan = {"id": "pc-nebula", "changes": {"nebula": {"release": RELEASE, "version": "1.6.1"}}}
        run = run_with_inventory(tmp_path, "features/nebula_update.feature", inventory, plan, "-k", "update",
                                 env=env)
    finally:
        standin.stop()
    assert run.rc == 0, run.output
    assert world.drive[f"{BIN}\\nebula.exe"] == "nebula 1.6.2"
    assert any("Stop-Service -InputObject " + ps.service("Nebula") in s for s in standin.scripts())


@pytest.fixture
def pc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Host, list[Reply]]]:
    """A wsl host whose stand-in answers each script with the next reply of the list."""
    replies: list[Reply] = []
    standin = PowerShellStandIn(lambda script: replies.pop(0))
    for name, value in standin.start(tmp_path / "bin").items():
        monkeypatch.setenv(name, value)
    spec = HostSpec(transport="wsl")
    yield Host("pc", spec, WslTransport("pc", spec)), replies
    standin.stop()


def test_output_is_utf8_and_clixml_errors_are_decoded(pc: tuple[Host, list[Reply]]) -> None:
    host, replies = pc
    clixml = ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
              '<S S="Error">Rename-Item : アクセスが拒否されました。_x000D__x000A_</S></Objs>')
    replies += [Reply(stdout="F:\\flatnet\\設定 — ok\n"), Reply(stderr=clixml, rc=1)]
    assert host.run(ps.script("'x'")).stdout == "F:\\flatnet\\設定 — ok\n"
    failed = host.run(ps.script("Rename-Item -LiteralPath 'a' -NewName 'b'"), check=False)
    assert (failed.rc, failed.stderr) == (1, "Rename-Item : アクセスが拒否されました。\r\n")


def test_a_script_past_its_deadline_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    standin = PowerShellStandIn(lambda script: Reply(hang=True))
    for name, value in standin.start(tmp_path / "bin").items():
        monkeypatch.setenv(name, value)
    spec = HostSpec(transport="wsl", command_timeout=1)
    try:
        with pytest.raises(CommandTimeout, match=r"did not finish within 1s; the Windows process tree was ended "
                                                 r"\(taskkill\.exe /T /F /PID \d+\)"):
            Host("pc", spec).run(ps.script("Start-Sleep 3600"))
    finally:
        standin.stop()
    [call] = standin.calls
    assert not alive(call.pid)
    # the PID PowerShell printed first is the tree taskkill ended (Windows' children die with it, not with SIGKILL)
    assert standin.taskkill_calls is not None
    assert standin.taskkill_calls.read_text().splitlines() == [f"/T /F /PID {call.pid}"]


def test_a_missing_powershell_is_named_with_what_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = HostSpec(transport="wsl", powershell="pwsh-not-here.exe")
    with pytest.raises(TransportError, match=r"cannot start pwsh-not-here\.exe through WSL interop: .* on PATH"):
        Host("pc", spec).run(ps.script("'x'"))


MOUNTS = ("C:\\134 /mnt/c 9p rw,noatime,dirsync,aname=drvfs;path=C:\\;uid=1000;gid=1000;symlinkroot=/mnt/,"
          "mmap,access=client,msize=65536,trans=fd,rfd=5,wfd=5 0 0\n"
          "E:\\134 /mnt/e drvfs rw,noatime,uid=1000,gid=1000,case=off 0 0\n"
          "none /run tmpfs rw,nosuid,nodev,mode=755 0 0\n"
          "F:\\134 {mount} 9p rw,noatime,dirsync,aname=drvfs;path=F:\\;uid=1000;gid=1000 0 0\n")


def test_windows_paths_are_read_through_the_drive_mount_wsl_reports(tmp_path: Path) -> None:
    """Hashing and log reads go through /mnt/f (no script at all); a drive WSL does not mount stays PowerShell's."""
    mount = tmp_path / "mnt f"
    (mount / "flatnet/openresty/conf").mkdir(parents=True)
    (mount / "flatnet/openresty/conf/nginx.conf").write_bytes(b"worker_processes 1;\n")
    (mount / "flatnet/logs").mkdir(parents=True)
    (mount / "flatnet/logs/nebula.log").write_bytes("old line\nnew ✓ line\n".encode())
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS.format(mount=str(mount).replace(" ", "\\040")))
    spec = HostSpec(transport="wsl", powershell="no-powershell-needed.exe")
    transport = WslTransport("pc", spec, mounts=mounts)
    assert transport.local_path("F:\\flatnet\\logs\\nebula.log") == mount / "flatnet/logs/nebula.log"
    assert transport.local_path("e:\\x") == Path("/mnt/e/x") and transport.local_path("G:\\x") is None
    host = Host("pc", spec, transport)
    [(size, digest, mode, name)] = host.files.listing("F:\\flatnet\\openresty", ["conf"])
    assert (size, mode, name) == (20, "", "conf/nginx.conf")
    assert digest == hashlib.sha256(b"worker_processes 1;\n").hexdigest()
    assert host.files.read_from("F:\\flatnet\\logs\\nebula.log", len(b"old line\n")) == "new ✓ line\n"
