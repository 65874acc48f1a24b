"""A small simulated Windows host behind the WS-Man stand-in, for the gateway procedure's tests.

It answers the PowerShell our Windows gateway flavor sends (Test-Path, Rename-Item,
Copy-Item, nginx.exe, Start-Process, file hashes and the manifest) from a model of
F:\\flatnet, and serves the running release's /api/health over loopback HTTP.
It is a test double for Windows itself, which cannot run here. Every value is read through
``windows_rules`` (literals, wildcard parameters, 5.1 native arguments, Start-Process), so a script that
would trip on a hostile root (a space, ``'``, a backtick, ``[ ]``, non-ASCII) fails here too.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from procedures.lab.http_standin import StandInHandler, serve_in_background
from procedures.lab.wsman import Reply
from tests import windows_rules as win
from tests.windows_rules import LITERAL as LIT

ROOT = "F:\\flatnet"
LISTING = "120\t" + "a" * 64 + "\t\tconf/nginx.conf\n48\t" + "b" * 64 + "\t\tlualib/flatnet/health.lua\n"


@dataclass
class WindowsWorld:
    root: str = ROOT
    folders: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    running: str | None = "1.25.3.1"  # version the running gateway serves
    healthy_versions: set[str] = field(default_factory=lambda: {"1.25.3.1", "1.27.1.2"})
    fail: dict[str, Reply] = field(default_factory=dict)  # regex → forced reply (fault injection)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started_with: list[list[str]] = field(default_factory=list)  # each start's arguments, as nginx saw them

    def __post_init__(self) -> None:
        self.folders = self.folders or {f"{self.root}\\openresty": "1.25.3.1",
                                        f"{self.root}\\releases\\openresty-1.27.1.2": "1.27.1.2"}

    def respond(self, script: str) -> Reply | None:
        with self.lock:
            if re.search(r"^# hand-(over|back):", script, re.M):
                return self._hand_over(script)
            return strike(self.fail, script) or self._respond(script)

    def _hand_over(self, script: str) -> Reply:
        """The one-script hand-over, line by line: a failing line stops the rest, as 'Stop' does on Windows."""
        for line in script.splitlines():
            reply = strike(self.fail, line) or self._respond(line) or Reply()
            if reply.rc != 0 or reply.hang:
                return reply
        return Reply(stdout="stop_to_start_ms=42\n")

    def _respond(self, s: str) -> Reply | None:
        if re.search(rf"Get-Content -LiteralPath {LIT}", s) and "nginx.pid" in s:
            return Reply(stdout="4242\n" if self.running else "")
        m = re.search(rf"^& {LIT}(.*)$", s, re.M)
        if m and win.text(m.group(1)).endswith("\\nginx.exe"):  # called natively: 5.1 passes the arguments
            return self._nginx(s, win.native_argv(m.group(0)))
        if m := re.search(rf"Start-Process -FilePath {LIT}", s):
            argv = win.start_process_argv(s)
            if problem := self._config_problem(argv):
                return Reply(stderr=problem, rc=1)
            self.started_with.append(argv)
            self.running = self.folders[win.text(m.group(1)).rsplit("\\", 1)[0]]
            return Reply()
        if m := re.search(rf"Rename-Item -LiteralPath {LIT} -NewName {LIT}", s):
            source, name = win.text(m.group(1)), win.text(m.group(2))
            self.folders[source.rsplit("\\", 1)[0] + "\\" + name] = self.folders.pop(source)
            return Reply()
        if m := re.search(rf"Copy-Item -LiteralPath {LIT} -Destination {LIT} -Recurse -Force$", s, re.M):
            if win.text(m.group(1)) in self.folders:
                self.folders[win.text(m.group(2))] = self.folders[win.text(m.group(1))]
            return Reply()
        if m := re.search(rf"Test-Path -LiteralPath {LIT}\)", s):  # Remove-Item guard
            self.folders.pop(win.text(m.group(1)), None)
            self.files.pop(win.text(m.group(1)), None)
            return Reply()
        if m := re.search(rf"^Test-Path -LiteralPath {LIT}$", s, re.M):
            path = win.text(m.group(1))
            return Reply(stdout="True\n" if path in self.folders or path in self.files else "False\n")
        if "Get-FileHash" in s:
            return Reply(stdout=LISTING)
        if reply := manifest_io(self.files, s):
            return reply
        if "CreateDirectory(" in s or "Get-ChildItem -LiteralPath" in s:
            return Reply()
        return None

    def _nginx(self, s: str, argv: list[str]) -> Reply:
        if argv[-1:] == ["-v"]:  # the version of the release it runs in (Set-Location)
            folder = re.search(rf"Set-Location -LiteralPath {LIT}", s)
            if folder is None or win.text(folder.group(1)) not in self.folders:
                return Reply(stderr="nginx.exe: not in a release folder", rc=1)
            return Reply(stdout=f"nginx version: openresty/{self.folders[win.text(folder.group(1))]}\n")
        if problem := self._config_problem(argv):
            return Reply(stderr=problem, rc=1)
        if argv[-1:] == ["-t"]:
            return Reply(stdout="nginx: configuration file test is successful\n")
        if argv[-2:] == ["-s", "stop"]:
            self.running = None
            return Reply()
        return Reply(stderr=f"nginx: [emerg] unexpected arguments {argv}", rc=1)

    def _config_problem(self, argv: list[str]) -> str | None:
        """nginx's own check of its arguments: ``-c`` names one file, in a release folder that exists."""
        if "-c" not in argv:
            return None
        rest = argv[argv.index("-c") + 1:]
        config = rest[0] if rest else ""
        folder = config.rsplit("\\conf\\", 1)[0]
        if folder not in self.folders or not config.endswith("\\conf\\nginx.conf"):
            return f'nginx: [emerg] open() "{config}" failed (2: The system cannot find the file specified)'
        if len(rest) > 1 and rest[1] not in {"-t", "-v", "-s"}:
            return f'nginx: invalid option: "{rest[1]}"'
        return None

    def serve_health(self) -> tuple[ThreadingHTTPServer, int]:
        world = self

        class Health(StandInHandler):
            def do_GET(self) -> None:
                version = world.running
                if version is None:
                    self.send_response(502)
                    self.end_headers()
                    return
                ok = version in world.healthy_versions
                body = json.dumps({"status": "ok" if ok else "degraded", "version": version}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = serve_in_background(ThreadingHTTPServer(("127.0.0.1", 0), Health))
        return server, server.server_address[1]


def strike(fail: dict[str, Reply], script: str) -> Reply | None:
    """An injected fault strikes once: the rollback's own call of the same kind succeeds."""
    for pattern, reply in list(fail.items()):
        if re.search(pattern, script):
            del fail[pattern]
            return reply
    return None


def manifest_io(files: dict[str, str], s: str) -> Reply | None:
    """Writing, reading and finding backup manifests and the maintenance lock, the same for every component."""
    if m := re.search(rf"\[IO.File\]::Open\({LIT}, 'CreateNew'.*GetBytes\({LIT}\)", s, re.S):
        path = win.text(m.group(1))
        if path in files:
            return Reply(stdout="held\n")
        files[path] = win.text(m.group(2))
        return Reply(stdout="taken\n")
    if (m := re.search(rf"Remove-Item -LiteralPath {LIT}", s)) and win.text(m.group(1)).endswith(".lock"):
        files.pop(win.text(m.group(1)), None)
        return Reply()
    if m := re.search(rf"WriteAllBytes\({LIT}, \[Convert\]::FromBase64String\({LIT}\)", s):
        files[win.text(m.group(1))] = base64.b64decode(win.text(m.group(2))).decode()
        return Reply()
    if m := re.search(rf"ReadAllText\({LIT}\)", s):
        return Reply(stdout=files.get(win.text(m.group(1)), ""))
    if m := re.search(rf"Get-ChildItem -Path (\(\[WildcardPattern\]::Escape\({LIT}\) \+ {LIT}\)|{LIT})", s):
        # -Path is a wildcard parameter: Escape() makes the folder literal, the rest stays a pattern
        pattern = (win.escape(win.text(m.group(2))) + win.text(m.group(3)) if m.group(2) is not None
                   else win.text(m.group(4)))
        found = sorted(win.matching(pattern, list(files)))
        return Reply(stdout=(found[-1] + "\n") if found else "")
    return None
