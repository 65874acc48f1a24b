"""Windows over WinRM, tested against the WS-Man stand-in with unmodified pywinrm (no Windows here).

What these prove: the exact scripts we send, how failures, timeouts, CLIXML and
cleanup are handled, and that credentials never leak. What Windows itself would
do with the scripts needs the real-Windows smoke test (README).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

from procedures.config.inventory import HostSpec
from procedures.drivers.gateway_windows import windows_words
from procedures.errors import CommandFailed, CommandTimeout, ConfigError, ScriptTooLong, TransportError
from procedures.host import Host
from procedures.host import powershell as ps
from procedures.lab.wsman import Reply, WsmanStandIn

PASSWORD = "Wïn-P@ss w0rd'$(x)"
PARSER = ts.Parser(ts.Language(tsp.language()))


@pytest.fixture(params=["basic", "ntlm"])
def wsman(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[WsmanStandIn]:
    monkeypatch.delenv("NTLM_USER_FILE", raising=False)
    server = WsmanStandIn("Administrator", PASSWORD, auth=request.param).start()
    yield server
    server.stop()


@pytest.fixture
def windows(wsman: WsmanStandIn, monkeypatch: pytest.MonkeyPatch) -> Host:
    """Basic auth, or NTLM with every message sealed (pywinrm does that on http)."""
    monkeypatch.setenv("FLATNET_TEST_WINRM_PASSWORD", PASSWORD)
    user = "FLATNET\\Administrator" if wsman.auth == "ntlm" else "Administrator"
    spec = HostSpec(transport="winrm", address="127.0.0.1", port=wsman.port, user=user, scheme="http",
                    auth=wsman.auth, password_env="FLATNET_TEST_WINRM_PASSWORD", operation_timeout=1)
    return Host("win", spec)


def parses(script: str) -> bool:
    return not PARSER.parse(script.encode()).root_node.has_error


@pytest.mark.parametrize("value", [
    r"F:\flatnet\openresty", r"C:\Program Files\it's here", "$env:PATH `n $(Remove-Item x)",
    "typographic ‘single’ and ‚low‛ quotes", "semi;colon & ampersand | pipe",
])
def test_values_become_inert_single_quoted_literals(value: str) -> None:
    quoted = ps.quote(value)
    assert quoted.startswith("'") and quoted.endswith("'")
    inner = quoted[1:-1]
    for ch in "'\u2018\u2019\u201a\u201b":
        assert inner.count(ch) == 2 * value.count(ch)
    assert parses(ps.script(f"$x = {quoted}"))


def test_nul_and_double_quotes_in_native_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="NUL"):
        ps.quote("a\x00b")
    with pytest.raises(ConfigError, match="double quote"):
        ps.native(r"F:\flatnet\openresty\nginx.exe", '-g "daemon off;"')
    with pytest.raises(ConfigError, match="double quote"):
        ps.native_stderr_ok(r"F:\flatnet\openresty\nginx.exe", "-t", '-g "daemon off;"')


def test_hostile_but_legal_values_stay_literal() -> None:
    """What the stand-in cannot see, Windows would: each value reaches its cmdlet as one literal."""
    line = ps.start_process(r"F:\flat net\nginx.exe", ["-c", r"F:\my flatnet\it's [1]\nginx.conf", "-g", "$x `y"],
                            r"F:\flat net")
    assert line.endswith("-ArgumentList '-c \"F:\\my flatnet\\it''s [1]\\nginx.conf\" -g \"$x `y\"'"
                         " -WindowStyle Hidden")
    assert "-ArgumentList" not in ps.start_process(r"F:\flatnet\nginx.exe", [], r"F:\flatnet")  # never empty
    assert ps.service("Neb[1]*") == "(Get-Service | Where-Object { $_.Name -eq 'Neb[1]*' })"  # no wildcard -Name
    assert ps.make_dir(r"F:\backups\gw [1]") == r"[void][IO.Directory]::CreateDirectory('F:\backups\gw [1]')"
    assert windows_words(r'"C:\Program Files\LuaJIT\luajit.exe" -bl') == [r"C:\Program Files\LuaJIT\luajit.exe",
                                                                            "-bl"]


def test_generated_scripts_parse() -> None:
    scripts = [
        ps.script(ps.native(r"F:\flatnet\openresty\nginx.exe", "-t", "-c", r"F:\flatnet\config\nginx.conf")),
        ps.script(ps.native_stderr_ok(r"F:\flatnet\openresty\nginx.exe", "-v")),
        ps.script("Stop-Service -InputObject " + ps.service("Nebula"), ps.wait_service("Nebula", "Stopped", 30)),
        ps.script(ps.start_process(r"F:\flatnet\openresty\nginx.exe", ["-c", r"F:\my flatnet\nginx.conf"],
                                   r"F:\flatnet\openresty")),
        ps.script(ps.make_dir("F:\\flatnet\\backups\\gateway [1]")),
    ]
    assert all(parses(s) for s in scripts)


def test_a_script_runs_with_utf8_and_its_exact_text_arrives(windows: Host, wsman: WsmanStandIn) -> None:
    wsman.rules.append((r"Get-Service", Reply(stdout="Running ✓\n")))
    script = ps.script(f"(Get-Service -Name {ps.quote('Nebula')}).Status.ToString()")
    result = windows.run(script)
    assert result.stdout == "Running ✓\n"
    [call] = wsman.calls
    assert call.script == script and call.codepage == "65001"
    assert call.command_line.startswith("powershell.exe -NoProfile -NonInteractive")
    assert call.signalled and call.deleted and not wsman.open_shells


def test_a_non_zero_exit_code_fails_and_clixml_noise_is_decoded(windows: Host, wsman: WsmanStandIn) -> None:
    clixml = ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
              '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN>'
              '</Obj><S S="Error">nginx: [emerg] unknown directive_x000D__x000A_</S></Objs>')
    wsman.rules.append((r"nginx", Reply(stderr=clixml, rc=1)))
    with pytest.raises(CommandFailed) as error:
        windows.run(ps.script(ps.native(r"F:\flatnet\openresty\nginx.exe", "-t")), purpose="test the config")
    assert error.value.result.stderr == "nginx: [emerg] unknown directive\r\n"
    assert "CLIXML" not in str(error.value)
    ok = windows.run("exit 0", check=False)  # stand-in: no rule, rc 99
    assert ok.rc == 99


def test_a_hung_command_is_abandoned_at_its_deadline_and_the_shell_deleted(windows: Host, wsman: WsmanStandIn) -> None:
    wsman.rules.append((r"Start-Sleep", Reply(hang=True)))
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="did not finish within 2s"):
        windows.run(ps.script("Start-Sleep -Seconds 3600"), timeout=2)
    assert time.monotonic() - started < 6
    [call] = wsman.calls
    assert call.signalled and call.deleted and not wsman.open_shells


def test_a_script_too_long_for_the_command_line_is_refused_before_sending(windows: Host, wsman: WsmanStandIn) -> None:
    with pytest.raises(ScriptTooLong, match="8191"):
        windows.run(ps.script("# " + "x" * 4000))
    assert wsman.calls == []


def test_credentials_leak_nowhere(windows: Host, wsman: WsmanStandIn, caplog: pytest.LogCaptureFixture,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    wsman.rules.append((r"whoami", Reply(stdout="flatnet\\administrator\n")))
    windows.run(ps.script("whoami"))
    wrong = "Wr0ng-P@ss-2026!"
    monkeypatch.setenv("FLATNET_TEST_WINRM_PASSWORD", wrong)
    refused = Host("win", windows.spec)
    with pytest.raises(TransportError) as error:
        refused.run(ps.script("whoami"))
    places = [caplog.text, str(error.value), repr(error.value), repr(windows), repr(windows.transport),
              repr(refused.transport), repr(windows.spec), *(c.script for c in wsman.calls)]
    for secret in (PASSWORD, wrong):
        basic = base64.b64encode(f"{windows.spec.user}:{secret}".encode()).decode()
        for place in places:
            assert secret not in place and basic not in place and basic[:20] not in place
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_no_credential_in_a_pytest_l_traceback(pytester: pytest.Pytester, wsman: WsmanStandIn,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "Wr0ng-P@ss-in-traceback"
    monkeypatch.setenv("FLATNET_TEST_WINRM_PASSWORD", wrong)
    user = "FLATNET\\\\Administrator" if wsman.auth == "ntlm" else "Administrator"
    pytester.makepyfile(f"""
        from procedures.config.inventory import HostSpec
        from procedures.host import Host

        def test_call_windows():
            spec = HostSpec(transport="winrm", address="127.0.0.1", port={wsman.port}, user="{user}",
                            scheme="http", auth="{wsman.auth}", password_env="FLATNET_TEST_WINRM_PASSWORD")
            host = Host("win", spec)
            host.run("whoami")
    """)
    result = pytester.runpytest_subprocess("-l", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str()
    basic = base64.b64encode(f"Administrator:{wrong}".encode()).decode()
    assert "InvalidCredentialsError" in output
    assert wrong not in output and basic not in output
