"""The ``Host`` facade: the one way procedures touch a machine.

Every command goes through ``Host.run``, which puts the command and its output
in the record. Drivers receive a Host and never build a transport themselves.

The host also carries the run's dry run (``procedures/run/dryrun.py``): it
withholds the changing commands, answers its waits at once (what they wait for
was withheld), and says what a read that follows a change would have found.
Drivers therefore never ask whether this is a dry run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from procedures import record
from procedures.api.http import Http
from procedures.errors import TransportError
from procedures.host.commands import CommandResult
from procedures.host.files import Files, files_for
from procedures.run import live
from procedures.run.dryrun import withholding
from procedures.transports import get_transport

if TYPE_CHECKING:
    from procedures.config.inventory import OS, HostSpec
    from procedures.run.dryrun import DryRun
    from procedures.transports.base import Transport

T = TypeVar("T")


def poll_intervals() -> Iterator[float]:
    """The pauses between a wait's questions: 10 ms at first, for what is ready at once, doubling to 100 ms.
    A wait that runs to its timeout then asks ten times a second, not a hundred: every question costs the
    target commands."""
    interval = 0.01
    while True:
        yield interval
        interval = min(2 * interval, 0.1)


class Host:
    """A machine named in the inventory.

    >>> host.run("nginx -v", check=False).stderr   # doctest: +SKIP
    'nginx version: openresty/1.25.3.1'
    """

    def __init__(self, name: str, spec: HostSpec, transport: Transport | None = None, *,
                 dry_run: DryRun | None = None) -> None:
        self.name = name
        self.spec = spec
        self.transport = transport or get_transport(name, spec)
        self.dry_run = dry_run

    @property
    def os(self) -> OS:
        """``windows`` or ``posix``: decided once, by the inventory (``HostSpec.os``)."""
        return self.spec.os

    def run(self, command: str, *, check: bool = True, timeout: float | None = None,
            purpose: str = "", change: bool = False) -> CommandResult:
        """Run a shell command; with ``check``, a non-zero exit raises CommandFailed.

        ``purpose`` says what the command is for: it titles the evidence and the error.
        ``change`` marks an operation (it alters the target): a dry run withholds it.
        """
        dry = withholding(self.dry_run)
        if change and dry is not None:
            dry.command(self.name, command, purpose)
            return CommandResult(command, 0, "", "", 0.0, self.name)  # an empty success
        try:
            result = self.transport.run(command, timeout=timeout or self.spec.command_timeout)
        except TransportError as exc:
            record.command_failed(self.name, command, purpose, exc)
            raise
        record.command(result, purpose)
        return result.check(purpose) if check else result

    def wait_for(self, condition: Callable[[], bool], seconds: float, what: str) -> bool:
        """Whether ``condition`` came true within ``seconds``, asked after each of ``poll_intervals()``; one wait
        line, one summary in the record.

        At once in a dry run: what it waits for was withheld.
        """
        if withholding(self.dry_run):
            return True
        live.waiting(what, seconds)
        deadline = time.monotonic() + seconds
        pauses = poll_intervals()
        with record.poll(what):
            while not condition():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(next(pauses))
        return True

    def after_changes(self, read: Callable[[], T], would_be: T) -> T:
        """A read that follows this run's changes: in a dry run they were withheld, so what it would find."""
        return would_be if withholding(self.dry_run) else read()

    def http(self, *, timeout: float) -> Http:
        """An HTTP client in this host's run context (a dry run withholds its changing requests)."""
        return Http(timeout=timeout, dry_run=self.dry_run)

    def local_path(self, path: str) -> Path | None:
        """Where this machine reads ``path`` itself, when the transport knows (WSL's ``/mnt/f``): reads only."""
        return self.transport.local_path(path)

    @functools.cached_property
    def files(self) -> Files:
        """File operations in this host's own dialect (POSIX shell or PowerShell)."""
        return files_for(self)

    def close(self) -> None:
        self.transport.close()

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.spec.transport})"
