"""``--dry-run``: read for real, change nothing, and record exactly what would have been sent.

The dry run is decided once, by the plugin (``--dry-run``), and carried as
context: ``Maintenance.dry_run`` is handed to every ``Host``, to the HTTP clients
the hosts make, to the notifier and to the silence. Operations
(``Host.run(..., change=True)``, the writing file operations, HTTP requests
other than GET) are withheld there, while a scenario is previewed: each is
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


@dataclass
class DryRun:
    """The run's dry run: withholding while a scenario is previewed, idle between scenarios."""

    withheld: list[dict[str, str]] = field(default_factory=list)
    previewing: bool = False

    def begin(self) -> None:
        """Withhold every operation from now on, until ``end``: one scenario's preview."""
        self.withheld, self.previewing = [], True

    def end(self) -> None:
        self.previewing = False

    def command(self, host: str, command: str, purpose: str) -> None:
        self._withhold({"host": host, "purpose": purpose or "command", "command": command})

    def request(self, method: str, url: str, body: Any) -> None:
        self._withhold({"purpose": f"{method} {url}", "request": f"{method} {url}\n\n{body if body else ''}"})

    def action(self, purpose: str, detail: str) -> None:
        """Something other than a command or a request: a notice, a silence."""
        self._withhold({"purpose": purpose, "detail": detail})

    def _withhold(self, action: dict[str, str]) -> None:
        self.withheld.append(action)
        body = action.get("command") or action.get("request") or action.get("detail", "")
        record.text(f"WOULD RUN: {action['purpose']}", body)


def withholding(dry: DryRun | None) -> DryRun | None:
    """The dry run when it withholds operations now, else None."""
    return dry if dry is not None and dry.previewing else None
