"""The lab: a local Flatnet built from real server software, the default target.

``Lab(root).up()`` builds and starts it and writes an inventory and a plan
that point at it; ``down()`` stops every process it started and removes what
it made. See ``gateway.py`` for what is real and what is a stand-in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from procedures.errors import LabError
from procedures.lab import changes, cni, fleet, gateway, mailbox, nebula
from procedures.lab.cni import CniLab, CniState
from procedures.lab.fleet import FleetLab
from procedures.lab.monitoring import IMAGES, MonitoringLab, MonitoringState
from procedures.lab.nebula import NebulaLab, NebulaState
from procedures.lab.podman import Podman, fill_image_cache, runroot_of
from procedures.lab.processes import free_ports, nginx_on, owned_pids, terminate
from procedures.run.pids import alive

PROJECT_ROOT = Path(__file__).resolve().parents[2]


PARTS = ("gateway", "monitoring", "cni", "nebula", "gateway-fleet")
MONITORING_FAULTS = ("missing-image-tag", "bad-prometheus-config", "alertmanager-down")
FAULTS = (*gateway.FAULTS, *MONITORING_FAULTS, *cni.FAULTS, *nebula.FAULTS)


@dataclass
class LabState:
    http_port: int
    api_port: int
    registry_port: int
    smtp_port: int | None = None
    webhook_port: int | None = None
    fault: str | None = None
    monitoring: dict[str, Any] | None = None
    cni: dict[str, Any] | None = None
    nebula: dict[str, Any] | None = None
    fleet: list[dict[str, Any]] | None = None


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

    def gateway_ports(self) -> set[int]:
        """The lab's gateway ports: its own gateway's and its fleet's."""
        if not self._state_path.exists():
            return set()
        state = self.state
        return {state.http_port, state.api_port, *(port for member in state.fleet or []
                                                   for key, port in member.items() if key.endswith("_port"))}

    def processes(self) -> list[int]:
        """Every process the lab started, also gateway workers whose master was killed (they hold its ports)."""
        return sorted(set(owned_pids(self.root)) | set(nginx_on(self.gateway_ports())))

    def status(self) -> dict[str, Any]:
        if not self._state_path.exists():
            return {"root": str(self.root), "built": False}
        return {"root": str(self.root), "built": True, **asdict(self.state),
                "gateway_pid": self.gateway_pid(), "processes": self.processes(),
                "inventory": str(self.inventory_path), "plan": str(self.plan_path)}

    def podman(self) -> Podman:
        """The lab's podman; its configuration is written on first use."""
        podman = Podman(self.root, f"127.0.0.1:{self.state.registry_port}")
        if not (self.root / "containers.conf").exists():
            podman.write_config()
        return podman

    def cni(self) -> CniLab | None:
        data = self.state.cni
        return CniLab(self.root, CniState(**data), self.podman()) if data else None

    def nebula(self) -> NebulaLab | None:
        data = self.state.nebula
        return NebulaLab(self.root, NebulaState(**data)) if data else None

    def fleet(self) -> FleetLab | None:
        data = self.state.fleet
        return FleetLab(self.root, data) if data else None

    def monitoring(self) -> MonitoringLab | None:
        data = self.state.monitoring
        return MonitoringLab(self.root, MonitoringState(**data), self.podman()) if data else None

    # -- operations ----------------------------------------------------------
    @staticmethod
    def build_images() -> bool:
        """The monitoring images into the machine's cache unless there (the set-up's ``lab images``)."""
        try:
            return fill_image_cache(IMAGES)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise LabError(_operator_words(exc)) from exc

    def up(self, parts: tuple[str, ...] = ("gateway",)) -> Lab:
        """Build what is missing and start what is stopped; safe to repeat.

        If any part fails, everything the lab runs is stopped again (its files stay, for a look):
        a half-started lab is never left behind.
        """
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise LabError(f"unknown lab part {', '.join(sorted(unknown))}: use {', '.join(PARTS)}")
        try:
            self._up(parts)
        except BaseException as exc:
            self.down(purge=False)
            if isinstance(exc, (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError)):
                raise LabError(_operator_words(exc)) from exc
            raise
        return self

    def _up(self, parts: tuple[str, ...]) -> None:
        if not self._state_path.exists():
            self._build()
        if self.gateway_pid() is None:
            self.start_gateway()
        self._mailbox_up()
        if "monitoring" in parts:
            self._monitoring_up()
        if "cni" in parts and self.state.cni is None:
            with cni.subnet_choice():  # two labs built at once must not pick the same free subnet
                lab_cni = CniLab(self.root, CniLab.new_state(self.root), self.podman())
                lab_cni.build()
            state = self.state
            state.cni = lab_cni.state_dict()
            self._save(state)
        if "nebula" in parts:
            self._nebula_up()
        if "gateway-fleet" in parts:
            self._fleet_up(int(os.environ.get(fleet.COUNT_ENV, fleet.DEFAULT_COUNT)))
        self.write_inventory()
        self.write_plan()

    def down(self, *, purge: bool = True) -> None:
        """Stop every lab process (by PID) and, with ``purge``, remove the lab folder."""
        try:
            parts = [self.nebula(), self.monitoring(), self.cni()] if self._state_path.exists() else []
        except (TypeError, ValueError) as exc:  # a lab from an older version: still stop what it runs
            print(f"lab state unreadable ({exc}); stopping its processes only")
            parts = []
        for part in parts:
            if part is not None:
                part.stop()
        terminate(self.processes())
        if purge and self.root.exists():
            shutil.rmtree(runroot_of(self.root), ignore_errors=True)
            shutil.rmtree(self.root)

    def use_fault(self, fault: str | None) -> None:
        """Make the lab's plan carry a fault until told otherwise (``lab fault NAME``)."""
        state = self.state
        state.fault = fault
        self._save(state)
        self.write_plan()
        self.inject(fault)

    def plan_with(self, fault: str | None) -> Path:
        """A plan carrying ``fault`` for one run only; the lab's own plan is left as it is."""
        path = self.root / f"plan-{fault or 'none'}.yaml"
        self.write_plan(fault, path)
        self.inject(fault)
        return path

    def inject(self, fault: str | None) -> None:
        """Faults that are a state of the lab rather than of the plan (Alertmanager down)."""
        if fault is not None and fault not in FAULTS:
            raise LabError(f"unknown lab fault {fault!r}: use {', '.join(FAULTS)} or none")
        monitoring = self.monitoring()
        if monitoring is not None:
            action = "stop" if fault == "alertmanager-down" else "start"
            monitoring.podman.run("podman", action, "flatnet-alertmanager")
            if action == "start":
                monitoring.wait_ready()

    def start_gateway(self) -> None:
        subprocess.run([str(self.flatnet / "openresty/nginx")], check=True, capture_output=True, timeout=30)

    # -- files ---------------------------------------------------------------
    def _build(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        http_port, api_port, registry_port, smtp_port, webhook_port = free_ports(5)
        state = LabState(http_port=http_port, api_port=api_port, registry_port=registry_port,
                         smtp_port=smtp_port, webhook_port=webhook_port)
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

    def _monitoring_up(self) -> None:
        state = self.state
        if state.monitoring is None:
            monitoring = MonitoringLab(self.root, MonitoringLab.new_state(self.root, free_ports(4)), self.podman())
            monitoring.build()
            state.monitoring = monitoring.state_dict()
            self._save(state)
            changes.write_monitoring_changes(self.root / "changes", monitoring)
        lab = self.monitoring()
        if lab is not None and not lab.is_ready():
            lab.start()

    def _mailbox_up(self) -> None:
        state = self.state
        if state.smtp_port is None or state.webhook_port is None:
            state.smtp_port, state.webhook_port = free_ports(2)
            self._save(state)
        if not mailbox.accepts(state.smtp_port):
            mailbox.start(self.root, state.smtp_port, state.webhook_port)

    def _fleet_up(self, count: int) -> None:
        """``count`` gateways when first built (a lab keeps its fleet), each started if stopped."""
        state, members = self.state, self.fleet()
        if members is None:
            members = FleetLab(self.root, FleetLab.new_state(free_ports(2 * count)))
            members.build(self.releases)
            state.fleet = [vars(m) for m in members.members]
            self._save(state)
        members.start()

    def _nebula_up(self) -> None:
        state = self.state
        if state.nebula is None:
            built = NebulaLab(self.root, NebulaLab.new_state(self.root))
            built.build()
            state.nebula = built.state_dict()
            self._save(state)
        overlay = self.nebula()
        if overlay is not None and not overlay.is_running():
            overlay.start()

    def _save(self, state: LabState) -> None:
        self._state_path.write_text(json.dumps(asdict(state), indent=2))

    def write_inventory(self) -> None:
        state = self.state
        inventory: dict[str, Any] = {
            "name": "flatnet-lab",
            "hosts": {"lab": {"transport": "local", "lock_dir": str(self.flatnet)}},
            "components": {"gateway": {
                "host": "lab",
                "root": str(self.flatnet),
                "site_config": ["conf", "lualib/flatnet"],
                "front": {"url": f"http://127.0.0.1:{state.http_port}/"},
                "health": {"url": f"http://127.0.0.1:{state.api_port}/api/health", "version_field": "version"},
                "timeouts": {"healthy": 2, "stop": 3},  # a local gateway answers and stops within milliseconds
            }},
        }
        monitoring, lab_cni = self.monitoring(), self.cni()
        if monitoring is not None:
            inventory["components"]["monitoring"] = monitoring.inventory()
        if lab_cni is not None:
            inventory["components"]["cni"] = lab_cni.inventory()
        overlay = self.nebula()
        if overlay is not None:
            inventory["components"]["nebula"] = overlay.inventory()
        members = self.fleet()
        if members is not None:
            inventory["components"]["gateway_fleet"] = members.inventory()
        self.inventory_path.write_text("# Generated by the lab; do not edit.\n" + yaml.safe_dump(inventory))

    def write_plan(self, fault: str | None = None, path: Path | None = None) -> None:
        fault = fault if path else self.state.fault
        release = gateway.Release(gateway.NEW_VERSION, fault if fault in gateway.FAULTS else None)
        plan: dict[str, Any] = {
            "id": "lab-maintenance",
            **self._workflow_plan(),
            "changes": {"gateway": {"release": str(self.releases / release.folder_name),
                                    "version": gateway.NEW_VERSION}},
        }
        monitoring = self.monitoring()
        if monitoring is not None:
            plan["changes"]["monitoring"] = changes.monitoring_plan(self.root / "changes", monitoring, fault)
            plan["silence"] = {"matchers": [{"name": "component", "value": "gateway|monitoring", "isRegex": True}]}
        lab_cni = self.cni()
        if lab_cni is not None:
            plan["changes"]["cni"] = lab_cni.plan(fault)
        overlay = self.nebula()
        if overlay is not None:
            plan["changes"]["nebula"] = overlay.plan(fault)
        (path or self.plan_path).write_text("# Generated by the lab; do not edit.\n"
                                            + yaml.safe_dump(plan, sort_keys=False, allow_unicode=True))

    def _workflow_plan(self) -> dict[str, Any]:
        """The planned-maintenance fields: a window open now, the lab's mailbox, decision windows in seconds."""
        state, now = self.state, datetime.now(ZoneInfo("Asia/Tokyo")).replace(second=0, microsecond=0)
        notify: dict[str, Any] = {}
        if state.smtp_port and state.webhook_port:
            notify["smtp"] = {"port": state.smtp_port, "sender": "flatnet-maintenance@localhost",
                              "recipients": ["ops@localhost", "users@localhost"]}
            notify["webhook"] = {"url": f"http://127.0.0.1:{state.webhook_port}/notices"}
            notify["escalation"] = {"smtp": {"port": state.smtp_port, "sender": "flatnet-maintenance@localhost",
                                             "recipients": ["dev-team@localhost"]}}  # the development team
        return {
            "records_dir": str(self.root / "maintenance"),
            "window": {"start": (now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M"),
                       "end": (now + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M"), "timezone": "Asia/Tokyo"},
            "impact": {"services": ["Flatnet Gateway", "監視スタック"], "users": ["社内 LAN の利用者"],
                       "expected_downtime_minutes": 5},
            "summary": ["Gateway (OpenResty) のアップデート", "監視スタックのイメージと設定の更新"],
            "owner": {"name": "ラボ運用担当", "contact": "ops@localhost"},
            "notify": notify,
            "policy": {"partly_broken": {"fix_window_minutes": 0.05, "retry_every_seconds": 0.5},
                       "degraded": {"decide_within_minutes": 0.05, "samples": 5, "retry_every_seconds": 0.5},
                       "log_errors": {"decide_within_minutes": 0.05}},
            "staging": {"not_applicable": "the lab is itself the test environment"},
            "retention": {"keep_backups": 3},
        }


def _operator_words(exc: subprocess.SubprocessError | OSError) -> str:
    """A foreign failure while starting the lab, said as what failed and what to do."""
    if isinstance(exc, subprocess.CalledProcessError):
        output = exc.stderr or exc.stdout or ""
        output = output.decode(errors="replace") if isinstance(output, bytes) else output
        last = output.strip().splitlines()[-1] if output.strip() else "no output"
        taken = [line for line in output.splitlines() if "Address already in use" in line]
        if taken:
            why = taken[0].split("] ")[-1]
            return (f"a port the lab needs is taken by another program ({why}): stop that program, "
                    "or run `./maint lab down` and start again (a new lab takes new ports)")
        return f"the lab could not start: `{' '.join(map(str, exc.cmd))}` exited {exc.returncode}: {last}"
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"the lab could not start: `{' '.join(map(str, exc.cmd))}` did not finish within {exc.timeout:g}s"
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename} is missing: run `./maint setup` (it installs what the lab needs)"
    return f"the lab could not start: {exc}"
