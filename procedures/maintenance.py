"""One maintenance run: the validated inventory and plan, and the hosts they name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procedures.config import Inventory, Plan, load_inventory, load_plan
from procedures.drivers.cni import CniPlugin
from procedures.drivers.gateway import Gateway, gateway_for
from procedures.drivers.monitoring import MonitoringStack
from procedures.drivers.nebula import NebulaNode, node_for
from procedures.errors import ConfigError
from procedures.host import Host


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

    def _component(self, name: str) -> Any:
        component = getattr(self.inventory.components, name)
        if component is None:
            raise ConfigError(f"{self.inventory_path}: no components.{name} in the inventory")
        return component

    def close(self) -> None:
        for host in self._hosts.values():
            host.close()
        self._hosts.clear()
