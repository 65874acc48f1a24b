"""One maintenance run: the validated inventory and plan, and the hosts they name."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procedures.config import Inventory, load_inventory
from procedures.decisions import DecisionEngine, OperatorDesk
from procedures.drivers.cni import CniPlugin
from procedures.drivers.gateway import Gateway, gateway_for
from procedures.drivers.monitoring import MonitoringStack
from procedures.drivers.nebula import NebulaNode, node_for
from procedures.errors import ConfigError
from procedures.host import Host
from procedures.notices import Notifier
from procedures.plan import Plan, load_plan
from procedures.silences import MaintenanceSilence

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RUN_DIR_ENV = "FLATNET_RUN_DIR"


@dataclass
class Maintenance:
    """Everything a procedure needs to find its targets; built once per pytest session."""

    inventory: Inventory
    plan: Plan
    inventory_path: Path
    plan_path: Path
    _hosts: dict[str, Host] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, inventory_path: Path, plan_path: Path) -> Maintenance:
        """Validate both files completely; raises ConfigError before anything has run."""
        return cls(load_inventory(inventory_path), load_plan(plan_path), inventory_path, plan_path)

    def host(self, name: str) -> Host:
        if name not in self._hosts:
            self._hosts[name] = Host(name, self.inventory.hosts[name])
        return self._hosts[name]

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
    def records_dir(self) -> Path:
        """This maintenance's own folder, across runs: notices sent, their ledger, log marks, the work report."""
        folder = self.plan.records_dir
        return Path(folder) if folder else PROJECT_ROOT / "reports" / "maintenance" / self.plan.id

    def notifier(self) -> Notifier:
        return Notifier(self.plan, self.records_dir)

    def decisions(self) -> DecisionEngine:
        return DecisionEngine(self.plan.policy, OperatorDesk(self.run_dir / "decisions"))

    def silence(self) -> MaintenanceSilence | None:
        if self.plan.silence is None or self.inventory.components.monitoring is None:
            return None
        return MaintenanceSilence(self.monitoring().alertmanager, self.plan.silence, self.plan.id)

    def _component(self, name: str) -> Any:
        component = getattr(self.inventory.components, name)
        if component is None:
            raise ConfigError(f"{self.inventory_path}: no components.{name} in the inventory")
        return component

    def close(self) -> None:
        for host in self._hosts.values():
            host.close()
        self._hosts.clear()
