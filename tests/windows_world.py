"""A small simulated Windows host behind the WS-Man stand-in, for the gateway procedure's tests.

It answers the PowerShell our Windows gateway flavor sends (Test-Path, Rename-Item,
Copy-Item, nginx.exe, Start-Process, file hashes and the manifest) from a model of
F:\\flatnet, and serves the running release's /api/health over loopback HTTP.
It is a test double for Windows itself, which cannot run here.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from procedures.lab.wsman import Reply

ROOT = "F:\\flatnet"
LISTING = "120\t" + "a" * 64 + "\t\tconf/nginx.conf\n48\t" + "b" * 64 + "\t\tlualib/flatnet/health.lua\n"


@dataclass
class WindowsWorld:
    folders: dict[str, str] = field(default_factory=lambda: {
        f"{ROOT}\\openresty": "1.25.3.1", f"{ROOT}\\releases\\openresty-1.27.1.2": "1.27.1.2"})
    files: dict[str, str] = field(default_factory=dict)
    running: str | None = "1.25.3.1"  # version the running gateway serves
    healthy_versions: set[str] = field(default_factory=lambda: {"1.25.3.1", "1.27.1.2"})
    fail: dict[str, Reply] = field(default_factory=dict)  # regex → forced reply (fault injection)
    lock: threading.Lock = field(default_factory=threading.Lock)

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
        if m := re.search(r"Get-Content -LiteralPath '[^']*nginx.pid'", s):
            return Reply(stdout="4242\n" if self.running else "")
        if m := re.search(r"Set-Location -LiteralPath '([^']+)'.*'-v'", s, re.S):
            return Reply(stdout=f"nginx version: openresty/{self.folders[m.group(1)]}\n")
        if "'-t'" in s:
            return Reply(stdout="nginx: configuration file test is successful\n")
        if "'-s' 'stop'" in s:
            self.running = None
            return Reply()
        if m := re.search(r"Start-Process -FilePath '([^']+)\\nginx.exe'", s):
            self.running = self.folders[m.group(1)]
            return Reply()
        if m := re.search(r"Rename-Item -LiteralPath '([^']+)' -NewName '([^']+)'", s):
            source = m.group(1)
            self.folders[source.rsplit("\\", 1)[0] + "\\" + m.group(2)] = self.folders.pop(source)
            return Reply()
        if m := re.search(r"Copy-Item -LiteralPath '([^']+)' -Destination '([^']+)' -Recurse -Force$", s, re.M):
            if m.group(1) in self.folders:
                self.folders[m.group(2)] = self.folders[m.group(1)]
            return Reply()
        if m := re.search(r"Test-Path -LiteralPath '([^']+)'\)", s):  # Remove-Item guard
            self.folders.pop(m.group(1), None)
            self.files.pop(m.group(1), None)
            return Reply()
        if m := re.search(r"^Test-Path -LiteralPath '([^']+)'$", s, re.M):
            return Reply(stdout="True\n" if m.group(1) in self.folders or m.group(1) in self.files else "False\n")
        if "Get-FileHash" in s:
            return Reply(stdout=LISTING)
        if reply := manifest_io(self.files, s):
            return reply
        if "CreateDirectory(" in s or "Get-ChildItem -LiteralPath" in s:
            return Reply()
        return None

    def serve_health(self) -> tuple[ThreadingHTTPServer, int]:
        world = self

        class Health(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                """Quiet."""

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

        server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
        threading.Thread(target=server.serve_forever, daemon=True).start()
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
    if m := re.search(r"\[IO.File\]::Open\('([^']+)', 'CreateNew'.*GetBytes\('((?:[^']|'')*)'\)", s, re.S):
        if m.group(1) in files:
            return Reply(stdout="held\n")
        files[m.group(1)] = m.group(2).replace("''", "'")
        return Reply(stdout="taken\n")
    if m := re.search(r"Remove-Item -LiteralPath '([^']+\.lock)'", s):
        files.pop(m.group(1), None)
        return Reply()
    if m := re.search(r"WriteAllBytes\('([^']+)', \[Convert\]::FromBase64String\('([^']+)'\)", s):
        files[m.group(1)] = base64.b64decode(m.group(2)).decode()
        return Reply()
    if m := re.search(r"ReadAllText\('([^']+)'\)", s):
        return Reply(stdout=files.get(m.group(1), ""))
    if m := re.search(r"Get-ChildItem -Path \(\[WildcardPattern\]::Escape\('([^']+)'\) \+ "
                      r"'\\(\w+)-\*\\manifest.json'\)", s):
        prefix = f"{m.group(1)}\\{m.group(2)}-"
        found = sorted(p for p in files if p.startswith(prefix) and p.endswith("\\manifest.json"))
        return Reply(stdout=(found[-1] + "\n") if found else "")
    return None
