"""A simulated Windows Nebula host behind the WS-Man stand-in: files, the ``Nebula`` service, the overlay.

A test double for Windows itself (which cannot run here): a small in-memory
F:\\ drive answering the PowerShell our Windows flavors send. Values are read through
``windows_rules``: a root or a service name with a space, ``'``, a backtick, ``[ ]`` or non-ASCII
is found only by a script that passes it the way Windows needs.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field

from procedures.lab.wsman import Reply
from tests import windows_rules as win
from tests.windows_rules import LITERAL as LIT
from tests.windows_world import manifest_io, strike

ROOT = "F:\\flatnet"
BIN = f"{ROOT}\\nebula"
RELEASE = f"{ROOT}\\releases\\nebula-1.6.2"
BROKEN = f"{ROOT}\\releases\\nebula-1.6.2-broken"
SILENT = f"{ROOT}\\releases\\nebula-1.6.2-no-handshake"
LOG = f"{ROOT}\\logs\\nebula.log"
HANDSHAKE = ('time="2026-11-28T20:00:00Z" level=info msg="Handshake message received" certName=lighthouse '
             'handshake="map[stage:2 style:ix_psk0]" vpnIp=10.100.0.1\n')


def drive_under(root: str) -> dict[str, str]:
    """The Nebula files of a Flatnet PC whose root is ``root``: the live install and three releases."""
    releases = {"nebula-1.6.2": "nebula 1.6.2", "nebula-1.6.2-broken": "nebula 1.6.2 BROKEN",
                "nebula-1.6.2-no-handshake": "nebula 1.6.2 NO-HANDSHAKE"}
    drive = {f"{root}\\nebula\\nebula.exe": "nebula 1.6.1", f"{root}\\nebula\\nebula-cert.exe": "nebula-cert 1.6.1",
             f"{root}\\config\\nebula\\config.yaml": "pki: …", f"{root}\\config\\nebula\\host.crt": "cert",
             f"{root}\\config\\nebula\\host.key": "key", f"{root}\\config\\nebula\\ca.crt": "ca",
             f"{root}\\pki\\ca.key": "ca key"}
    for folder, binary in releases.items():
        drive |= {f"{root}\\releases\\{folder}\\nebula.exe": binary,
                  f"{root}\\releases\\{folder}\\nebula-cert.exe": "nebula-cert 1.6.2"}
    return drive


@dataclass
class NebulaWorld:
    root: str = ROOT
    service_name: str = "Nebula"
    drive: dict[str, str] = field(default_factory=dict)
    log: str = HANDSHAKE
    service: str = "Running"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.drive = self.drive or drive_under(self.root)

    @property
    def node_works(self) -> bool:
        binary = self.drive[f"{self.root}\\nebula\\nebula.exe"]
        return self.service == "Running" and "BROKEN" not in binary and "NO-HANDSHAKE" not in binary

    fail: dict[str, Reply] = field(default_factory=dict)  # regex → reply, once (fault injection)

    def respond(self, script: str) -> Reply | None:
        with self.lock:
            return strike(self.fail, script) or self._respond(script)

    def _respond(self, s: str) -> Reply | None:
        if (selected := self._selected_service(s)) is not None:
            return self._service(s, selected)
        m = re.search(rf"^& {LIT}", s, re.M)
        if m and win.text(m.group(1)).endswith("\\nebula.exe"):
            argv = win.native_argv(s[m.start():].split("\n", 1)[0])
            if "BROKEN" in self.drive.get(win.text(m.group(1)), ""):
                return Reply(stderr="Program 'nebula.exe' failed to run: not a valid Win32 application", rc=1)
            if argv == ["-version"]:
                return Reply(stdout="Version: 1.6.1\n")
            if argv[:2] == ["-test", "-config"] and argv[2:] and argv[2] in self.drive:
                return Reply()
            return Reply(stderr=f"nebula: bad arguments {argv}", rc=1)
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
            for m in re.finditer(rf"Copy-Item -LiteralPath {LIT} -Destination {LIT}", s):
                self._copy(win.text(m.group(1)), win.text(m.group(2)))
            for m in re.finditer(rf"Move-Item -LiteralPath {LIT} -Destination {LIT}", s):
                self._copy(win.text(m.group(1)), win.text(m.group(2)))
                self._remove(win.text(m.group(1)))
            return Reply()
        if reply := manifest_io(self.drive, s):
            return reply
        if "CreateDirectory(" in s:
            return Reply()
        return None

    def _selected_service(self, s: str) -> bool | None:
        """Whether a service cmdlet in ``s`` selects ours: ``-eq`` compares literally, ``-Name`` is a wildcard."""
        if m := re.search(rf"\$_\.Name -eq {LIT}", s):
            return win.text(m.group(1)).lower() == self.service_name.lower()
        if m := re.search(rf"-Service -Name {LIT}", s):
            return bool(win.matching(win.text(m.group(1)), [self.service_name]))
        return None

    def _service(self, s: str, selected: bool) -> Reply:
        if not selected:
            return Reply(stderr="Cannot find any service with the given name.", rc=1)
        if ".Status" in s:
            return Reply(stdout=f"{self.service}\n")
        if "Stop-Service" in s:
            self.service = "Stopped"
        elif "Start-Service" in s:
            self.service = "Running"
            if self.node_works:
                self.log += HANDSHAKE
        return Reply()

    def _under(self, prefix: str) -> list[str]:
        return [p for p in self.drive if p == prefix or p.startswith(prefix + "\\")]

    def _copy(self, src: str, dst: str) -> None:
        for path in self._under(src):
            self.drive[dst + path[len(src):]] = self.drive[path]

    def _remove(self, target: str) -> None:
        for path in self._under(target):
            del self.drive[path]

    def _listing(self, s: str) -> str:
        base = win.text(re.search(rf"\$base = {LIT}", s).group(1))  # type: ignore[union-attr]
        items = win.literals(re.search(r"foreach \(\$p in @\((.*?)\)\)", s).group(1))  # type: ignore[union-attr]
        rows = []
        for item in items:
            for path in sorted(self._under(f"{base}\\{item}")):
                content = self.drive[path].encode()
                name = path[len(base) + 1:].replace("\\", "/")
                rows.append(f"{len(content)}\t{hashlib.sha256(content).hexdigest()}\t\t{name}")
        return "\n".join(rows) + "\n"
