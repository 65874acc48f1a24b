"""Service control per service manager, chosen by the inventory.

Every flavor's ``stop`` returns once the service has stopped and ``start`` once it
runs, within the inventory's timeout; ``state`` reports what really is. The
Windows flavor (Stop-Service + WaitForStatus) comes with the WinRM transport.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from procedures.errors import DriverError
from procedures.host import powershell as ps
from procedures.host.commands import sh

if TYPE_CHECKING:
    from procedures.config.inventory import ServiceSpec
    from procedures.host import Host


class Service:
    def __init__(self, host: Host, spec: ServiceSpec) -> None:
        self.host = host
        self.spec = spec

    @classmethod
    def for_spec(cls, host: Host, spec: ServiceSpec) -> Service:
        flavors: dict[str, type[Service]] = {"runit": RunitService, "systemd": SystemdService,
                                             "windows": WindowsService}
        return flavors[spec.manager](host, spec)

    def state(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _wait(self, wanted: str) -> None:
        seen: list[str] = []

        def reached() -> bool:
            seen.append(self.state())
            return seen[-1] == wanted

        if not self.host.wait_for(reached, self.spec.timeout, f"service {self.spec.name} to be {wanted}"):
            raise self._stuck(seen[-1], wanted)

    def _stuck(self, state: str, wanted: str) -> DriverError:
        return DriverError(f"service {self.spec.name} is {state!r}, not {wanted!r}, after {self.spec.timeout:g}s")


class RunitService(Service):
    """runit: ``sv status`` tells run/down.

    A ``down`` sent while runsv waits to restart a crashing service can leave it
    half-processed ("down, want up"), and the next ``up`` is then ignored (seen
    with runit 2.1.2). So both directions repeat the command until the state holds.
    """

    def state(self) -> str:
        out = self.host.run(f"sv status {sh(self.spec.name)}", purpose="read the service state", check=False)
        return runit_state(out.stdout)

    def start(self) -> None:
        self._until("up", "run")

    def stop(self) -> None:
        self._until("down", "down")

    def _until(self, command: str, wanted: str) -> None:
        deadline = time.monotonic() + self.spec.timeout
        while True:
            self.host.run(f"sv -w 2 {command} {sh(self.spec.name)}", purpose=f"{command} the service", check=False,
                          change=True)
            state = self.host.after_changes(self.state, wanted)  # a withheld command would have done it
            if state == wanted:
                return
            if time.monotonic() > deadline:
                raise self._stuck(state, wanted)


class SystemdService(Service):
    """systemd: ``systemctl`` start/stop block until the unit settles; is-active tells the rest."""

    def state(self) -> str:
        out = self.host.run(f"systemctl is-active {sh(self.spec.name)}", purpose="read the service state", check=False)
        return {"active": "run", "inactive": "down", "failed": "down"}.get(out.stdout.strip(), out.stdout.strip())

    def start(self) -> None:
        self.host.run(f"systemctl start {sh(self.spec.name)}", purpose="start the service",
                      timeout=self.spec.timeout, change=True)
        self._wait("run")

    def stop(self) -> None:
        self.host.run(f"systemctl stop {sh(self.spec.name)}", purpose="stop the service", timeout=self.spec.timeout,
                      change=True)
        self._wait("down")


class WindowsService(Service):
    """A Windows service (Nebula runs under NSSM as one): Stop/Start-Service, then WaitForStatus."""

    def state(self) -> str:
        out = self.host.run(ps.script(f"{ps.service(self.spec.name)}.Status.ToString()"),
                            purpose="read the service state", check=False)
        return {"Running": "run", "Stopped": "down"}.get(out.stdout.strip(), out.stdout.strip() or "unknown")

    def start(self) -> None:
        self.host.run(ps.script(f"Start-Service -InputObject {ps.service(self.spec.name)}",
                                ps.wait_service(self.spec.name, "Running", self.spec.timeout)),
                      purpose="start the service", timeout=self.spec.timeout + 10, change=True)

    def stop(self) -> None:
        self.host.run(ps.script(f"Stop-Service -InputObject {ps.service(self.spec.name)}",
                                ps.wait_service(self.spec.name, "Stopped", self.spec.timeout)),
                      purpose="stop the service", timeout=self.spec.timeout + 10, change=True)


def runit_state(status: str) -> str:
    """``sv status`` → ``run``, ``down``, ``down (want up)`` (runsv will start it again) or ``unknown``."""
    state = status.split(":", 1)[0].strip() or "unknown"
    return f"{state} (want up)" if state == "down" and "want up" in status else state
