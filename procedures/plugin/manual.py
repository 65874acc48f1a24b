"""The manual's own command for a step, in that step's record: an operator (or an auditor) holds the
record next to the manual and sees which of its commands each step performs, or replaces with a safer one.

The commands live beside the procedures, in ``features/manual_commands.yaml`` (keyed by the step's text),
so the people who keep the features keep them too.
"""

from __future__ import annotations

import functools
from pathlib import Path

from procedures import record
from procedures.config.base import parse_yaml

TITLE = "the manual's command (what this step performs or replaces)"  # the record shows it in its language
FILE = Path(__file__).resolve().parents[2] / "features" / "manual_commands.yaml"


@functools.cache
def commands() -> dict[str, str]:
    loaded = parse_yaml(FILE.read_text(encoding="utf-8")) if FILE.exists() else None
    return {str(step): str(command) for step, command in (loaded or {}).items()}


def attach(step_text: str) -> None:
    if command := commands().get(step_text):
        record.text(TITLE, command)
