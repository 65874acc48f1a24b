"""One maintenance run: the validated inventory and plan, and the hosts they name."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procedures.config.inventory import MANUAL_ROOT, Inventory, load_inventory
from procedures.config.plan import Plan, load_plan
from procedures.drivers.cni import CniPlugin
from procedures.drivers.gateway import Gateway
from procedures.drivers.gateway_windows import gateway_for
from procedures.drivers.monitoring import MonitoringStack
from procedures.drivers.nebula import NebulaNode, node_for
from procedures.errors import ConfigError
from procedures.host import Host
from procedures.notices import Notifier
from procedures.run.decisions import DecisionEngine, OperatorDesk
from procedures.run.dryrun import DryRun
from procedures.run.journal import NAME as JOURNAL_NAME
from procedures.run.journal import Journal
from procedures.run.lock import LockInfo, MaintenanceLock
from procedures.runbooks.fleet import Member, ansible_members
from procedures.runbooks.silences import MaintenanceSilence

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUN_DIR_ENV = "FLATNET_RUN_DIR"
RESULTS_DIR_ENV = "FLATNET_RESULTS_DIR"  # the run's Allure results (inside RUN_DIR, or where --alluredir said)


def records_dir_of(plan: Plan) -> Path:
    """A maintenance's own folder, across runs: notices and their ledger, the journal, the work report."""
    return Path(plan.records_dir) if plan.records_dir else PROJECT_ROOT / "reports" / "maintenance" / plan.id


@dataclass
class Maintenance:
    """Everything a procedure needs to find its targets; built once per pytest session."""

    inventory: Inventory
    plan: Plan
    inventory_path: Path
    plan_path: Path
    dry_run: DryRun | None = None  # decided once, by the plugin; carried by every host, client and notifier
    _hosts: dict[str, Host] = field(default_factory=dict, repr=False)
    _fleet: list[Member] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, inventory_path: Path, plan_path: Path, dry_run: DryRun | None = None) -> Maintenance:
        """Validate both files completely; raises ConfigError before anything has run."""
        return cls(load_inventory(inventory_path), load_plan(plan_path), inventory_path, plan_path, dry_run)

    def host(self, name: str) -> Host:
        if name not in self._hosts:
            self._hosts[name] = Host(name, self.inventory.hosts[name], dry_run=self.dry_run)
        return self._hosts[name]

    def fleet(self) -> list[Member]:
        """The gateway fleet's members, listed or read from the Ansible inventory (once per run)."""
        fleet = self.inventory.components.gateway_fleet
        if fleet is None:
            return []
        if self._fleet is None:
            if fleet.ansible is None:
                members = {name: fleet.component(overrides) for name, overrides in fleet.members.items()}
            else:
                members = {}
                for name, spec, overrides in ansible_members(fleet.ansible):
                    self._hosts.setdefault(name, Host(name, spec, dry_run=self.dry_run))
                    members[name] = fleet.component({"host": name} | overrides)
            self._fleet = [Member(name, gateway_for(self.host(c.host), c)) for name, c in members.items()]
        return self._fleet

    def gateway(self) -> Gateway:
        component = self._component("gateway")
        return gateway_for(self.host(component.host), component)

    def monitoring(self) -> MonitoringStack:
        component = self._component("monitoring")
        return MonitoringStack(self.host(component.host), component)

    def cni(self) -> CniPlugin:
        component = self._component("cni")
        return CniPlugin(self.host(component.host), component)

    def nebula(self) -> NebulaNode:
        component = self._component("nebula")
        return node_for(self.host(component.host), component)

    @property
    def run_dir(self) -> Path:
        """This run's record folder (``reports/runs/<time>``): notices' copies, decisions, the work report."""
        return Path(os.environ.get(RUN_DIR_ENV) or PROJECT_ROOT / "reports" / "runs" / "adhoc")

    @property
    def results_dir(self) -> Path:
        """This run's Allure results: its record, and nothing else that happens to sit beside it."""
        return Path(os.environ.get(RESULTS_DIR_ENV) or self.run_dir / "allure-results")

    @property
    def records_dir(self) -> Path:
        return records_dir_of(self.plan)

    def notifier(self) -> Notifier:
        return Notifier(self.plan, self.records_dir, self.dry_run)

    def decisions(self) -> DecisionEngine:
        return DecisionEngine(self.plan.policy, OperatorDesk(self.run_dir / "decisions"))

    def journal(self) -> Journal:
        return Journal(self.records_dir / JOURNAL_NAME, str(self.run_dir))

    def locks(self, run_pid: int) -> list[MaintenanceLock]:
        """One lock per host the inventory's components live on."""
        info = LockInfo.mine(self.plan.id, str(self.run_dir), run_pid)
        names = {c.host for _, c in self.inventory.components.single()}
        names |= {member.gateway.host.name for member in self.fleet()}
        return [MaintenanceLock(self.host(name), self._lock_dir(name), info) for name in sorted(names)]

    def _lock_dir(self, name: str) -> str:
        spec = self.host(name).spec
        return spec.lock_dir or (MANUAL_ROOT if spec.os == "windows" else "/var/lib/flatnet")

    def silence(self) -> MaintenanceSilence | None:
        if self.plan.silence is None or self.inventory.components.monitoring is None:
            return None
        return MaintenanceSilence(self.monitoring().alertmanager, self.plan.silence, self.plan.id,
                                  dry_run=self.dry_run)

    def _component(self, name: str) -> Any:
        component = getattr(self.inventory.components, name)
        if component is None:
            raise ConfigError(f"{self.inventory_path}: no components.{name} in the inventory")
        return component

    def close(self) -> None:
        for host in self._hosts.values():
            host.close()
        self._hosts.clear()
