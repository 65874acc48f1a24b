"""The OpenResty gateway on Windows, driven with PowerShell (the manual's own flavor).

nginx has no binary upgrade on Windows: the manual's stop/rename/start stays,
as one script each way.
"""

from __future__ import annotations

import functools
import shlex
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.drivers.gateway import Gateway
from procedures.drivers.gateway_handover import Handover
from procedures.drivers.gateway_processes import Listener
from procedures.errors import DriverError
from procedures.host import powershell as ps

if TYPE_CHECKING:
    from procedures.config.inventory import GatewayComponent
    from procedures.host import Host


class WindowsGateway(Gateway):
    """The manual's own flavor: OpenResty on Windows, driven with PowerShell over WinRM.

    nginx has no binary upgrade on Windows: the manual's stop/rename/start stays.
    """

    def nginx(self, folder: str, *args: str, check: bool, purpose: str, change: bool = False) -> Any:
        exe = self.host.files.join(folder, self.c.binary)
        return self.host.run(ps.script(f"Set-Location -LiteralPath {ps.quote(folder)}",
                                       ps.native_stderr_ok(exe, *self.c.nginx_args, *args)),
                             check=check, purpose=purpose, change=change)

    def pid(self) -> int | None:
        pid_file = self.path(self.c.pid_file.replace("/", "\\"))
        out = self.host.run(ps.script(
            f"$p = Get-Content -LiteralPath {ps.quote(pid_file)} -ErrorAction SilentlyContinue",
            "if ($p -and (Get-Process -Id $p -ErrorAction SilentlyContinue)) { $p }"),
            check=False, purpose="check whether the gateway runs")
        text = out.stdout.strip()
        return int(text) if out.rc == 0 and text.isdigit() else None

    def previous_pid(self) -> int | None:
        """No binary upgrade on Windows: there is never an idle previous master."""
        return None

    def stop_by_pid(self, masters: list[int]) -> None:
        ids = ", ".join(map(str, masters))
        self.host.run(ps.script(f"Stop-Process -Id {ids} -Force -ErrorAction SilentlyContinue"),
                      purpose="stop the gateway's masters by PID (Stop-Process -Force)", change=True)

    def listeners(self) -> dict[int, Listener] | None:
        """Not read on Windows yet (``Get-NetTCPConnection`` would tell): unknown, so never guessed."""
        return None

    def serving_problem(self, master: int | None = None) -> str | None:
        return None

    @functools.cached_property
    def handover(self) -> Handover:
        return WindowsScript(self)

    def start_process(self) -> str:
        return ps.start_process(self.host.files.join(self.live, self.c.binary), self.c.nginx_args, self.live)

    def start(self) -> None:
        """Detached, as the manual's ``.\\nginx.exe``; then wait for the master."""
        if self.host.after_changes(self.is_running, False):  # after a withheld stop it would start
            record.text("start", "the gateway is already running")
            return
        self.host.run(ps.script(self.start_process()), purpose="start the gateway", change=True)
        self.wait(self.is_running, self.c.timeouts.start, "the gateway to start")

    def config_test(self, folder: str) -> None:
        self.nginx(folder, "-t", check=True, purpose="test the staged configuration (nginx -t)", change=True)
        if self.c.lua_check:
            exe, *args = windows_words(self.c.lua_check)
            lualib = self.host.files.join(folder, "lualib")
            call = " ".join(["&", ps.quote(exe), *(ps.quote(a) for a in args), "$_.FullName"])
            self.host.run(ps.script(
                "$bad = 0",
                f"Get-ChildItem -LiteralPath {ps.quote(lualib)} -Recurse -Filter '*.lua' -File | ForEach-Object {{",
                f"  {call} | Out-Null",
                "  if ($LASTEXITCODE -ne 0) { $bad = 1 }",
                "}",
                "if ($bad) { throw 'a Lua module does not compile' }"),
                purpose="compile every Lua module (nginx -t does not)", change=True)


def gateway_for(host: Host, component: GatewayComponent) -> Gateway:
    return WindowsGateway(host, component) if host.os == "windows" else Gateway(host, component)


class WindowsScript(Handover):
    """The manual's stop, rename, rename, start, as one script each way: one round trip, no wait in between."""

    gateway: WindowsGateway

    def take_over(self) -> int | None:
        g = self.gateway
        if g.exists(g.old):
            raise DriverError(f"{g.old} exists: a previous update was not finished")
        self._swap_script("hand-over", [ps.rename(g.live, g.c.old_dir), ps.rename(g.staging, g.c.install_dir)],
                          stop=True)
        return None

    def take_back(self, expected_version: str) -> None:
        """Stop, rename back, start, as one script too: the rollback's window is as short as the update's."""
        g = self.gateway
        if not g.swapped_in():
            g.start()  # nothing was swapped: the old release only needs to run
            return
        with g.probed("hand-back to the previous release"):
            self._swap_script("hand-back", [
                f"if (Test-Path -LiteralPath {ps.quote(g.failed)}) "
                f"{{ Remove-Item -LiteralPath {ps.quote(g.failed)} -Recurse -Force }}",
                *([ps.rename(g.live, g.c.failed_dir)] if g.exists(g.live) else []),
                ps.rename(g.old, g.c.install_dir)], stop=g.is_running())

    def _swap_script(self, what: str, renames: list[str], *, stop: bool) -> None:
        """Stop (when running), rename, start, in one script; its stopwatch, stop to start, is the window
        no gateway answers (the prober measures it from outside too)."""
        g = self.gateway
        exe = g.host.files.join(g.live, g.c.binary)
        pid_file = g.path(g.c.pid_file.replace("/", "\\"))
        stopping = [f"$p = Get-Content -LiteralPath {ps.quote(pid_file)} -ErrorAction SilentlyContinue",
                    f"Set-Location -LiteralPath {ps.quote(g.live)}",
                    ps.native_stderr_ok(exe, *g.c.nginx_args, "-s", "stop"),
                    f"if ($p) {{ Wait-Process -Id $p -Timeout {int(g.c.timeouts.stop)} "
                    "-ErrorAction SilentlyContinue }"] if stop else []
        out = g.host.run(ps.script(
            f"# {what}: stop, rename, start", "$sw = [Diagnostics.Stopwatch]::StartNew()", *stopping,
            f"Set-Location -LiteralPath {ps.quote(g.c.root)}", *renames, g.start_process(),
            "'stop_to_start_ms=' + $sw.ElapsedMilliseconds"),
            purpose=f"{what} in one script: stop, rename, start", change=True)
        g.started_after(out.stdout)


def windows_words(command: str) -> list[str]:
    """``"C:\\Program Files\\LuaJIT\\luajit.exe" -bl`` → the program and its arguments: double quotes group,
    backslashes stay (a POSIX split would eat them, a plain split would cut the path at its space)."""
    return [word[1:-1] if len(word) > 1 and word[0] == word[-1] == '"' else word
            for word in shlex.split(command, posix=False)]
