"""The maintenance lock: one maintenance at a time per target host, held on the host itself.

Ansible has none: two playbooks against one host interleave. Here the first
run creates ``flatnet-maintenance.lock`` in the host's ``lock_dir``
atomically (POSIX noclobber, .NET ``CreateNew``), naming who holds it. A second
run refuses and says who and since when. A lock whose owner process is gone
marks an unfinished maintenance: the run refuses and points at ``--recover``
(or ``--force-unlock``, recorded, for an operator who recovered by hand).
"""

from __future__ import annotations

import getpass
import json
import socket
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from procedures import record
from procedures.errors import ProcedureError
from procedures.host import powershell as ps
from procedures.host.commands import sh
from procedures.run.pids import alive

if TYPE_CHECKING:
    from procedures.host import Host

LOCK_NAME = "flatnet-maintenance.lock"


class LockHeld(ProcedureError):
    """Another maintenance holds the target, or an unfinished one left its lock."""

    def __init__(self, message: str, holder: LockInfo, *, stale: bool) -> None:
        self.holder, self.stale = holder, stale
        super().__init__(message)


@dataclass(frozen=True)
class LockInfo:
    owner: str
    controller: str
    pid: int
    maintenance: str
    run: str
    since: str

    @classmethod
    def mine(cls, maintenance: str, run: str, pid: int) -> LockInfo:
        return cls(f"{getpass.getuser()}@{socket.gethostname()}", socket.gethostname(), pid, maintenance, run,
                   datetime.now().astimezone().isoformat(timespec="seconds"))

    def same_run(self, other: LockInfo) -> bool:
        """One run is one controller process (xdist workers carry their controller's pid)."""
        return (self.controller, self.pid, self.run) == (other.controller, other.pid, other.run)

    def owner_alive(self) -> bool | None:
        """Whether the holding process still runs; None when it ran on another controller."""
        return alive(self.pid) if self.controller == socket.gethostname() else None

    def describe(self) -> str:
        return f"{self.owner} (pid {self.pid}) for maintenance {self.maintenance} since {self.since}, run {self.run}"


class MaintenanceLock:
    def __init__(self, host: Host, folder: str, info: LockInfo) -> None:
        self.host, self.info = host, info
        self.path = host.files.join(folder, LOCK_NAME)
        self.held = False
        self.created = False  # by this process (not re-entered from another process of the same run)

    def acquire(self, attempts: int = 2) -> None:
        """Take the lock, or raise LockHeld. Re-entrant for the same run (xdist workers share one run)."""
        body = json.dumps(asdict(self.info))
        if self._create(body):
            self.held = self.created = True
            record.data(f"maintenance lock taken on {self.host.name}", {"path": self.path, **asdict(self.info)})
            return
        holder = self.holder()
        if holder is None:
            if attempts > 1:  # released between our attempt and the read
                self.acquire(attempts - 1)
                return
            raise ProcedureError(f"{self.host.name}: cannot create the maintenance lock {self.path}: check that its "
                                 f"folder exists (or can be made) and is writable (hosts.{self.host.name}.lock_dir)")
        if holder.same_run(self.info):
            self.held = True
            return
        alive = holder.owner_alive()
        if alive is False:
            raise LockHeld(f"{self.host.name}: an unfinished maintenance left its lock at {self.path}: "
                           f"{holder.describe()}, and that process is gone. Run with --recover to bring the "
                           f"target back from its journal and backups, or --force-unlock if you already did.",
                           holder, stale=True)
        where = "" if alive else " (its controller is another machine: ask there)"
        raise LockHeld(f"{self.host.name}: maintenance in progress, lock {self.path} held by {holder.describe()}"
                       f"{where}. Wait for it to finish.", holder, stale=False)

    def holder(self) -> LockInfo | None:
        text = self.host.run(self._read(), purpose="read the maintenance lock", check=False).stdout.strip()
        try:
            return LockInfo(**json.loads(text)) if text else None
        except (ValueError, TypeError):
            return LockInfo(f"unreadable lock {text[:80]!r}", "", 0, "unknown", "unknown", "unknown")

    def release(self) -> None:
        """Remove the lock if this run holds it."""
        if not self.held:
            return
        holder = self.holder()
        if holder is not None and holder.same_run(self.info):
            self.host.files.remove(self.path)
            record.text(f"maintenance lock released on {self.host.name}", self.path)
        self.held = False

    def force_unlock(self) -> LockInfo | None:
        """Remove whatever lock is there; recorded with what it said."""
        holder = self.holder()
        if holder is not None:
            self.host.files.remove(self.path)
            record.data(f"FORCED UNLOCK on {self.host.name}", {"path": self.path, "removed": asdict(holder),
                                                               "by": asdict(self.info)})
        return holder

    def _create(self, body: str) -> bool:
        if self.host.os == "windows":
            script = ps.script(
                "try {",
                f"  $s = [IO.File]::Open({ps.quote(self.path)}, 'CreateNew', 'Write', 'None')",
                f"  $b = [Text.Encoding]::UTF8.GetBytes({ps.quote(body)}); $s.Write($b, 0, $b.Length); $s.Close()",
                "  'taken' } catch [System.IO.IOException] { 'held' }")
        else:
            folder = self.host.files.path.dirname(self.path)
            script = (f"mkdir -p {sh(folder)} && (set -C; printf %s {sh(body)} > {sh(self.path)}) 2>/dev/null "
                      "&& echo taken")
        return self.host.run(script, purpose="take the maintenance lock", check=False).stdout.strip() == "taken"

    def _read(self) -> str:
        if self.host.os == "windows":
            return ps.script(f"if (Test-Path -LiteralPath {ps.quote(self.path)}) "
                             f"{{ [IO.File]::ReadAllText({ps.quote(self.path)}) }}")
        return f"cat {sh(self.path)} 2>/dev/null || true"
