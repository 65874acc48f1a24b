"""What the lab's default plan changes: new images, a new configuration, a new dashboard.

Each change is real material on disk (a configuration folder, a dashboard
JSON file) or a real tag in the lab registry; faults swap in a broken one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procedures.lab.podman import ALERTMANAGER, GRAFANA, LOKI, PROMETHEUS

if TYPE_CHECKING:
    from procedures.lab.monitoring import MonitoringLab

CONFIG_MARK = "site: flatnet-lab"


def write_monitoring_changes(dest: Path, lab: MonitoringLab) -> None:
    for name, broken in (("monitoring-config", False), ("monitoring-config-bad", True)):
        folder = dest / name
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(lab.compose_dir / "prometheus", folder / "prometheus")
        shutil.copytree(lab.compose_dir / "alertmanager", folder / "alertmanager")
        prometheus = folder / "prometheus/prometheus.yml"
        text = prometheus.read_text().replace("    monitor: 'flatnet-monitor'",
                                              f"    monitor: 'flatnet-monitor'\n    {CONFIG_MARK}")
        if broken:
            text = text.replace("scrape_interval: 5s", "scrape_interval: banana")
        prometheus.write_text(text)
        alertmanager = folder / "alertmanager/alertmanager.yml"
        alertmanager.write_text(alertmanager.read_text().replace("repeat_interval: 4h", "repeat_interval: 3h"))
    dashboards = dest / "dashboards"
    dashboards.mkdir(parents=True, exist_ok=True)
    (dashboards / "flatnet-overview.json").write_text(json.dumps({
        "uid": "flatnet-overview", "title": "Flatnet - System Overview", "tags": ["flatnet"], "schemaVersion": 38,
        "panels": [{"id": 1, "type": "stat", "title": "Gateway up", "gridPos": {"h": 4, "w": 6, "x": 0, "y": 0},
                    "targets": [{"expr": "up{job=\"gateway\"}", "refId": "A"}]}],
    }, indent=2))


def monitoring_plan(dest: Path, lab: MonitoringLab, fault: str | None) -> dict[str, Any]:
    registry = lab.podman.registry
    prometheus_tag = "2.42.0-lab.9" if fault == "missing-image-tag" else PROMETHEUS.tag(2)
    config = "monitoring-config-bad" if fault == "bad-prometheus-config" else "monitoring-config"
    return {
        "images": {"prometheus": f"{registry}/{PROMETHEUS.repository}:{prometheus_tag}",
                   "alertmanager": f"{registry}/{ALERTMANAGER.repository}:{ALERTMANAGER.tag(2)}",
                   "grafana": f"{registry}/{GRAFANA.repository}:{GRAFANA.tag(2)}",
                   "loki": f"{registry}/{LOKI.repository}:{LOKI.tag(2)}"},
        "config": {"source": str(dest / config), "verify_contains": [CONFIG_MARK]},
        "dashboards": [str(dest / "dashboards/flatnet-overview.json")],
    }
