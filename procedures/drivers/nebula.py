"""A Nebula node run as a service: binaries, config, certificates, and the overlay it makes.

Verification crosses the overlay for real: ICMP to the lighthouse, a TCP request
through the tunnel, and a completed handshake in the log written since the start.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.errors import VerificationFailed
from procedures.host import backups
from procedures.host import powershell as ps
from procedures.host.commands import sh
from procedures.host.services import Service

if TYPE_CHECKING:
    from procedures.config.inventory import NebulaComponent
    from procedures.host import Host

# The initiator logs stage 2 received once the handshake with the lighthouse has completed.
HANDSHAKE_DONE = re.compile(r"Handshake message received.*stage:2")


class NebulaNode:
    def __init__(self, host: Host, component: NebulaComponent) -> None:
        self.host = host
        self.c = component
        self.service = Service.for_spec(host, component.service)

    def binary(self, name: str = "nebula", folder: str | None = None) -> str:
        return self.host.files.join(folder or self.c.bin_dir, name)

    # -- facts -------------------------------------------------------------------------
    def version(self, folder: str | None = None) -> dict[str, Any]:
        """``nebula -version`` plus the sha256 of every binary."""
        out = self.host.run(self._call(self.binary(folder=folder), "-version"),
                            purpose="read the version (nebula -version)", check=False)
        base = folder or self.c.bin_dir
        names = [self.host.files.path.basename(self.binary(n, base)) for n in self.c.binaries]
        digests = {name: digest for _size, digest, _mode, name in self.host.files.listing(base, names)}
        reported = out.stdout.strip().removeprefix("Version: ") if out.rc == 0 else None
        return {"version": reported, "sha256": digests, **({} if out.rc == 0 else {"error": out.stderr.strip()[:200]})}

    def cert_days_left(self) -> float:
        out = self.host.run(self._call(self.binary("nebula-cert"), "print", "-json", "-path", self.c.cert),
                            purpose="read the host certificate (nebula-cert print)").stdout
        not_after = datetime.fromisoformat(json.loads(out)["details"]["notAfter"].replace("Z", "+00:00"))
        return (not_after - datetime.now(UTC)).total_seconds() / 86400

    def log_size(self) -> int:
        return self.host.files.size(self.c.log)

    # -- command builders (the Windows flavor overrides these) ------------------------------
    def _call(self, executable: str, *args: str) -> str:
        return sh(executable, *args)

    def _overlay_checks(self) -> dict[str, str]:
        prefix = f"{self.c.overlay_exec_prefix} " if self.c.overlay_exec_prefix else ""
        checks = {"ping": f"{prefix}{self.c.ping_command} {sh(self.c.lighthouse_ip)}"}
        if self.c.tcp_check_url:
            checks["tcp"] = f"{prefix}{self.c.http_get_command} {sh(str(self.c.tcp_check_url))}"
        return checks

    # -- operations --------------------------------------------------------------------
    def backup(self, facts: dict[str, Any]) -> backups.Backup:
        """Binaries, config, certificates, and the CA folder when the inventory names it."""
        config_dir = self.host.files.path.dirname(self.c.config)
        paths = [self.binary(n) for n in self.c.binaries] + [config_dir]
        if self.c.ca_dir:
            paths.append(self.c.ca_dir)
        anchor = self.host.files.split_anchor(paths[0])[0]
        return backups.take(self.host, source=anchor, paths=[self.host.files.split_anchor(p)[1] for p in paths],
                            backups_dir=self.c.backups_dir, component="nebula", facts=facts)

    def config_test(self, folder: str) -> None:
        self.host.run(self._call(self.binary(folder=folder), "-test", "-config", self.c.config),
                      purpose="test the config with the new binary (nebula -test)")

    def replace_binaries(self, folder: str) -> None:
        for name in self.c.binaries:
            backups.install_atomically(self.host, self.binary(name, folder), self.binary(name))

    def restore(self, backup: backups.Backup) -> None:
        backups.restore(self.host, backup, in_place=False)

    # -- verification ---------------------------------------------------------------------
    def _answer(self, name: str, command: str, deadline: float) -> str:
        while True:
            out = self.host.run(command, purpose=f"{name} the lighthouse through the overlay", check=False)
            if out.rc == 0:
                return out.stdout
            if time.monotonic() > deadline:
                raise VerificationFailed(f"no {name} answer from {self.c.lighthouse_ip} through the overlay "
                                         f"within {self.c.overlay_wait:g}s: {(out.stdout + out.stderr)[-200:]}")
            time.sleep(0.2)

    def _running(self, deadline: float) -> None:
        """A supervisor restarting a killed process shows it as down for a moment: wait for it, within the bound."""
        while (state := self.service.state()) != "run":
            if time.monotonic() > deadline:
                raise VerificationFailed(f"the Nebula service is {state!r}, not running, "
                                         f"after {self.c.overlay_wait:g}s")
            time.sleep(0.1)

    def verify_overlay(self, log_offset: int) -> dict[str, str]:
        """Running, lighthouse answers ping and TCP through the tunnel, handshake in the log; bounded."""
        deadline = time.monotonic() + self.c.overlay_wait
        with record.poll("the Nebula service to run"):
            self._running(deadline)
        checks = self._overlay_checks()
        results: dict[str, str] = {}
        for name, command in checks.items():
            with record.poll(f"a {name} answer from the lighthouse through the overlay"):
                results[name] = self._answer(name, command, deadline)
        tail = self.host.files.read_from(self.c.log, log_offset)
        lines = [line for line in tail.splitlines() if HANDSHAKE_DONE.search(line)]
        if not lines:
            raise VerificationFailed("no completed handshake in the Nebula log since the start")
        results["handshake"] = lines[-1]
        record.data("overlay verified", results)
        return results


class WindowsNebulaNode(NebulaNode):
    """Nebula as the manual runs it: ``nebula.exe`` under the Windows service ``Nebula``."""

    def binary(self, name: str = "nebula", folder: str | None = None) -> str:
        return self.host.files.join(folder or self.c.bin_dir, f"{name}.exe")

    def _call(self, executable: str, *args: str) -> str:
        return ps.script(ps.native_stderr_ok(executable, *args))

    def _overlay_checks(self) -> dict[str, str]:
        checks = {"ping": ps.script(ps.native("ping.exe", "-n", "1", "-w", "1000", self.c.lighthouse_ip))}
        if self.c.tcp_check_url:
            checks["tcp"] = ps.script(f"(Invoke-WebRequest -UseBasicParsing -TimeoutSec 2 "
                                      f"-Uri {ps.quote(str(self.c.tcp_check_url))}).Content")
        return checks


def node_for(host: Host, component: NebulaComponent) -> NebulaNode:
    return WindowsNebulaNode(host, component) if host.os == "windows" else NebulaNode(host, component)
