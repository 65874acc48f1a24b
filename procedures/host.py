"""The ``Host`` facade: the one way procedures touch a machine.

Every command goes through ``Host.run``, which puts the command and its output
in the record. Drivers receive a Host and never build a transport themselves.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from procedures import dryrun, record
from procedures.errors import TransportError
from procedures.files import Files, files_for
from procedures.transports import get_transport

if TYPE_CHECKING:
    from procedures.commands import CommandResult
    from procedures.config import HostSpec
    from procedures.transports.base import Transport


class Host:
    """A machine named in the inventory.

    >>> host.run("nginx -v", check=False).stderr   # doctest: +SKIP
    'nginx version: openresty/1.25.3.1'
    """

    def __init__(self, name: str, spec: HostSpec, transport: Transport | None = None) -> None:
        self.name = name
        self.spec = spec
        self.transport = transport or get_transport(name, spec)

    def run(self, command: str, *, check: bool = True, timeout: float | None = None,
            purpose: str = "", change: bool = False) -> CommandResult:
        """Run a shell command; with ``check``, a non-zero exit raises CommandFailed.

        ``purpose`` says what the command is for: it titles the evidence and the error.
        ``change`` marks an operation (it alters the target): a dry run withholds it.
        """
        dry = dryrun.active()
        if change and dry is not None:
            return dry.command(self.name, command, purpose)
        try:
            result = self.transport.run(command, timeout=timeout or self.spec.command_timeout)
        except TransportError as exc:
            record.text(f"{self.name}: {purpose or 'command'} → {type(exc).__name__}", f"$ {command}\n{exc}")
            raise
        record.command(result, purpose)
        return result.check(purpose) if check else result

    @functools.cached_property
    def files(self) -> Files:
        """File operations in this host's own dialect (POSIX shell or PowerShell)."""
        return files_for(self)

    def close(self) -> None:
        self.transport.close()

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.spec.transport})"
