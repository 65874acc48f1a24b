"""Live progress, read as the operator reads it: from a running procedure's output, while it runs.

No TTY here (a pipe), ``-q``: CI logs must get the same plain lines, as they happen, in order.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from procedures.lab import Lab
from tests.conftest import PROJECT, feature_environment

FEATURE = "features/gateway_update.feature"
CLOCK = r"\d\d:\d\d:\d\d"


def read_while_running(lab: Lab, tmp_path: Path, *args: str) -> tuple[list[tuple[float, str]], float, int]:
    """Every output line with the moment it arrived; the moment the run ended; its exit code."""
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", f"--alluredir={tmp_path}/results", FEATURE, *args],
                           cwd=PROJECT, env=feature_environment(lab), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), line.rstrip("\n"))
                                                          for line in run.stdout or []))
    reader.start()
    rc = run.wait(timeout=180)
    ended = time.monotonic()
    reader.join(timeout=10)
    return lines, ended, rc


def arrived(lines: list[tuple[float, str]], pattern: str) -> tuple[float, str]:
    found = [(at, line) for at, line in lines if re.search(pattern, line)]
    assert found, f"no line matches {pattern!r}:\n" + "\n".join(line for _, line in lines)
    return found[0]


def test_steps_and_waits_are_printed_as_they_happen_in_order(lab: Lab, tmp_path: Path) -> None:
    lines, ended, rc = read_while_running(lab, tmp_path, "-p", "no:xdist", "--lab-fault", "unhealthy")
    assert rc == 1
    text = [line for _, line in lines]
    assert not any("\x1b" in line or "\r" in line for line in text), "control characters in a CI log"
    wanted = [rf"^{CLOCK} ▶ シナリオ: Gateway のアップデート実行$",
              rf"^{CLOCK} → 前提 ゲートウェイが稼働している$",
              rf"^{CLOCK} ✓ 前提 ゲートウェイが稼働している \(\d+\.\d\d s\)$",
              rf"^{CLOCK} → かつ 新しいリリースが稼働中のゲートウェイから引き継ぐ$",
              rf"^{CLOCK} → ならば ゲートウェイが新しいバージョンで応答する$",
              rf"^{CLOCK}   … waiting for the gateway to serve 1\.27\.1\.2 until {CLOCK} \(5 right answers in a row",
              rf"^{CLOCK}   re-verify \(partly_broken\) attempt 2, every 0\.5 s, "
              rf"rollback at {CLOCK} \(0\.05 min window\)",
              rf"^{CLOCK} ✗ ならば ゲートウェイが新しいバージョンで応答する \(\d+\.\d\d s\): VerificationFailed",
              rf"^{CLOCK}   ROLLBACK: Gateway の問題発生時のロールバック",
              rf"^{CLOCK}     → もし 旧リリースが新リリースから引き継ぐ$",
              rf"^{CLOCK}     ✓ かつ ゲートウェイの設定がバックアップと一致する",
              rf"^{CLOCK} ■ Gateway のアップデート実行: rolled back$"]
    moments = [arrived(lines, pattern)[0] for pattern in wanted]
    assert moments == sorted(moments), "the lines came out of order"
    verifying, _ = arrived(lines, r"→ ならば ゲートウェイが新しいバージョンで応答する")
    assert ended - verifying > 3, "the verification's line came only at the end, not as it started"
    _, wait = arrived(lines, r"… waiting for the gateway to serve")
    deadline = re.search(rf"until ({CLOCK})", wait)
    assert deadline, wait
    ahead = (seconds_of(deadline.group(1)) - seconds_of(wait[:8])) % 86400
    assert 1 <= ahead <= 3, wait  # the lab's timeouts.healthy (2 s) from the wait's own start


def seconds_of(clock: str) -> int:
    hours, minutes, seconds = map(int, clock.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def test_under_xdist_each_line_names_its_worker(lab: Lab, tmp_path: Path) -> None:
    lines, _, rc = read_while_running(lab, tmp_path, "-n", "2")
    assert rc == 0
    arrived(lines, rf"^{CLOCK} \[gw[01]\] ▶ シナリオ: Gateway のアップデート実行$")
    arrived(lines, rf"^{CLOCK} \[gw[01]\] ✓ かつ 旧ゲートウェイを退役させる \(\d+\.\d\d s\)$")
    arrived(lines, rf"^{CLOCK} \[gw[01]\] ■ Gateway のアップデート実行: passed$")
