"""Who serves the gateway's ports: the master the pid file names and its workers, nobody else.

An answer with the right version is not proof on its own. When a master dies
(``kill -9``, the OOM killer), its workers live on as orphans on the same
listening sockets and answer for a release no master runs any more, while the
other master may serve the other release: the version check then passes by
luck. So a verification also asks the kernel which processes listen on the
gateway's ports and checks that they are exactly one master and its workers
(plus, during a binary upgrade, the idle previous master).

``listeners_command`` is the fact's command; ``parse_listeners`` and
``problem`` are pure, so they are tested on outputs recorded from the lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# The process "$p" runs (a zombie counts as gone: PID 1 may reap late).
ALIVE = "kill -0 \"$p\" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$p/stat 2>/dev/null"
NGINX_TITLE = "nginx:"  # nginx titles its processes "nginx: master process ...", "nginx: worker process"
NO_FACT_RC = 3  # the host has no ``ss``: the fact is unknown, not empty


@dataclass(frozen=True)
class Listener:
    pid: int
    parent: int
    title: str

    @property
    def is_nginx(self) -> bool:
        return self.title.startswith(NGINX_TITLE)


def ports_of(*urls: str) -> list[int]:
    """The TCP ports the gateway answers on, from its front and health URLs."""
    found = []
    for url in urls:
        parts = urlsplit(url)
        found.append(parts.port or (443 if parts.scheme == "https" else 80))
    return sorted(set(found))


def listeners_command(ports: list[int]) -> str:
    """Each process with a listening TCP socket on ``ports``: ``pid parent-pid title``, one per line (one ps)."""
    selector = " or ".join(f"sport = :{port}" for port in ports)
    return (f"command -v ss >/dev/null || exit {NO_FACT_RC}; "
            f"ss -Hltnp '( {selector} )' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -un | paste -sd, - | "
            "{ read -r pids && [ -n \"$pids\" ] && ps -o pid=,ppid=,args= -p \"$pids\" || true; }")


def parse_listeners(stdout: str) -> dict[int, Listener]:
    found = {}
    for line in stdout.splitlines():
        fields = line.split(None, 2)
        if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
            pid = int(fields[0])
            found[pid] = Listener(pid, int(fields[1]), fields[2] if len(fields) > 2 else "")
    return found


def strays(listening: dict[int, Listener], masters: set[int]) -> list[Listener]:
    """Listeners that belong to none of ``masters``: neither one of them nor a child of one."""
    return [entry for pid, entry in sorted(listening.items()) if pid not in masters and entry.parent not in masters]


def problem(listening: dict[int, Listener], master: int, previous: int | None) -> str | None:
    """Why the ports are not held by exactly ``master`` and its workers (``previous`` may stay idle), or None."""
    others = strays(listening, {master} | ({previous} if previous else set()))
    if others:
        shown = ", ".join(f"{entry.pid} ({entry.title or '?'}, parent {entry.parent})" for entry in others)
        return f"processes without the gateway's master listen on its ports: {shown}"
    if not any(entry.parent == master for entry in listening.values()):
        return f"master {master} has no worker on the gateway's ports"
    return None


def terminate(pids: list[int]) -> str:
    """A POSIX shell command: TERM to each PID, up to 2 s for them to go, then KILL; only the PIDs named."""
    named = " ".join(str(pid) for pid in pids)
    return (f"kill -TERM {named} 2>/dev/null; for i in $(seq 100); do kill -0 {named} 2>/dev/null || exit 0;"
            f" sleep 0.02; done; kill -KILL {named} 2>/dev/null; true")
