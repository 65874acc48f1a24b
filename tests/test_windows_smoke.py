"""Real-Windows smoke test: skipped unless FLATNET_WINDOWS_HOST names a Windows host (see README).

It checks what the WS-Man stand-in cannot: how Windows PowerShell itself runs our
scripts (UTF-8 output, exit codes, native stderr, service queries).
"""

from __future__ import annotations

import os

import pytest

from procedures.config.inventory import HostSpec
from procedures.host import Host
from procedures.host import powershell as ps

HOST = os.environ.get("FLATNET_WINDOWS_HOST")
pytestmark = pytest.mark.skipif(not HOST, reason="set FLATNET_WINDOWS_HOST (and _USER, _PASSWORD) to run")


@pytest.fixture
def windows() -> Host:
    spec = HostSpec(transport="winrm", address=HOST or "", user=os.environ.get("FLATNET_WINDOWS_USER", "Administrator"),
                    password_env="FLATNET_WINDOWS_PASSWORD", scheme=os.environ.get("FLATNET_WINDOWS_SCHEME", "https"),
                    auth=os.environ.get("FLATNET_WINDOWS_AUTH", "ntlm"),
                    ca_trust_path=os.environ.get("FLATNET_WINDOWS_CA") or None)
    return Host("windows", spec)


def test_powershell_runs_with_utf8_and_exit_codes(windows: Host) -> None:
    assert windows.run(ps.script("Write-Output 'Flatnet ✓'")).stdout.strip() == "Flatnet ✓"
    assert windows.run(ps.script("throw 'boom'"), check=False).rc == 1
    assert windows.run(ps.script(ps.native("cmd.exe", "/c", "exit 3")), check=False).rc == 1


def test_services_answer(windows: Host) -> None:
    state = windows.run(ps.script("(Get-Service -Name 'WinRM').Status.ToString()")).stdout.strip()
    assert state == "Running"
