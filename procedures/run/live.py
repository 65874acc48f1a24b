"""Live progress for the operator: every scenario, step and wait, printed as it happens.

An operator at 23:00 in a maintenance window must tell a procedure that waits on
purpose from one that hangs (the manual: 各ステップで動作確認を実施). So every
step prints when it starts and when it ends (elapsed, outcome), and every wait
says what it waits for and until when.

The code calls ``say``/``step``/``waiting``; the plugin decides where the
lines go (``install``): past pytest's capture to the process's real stderr,
one plain line each (time, xdist worker, indentation), with no colours or
carriage returns, so they show at once under ``-q``, under xdist and in CI logs.
Nothing is printed until a maintenance run installs a writer.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

Writer = Callable[[str], None]
_writers: list[Writer] = []  # where the lines go; none until a maintenance run installs one
_lock = threading.Lock()


class _Place(threading.local):
    """Per thread: how deep the current line nests, and whether this thread's details are kept quiet."""

    depth = 0
    quiet = False


_here = _Place()


def install(write: Writer) -> None:
    """Send every line to ``write`` (the plugin's: past pytest's capture, to the real stderr)."""
    _writers[:] = [write]


def say(text: str) -> None:
    if _here.quiet or not _writers:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    line = f"{datetime.now():%H:%M:%S} {f'[{worker}] ' if worker else ''}{'  ' * _here.depth}{text}"
    with _lock:
        for write in _writers:
            write(line)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """This thread's step lines are left out (a fleet host: its batch and its outcome are what count)."""
    _here.quiet = True
    try:
        yield
    finally:
        _here.quiet = False


@contextlib.contextmanager
def nested() -> Iterator[None]:
    """What runs inside (a rollback under its failed step, a checklist inside the workflow) is indented."""
    _here.depth += 1
    try:
        yield
    finally:
        _here.depth -= 1


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    """``→ step`` when it starts; ``✓``/``✗ step (seconds)`` when it ends. Its own lines are indented."""
    since = started(text)
    try:
        yield
    except BaseException as exc:
        ended(text, since, exc)
        raise
    ended(text, since)


def started(text: str) -> float:
    """For hooks that see a step's start and end apart (pytest-bdd's): ``→ step`` now, the clock back."""
    say(f"→ {text}")
    _here.depth += 1
    return time.monotonic()


def ended(text: str, since: float, error: BaseException | None = None) -> None:
    _here.depth = max(0, _here.depth - 1)
    elapsed = f"{time.monotonic() - since:.2f} s"
    if error is None:
        say(f"✓ {text} ({elapsed})")
    else:
        first = str(error).splitlines()[0][:160] if str(error) else ""
        say(f"✗ {text} ({elapsed}): {type(error).__name__}" + (f": {first}" if first else ""))


def until(seconds: float) -> str:
    """The wall-clock time ``seconds`` from now, as the operator's clock shows it."""
    return (datetime.now() + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def waiting(what: str, seconds: float, detail: str = "") -> None:
    """``… waiting for <what> until HH:MM:SS (<detail>)``."""
    say(f"… waiting for {what} until {until(seconds)}" + (f" ({detail})" if detail else ""))
