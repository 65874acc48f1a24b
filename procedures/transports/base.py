"""The one small contract every transport implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procedures.config.inventory import HostSpec
    from procedures.host.commands import CommandResult


class Transport(ABC):
    """Runs one command on one host, with a deadline, and reports what happened.

    A transport never raises for a non-zero exit code (that is the caller's
    judgement); it raises ``TransportError`` when the command could not run and
    ``CommandTimeout`` when it outlived ``timeout``.
    """

    # Whether two commands may run at once (each runs its own process); a WinRM session may not:
    # NTLM seals its messages with one sequence of numbers.
    concurrent = True

    def __init__(self, name: str, spec: HostSpec) -> None:
        self.name = name
        self.spec = spec

    @abstractmethod
    def run(self, command: str, *, timeout: float) -> CommandResult: ...

    def local_path(self, path: str) -> Path | None:
        """Where this machine can read ``path`` itself (a WSL drive mount), for reads only; None: it cannot."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most transports hold nothing
        """Release connections; the default transport holds none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
