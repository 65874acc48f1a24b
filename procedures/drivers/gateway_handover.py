"""How a new gateway release takes over from the running one, and how the previous one takes it back.

One strategy per way, chosen by the gateway's flavor and its ``handover``:

- ``BinaryUpgrade`` (POSIX): the folders are swapped under the running master,
  then nginx's own binary upgrade (USR2, WINCH) starts a master from the live
  folder, now the new release, on the inherited listening sockets. No
  connection is refused. The old master stays idle until the update is
  verified, so a rollback before that is a HUP away.
- ``StopStart`` (POSIX): the manual's stop, rename, rename, start, as one
  command on the host: the shortest window it allows.
- ``WindowsScript`` (``gateway_windows.py``): the same as one PowerShell script.

Each is safe to repeat: it looks at the folders and the masters first.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING

from procedures import record
from procedures.drivers.gateway_processes import ALIVE
from procedures.errors import DriverError
from procedures.host.commands import sh

if TYPE_CHECKING:
    from procedures.drivers.gateway import Gateway

_NGINX_SIGNALS = {"QUIT": "quit", "TERM": "stop"}  # as ``nginx -s`` names them


class Handover:
    """The hand-over's three moves; the gateway times ``take_over`` under its prober."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def take_over(self) -> int | None:
        """Swap the staged release in and let it serve; the new master's PID, when known."""
        raise NotImplementedError

    def take_back(self, expected_version: str) -> None:
        """The previous release serves again, whatever point the update reached."""
        raise NotImplementedError

    def retire_previous(self) -> None:
        """Let a master kept for the rollback go, once the update is verified."""
        record.text("retire the previous master", "no previous master is left running")


class StopStart(Handover):
    def take_over(self) -> int | None:
        g = self.gateway
        if g.exists(g.old):
            raise DriverError(f"{g.old} exists: a previous update was not finished")
        live, nginx = sh(g.live), sh(posixpath.join(g.live, g.c.binary), *g.c.nginx_args)
        out = g.host.run(
            f"p=$(cat {sh(g.path(g.c.pid_file))}) && start=$(date +%s%N) && cd {live} && {nginx} -s stop && "
            f"while {ALIVE}; do sleep 0.001; done && cd / && mv {live} {sh(g.old)} && mv {sh(g.staging)} {live}"
            f" && cd {live} && {nginx} && echo stop_to_start_ms=$(( ($(date +%s%N) - start) / 1000000 ))",
            purpose="stop, rename, rename, start in one command", change=True)
        g.started_after(out.stdout)
        return g.pid()

    def take_back(self, expected_version: str) -> None:
        g = self.gateway
        g.clear_strays()
        if g.swapped_in():
            g.stop()
            g.swap_back()
        g.start()


class BinaryUpgrade(Handover):
    def take_over(self) -> int | None:
        self.gateway.swap_in()
        return self._upgrade_master()

    def retire_previous(self) -> None:
        g = self.gateway
        old = g.previous_pid()
        if old is None:
            super().retire_previous()
            return
        self._let_go("the previous master", lambda sig: g.host.run(
            f"kill -{sig} {old}", purpose=f"the previous master: {sig}", change=True),
            lambda: g.previous_pid() is None)

    def take_back(self, expected_version: str) -> None:
        """Masters may have died on the way (``kill -9``): workers left without theirs are stopped first,
        and whichever master is still alive is used."""
        g = self.gateway
        g.clear_strays()
        with g.probed("hand-back to the previous release"):
            g.swap_back()
            old = g.previous_pid()
            if old is not None:  # still idle: its workers come back, the new master goes
                g.host.run(f"kill -HUP {old}", purpose="the previous master starts workers again (HUP)", change=True)
                if g.pid() not in (None, old):
                    self._let_go("the new release's master", lambda sig: g.nginx(
                        g.failed, "-s", _NGINX_SIGNALS[sig], check=True, purpose=f"the new release: {sig}",
                        change=True), lambda: g.pid() == old)
                else:  # the new master is gone already: the previous one takes its pid file back by itself
                    g.wait(lambda: g.pid() == old, g.c.timeouts.start, "the previous master to take over")
            elif not g.is_running():
                g.start()
            elif g.health().version != expected_version:  # the previous master was already retired
                self._upgrade_master()
                self.retire_previous()

    def _upgrade_master(self) -> int | None:
        """USR2 → a new master from the live folder on the inherited sockets; WINCH → old workers leave."""
        g = self.gateway
        steps = max(1, int(g.c.timeouts.start / 0.01))
        pid_file, log = sh(g.path(g.c.pid_file)), sh(g.path(g.c.error_log))
        out = g.host.run(
            f"old=$(cat {pid_file}) && p=$old && {ALIVE} || {{ echo 'no running master to upgrade' >&2; exit 3; }}\n"
            f"size=$(stat -c %s {log} 2>/dev/null || echo 0); kill -USR2 \"$old\"; i=0\n"
            f"while new=$(cat {pid_file} 2>/dev/null); [ -z \"$new\" ] || [ \"$new\" = \"$old\" ]"
            " || ! kill -0 \"$new\" 2>/dev/null; do\n"
            f"  if tail -c +$((size + 1)) {log} 2>/dev/null | grep -q 'new binary process [0-9]* exited'; then\n"
            f"    echo 'the new master exited at start-up:' >&2; tail -c +$((size + 1)) {log} | tail -n 5 >&2; exit 4\n"
            f"  fi\n  i=$((i + 1)); [ $i -lt {steps} ] || {{ echo 'no new master after {g.c.timeouts.start:g}s' >&2;"
            " exit 5; }\n  sleep 0.01\ndone\n"
            "kill -WINCH \"$old\" && echo \"$old $new\"",
            purpose="binary upgrade: new master (USR2), old workers leave (WINCH)", change=True)
        if not out.stdout.strip():
            return None
        old, new = out.stdout.split()
        record.data("masters", {"previous": int(old), "new": int(new)})
        return int(new)

    def _let_go(self, who: str, send: Callable[[str], object], gone: Callable[[], bool]) -> None:
        """QUIT lets a master finish its connections; what is still open after ``timeouts.drain`` is closed (TERM).

        A lingering client (a half-sent request, a long download) must not hold
        a rollback, nor fail an update that is already verified.
        """
        g = self.gateway
        send("QUIT")
        if g.host.wait_for(gone, g.c.timeouts.drain, f"{who} to finish its connections and exit"):
            return
        record.text(f"{who}: still running", f"connections left after {g.c.timeouts.drain:g}s: closing them")
        send("TERM")
        g.wait(gone, g.c.timeouts.stop, f"{who} to exit")
