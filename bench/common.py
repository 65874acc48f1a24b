"""What every benchmark shares: a throwaway lab, timing, running pytest or a script, and the table."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from procedures.lab import Lab  # noqa: E402

T = TypeVar("T")
WORK = Path(tempfile.mkdtemp(prefix="bench-"))  # labs and records of this benchmark run; removed at exit
atexit.register(shutil.rmtree, WORK, True)


def scratch(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=WORK))


def timed(fn: Callable[[], object]) -> float:
    return measured(fn)[0]


def measured(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds it took, and what it returned."""
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextlib.contextmanager
def throwaway_lab(parts: tuple[str, ...] = ("gateway",)) -> Iterator[Lab]:
    """A fresh lab in a temporary folder; always torn down."""
    lab = Lab(scratch("lab-") / "lab").up(parts)
    try:
        yield lab
    finally:
        lab.down()


@dataclass(frozen=True)
class PytestRun:
    rc: int
    output: str
    results: Path  # the run's record (Allure results)


def pytest_run(lab: Lab, *args: str, check: bool = True) -> PytestRun:
    """``python -m pytest ARGS`` against ``lab``, as an operator would type it, with its own results folder."""
    results = scratch("allure-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLATNET_", "PYTEST_XDIST"))}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", *args, f"--alluredir={results}"], cwd=PROJECT,
                          env=env | {"FLATNET_LAB_DIR": str(lab.root)}, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"pytest {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return PytestRun(proc.returncode, proc.stdout, results)


def bash(script: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True, **kw)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print one aligned table; floats get two decimals."""
    cells = [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
