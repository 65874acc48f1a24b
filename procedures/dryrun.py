"""``--dry-run``: read for real, change nothing, and record exactly what would have been sent.

Operations (``Host.run(..., change=True)``, the writing file operations, HTTP
requests other than GET) are withheld while a dry run is active: each is
recorded as ``WOULD RUN`` with its exact command, PowerShell script or request,
and answered with an empty success. Facts are read for real. Once something was
withheld, a later verification cannot mean anything and is listed, not run; a
later step that fails because it needed a withheld change ends the preview, and
the steps after it are listed. Like Ansible's ``--check``, the preview is exact
up to the first action whose outcome it cannot know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from procedures import record
from procedures.commands import CommandResult


@dataclass
class DryRun:
    withheld: list[dict[str, str]] = field(default_factory=list)

    def command(self, host: str, command: str, purpose: str) -> CommandResult:
        self._withhold({"host": host, "purpose": purpose or "command", "command": command})
        return CommandResult(command, 0, "", "", 0.0, host)

    def request(self, method: str, url: str, body: Any) -> None:
        self._withhold({"purpose": f"{method} {url}", "request": f"{method} {url}\n\n{body if body else ''}"})

    def action(self, purpose: str, detail: str) -> None:
        """Something other than a command or a request: a notice, a silence."""
        self._withhold({"purpose": purpose, "detail": detail})

    def _withhold(self, action: dict[str, str]) -> None:
        self.withheld.append(action)
        body = action.get("command") or action.get("request") or action.get("detail", "")
        record.text(f"WOULD RUN: {action['purpose']}", body)


ACTIVE: list[DryRun] = []  # the dry run of the test now running, if any


def active() -> DryRun | None:
    return ACTIVE[-1] if ACTIVE else None
