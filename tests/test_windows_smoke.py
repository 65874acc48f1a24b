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
