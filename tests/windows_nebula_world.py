"""A simulated Windows Nebula host behind the WS-Man stand-in: files, the ``Nebula`` service, the overlay.

A test double for Windows itself (which cannot run here): a small in-memory
F:\\ drive answering the PowerShell our Windows flavors send.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field

from procedures.host import powershell as ps
from procedures.lab.wsman import Reply
from tests.windows_world import manifest_io, strike

ROOT = "F:\\flatnet"
BIN = f"{ROOT}\\nebula"
RELEASE = f"{ROOT}\\releases\\nebula-1.6.2"
BROKEN = f"{ROOT}\\releases\\nebula-1.6.2-broken"
SILENT = f"{ROOT}\\releases\\nebula-1.6.2-no-handshake"
LOG = f"{ROOT}\\logs\\nebula.log"
HANDSHAKE = ('time="2026-11-28T20:00:00Z" level=info msg="Handshake message received" certName=lighthouse '
             'handshake="map[stage:2 style:ix_psk0]" vpnIp=10.100.0.1\n')


@dataclass
class NebulaWorld:
    drive: dict[str, str] = field(default_factory=lambda: {
        f"{BIN}\\nebula.exe": "nebula 1.6.1", f"{BIN}\\nebula-cert.exe": "nebula-cert 1.6.1",
        f"{ROOT}\\config\\nebula\\config.yaml": "pki: …", f"{ROOT}\\config\\nebula\\host.crt": "cert",
        f"{ROOT}\\config\\nebula\\host.key": "key", f"{ROOT}\\config\\nebula\\ca.crt": "ca",
        f"{ROOT}\\pki\\ca.key": "ca key",
        f"{RELEASE}\\nebula.exe": "nebula 1.6.2", f"{RELEASE}\\nebula-cert.exe": "nebula-cert 1.6.2",
        f"{BROKEN}\\nebula.exe": "nebula 1.6.2 BROKEN", f"{BROKEN}\\nebula-cert.exe": "nebula-cert 1.6.2",
        f"{SILENT}\\nebula.exe": "nebula 1.6.2 NO-HANDSHAKE", f"{SILENT}\\nebula-cert.exe": "nebula-cert 1.6.2",
    })
    log: str = HANDSHAKE
    service: str = "Running"
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def node_works(self) -> bool:
        binary = self.drive[f"{BIN}\\nebula.exe"]
        return self.service == "Running" and "BROKEN" not in binary and "NO-HANDSHAKE" not in binary

    fail: dict[str, Reply] = field(default_factory=dict)  # regex → reply, once (fault injection)

    def respond(self, script: str) -> Reply | None:
        with self.lock:
            return strike(self.fail, script) or self._respond(script)

    def _respond(self, s: str) -> Reply | None:
        if ps.service("Nebula") + ".Status" in s:
            return Reply(stdout=f"{self.service}\n")
        if "Stop-Service -InputObject " + ps.service("Nebula") in s:
            self.service = "Stopped"
            return Reply()
        if "Start-Service -InputObject " + ps.service("Nebula") in s:
            self.service = "Running"
            if self.node_works:
                self.log += HANDSHAKE
            return Reply()
        if m := re.search(r"& '([^']+\\nebula\.exe)' '-(version|test)'", s):
            if "BROKEN" in self.drive.get(m.group(1), ""):
                return Reply(stderr="Program 'nebula.exe' failed to run: not a valid Win32 application", rc=1)
            return Reply(stdout="Version: 1.6.1\n" if m.group(2) == "version" else "")
        if "'print' '-json'" in s:
            return Reply(stdout=json.dumps({"details": {"notAfter": "2030-01-01T00:00:00Z"}}) + "\n")
        if "'ping.exe'" in s:
            ok = self.node_works
            return Reply(stdout="Reply from 10.100.0.1: bytes=32 time<1ms TTL=64\n" if ok else "Request timed out.\n",
                         rc=0 if ok else 1)
        if "Invoke-WebRequest" in s:
            return Reply(stdout="lighthouse\n") if self.node_works else Reply(stderr="timed out", rc=1)
        if "(Get-Item -LiteralPath" in s:
            return Reply(stdout=f"{len(self.log.encode())}\n")
        if m := re.search(r"\[void\]\$s\.Seek\((\d+)", s):
            return Reply(stdout=self.log.encode()[int(m.group(1)):].decode())
        if "Get-FileHash" in s:
            return Reply(stdout=self._listing(s))
        if "Copy-Item -LiteralPath" in s:
            for m in re.finditer(r"Copy-Item -LiteralPath '([^']+)' -Destination '([^']+)'", s):
                self._copy(m.group(1), m.group(2))
            for m in re.finditer(r"Move-Item -LiteralPath '([^']+)' -Destination '([^']+)'", s):
                self._copy(m.group(1), m.group(2))
                self._remove(m.group(1))
            return Reply()
        if reply := manifest_io(self.drive, s):
            return reply
        if "CreateDirectory(" in s:
            return Reply()
        return None

    def _under(self, prefix: str) -> list[str]:
        return [p for p in self.drive if p == prefix or p.startswith(prefix + "\\")]

    def _copy(self, src: str, dst: str) -> None:
        for path in self._under(src):
            self.drive[dst + path[len(src):]] = self.drive[path]

    def _remove(self, target: str) -> None:
        for path in self._under(target):
            del self.drive[path]

    def _listing(self, s: str) -> str:
        base = re.search(r"\$base = '([^']+)'", s).group(1)  # type: ignore[union-attr]
        items = re.findall(r"'([^']+)'", re.search(r"foreach \(\$p in @\((.*?)\)\)", s).group(1))  # type: ignore[union-attr]
        rows = []
        for item in items:
            for path in sorted(self._under(f"{base}\\{item}")):
                content = self.drive[path].encode()
                name = path[len(base) + 1:].replace("\\", "/")
                rows.append(f"{len(content)}\t{hashlib.sha256(content).hexdigest()}\t\t{name}")
        return "\n".join(rows) + "\n"
