"""The exception tree of flatnet-maintenance.

Foreign errors (subprocess, testinfra, httpx, pydantic, OS) are translated at
the edge where they happen, and re-raised ``from`` the original, so callers only
ever catch these::

    ProcedureError
    ├── ConfigError                 inventory or plan is invalid (nothing has run yet)
    ├── TransportError              the target could not be reached or a command could not run
    │   ├── CommandTimeout          a command outlived its deadline
    │   └── ScriptTooLong           a PowerShell script exceeds the Windows command line
    ├── CommandFailed               a command ran and exited non-zero (carries the result)
    ├── ApiError                    an HTTP exchange failed or answered an error status
    ├── DriverError                 a component is not in the state an action needs
    ├── PreconditionFailed          the procedure may not start: nothing was changed
    ├── VerificationFailed          a check after a change did not hold (carries its failure class)
    ├── DeliveryFailed              a notice channel did not take a notice
    ├── BackupError                 a backup could not be taken or does not match its manifest
    ├── RollbackFailed              the rollback itself failed; the target needs a human
    └── LabError                    the local lab could not be built or started (what, and what to do)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

# The manual's ロールバック判断基準 rows, in the order of their urgency.
FailureClass = Literal["service_down", "partly_broken", "degraded", "log_errors"]

if TYPE_CHECKING:
    from procedures.host.commands import CommandResult


class ProcedureError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(ProcedureError):
    """An inventory or plan file is invalid; raised before any action."""


class TransportError(ProcedureError):
    """The target could not be reached, or a command could not be started."""


class CommandTimeout(TransportError):
    """A command did not finish before its deadline and was killed."""


class ScriptTooLong(TransportError):
    """The encoded PowerShell script would not fit the command line Windows allows (cmd.exe: 8191; WSL: 32767)."""


class CommandFailed(ProcedureError):
    """A command exited non-zero; the message shows the command and its output tails."""

    def __init__(self, result: CommandResult, purpose: str = "") -> None:
        self.result = result
        self.purpose = purpose
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = f"could not {self.purpose}: " if self.purpose else ""
        lines = [f"{head}`{self.result.command}` exited {self.result.rc}"]
        for name, text in (("stdout", self.result.stdout), ("stderr", self.result.stderr)):
            tail = text.strip().splitlines()[-10:]
            if tail:
                lines.append(f"--- {name} (last {len(tail)} lines)")
                lines.extend(tail)
        return "\n".join(lines)


class ApiError(ProcedureError):
    """An HTTP call failed to complete or answered with an unexpected status."""

    def __init__(self, message: str, *, url: str, status: int | None = None, body: str = "") -> None:
        self.url = url
        self.status = status
        self.body = body
        super().__init__(message)


class DriverError(ProcedureError):
    """A component is not in the state the requested action needs."""


class PreconditionFailed(ProcedureError):
    """A condition for starting the procedure does not hold; nothing was changed."""


class VerificationFailed(ProcedureError):
    """A check made after a change did not hold.

    ``failure_class`` says which row of the decision table applies; a check that
    cannot tell is treated as ``service_down`` (roll back at once).
    """

    def __init__(self, message: str, *, failure_class: FailureClass = "service_down") -> None:
        self.failure_class: FailureClass = failure_class
        super().__init__(message)


class DeliveryFailed(ProcedureError):
    """A notice channel (file, SMTP, webhook) did not take a notice."""


class BackupError(ProcedureError):
    """A backup could not be taken, or no longer matches its manifest."""


class RollbackFailed(ProcedureError):
    """The rollback itself failed: the target is in an unknown state and needs a human."""


class LabError(ProcedureError):
    """The local lab could not be built or started; the message says what to do."""
