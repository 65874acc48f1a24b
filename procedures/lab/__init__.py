"""The lab: a local Flatnet built from real server software, the default target.

``Lab(root).up()`` builds and starts it and writes an inventory and a plan
that point at it; ``down()`` stops every process it started and removes what
it made. See ``gateway.py`` for what is real and what is a stand-in.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from procedures.lab import gateway
from procedures.lab.processes import alive, owned_pids, terminate

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LabState:
    http_port: int
    api_port: int
    fault: str | None = None


class Lab:
    """One lab instance rooted in a folder; several can run side by side."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.flatnet = self.root / "flatnet"
        self.releases = self.root / "releases"
        self.inventory_path = self.root / "inventory.yaml"
        self.plan_path = self.root / "plan.yaml"
        self._state_path = self.root / "lab.json"

    @classmethod
    def default(cls) -> Lab:
        return cls(Path(os.environ.get("FLATNET_LAB_DIR", PROJECT_ROOT / ".lab")))

    # -- facts -------------------------------------------------------------
    @property
    def state(self) -> LabState:
        return LabState(**json.loads(self._state_path.read_text()))

    @property
    def gateway_pid_file(self) -> Path:
        return self.flatnet / "logs/nginx.pid"

    def gateway_pid(self) -> int | None:
        try:
            pid = int(self.gateway_pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def status(self) -> dict[str, Any]:
        if not self._state_path.exists():
            return {"root": str(self.root), "built": False}
        return {"root": str(self.root), "built": True, **asdict(self.state),
                "gateway_pid": self.gateway_pid(), "processes": owned_pids(self.root),
                "inventory": str(self.inventory_path), "plan": str(self.plan_path)}

    # -- operations ----------------------------------------------------------
    def up(self) -> Lab:
        """Build what is missing and start what is stopped; safe to repeat."""
        if not self._state_path.exists():
            self._build()
        if self.gateway_pid() is None:
            self.start_gateway()
        self.write_inventory()
        self.write_plan()
        return self

    def down(self, *, purge: bool = True) -> None:
        """Stop every lab process (by PID) and, with ``purge``, remove the lab folder."""
        terminate(owned_pids(self.root))
        if purge and self.root.exists():
            shutil.rmtree(self.root)

    def use_fault(self, fault: str | None) -> None:
        """Point the plan at a faulty release (or back at the good one)."""
        if fault is not None and fault not in gateway.FAULTS:
            raise ValueError(f"unknown lab fault {fault!r}; known: {', '.join(gateway.FAULTS)}")
        state = self.state
        state.fault = fault
        self._save(state)
        self.write_plan()

    def start_gateway(self) -> None:
        subprocess.run([str(self.flatnet / "openresty/nginx")], check=True, capture_output=True, timeout=30)

    # -- files ---------------------------------------------------------------
    def _build(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        http_port, api_port = _free_ports(2)
        state = LabState(http_port=http_port, api_port=api_port)
        for sub in ("logs", "backups"):
            (self.flatnet / sub).mkdir(parents=True, exist_ok=True)
        releases = [gateway.Release(gateway.CURRENT_VERSION), gateway.Release(gateway.NEW_VERSION)]
        releases += [gateway.Release(gateway.NEW_VERSION, fault) for fault in gateway.FAULTS]
        for release in releases:
            gateway.build_release(self.releases / release.folder_name, release)
        live = self.flatnet / "openresty"
        shutil.copytree(self.releases / releases[0].folder_name, live, symlinks=True)
        gateway.write_site_config(live, root=self.flatnet, http_port=state.http_port, api_port=state.api_port)
        self._save(state)

    def _save(self, state: LabState) -> None:
        self._state_path.write_text(json.dumps(asdict(state), indent=2))

    def write_inventory(self) -> None:
        state = self.state
        inventory = {
            "name": "flatnet-lab",
            "hosts": {"lab": {"transport": "local"}},
            "components": {"gateway": {
                "host": "lab",
                "root": str(self.flatnet),
                "site_config": ["conf", "lualib/flatnet"],
                "front": {"url": f"http://127.0.0.1:{state.http_port}/"},
                "health": {"url": f"http://127.0.0.1:{state.api_port}/api/health", "version_field": "version"},
                "timeouts": {"healthy": 5},
            }},
        }
        self.inventory_path.write_text("# Generated by the lab; do not edit.\n" + yaml.safe_dump(inventory))

    def write_plan(self) -> None:
        release = gateway.Release(gateway.NEW_VERSION, self.state.fault)
        plan = {
            "id": "lab-gateway-update",
            "changes": {"gateway": {"release": str(self.releases / release.folder_name),
                                    "version": gateway.NEW_VERSION}},
        }
        self.plan_path.write_text("# Generated by the lab; do not edit.\n" + yaml.safe_dump(plan))


def _free_ports(count: int) -> list[int]:
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
