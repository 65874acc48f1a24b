"""Finding and stopping the lab's own processes, by PID only.

A process belongs to the lab when its command line names the lab's root
folder (every lab server is started with a path inside it), when it descends
from such a process, or when it is an nginx process listening on one of the
lab's own gateway ports: a worker whose master was killed is re-parented and
renamed, and only its listening socket still says whose it is. Nothing else
is ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from procedures.run.pids import alive


def owned_pids(root: Path) -> list[int]:
    """PIDs of live processes whose command line mentions ``root``, and their descendants.

    Descendants matter because nginx rewrites its workers' titles.
    """
    marker = str(root).encode()
    table = _process_table()
    owned = {pid for pid, (_, cmdline) in table.items() if marker in cmdline and pid != os.getpid()}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in owned} - owned
        owned |= children
        grew = bool(children)
    return sorted(pid for pid in owned if alive(pid))


def listening_pids(ports: set[int]) -> dict[int, int]:
    """``{pid: parent pid}`` of every process with a listening TCP socket on ``ports`` (this network namespace)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) in ports:  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    holders = {}
    for pid, (parent, _) in _process_table().items():
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir()):
                holders[pid] = parent
    return holders


def nginx_on(ports: set[int]) -> list[int]:
    """The nginx processes (masters, workers, orphans) listening on ``ports``."""
    table = _process_table()
    return sorted(pid for pid in listening_pids(ports) if table.get(pid, (0, b""))[1].startswith(b"nginx:"))


def _process_table() -> dict[int, tuple[int, bytes]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        table[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return table


def terminate(pids: list[int], *, grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    for pid in pids:
        if alive(pid):
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def free_ports(count: int) -> list[int]:
    """``count`` loopback ports nothing listens on now (all held open together, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
