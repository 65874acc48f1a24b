"""The lab monitoring stack: real Prometheus and Alertmanager under podman-compose.

Podman runs with the lab's own configuration (see ``podman.py``). The compose
project gets a name of its own and its network a bridge and subnet of its
own, so that several labs can run side by side. Grafana and Loki are LAB
STAND-INS (``standins.py``) on loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from procedures.config.base import parse_yaml
from procedures.errors import LabError
from procedures.lab.podman import ALERTMANAGER, GRAFANA, LOKI, PROMETHEUS, Podman, free_subnet
from procedures.lab.templates import render

GRAFANA_PASSWORD_ENV = "FLATNET_LAB_GRAFANA_PASSWORD"
SERVICES = ("prometheus", "alertmanager")
IMAGES = (PROMETHEUS, ALERTMANAGER, GRAFANA, LOKI)
LAB_DASHBOARDS = {
    "flatnet-overview": "Flatnet - System Overview",
    "flatnet-gateway": "Flatnet - Gateway",
}


@dataclass
class MonitoringState:
    project: str
    prometheus_port: int
    alertmanager_port: int
    grafana_port: int
    loki_port: int
    subnet: str
    bridge: str
    grafana_password: str


class MonitoringLab:
    def __init__(self, root: Path, state: MonitoringState, podman: Podman) -> None:
        self.root = root
        self.state = state
        self.compose_dir = root / "monitoring"
        self.podman = podman

    @classmethod
    def new_state(cls, root: Path, ports: list[int]) -> MonitoringState:
        digest = hashlib.sha256(str(root).encode()).hexdigest()
        prometheus, alertmanager, grafana, loki = ports
        return MonitoringState(
            project=f"fnlab{digest[:8]}", prometheus_port=prometheus,
            alertmanager_port=alertmanager, grafana_port=grafana, loki_port=loki,
            subnet=free_subnet("10.89", (100 + (int(digest[8:12], 16) + i) % 150 for i in range(150))),
            bridge=f"fnm{digest[:8]}",
            grafana_password=secrets.token_hex(12),
        )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{getattr(self.state, service + '_port')}"

    @property
    def network(self) -> str:
        return f"{self.state.project}_monitoring"

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """podman-compose for the lab's own start and stop (without its pauses: ``podman_compose_without_pauses``)."""
        return self.podman.run(*podman_compose_without_pauses(), "-p", self.state.project, *args,
                               cwd=self.compose_dir, check=check)

    # -- build ---------------------------------------------------------------------
    def build(self) -> None:
        (self.compose_dir / "prometheus/alerts").mkdir(parents=True, exist_ok=True)
        (self.compose_dir / "alertmanager").mkdir(parents=True, exist_ok=True)
        files = {
            "podman-compose.yml": self.compose_dir / "podman-compose.yml",
            "prometheus.yml": self.compose_dir / "prometheus/prometheus.yml",
            "lab-alerts.yml": self.compose_dir / "prometheus/alerts/lab.yml",
            "alertmanager.yml": self.compose_dir / "alertmanager/alertmanager.yml",
        }
        for name, dest in files.items():
            dest.write_text(render("monitoring_files", name, registry=self.podman.registry,
                                   prometheus_tag=PROMETHEUS.tag(1), alertmanager_tag=ALERTMANAGER.tag(1),
                                   grafana_tag=GRAFANA.tag(1), loki_tag=LOKI.tag(1),
                                   prometheus_port=self.state.prometheus_port,
                                   alertmanager_port=self.state.alertmanager_port))
        dashboards = self.root / "grafana-standin"
        dashboards.mkdir(exist_ok=True)
        for uid, title in LAB_DASHBOARDS.items():
            (dashboards / f"{uid}.json").write_text(json.dumps(
                {"uid": uid, "title": title, "tags": ["flatnet"], "version": 1, "schemaVersion": 38, "panels": []},
                indent=2))
        self.podman.start_registry()
        self.podman.publish(IMAGES)

    # -- run -----------------------------------------------------------------------
    def start(self) -> None:
        if not self._registry_up():
            self.podman.start_registry()
        self._start_standins()
        self._write_network()
        self._pull()
        self.compose("up", "-d")
        self.wait_ready()

    def _pull(self) -> None:
        """The compose file's images, pulled side by side (``podman-compose pull`` pulls one after the other)."""
        services = parse_yaml((self.compose_dir / "podman-compose.yml").read_text())["services"]
        images = sorted({service["image"] for service in services.values()})
        with ThreadPoolExecutor(len(images)) as pool:
            list(pool.map(lambda image: self.podman.run("podman", "pull", "--quiet", image), images))

    def _ready_urls(self) -> list[str]:
        return [self.url(s) + "/-/ready" for s in SERVICES] + [self.url("grafana") + "/api/health",
                                                              self.url("loki") + "/ready"]

    def is_ready(self) -> bool:
        try:
            return all(httpx.get(url, timeout=1).status_code == 200 for url in self._ready_urls())
        except httpx.HTTPError:
            return False

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        for url in self._ready_urls():
            while True:
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise LabError(f"lab monitoring: {url} not ready after {seconds:g}s: see `podman ps -a` and "
                                   f"`podman logs` (CONTAINERS_CONF={self.root}/containers.conf)")
                time.sleep(0.1)

    def stop(self) -> None:
        """Containers, pods, volumes and the network go; then the lab's processes; then the bridge."""
        if (self.compose_dir / "podman-compose.yml").exists():
            self.compose("down", "-v", "-t", "2", check=False)
        self.podman.run("podman", "rm", "--all", "--force", "--time", "2", check=False)
        self.podman.run("podman", "network", "rm", "--force", self.network, check=False)
        self.podman.stop_registry()
        subprocess.run(["ip", "link", "del", self.state.bridge], capture_output=True, check=False)

    def inventory(self) -> dict[str, Any]:
        return {
            "host": "lab",
            "compose_dir": str(self.compose_dir),
            "compose_project": self.state.project,
            "environment": self.podman.env,
            "backups_dir": str(self.root / "flatnet/backups"),
            "prometheus": {"container": "flatnet-prometheus", "url": self.url("prometheus")},
            "alertmanager": {"container": "flatnet-alertmanager", "url": self.url("alertmanager")},
            "grafana": {"url": self.url("grafana"), "user": "admin", "password_env": GRAFANA_PASSWORD_ENV},
            "loki": {"url": self.url("loki")},
        }

    def _write_network(self) -> None:
        """The compose network as a CNI conflist of our own: podman 4.3 cannot name the bridge.

        No default route and no masquerading: containers reach each other and
        the host's published loopback ports, nothing else.
        """
        gateway = self.state.subnet.rsplit(".", 1)[0] + ".1"
        conflist = {
            "cniVersion": "0.4.0",
            "name": self.network,
            "plugins": [
                {"type": "bridge", "bridge": self.state.bridge, "isGateway": True, "ipMasq": False,
                 "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": self.state.subnet, "gateway": gateway}]]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "firewall", "backend": ""},
                {"type": "tuning"},
                {"type": "dnsname", "domainName": "dns.podman", "capabilities": {"aliases": True}},
            ],
            "args": {"podman_labels": {"io.podman.compose.project": self.state.project}},
        }
        path = self.root / "cni/net.d" / f"{self.network}.conflist"
        path.write_text(json.dumps(conflist, indent=2))

    def _registry_up(self) -> bool:
        try:
            return httpx.get(f"http://{self.podman.registry}/v2/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _start_standins(self) -> None:
        env = {**os.environ, "STANDIN_GRAFANA_USER": "admin", "STANDIN_GRAFANA_PASSWORD": self.state.grafana_password}
        for kind in ("grafana", "loki"):
            port = getattr(self.state, f"{kind}_port")
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
                continue  # already serving
            except httpx.HTTPError:
                pass
            log = (self.root / f"{kind}-standin.log").open("ab")
            subprocess.Popen([sys.executable, "-m", "procedures.lab.standins", kind, "--port", str(port),
                              "--state", str(self.root / f"{kind}-standin")],
                             stdout=log, stderr=log, env=env, start_new_session=True, cwd=Path(__file__).parents[2])

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.state)


def podman_compose_without_pauses() -> list[str]:
    """podman-compose as installed, minus its pauses: 1.0.3 sleeps 1 s after most podman commands it runs
    (``podman_compose.Podman.run``, ``sleep=1``): 4 s of the lab's ``up -d``, 2 s of its ``down -v``. The lab's
    own start and stop run the same podman commands without them; the procedures run the tool as it is."""
    script = shutil.which("podman-compose")
    if script is None:
        raise LabError("podman-compose is not installed: run `./maint setup`")
    interpreter = Path(script).read_text().splitlines()[0].removeprefix("#!").strip()
    return [interpreter, "-c", "import runpy, sys, time; time.sleep = lambda seconds: None; "
            f"sys.argv[0] = 'podman-compose'; runpy.run_path({script!r}, run_name='__main__')"]
