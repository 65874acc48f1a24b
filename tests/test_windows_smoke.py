"""Real-Windows smoke test: skipped unless a real Windows is at hand (see README).

- over WinRM when FLATNET_WINDOWS_HOST names a Windows host (and _USER, _PASSWORD);
- over WSL interop when FLATNET_WSL_SMOKE=1 on a WSL2 with interop.

It checks what the stand-ins cannot: how Windows PowerShell itself runs our
scripts (UTF-8 output, exit codes, native stderr, service queries) and what it
does with hostile but legal values, in a throwaway folder under %TEMP%.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from procedures.config.inventory import HostSpec
from procedures.host import Host
from procedures.host import powershell as ps

HOST = os.environ.get("FLATNET_WINDOWS_HOST")
ON_WSL = "microsoft" in (Path("/proc/version").read_text().lower() if Path("/proc/version").exists() else "")
WSL = os.environ.get("FLATNET_WSL_SMOKE") == "1" and ON_WSL
HOSTILE = "flatnet smoke [1] it's $x `y ‘q’ 設定"


def _spec(transport: str) -> HostSpec:
    if transport == "wsl":
        return HostSpec(transport="wsl", powershell=os.environ.get("FLATNET_WSL_POWERSHELL", "powershell.exe"))
    return HostSpec(transport="winrm", address=HOST or "", user=os.environ.get("FLATNET_WINDOWS_USER", "Administrator"),
                    password_env="FLATNET_WINDOWS_PASSWORD", scheme=os.environ.get("FLATNET_WINDOWS_SCHEME", "https"),
                    auth=os.environ.get("FLATNET_WINDOWS_AUTH", "ntlm"),
                    ca_trust_path=os.environ.get("FLATNET_WINDOWS_CA") or None)


@pytest.fixture(params=[
    pytest.param("winrm", marks=pytest.mark.skipif(not HOST, reason="set FLATNET_WINDOWS_HOST (and _USER, _PASSWORD)")),
    pytest.param("wsl", marks=pytest.mark.skipif(not WSL, reason="on WSL2 with interop, set FLATNET_WSL_SMOKE=1")),
])
def windows(request: pytest.FixtureRequest) -> Host:
    return Host("windows", _spec(request.param))


@pytest.fixture
def throwaway(windows: Host) -> Iterator[str]:
    """A folder with a hostile name under %TEMP%, removed afterwards."""
    temp = windows.run(ps.script("[IO.Path]::GetTempPath()")).stdout.strip()
    root = windows.files.join(temp, HOSTILE)
    windows.files.remove(root)
    windows.files.make_dir(root)
    yield root
    windows.files.remove(root)


def test_powershell_runs_with_utf8_and_exit_codes(windows: Host) -> None:
    assert windows.run(ps.script("Write-Output 'Flatnet ✓'")).stdout.strip() == "Flatnet ✓"
    assert windows.run(ps.script("throw 'boom'"), check=False).rc == 1
    assert windows.run(ps.script(ps.native("cmd.exe", "/c", "exit 3")), check=False).rc == 1


def test_services_answer(windows: Host) -> None:
    assert windows.run(ps.script(f"{ps.service('WinRM')}.Status.ToString()")).stdout.strip() in {"Running", "Stopped"}
    assert windows.run(ps.script(f"{ps.service('WinR[M]')}.Status.ToString()"), check=False).rc == 1  # literal


def test_hostile_names_stay_literal(windows: Host, throwaway: str) -> None:
    files = windows.files
    nested = files.join(throwaway, "conf [a]", "深い")
    files.make_dir(nested)
    files.write_text(files.join(nested, "nginx.conf"), "worker_processes 1; # ✓\n")
    assert files.exists(files.join(nested, "nginx.conf"))
    assert [row[3] for row in files.listing(throwaway, ["conf [a]"])] == ["conf [a]/深い/nginx.conf"]
    files.move(files.join(throwaway, "conf [a]"), files.join(throwaway, "conf-old $x"))
    assert files.read_text(files.join(throwaway, "conf-old $x", "深い", "nginx.conf")) == "worker_processes 1; # ✓\n"
    assert files.matching(throwaway, "conf-*") == [files.join(throwaway, "conf-old $x")]


def test_start_process_keeps_each_argument_whole(windows: Host, throwaway: str) -> None:
    """A hostile path given to Start-Process arrives as one argument (the gateway's ``-c <config>``)."""
    script, out = windows.files.join(throwaway, "echo-args.ps1"), windows.files.join(throwaway, "args.txt")
    windows.files.write_text(script, "$args | Set-Content -LiteralPath (Join-Path $PSScriptRoot 'args.txt')\n")
    config = windows.files.join(throwaway, "nginx.conf")
    windows.run(ps.script(ps.start_process("powershell.exe", ["-NoProfile", "-ExecutionPolicy", "Bypass", "-File",
                                                              script, "-c", config], throwaway)))
    assert windows.wait_for(lambda: windows.files.exists(out), 20, "the started process to write its arguments")
    assert windows.files.read_text(out).splitlines() == ["-c", config]


# -- the procedures themselves, end to end, on the real Windows host ---------------------------------
# What the operator points to (README: "Preparing a Windows host for the smoke test"):
CURRENT, NEW = os.environ.get("FLATNET_WINDOWS_OPENRESTY_CURRENT"), os.environ.get("FLATNET_WINDOWS_OPENRESTY_NEW")
GATEWAY_PORT = int(os.environ.get("FLATNET_WINDOWS_GATEWAY_PORT", "18080"))
NEBULA_ROOT = os.environ.get("FLATNET_WINDOWS_NEBULA_ROOT")
NEBULA_SERVICE = os.environ.get("FLATNET_WINDOWS_NEBULA_SERVICE")
NEBULA_RELEASE = os.environ.get("FLATNET_WINDOWS_NEBULA_RELEASE")
HEALTH_CONF = """worker_processes 1;
events {{ worker_connections 64; }}
http {{
  server {{
    listen {port};
    location = / {{ return 200 'Flatnet smoke gateway'; }}
    location = /api/health {{ default_type application/json; return 200 '{{"status":"ok","version":"{version}"}}'; }}
  }}
}}
"""


def _host_entry(windows: Host) -> dict:
    spec = windows.spec
    if spec.transport == "wsl":
        return {"transport": "wsl", "powershell": spec.powershell}
    return {"transport": "winrm", "address": spec.address, "user": spec.user, "password_env": spec.password_env,
            "scheme": spec.scheme, "auth": spec.auth, "ca_trust_path": spec.ca_trust_path}


def _run(tmp_path: Path, feature: str, inventory: dict, plan: dict, *args: str) -> int:
    from tests.conftest import run_with_inventory

    run = run_with_inventory(tmp_path, feature, inventory, plan, *args)
    print(run.output)
    return run.rc


@pytest.mark.skipif(not (CURRENT and NEW), reason="set FLATNET_WINDOWS_OPENRESTY_CURRENT and _NEW (two releases)")
def test_the_gateway_feature_and_its_rollback_run_on_windows(windows: Host, throwaway: str, tmp_path: Path) -> None:
    """The real procedure against a throwaway root holding the two releases: the update, then the emergency
    rollback in a later run; the same scripts the stand-in tests assert (tests/test_windows_gateway.py)."""
    files = windows.files
    versions = {}
    for name, source in (("openresty", CURRENT), ("releases\\openresty-new", NEW)):
        target = files.join(throwaway, name)
        files.make_dir(files.join(throwaway, "releases"))
        files.replace_tree(str(source), target)
        version = windows.run(ps.script(f"Set-Location -LiteralPath {ps.quote(target)}",
                                        ps.native_stderr_ok(files.join(target, "nginx.exe"), "-v"))).stdout
        versions[name] = version.strip().rsplit("/", 1)[-1]
        files.write_text(files.join(target, "conf", "nginx.conf"), HEALTH_CONF.format(port=GATEWAY_PORT,
                                                                                       version=versions[name]))
    address = windows.spec.address or "127.0.0.1"
    inventory = {"name": "windows-smoke", "hosts": {"win": _host_entry(windows)}, "components": {"gateway": {
        # each release keeps its own nginx.conf (it names its version); the site's shared file is mime.types
        "host": "win", "flavor": "windows", "root": throwaway, "site_config": ["conf/mime.types"],
        "front": {"url": f"http://{address}:{GATEWAY_PORT}/"},
        "health": {"url": f"http://{address}:{GATEWAY_PORT}/api/health", "version_field": "version"}}}}
    plan = {"id": "windows-smoke", "changes": {"gateway": {"release": files.join(throwaway, "releases\\openresty-new"),
                                                            "version": versions["releases\\openresty-new"]}}}
    live = files.join(throwaway, "openresty")
    windows.run(ps.script(ps.start_process(files.join(live, "nginx.exe"), [], live)))
    try:
        assert _run(tmp_path / "update", "features/gateway_update.feature", inventory, plan) == 0
        assert _run(tmp_path / "rollback", "features/gateway_update.feature", inventory, plan,
                    "--run-rollback", "gateway-rollback") == 0
    finally:
        windows.run(ps.script(f"Set-Location -LiteralPath {ps.quote(live)}",
                              ps.native_stderr_ok(files.join(live, "nginx.exe"), "-s", "stop")), check=False)


@pytest.mark.skipif(not (NEBULA_ROOT and NEBULA_SERVICE and NEBULA_RELEASE),
                    reason="set FLATNET_WINDOWS_NEBULA_ROOT, _SERVICE and _RELEASE (a throwaway Nebula service)")
def test_the_nebula_feature_and_its_rollback_run_on_windows(windows: Host, tmp_path: Path) -> None:
    """The real procedure against a throwaway Nebula service the operator set up under its own root."""
    root = str(NEBULA_ROOT)
    inventory = {"name": "windows-smoke", "hosts": {"win": _host_entry(windows)}, "components": {"nebula": {
        "host": "win", "service": {"manager": "windows", "name": NEBULA_SERVICE},
        "bin_dir": f"{root}\\nebula", "config": f"{root}\\config\\nebula\\config.yaml",
        "cert": f"{root}\\config\\nebula\\host.crt", "ca_dir": f"{root}\\pki", "backups_dir": f"{root}\\backups",
        "log": f"{root}\\logs\\nebula.log",
        "lighthouse_ip": os.environ.get("FLATNET_WINDOWS_NEBULA_LIGHTHOUSE", "10.100.0.1")}}}
    plan = {"id": "windows-smoke-nebula", "changes": {"nebula": {"release": NEBULA_RELEASE}}}
    assert _run(tmp_path / "update", "features/nebula_update.feature", inventory, plan, "-k", "update") == 0
    assert _run(tmp_path / "rollback", "features/nebula_update.feature", inventory, plan,
                "--run-rollback", "nebula-rollback") == 0
