"""Command results and POSIX shell quoting, shared by every transport."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from procedures.errors import CommandFailed


@dataclass(frozen=True)
class CommandResult:
    """What one command did on one host.

    >>> r = CommandResult("true", 0, "", "", 0.001); r.succeeded
    True
    """

    command: str
    rc: int
    stdout: str
    stderr: str
    seconds: float
    host: str = "local"

    @property
    def succeeded(self) -> bool:
        return self.rc == 0

    def check(self, purpose: str = "") -> CommandResult:
        """Return self, or raise CommandFailed with the output tails."""
        if self.rc != 0:
            raise CommandFailed(self, purpose)
        return self


def sh(*argv: str) -> str:
    """Join arguments into one POSIX shell command, each safely quoted."""
    return shlex.join(argv)
