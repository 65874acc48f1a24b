"""Wires the suite together: the plugin, the lab as the default target, and the step definitions."""

pytest_plugins = ["procedures.plugin", "procedures.lab.plugin",
                  "steps.gateway", "steps.monitoring", "steps.cni", "steps.nebula",
                  "steps.workflow", "steps.checklists", "steps.fleet"]
