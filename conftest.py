"""Wires the suite together: the plugin and the step definitions."""

pytest_plugins = ["procedures.plugin", "steps.gateway", "steps.monitoring", "steps.cni", "steps.nebula",
                  "steps.workflow", "steps.checklists", "steps.fleet"]
