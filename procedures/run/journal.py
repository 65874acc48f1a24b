"""The journal: every step of every procedure, written before and after it runs, with what undoes it.

It lives in the maintenance's records folder (``journal.jsonl``), one JSON
object per line, flushed and fsynced before the step runs, so it survives a
``kill -9``. A procedure that began and never closed (``passed``, ``rolled
back``, ``recovered``) is unfinished: ``--recover`` runs the rollbacks its
entries name, newest first. A procedure whose rollback failed stays
unfinished too: once the operator has cleared the cause, ``--recover`` runs
that rollback again.

Two hooks for the fault tests, named by ``<before|after>:<step text without its keyword>``:
``FLATNET_CRASH_AT`` makes the process kill itself with SIGKILL there (a crash at each action in
turn); ``FLATNET_PAUSE_AT`` makes it wait there while ``<journal>.paused`` exists (the test
changes the world, then removes the file).
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

NAME = "journal.jsonl"
CRASH_ENV = "FLATNET_CRASH_AT"
PAUSE_ENV = "FLATNET_PAUSE_AT"
CLOSED = {"passed", "rolled back", "recovered"}


@dataclass
class Journal:
    path: Path
    run: str

    def step(self, scenario: str, step: str, phase: str, undo: list[str]) -> None:
        if phase == "end":
            self._test_hooks("after", step)
        self._write({"scenario": scenario, "step": step, "phase": phase, "undo": undo})
        if phase == "begin":
            self._test_hooks("before", step)

    def _test_hooks(self, when: str, step: str) -> None:
        """``step`` is ``<keyword> <text>``; the hooks name the text, whatever its keyword."""
        point = f"{when}:{step.split(' ', 1)[-1]}"
        if os.environ.get(CRASH_ENV) == point:
            os.kill(os.getpid(), signal.SIGKILL)
        if os.environ.get(PAUSE_ENV) == point:
            paused = self.path.with_suffix(".paused")
            paused.write_text(point)
            deadline = time.monotonic() + 120
            while paused.exists() and time.monotonic() < deadline:
                time.sleep(0.01)

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

