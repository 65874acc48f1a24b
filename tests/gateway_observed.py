"""The lab gateway seen from outside the program: the kernel's listening sockets, the pid files,
the files' sha256 and the answers on the wire. Fault tests judge outcomes with these, never with
what the program printed."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import httpx

from procedures.lab import Lab
from procedures.lab.processes import listening_pids
from procedures.run.pids import alive

PID_FILES = {"serving": "logs/nginx.pid", "previous": "logs/nginx.pid.oldbin"}


def live_hashes(lab: Lab) -> dict[str, str]:
    live = lab.flatnet / "openresty"
    return {str(p.relative_to(live)): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("conf", "lualib") for p in sorted((live / sub).rglob("*")) if p.is_file()}


def served_version(lab: Lab) -> str:
    return httpx.get(f"http://127.0.0.1:{lab.state.api_port}/api/health", timeout=5).json()["version"]


def answers(lab: Lab, count: int = 8) -> set[str]:
    """The versions answered over ``count`` requests, each on a new connection (any worker may take it)."""
    return {served_version(lab) for _ in range(count)}


def master(lab: Lab, which: str = "serving") -> int | None:
    """The PID a pid file names, if that process runs."""
    try:
        pid = int((lab.flatnet / PID_FILES[which]).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def kill_9(lab: Lab, which: list[str]) -> list[int]:
    """SIGKILL the masters the pid files name (``serving``, ``previous``); returns the PIDs killed."""
    killed = [pid for pid in (master(lab, w) for w in which) if pid is not None]
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.01)
    return killed


def listeners(lab: Lab) -> dict[int, int]:
    """``{pid: parent}`` of every process listening on the lab's gateway ports."""
    return listening_pids(lab.gateway_ports())


def orphans(lab: Lab) -> list[int]:
    """Listeners on the gateway's ports that are neither a live master (pid files) nor a child of one."""
    masters = {pid for pid in (master(lab, "serving"), master(lab, "previous")) if pid is not None}
    return sorted(pid for pid, parent in listeners(lab).items() if pid not in masters and parent not in masters)


def served_by_one_master(lab: Lab) -> bool:
    """The ports are held by exactly the master the pid file names and its workers, and nothing else."""
    current = master(lab)
    held = listeners(lab)
    return (current is not None and master(lab, "previous") is None and bool(held)
            and all(pid == current or parent == current for pid, parent in held.items())
            and any(parent == current for parent in held.values()))


def wait_settled(lab: Lab, seconds: float = 5) -> None:
    """Give a master that just lost its partner time to take its pid file back (nginx does it on SIGCHLD)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (master(lab) and not orphans(lab)):
        time.sleep(0.02)


def lock_file(lab: Lab) -> Path:
    return lab.flatnet / "flatnet-maintenance.lock"
