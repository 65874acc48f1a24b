"""The plugin's own hooks: what another plugin may supply. The lab supplies a default target
(``procedures/lab/plugin.py``), so that the product itself never imports the lab."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookspec(firstresult=True)
def pytest_flatnet_default_target(config: pytest.Config, components: tuple[str, ...]) -> tuple[Path, Path] | None:
    """The (inventory, plan) a run uses when ``--inventory`` was not given, ready to use; None: no default.

    ``components`` are the parts the selected procedures touch (their ``@component:`` tags).
    Called once per process.
    """


@pytest.hookspec(firstresult=True)
def pytest_flatnet_default_plan(config: pytest.Config) -> Path | None:
    """The plan ``--recover`` reads when ``--plan`` was not given, without starting anything."""
