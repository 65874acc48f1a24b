"""A transport that replays recorded exchanges: unit tests of drivers and parsers, with no host at all.

The exchanges are recorded from the lab's real servers (``tests/outputs/record.py``
writes them, command by command). Replay is strict: each command sent must be the
next one recorded, so a test also proves what the driver sent, in order; a command
the recording does not have fails loudly, as a host that cannot run it would.
Never named by an inventory: a test hands it to a ``Host`` itself.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from procedures.errors import TransportError
from procedures.host.commands import CommandResult
from procedures.transports.base import Transport

if TYPE_CHECKING:
    from procedures.config.inventory import HostSpec


@dataclass(frozen=True)
class Exchange:
    command: str
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


def load_exchanges(path: Path, **placeholders: str) -> list[Exchange]:
    """A recording, with each ``{name}`` in its commands and outputs replaced (``root="/srv/lab"``)."""
    text = path.read_text(encoding="utf-8")
    for name, value in placeholders.items():
        text = text.replace("{" + name + "}", json.dumps(value)[1:-1])
    return [Exchange(**entry) for entry in json.loads(text)]


class ScriptedTransport(Transport):
    """Answers each command with the next recorded exchange; ``sent`` lists what was asked."""

    def __init__(self, name: str, spec: HostSpec, exchanges: Iterable[Exchange] = ()) -> None:
        super().__init__(name, spec)
        self.expected: deque[Exchange] = deque(exchanges)
        self.sent: list[str] = []

    def then(self, *exchanges: Exchange) -> ScriptedTransport:
        self.expected.extend(exchanges)
        return self

    def run(self, command: str, *, timeout: float) -> CommandResult:
        self.sent.append(command)
        if not self.expected:
            raise TransportError(f"{self.name}: nothing recorded answers {command!r}")
        exchange = self.expected.popleft()
        if exchange.command != command:
            raise TransportError(f"{self.name}: sent {command!r}, but the recording has {exchange.command!r} next")
        return CommandResult(command, exchange.rc, exchange.stdout, exchange.stderr, 0.0, self.name)

    @property
    def finished(self) -> bool:
        """Whether every recorded exchange was asked for."""
        return not self.expected
