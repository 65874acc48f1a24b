"""N lab gateways for rolling updates: each with its own root, ports and nginx master, from the lab's releases.

Every member is a full lab gateway (see ``gateway.py``: real nginx + Lua, the
launcher is the LAB STAND-IN for ``nginx.exe``), laid out under
``fleet/<name>/`` as the manual lays out ``F:\\flatnet``. The fault for chosen
hosts, ``pin_site``, gives them site code that only accepts the current release
line, so the new release fails their verification and nowhere else.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procedures.lab import gateway
from procedures.run.pids import alive

COUNT_ENV = "FLATNET_LAB_GATEWAYS"
DEFAULT_COUNT = 3


@dataclass(frozen=True)
class Member:
    name: str
    http_port: int
    api_port: int


class FleetLab:
    def __init__(self, root: Path, members: list[dict[str, Any]]) -> None:
        self.folder = root / "fleet"
        self.members = [Member(**m) for m in members]

    @staticmethod
    def new_state(ports: list[int]) -> list[dict[str, Any]]:
        pairs = zip(ports[::2], ports[1::2], strict=True)
        return [{"name": f"gw-{i:02d}", "http_port": h, "api_port": a} for i, (h, a) in enumerate(pairs, 1)]

    def root_of(self, member: Member) -> Path:
        return self.folder / member.name

    def build(self, releases: Path) -> None:
        for member in self.members:
            root = self.root_of(member)
            for sub in ("logs", "backups"):
                (root / sub).mkdir(parents=True, exist_ok=True)
            live = root / "openresty"
            shutil.rmtree(live, ignore_errors=True)
            shutil.copytree(releases / gateway.Release(gateway.CURRENT_VERSION).folder_name, live, symlinks=True)
            gateway.write_site_config(live, root=root, http_port=member.http_port, api_port=member.api_port)

    def start(self) -> None:
        for member in self.members:
            if self.pid(member) is None:
                launcher = self.root_of(member) / "openresty/nginx"
                subprocess.run([str(launcher)], check=True, capture_output=True, timeout=30)

    def pid(self, member: Member) -> int | None:
        try:
            pid = int((self.root_of(member) / "logs/nginx.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def pin_site(self, names: list[str]) -> None:
        """LAB FAULT: these members' site code serves only the current release line (1.25.x)."""
        for member in self.members:
            if member.name in names:
                health = self.root_of(member) / "openresty/lualib/flatnet/health.lua"
                line = ".".join(gateway.CURRENT_VERSION.split(".")[:2]) + "."
                health.write_text(health.read_text().replace(
                    "local status = release.status()",
                    f'local status = release.version:sub(1, {len(line)}) == "{line}" and release.status()'
                    ' or "site code pinned to ' + line + 'x"'))

    def inventory(self) -> dict[str, Any]:
        """The fleet as the inventory's ``gateway_fleet``: shared defaults, each member's root and ports."""
        return {
            "defaults": {"host": "lab", "site_config": ["conf", "lualib/flatnet"], "timeouts": {"healthy": 2},
                         "probe": {"rate": 50}},
            "members": {m.name: self.member_settings(m) for m in self.members},
        }

    def member_settings(self, member: Member) -> dict[str, Any]:
        return {"root": str(self.root_of(member)),
                "front": {"url": f"http://127.0.0.1:{member.http_port}/"},
                "health": {"url": f"http://127.0.0.1:{member.api_port}/api/health", "version_field": "version"}}

    def write_ansible_inventory(self, path: Path) -> Path:
        """The same fleet as an Ansible inventory (group ``gateways``, local connection), as a team would keep it."""
        lines = ["[gateways]"]
        for m in self.members:
            settings = json.dumps(self.member_settings(m), separators=(",", ":"))
            lines.append(f"{m.name} ansible_connection=local flatnet_gateway='{settings}'")
        path.write_text("\n".join(lines) + "\n")
        return path
