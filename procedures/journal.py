"""The journal: every step of every procedure, written before and after it runs, with what undoes it.

It lives in the maintenance's records folder (``journal.jsonl``), one JSON
object per line, flushed and fsynced before the step runs, so it survives a
``kill -9``. A procedure that began and never closed (``passed``, ``rolled
back``, ``recovered``) is unfinished: ``--recover`` runs the rollbacks its
entries name, newest first.

``FLATNET_CRASH_AT=<before|after>:<step text without its keyword>`` makes the process kill itself
with SIGKILL at that point: the crash tests use it to stop at each action in turn.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

NAME = "journal.jsonl"
CRASH_ENV = "FLATNET_CRASH_AT"
CLOSED = {"passed", "rolled back", "recovered", "rollback failed"}


@dataclass
class Journal:
    path: Path
    run: str

    def step(self, scenario: str, step: str, phase: str, undo: list[str]) -> None:
        if phase == "end":
            _crash_if_asked("after", step)
        self._write({"scenario": scenario, "step": step, "phase": phase, "undo": undo})
        if phase == "begin":
            _crash_if_asked("before", step)

    def close(self, scenario: str, event: str) -> None:
        self._write({"scenario": scenario, "event": event})

    def close_undone_by(self, rollback: str, event: str) -> None:
        """A rollback passed: every unfinished scenario it undoes is closed with ``event``."""
        for scenario, undo in self.unfinished():
            if rollback in undo:
                self.close(scenario, event)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip().startswith("{") and line.strip().endswith("}")]

    def unfinished(self) -> list[tuple[str, list[str]]]:
        """``(scenario, undo ids)`` of every scenario that began and never closed, newest first."""
        open_scenarios: dict[str, list[str]] = {}
        for entry in self.entries():
            scenario = entry["scenario"]
            if entry.get("event") in CLOSED:
                open_scenarios.pop(scenario, None)
            elif "phase" in entry:
                open_scenarios.setdefault(scenario, entry.get("undo", []))
        return list(reversed(list(open_scenarios.items())))

    def _write(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"at": datetime.now().astimezone().isoformat(timespec="milliseconds"), "run": self.run,
                "pid": os.getpid(), **entry}
        with self.path.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(line, ensure_ascii=False) + "\n")
            journal.flush()
            os.fsync(journal.fileno())


def _crash_if_asked(when: str, step: str) -> None:
    """``step`` is ``<keyword> <text>``; the crash point names the text, whatever its keyword."""
    if os.environ.get(CRASH_ENV) == f"{when}:{step.split(' ', 1)[-1]}":
        os.kill(os.getpid(), signal.SIGKILL)
