"""A run forked from the suite's fork server is what a fresh ``python -m pytest`` would be."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT, feature_environment, forkserver


def without_timings(output: str) -> str:
    return re.sub(r"in [0-9.]+s", "in Ns", re.sub(r"reports/runs/[0-9-]+", "reports/runs/T", output))


def test_a_forked_run_says_and_exits_as_a_fresh_one() -> None:
    """Same words, same exit code: no warning from the warm start (modules pytest could not rewrite), the
    same features collected, the environment and folder of the request."""
    for args in (["--co", "-q", "features"], ["--co", "-q", "features/no-such.feature"]):
        fresh = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", *args], cwd=PROJECT,
                               env=feature_environment(None), capture_output=True, text=True, check=False)
        rc, output = forkserver().run(["-p", "no:xdist", *args], PROJECT, feature_environment(None), 60)
        assert (rc, without_timings(output)) == (fresh.returncode, without_timings(fresh.stdout + fresh.stderr))
    assert "Warning" not in output and rc == 4  # usage error: the file is not there


def test_a_started_run_can_be_signalled_by_its_pid(tmp_path: Path) -> None:
    test = tmp_path / "test_sleeps.py"
    test.write_text("import time\n\ndef test_sleeps():\n    time.sleep(60)\n")
    run = forkserver().start(["-p", "no:xdist", "-p", "no:cacheprovider", str(test)], tmp_path,
                             feature_environment(None))
    assert run.poll() is None
    run.send_signal(signal.SIGKILL)
    assert run.wait(30) == -signal.SIGKILL
