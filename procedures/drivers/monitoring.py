"""The podman-compose monitoring stack (Prometheus, Alertmanager, Grafana, Loki).

Facts read the compose file, the running containers and the APIs. Operations
edit the compose file in place, run podman-compose, validate configuration
inside the running containers before any reload, and restore from backups.
"""

from __future__ import annotations

import json
import posixpath
import time
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.api.alertmanager import AlertmanagerClient
from procedures.api.grafana import GrafanaClient
from procedures.api.http import Http
from procedures.api.prometheus import PrometheusClient
from procedures.config.base import parse_yaml
from procedures.errors import ApiError, DriverError, VerificationFailed
from procedures.host import backups
from procedures.host.commands import CommandResult, sh
from procedures.record.secrets import Secret
from procedures.run import live

if TYPE_CHECKING:
    from procedures.config.inventory import MonitoringComponent
    from procedures.host import Host


class MonitoringStack:
    def __init__(self, host: Host, component: MonitoringComponent, http: Http | None = None) -> None:
        self.host = host
        self.c = component
        self.http = http or host.http(timeout=10)
        self.prometheus = PrometheusClient(self.http, str(component.prometheus.url))
        self.alertmanager = AlertmanagerClient(self.http, str(component.alertmanager.url))

    @property
    def compose_file(self) -> str:
        return posixpath.join(self.c.compose_dir, self.c.compose_file)

    def grafana(self) -> GrafanaClient:
        g = self.c.grafana
        if g is None:
            raise DriverError("the inventory names no Grafana for the monitoring stack")
        return GrafanaClient(self.http, str(g.url), user=g.user,
                             password=Secret.from_env(g.password_env) if g.password_env else None,
                             token=Secret.from_env(g.token_env) if g.token_env else None)

    # -- commands ------------------------------------------------------------------
    def compose(self, *args: str, purpose: str, check: bool = True) -> CommandResult:
        """``logs`` and ``ps`` read; every other subcommand (pull, down, up) is an operation."""
        project = ("-p", self.c.compose_project) if self.c.compose_project else ()
        return self.host.run(
            f"cd {sh(self.c.compose_dir)} && {self._env()}{self.c.compose_command} "
            f"{sh(*project, '-f', self.c.compose_file, *args)}",
            purpose=purpose, check=check, timeout=self.c.timeouts.compose, change=args[0] not in {"logs", "ps"})

    def podman(self, *args: str, purpose: str, check: bool = True, change: bool = False) -> CommandResult:
        return self.host.run(f"{self._env()}podman {sh(*args)}", purpose=purpose, check=check, change=change)

    def _env(self) -> str:
        if not self.c.environment:
            return ""
        return "env " + " ".join(sh(f"{k}={v}") for k, v in sorted(self.c.environment.items())) + " "

    # -- facts ---------------------------------------------------------------------
    def compose_services(self) -> dict[str, dict[str, Any]]:
        """``service → its compose entry``, as the compose file says."""
        text = self.host.run(f"cat {sh(self.compose_file)}", purpose="read the compose file").stdout
        return dict((parse_yaml(text) or {}).get("services", {}) or {})

    def compose_images(self) -> dict[str, str]:
        """``service → image`` as the compose file says."""
        return {name: str(spec.get("image", "")) for name, spec in self.compose_services().items()}

    def containers(self) -> list[str]:
        """The container of every service the compose file names (the manual's ``podman ps``: all of them)."""
        project = self.c.compose_project or posixpath.basename(self.c.compose_dir.rstrip("/"))
        return [str(spec.get("container_name") or f"{project}_{name}_1")
                for name, spec in self.compose_services().items()]

    def running_images(self) -> dict[str, dict[str, str]]:
        """``container → {image, id, digest, state}`` of what actually runs, for every service of the stack.
        Two commands, whatever the stack's size: one inspects every container, one every image they run."""
        out = self.podman("inspect", "--format", "json", *self.containers(), purpose="inspect the containers",
                          check=False)  # a missing container is just not listed
        containers = json.loads(out.stdout or "[]")
        if not containers:
            return {}
        images = self.podman("image", "inspect", "--format", "{{.Id}} {{.Digest}}",
                             *sorted({info["Image"] for info in containers}), purpose="read the image digests")
        digests = dict(line.split(" ", 1) for line in images.stdout.splitlines() if " " in line)
        return {info["Name"]: {"image": info["ImageName"], "id": info["Image"][:12], "digest": digests[info["Image"]],
                               "state": info["State"]["Status"]} for info in containers}

    def absent_images(self, images: list[str]) -> list[str]:
        """Which of ``images`` this host does not hold."""
        return [image for image in images
                if self.podman("image", "exists", image, purpose=f"is {image} here", check=False).rc != 0]

    def require_images(self, images: list[str]) -> None:
        """Raise unless every image is present locally (the stack is not stopped without them)."""
        missing: list[str] = self.host.after_changes(lambda: self.absent_images(images), [])  # a withheld pull: none
        if missing:
            raise DriverError(f"could not pull {', '.join(missing)}: not in the registry? The stack was not stopped.")

    def readiness(self) -> dict[str, bool]:
        ready = {"prometheus": self.prometheus.ready(), "alertmanager": self.alertmanager.ready()}
        if self.c.grafana:
            ready["grafana"] = self._answers(str(self.c.grafana.url).rstrip("/") + "/api/health")
        if self.c.loki:
            ready["loki"] = self._answers(str(self.c.loki.url).rstrip("/") + self.c.loki.ready_path)
        return ready

    def stopped_containers(self, containers: list[str]) -> list[str]:
        """Which of ``containers`` exited (killed, crashed): they do not come back by themselves. One command."""
        out = self.podman("inspect", "--format", "{{.Name}} {{.State.Status}}", *containers,
                          purpose="read the containers' states", check=False)  # a missing one is just not listed
        states = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
        return [name for name in containers if states.get(name) in {"exited", "stopped", "dead"}]

    def wait_ready(self) -> dict[str, bool]:
        """Until every endpoint answers; a container that exited fails at once (``service_down``)."""
        deadline = time.monotonic() + self.c.timeouts.ready
        live.waiting("every monitoring endpoint to be ready", self.c.timeouts.ready)
        with record.poll("every monitoring endpoint to be ready"):
            ready = self._poll_ready(deadline)
        record.data("every monitoring endpoint is ready", ready)
        return ready

    def _poll_ready(self, deadline: float) -> dict[str, bool]:
        containers = self.containers()  # the compose file does not change while the stack comes up
        while True:
            ready = self.readiness()
            if all(ready.values()):
                return ready
            stopped = self.stopped_containers(containers)
            if stopped:
                raise VerificationFailed(f"{', '.join(stopped)} exited: not ready, and it will not come back by itself",
                                         failure_class="service_down")
            if time.monotonic() > deadline:
                raise VerificationFailed(f"not ready after {self.c.timeouts.ready:g}s: "
                                         + ", ".join(k for k, v in ready.items() if not v))
            time.sleep(0.5)

    def _answers(self, url: str) -> bool:
        try:
            return self.http.get(url).ok
        except ApiError:
            return False

    # -- operations ----------------------------------------------------------------
    def backup(self, facts: dict[str, Any]) -> backups.Backup:
        """The compose file and every configuration tree (the manual's rollback forgets Alertmanager)."""
        return backups.take(self.host, source=self.c.compose_dir, paths=[self.c.compose_file, *self.c.config_paths],
                            backups_dir=self.c.backups_dir, component="monitoring", facts=facts)

    def set_images(self, images: dict[str, str]) -> None:
        """Change each service's ``image:`` line in place; comments and layout stay as they were."""
        current = self.compose_images()
        unknown = sorted(set(images) - set(current))
        if unknown:
            raise DriverError(f"the compose file has no service {', '.join(unknown)}")
        script = "; ".join(
            f"s|image: {_sed(current[name])}$|image: {_sed(new)}|" for name, new in sorted(images.items())
            if current[name] != new)
        if script:
            self.host.run(f"sed -i {sh(script)} {sh(self.compose_file)}", purpose="set the new image tags",
                          change=True)

    def apply_config(self, source: str) -> None:
        """Copy the new trees over the live ones, file by file, so bind mounts see the new content."""
        for tree in self.c.config_paths:
            src = posixpath.join(source, tree)
            self.host.run(f"[ ! -e {sh(src)} ] || cp -r {sh(src)}/. {sh(posixpath.join(self.c.compose_dir, tree))}/",
                          purpose=f"copy the new {tree} configuration", change=True)

    def validate_config(self) -> None:
        """promtool and amtool inside the running containers, against the files they will load."""
        self.podman("exec", self.c.prometheus.container, "promtool", "check", "config",
                    "/etc/prometheus/prometheus.yml", purpose="validate the Prometheus configuration (promtool)")
        self.podman("exec", self.c.alertmanager.container, "amtool", "check-config",
                    "/etc/alertmanager/alertmanager.yml", purpose="validate the Alertmanager configuration (amtool)")

    def reload(self) -> None:
        """Reload both without a restart; a refusal (HTTP 500) is a failed verification."""
        for name, client in (("Prometheus", self.prometheus), ("Alertmanager", self.alertmanager)):
            reply = client.http.request("POST", f"{client.base}/-/reload")
            if not reply.ok:
                raise VerificationFailed(f"{name} refused the reload: HTTP {reply.status} {reply.text.strip()[:200]}")

    def restore(self, backup: backups.Backup) -> None:
        """In place, because the containers bind-mount these files."""
        backups.restore(self.host, backup, in_place=True)


def _sed(text: str) -> str:
    return "".join("\\" + ch if ch in r"\|.*[]^$/&" else ch for ch in text)
