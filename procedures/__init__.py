"""flatnet-maintenance: the manual's procedures, executable, with their rollbacks and their record.

The public surface, for a step definition, a script or a benchmark (each name is
imported on first use, so ``import procedures`` stays cheap)::

    from procedures import Maintenance          # the run's context: inventory, plan, hosts, drivers
    from procedures import load_inventory, load_plan, Inventory, Plan
    from procedures import Host                  # the one way to touch a machine
    from procedures import ProcedureError, ConfigError, VerificationFailed, RollbackFailed
    from procedures import record                # evidence for the Allure record

The layers (ARCHITECTURE.md): ``config`` → ``run`` → ``runbooks`` → ``drivers``
→ ``host`` → ``transports``, with ``api`` for HTTP, ``record`` and ``notices``
for what people read, ``plugin`` for pytest, and ``lab`` for the test bench
(which the rest never imports).
"""

from __future__ import annotations

import importlib
from typing import Any

_SURFACE = {
    "Maintenance": "procedures.run.maintenance",
    "load_inventory": "procedures.config.inventory",
    "Inventory": "procedures.config.inventory",
    "load_plan": "procedures.config.plan",
    "Plan": "procedures.config.plan",
    "Host": "procedures.host",
    "ProcedureError": "procedures.errors",
    "ConfigError": "procedures.errors",
    "VerificationFailed": "procedures.errors",
    "RollbackFailed": "procedures.errors",
}
__all__ = sorted(_SURFACE)


def __getattr__(name: str) -> Any:
    if name not in _SURFACE:
        raise AttributeError(f"module 'procedures' has no attribute {name!r}")
    return getattr(importlib.import_module(_SURFACE[name]), name)
