"""The manual's 復旧確認: services up, health endpoints answering, no new errors in the logs.

Used after the work (recovery confirmation), after a rollback (ロールバック後の確認)
and by the post-maintenance checklist. Only the components the inventory names
are looked at.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from procedures import record
from procedures.errors import ProcedureError, VerificationFailed

if TYPE_CHECKING:
    from procedures.run.maintenance import Maintenance

# nginx's [error]..[emerg], logfmt's level=error.., and the manual's `grep -i error`.
ERROR_LINE = re.compile(r"(?i)\[(error|crit|alert|emerg)\]|level=(error|fatal|panic|crit)|\berror\b")
COMPOSE_TAIL = 50  # the manual's `podman-compose logs --tail 50`


@dataclass(frozen=True)
class ServiceCheck:
    name: str
    ok: bool
    detail: str


def check_services(m: Maintenance) -> list[ServiceCheck]:
    """One look at every service the inventory names; never raises for a service that is down."""
    checks: list[ServiceCheck] = []
    components = m.inventory.components
    if components.gateway:
        gateway = m.gateway()
        health = gateway.health()
        checks.append(ServiceCheck("gateway process", gateway.pid() is not None, f"pid {gateway.pid()}"))
        checks.append(ServiceCheck(f"gateway health {components.gateway.health.url}", health.serving,
                                   f"version {health.version}"))
    if components.monitoring:
        stack = m.monitoring()
        for container, info in stack.running_images().items():
            checks.append(ServiceCheck(f"container {container}", info["state"] == "running", info["image"]))
        for name, ready in stack.readiness().items():
            checks.append(ServiceCheck(f"{name} health", ready, "ready" if ready else "not answering"))
    if components.nebula:
        state = m.nebula().service.state()
        checks.append(ServiceCheck(f"service {components.nebula.service.name}", state == "run", state))
    record.data("services", [asdict(c) for c in checks])
    return checks


def require_healthy(checks: list[ServiceCheck]) -> None:
    failed = [c for c in checks if not c.ok]
    if failed:
        down = all(not c.ok for c in checks)
        raise VerificationFailed("not healthy: " + "; ".join(f"{c.name} ({c.detail})" for c in failed),
                                 failure_class="service_down" if down else "partly_broken")


@dataclass
class LogWatch:
    """Error lines that appeared in the components' logs since ``mark``.

    File logs (the gateway's error log, Nebula's log) are read from the size
    they had at the mark; the compose logs are the manual's last 50 lines,
    minus the error lines that were already there at the mark.
    """

    m: Maintenance
    offsets: dict[str, int] = field(default_factory=dict)
    compose_seen: set[str] = field(default_factory=set)

    def mark(self) -> None:
        for name, path in self._files().items():
            self.offsets[name] = self.m.host(self._host(name)).files.size(path)
        self.compose_seen = set(self._compose_errors())
        record.data("log positions at the start", {"files": self.offsets, "compose errors already there":
                                                    sorted(self.compose_seen)})

    def new_errors(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, path in self._files().items():
            text = self.m.host(self._host(name)).files.read_from(path, self.offsets.get(name, 0))
            found[name] = [line for line in text.splitlines() if ERROR_LINE.search(line)]
        if self.m.inventory.components.monitoring:
            found["podman-compose logs"] = [e for e in self._compose_errors() if e not in self.compose_seen]
        found = {name: lines for name, lines in found.items() if lines}
        record.data("new error lines in the logs", found or {"none": []})
        return found

    def require_clean(self) -> None:
        found = self.new_errors()
        if found:
            shown = "; ".join(f"{name}: {len(lines)} ({lines[0][:160]})" for name, lines in found.items())
            raise VerificationFailed(f"new error lines since the start: {shown}", failure_class="log_errors")

    def _files(self) -> dict[str, str]:
        components, files = self.m.inventory.components, {}
        if components.gateway:
            files["gateway"] = self.m.gateway().path(components.gateway.error_log)
        if components.nebula:
            files["nebula"] = components.nebula.log
        return files

    def _host(self, name: str) -> str:
        component = getattr(self.m.inventory.components, name)
        return str(component.host)

    def _compose_errors(self) -> list[str]:
        if not self.m.inventory.components.monitoring:
            return []
        try:
            out = self.m.monitoring().compose("logs", "--tail", str(COMPOSE_TAIL), purpose="read the last 50 log lines",
                                              check=False)
        except ProcedureError as exc:
            return [f"podman-compose logs could not run: {exc}"]
        return [line for line in (out.stdout + out.stderr).splitlines() if ERROR_LINE.search(line)]
