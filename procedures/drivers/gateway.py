"""The OpenResty gateway, driven the way the manual does it, POSIX flavor.

Facts (``version``, ``is_running``, ``health``) only read. Operations change
the target, record their evidence, and are safe to repeat: each looks at the
folders and the masters first, so a rollback works whatever point the update
reached.

The manual's folders, with the names from the inventory::

    openresty      -> openresty-old       (update)
    openresty-new  -> openresty
    openresty      -> openresty-failed    (rollback)
    openresty-old  -> openresty

How the new release takes over, and how the previous one takes back, is a
strategy: ``gateway_handover.py``.
"""

from __future__ import annotations

import contextlib
import functools
import posixpath
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.api.http import Http, Reply
from procedures.drivers import gateway_outside_config as outside_config
from procedures.drivers import gateway_processes as processes
from procedures.drivers.gateway_handover import BinaryUpgrade, Handover, StopStart
from procedures.drivers.gateway_processes import ALIVE, Listener
from procedures.drivers.prober import Prober
from procedures.errors import ApiError, DriverError, VerificationFailed
from procedures.host import backups, poll_intervals
from procedures.host.commands import sh
from procedures.record.secrets import Secret
from procedures.run import live

if TYPE_CHECKING:
    from procedures.config.inventory import GatewayComponent, HealthCheck
    from procedures.host import Host

_VERSION = re.compile(r"nginx version: (?:openresty/)?(\S+)")


def nginx_version(output: str) -> str | None:
    """``nginx version: openresty/1.25.3.1`` → ``1.25.3.1`` (plain nginx too); None when it says no version."""
    match = _VERSION.search(output)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Health:
    """One look at the gateway from outside: what it answered, and which release."""

    front: Reply | None
    api: Reply | None
    version: str | None

    @property
    def serving(self) -> bool:
        return bool(self.front and self.front.ok and self.api and self.api.ok)


class Gateway:
    """An OpenResty install under ``root`` on ``host``."""

    def __init__(self, host: Host, component: GatewayComponent, http: Http | None = None) -> None:
        self.host = host
        self.c = component
        self.http = http or host.http(timeout=component.health.timeout)

    # -- paths -----------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return self.host.files.join(self.c.root, *parts)

    @property
    def live(self) -> str:
        return self.path(self.c.install_dir)

    @property
    def staging(self) -> str:
        return self.path(self.c.staging_dir)

    @property
    def old(self) -> str:
        return self.path(self.c.old_dir)

    @property
    def failed(self) -> str:
        return self.path(self.c.failed_dir)

    # -- facts -----------------------------------------------------------------
    def version(self, folder: str | None = None) -> str:
        """The release version that ``nginx -v`` in ``folder`` (default: live) reports."""
        out = self.nginx(folder or self.live, "-v", check=True, purpose="read the version (nginx -v)")
        version = nginx_version(out.stderr + out.stdout)
        if version is None:
            raise DriverError(f"cannot read a version from `nginx -v`: {out.stderr.strip()!r}")
        return version

    def exists(self, path: str) -> bool:
        return self.host.files.exists(path)

    def pid(self) -> int | None:
        """PID of the running master, from the pid file, if that process is alive."""
        return self._master(self.c.pid_file, "check whether the gateway runs")

    def previous_pid(self) -> int | None:
        """PID of the master a binary upgrade left idle (``nginx.pid.oldbin``), if alive."""
        return self._master(self.c.pid_file + ".oldbin", "check for the previous master")

    def _master(self, pid_file: str, purpose: str) -> int | None:
        out = self.host.run(f"p=$(cat {sh(self.path(pid_file))} 2>/dev/null) && [ -n \"$p\" ] && {ALIVE} && echo $p",
                            check=False, purpose=purpose)
        return int(out.stdout) if out.rc == 0 and out.stdout.strip().isdigit() else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def listeners(self) -> dict[int, Listener] | None:
        """Every process listening on the gateway's ports (the kernel's word); None when the host cannot tell."""
        ports = processes.ports_of(str(self.c.front.url), str(self.c.health.url))
        out = self.host.run(processes.listeners_command(ports), check=False,
                            purpose="which processes listen on the gateway's ports")
        return None if out.rc == processes.NO_FACT_RC else processes.parse_listeners(out.stdout)

    def serving_problem(self, master: int | None = None) -> str | None:
        """Why the gateway's ports are not held by one live master (``master``, when given) and its workers."""
        current = self.pid()
        if current is None:
            return "no gateway master runs: the pid file names no live process"
        if master is not None and current != master:
            return f"the pid file names master {current}, not {master}, the master the release started"
        listening = self.listeners()
        return None if listening is None else processes.problem(listening, current, self.previous_pid())

    def health(self) -> Health:
        """Ask the front page and the API health endpoint; never raises for a refusal."""
        front = self._probe(self.c.front)
        api = self._probe(self.c.health)
        version = None
        if api is not None and self.c.health.version_field:
            body = api.json()
            version = body.get(self.c.health.version_field) if isinstance(body, dict) else None
        return Health(front, api, version)

    def front_seconds(self) -> float:
        """One unrecorded request to the front page, timed (the latency samples are recorded as a set)."""
        try:
            reply = self.http.get(str(self.c.front.url), record_it=False)
        except ApiError as exc:
            raise VerificationFailed(f"the front page stopped answering: {exc}") from exc
        if not reply.ok:
            raise VerificationFailed(f"the front page answered {reply.status}", failure_class="partly_broken")
        return reply.seconds

    # -- operations ------------------------------------------------------------
    def backup(self, facts: dict[str, Any]) -> backups.Backup:
        """Back up the live configuration (``backup_paths``) with a manifest; and a ``-c`` configuration outside
        the release folders in a backup of its own, which the main one names (``config_backup``)."""
        outside = self.outside_config()
        if outside is not None:
            folder, paths = outside
            kept = backups.take(self.host, source=folder, paths=paths, backups_dir=self.path(self.c.backups_dir),
                                component=outside_config.COMPONENT, facts={"nginx -c": folder})
            facts = {**facts, "config_backup": kept.path}
        return backups.take(self.host, source=self.live, paths=list(self.c.backup_paths),
                            backups_dir=self.path(self.c.backups_dir), component="gateway", facts=facts)

    def outside_config(self) -> tuple[str, list[str]] | None:
        return outside_config.located(self)

    def restore_outside_config(self, backup: backups.Backup) -> None:
        outside_config.restore(self, backup)

    def outside_config_backup(self, backup: backups.Backup) -> backups.Backup | None:
        return outside_config.backup_of(self, backup)

    def retire_leftovers(self, backup: backups.Backup) -> None:
        """Move folders left by an earlier maintenance into this run's backup, so none is lost."""
        for folder in (self.old, self.failed):
            if self.exists(folder):
                files = self.host.files
                files.copy_into(self.c.root, [files.path.basename(folder)], files.join(backup.path, "retired"))
                files.remove(folder)

    def stage(self, release: str | None) -> str:
        """Lay out the new release in the staging folder with the live site configuration.

        Only ``site_config`` paths are copied, so the release keeps its own
        bundled files (the manual's blanket copy of ``lualib`` would put the
        old release's libraries back). Returns the staged release's version.
        """
        files = self.host.files
        if release is not None:
            files.replace_tree(release, self.staging)
        elif not self.exists(self.staging):
            raise DriverError(f"nothing to install: no release in the plan and no {self.staging}")
        for item in self.c.site_config:
            files.merge_into(files.join(self.live, item), files.join(self.staging, item))
        staged = self.staging if release is None else self.host.after_changes(lambda: self.staging, release)
        return self.version(staged)  # a withheld copy leaves the release where it is

    def config_test(self, folder: str) -> None:
        """``nginx -t`` plus a Lua compile of every module (``nginx -t`` never compiles Lua)."""
        self.nginx(folder, "-t", check=True, purpose="test the staged configuration (nginx -t)", change=True)
        if self.c.lua_check:
            lualib = posixpath.join(folder, "lualib")
            self.host.run(
                f"[ ! -d {sh(lualib)} ] || find {sh(lualib)} -name '*.lua' -type f | LC_ALL=C sort | {{ bad=0; "
                f"while IFS= read -r f; do {self.c.lua_check} \"$f\" >/dev/null || bad=1; done; exit $bad; }}",
                purpose="compile every Lua module (nginx -t does not)", change=True,
            )

    def stop(self) -> None:
        """Stop the running gateway and wait until its master has exited."""
        if not self.is_running():
            record.text("stop", "the gateway is not running: nothing to stop")
            return
        self.nginx(self.live, "-s", "stop", check=True, purpose="stop the gateway", change=True)
        self.wait(lambda: not self.is_running(), self.c.timeouts.stop, "the gateway to stop")

    def start(self) -> None:
        """Start the live install (nginx daemonizes) and wait until its master runs."""
        if self.host.after_changes(self.is_running, False):  # after a withheld stop it would start
            record.text("start", "the gateway is already running")
            return
        self.nginx(self.live, check=True, purpose="start the gateway", change=True)
        self.wait(self.is_running, self.c.timeouts.start, "the gateway to start")

    def swap_in(self) -> None:
        """live → old, staging → live."""
        if self.exists(self.old):
            raise DriverError(f"{self.old} exists: a previous update was not finished")
        self.host.files.move(self.live, self.old)
        self.host.files.move(self.staging, self.live)

    def swap_back(self) -> bool:
        """live → failed, old → live; False (and no change) when no swap happened."""
        if not self.exists(self.old):
            record.text("swap back", f"{self.old} does not exist: the new release was never swapped in")
            return False
        files = self.host.files
        files.remove(self.failed)
        if self.exists(self.live):
            files.move(self.live, self.failed)
        files.move(self.old, self.live)
        return True

    # -- hand-over (a strategy: gateway_handover.py) ---------------------------
    @functools.cached_property
    def handover(self) -> Handover:
        return BinaryUpgrade(self) if self.c.handover == "binary-upgrade" else StopStart(self)

    def take_over(self) -> int | None:
        """Swap the staged release in and let it take over from the running gateway, under the prober.

        Returns the PID of the master the new release started (None in a dry run).
        """
        with self.probed("hand-over to the new release"):
            return self.handover.take_over()

    def retire_previous(self) -> None:
        self.handover.retire_previous()

    def take_back(self, expected_version: str) -> None:
        """The previous release serves again, whatever point the update reached; repeating is harmless."""
        self.handover.take_back(expected_version)

    def started_after(self, stdout: str) -> None:
        """Record the window the host measured (``stop_to_start_ms=N``), then wait for the new master."""
        window = re.search(r"stop_to_start_ms=(\d+)", stdout)
        if window:
            record.data("stop-to-start window (on the host)", {"ms": int(window.group(1))})
        self.wait(self.is_running, self.c.timeouts.start, "the gateway to start")

    def clear_strays(self) -> None:
        """Stop gateway workers that lost their master: they hold the ports and answer for a release no master
        runs. Only nginx processes on the gateway's own ports are touched, by PID; anything else is left alone."""
        listening = self.listeners()
        if not listening:
            return
        masters = {pid for pid in (self.pid(), self.previous_pid()) if pid is not None}
        orphans = [entry.pid for entry in processes.strays(listening, masters) if entry.is_nginx]
        if not orphans:
            return
        self.host.run(processes.terminate(orphans),
                      purpose="stop gateway workers left without their master (TERM, then KILL)", change=True)

    def stop_by_pid(self, masters: list[int]) -> None:
        """Masters that refuse a clean stop (the release a rollback could not get rid of): TERM, then KILL."""
        self.host.run(processes.terminate(masters), purpose="stop the gateway's masters by PID (TERM, then KILL)",
                      change=True)

    @contextlib.contextmanager
    def probed(self, what: str) -> Iterator[None]:
        """Time the block and, when the probe is on, count the requests it drops; recorded even if it fails."""
        if not self.host.after_changes(lambda: self.c.probe.enabled, False):  # a withheld swap drops nothing
            yield
            return
        started = time.monotonic()
        prober = Prober(str(self.c.front.url), rate=self.c.probe.rate, limit=self.c.timeouts.start + 30)
        try:
            with prober:
                try:
                    yield
                finally:
                    time.sleep(min(0.05, 2 * prober.interval))  # an outage that starts as the block ends
        finally:
            record.data(what, {"method": self.c.handover, "seconds": round(time.monotonic() - started, 3),
                               **prober.report.as_record()})

    def swapped_in(self) -> bool:
        """Whether this maintenance moved a new release into the live folder."""
        return self.exists(self.old)

    def wait_serving(self, expected_version: str, master: int | None = None) -> Health:
        """Poll until the gateway serves ``expected_version`` in ``consistent_answers`` answers in a row, from one
        live master (``master``, when given) and its workers, before and after those answers; or raise
        VerificationFailed. A dead master or another master in the pid file fails at once: neither heals.
        """
        deadline = time.monotonic() + self.c.timeouts.healthy
        what = f"the gateway to serve {expected_version}"
        live.waiting(what, self.c.timeouts.healthy,
                     f"{self.c.consistent_answers} right answers in a row from master {master or 'in the pid file'}")
        with record.poll(what):
            health, version, in_a_row = self._poll_serving(expected_version, master, deadline)
        record.data("verified", {"version": version, "front": health.front and health.front.status,
                                 "api": health.api and health.api.status, "master": self.pid(),
                                 "answers in a row": in_a_row})
        return health

    def _poll_serving(self, expected_version: str, master: int | None, deadline: float) -> tuple[Health, str | None,
                                                                                                   int]:
        pauses = poll_intervals()
        while True:
            identity = self.serving_problem(master)
            if identity is not None:
                current = self.pid()
                if current is None or master not in (None, current):  # neither heals
                    raise VerificationFailed(identity, failure_class="service_down")
            health, version, in_a_row = self._answers(expected_version)
            if identity is None and in_a_row == self.c.consistent_answers:
                identity = self.serving_problem(master)
                if identity is None:
                    return health, version, in_a_row
            if time.monotonic() >= deadline:
                answers = health.front is not None or health.api is not None
                raise VerificationFailed(identity or _describe_unhealthy(health, version, expected_version),
                                         failure_class="partly_broken" if answers and not identity else "service_down")
            time.sleep(next(pauses))

    def _answers(self, expected_version: str) -> tuple[Health, str | None, int]:
        """Ask up to ``consistent_answers`` times; stops at the first wrong answer. (last health, version, right)"""
        right = 0
        while True:
            health = self.health()
            version = health.version if self.c.health.version_field else self.version()
            if not (health.serving and version == expected_version):
                return health, version, right
            right += 1
            if right == self.c.consistent_answers:
                return health, version, right

    def snapshot(self, folder: str | None = None) -> dict[str, backups.FileEntry]:
        """Hashes of the backed-up paths as they are now in ``folder`` (default: live)."""
        return backups.tree_digest(self.host, folder or self.live, list(self.c.backup_paths))

    # -- primitives ------------------------------------------------------------
    def nginx(self, folder: str, *args: str, check: bool, purpose: str, change: bool = False) -> Any:
        binary = posixpath.join(folder, self.c.binary)
        command = f"cd {sh(folder)} && {sh(binary, *self.c.nginx_args, *args)}"
        return self.host.run(command, check=check, purpose=purpose, change=change)

    def _probe(self, check: HealthCheck) -> Reply | None:
        token = Secret.from_env(check.token_env) if check.token_env else None
        try:
            return self.http.get(str(check.url), token=token)
        except ApiError as exc:  # a refused connection is a fact here, not an error
            record.text(f"probe {check.url}", f"no answer: {exc}")
            return None

    def wait(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        if not self.host.wait_for(condition, seconds, what):
            raise DriverError(f"timed out after {seconds:g}s waiting for {what}")


def _describe_unhealthy(health: Health, version: str | None, expected: str) -> str:
    def show(reply: Reply | None) -> str:
        return "no answer" if reply is None else f"HTTP {reply.status} {reply.text.strip()[:120]!r}"

    return (f"the gateway does not serve {expected}: front page {show(health.front)}, "
            f"API health {show(health.api)}, version {version!r}")
