"""Whether a process on this machine (the controller) still runs: a lock's holder, a lab server."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """True for a running process; zombies count as gone (PID 1 here reaps late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
