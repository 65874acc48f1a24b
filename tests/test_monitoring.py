"""Monitoring procedures on the real podman-compose lab: Prometheus, Alertmanager, stand-ins."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from procedures.api.alertmanager import AlertmanagerClient
from procedures.api.http import Http
from procedures.config.plan import Matcher, SilenceSpec
from procedures.errors import ConfigError
from procedures.lab import Lab
from procedures.lab.monitoring import MonitoringLab
from procedures.lab.processes import owned_pids
from procedures.runbooks.silences import MaintenanceSilence, matches_empty
from tests.conftest import run_features

FEATURE = "features/monitoring_update.feature"


@pytest.fixture(scope="module")
def mlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("mlab") / "lab").up(("gateway", "monitoring"))
    monitoring = lab.monitoring()
    assert monitoring is not None
    yield lab
    lab.down()
    assert owned_pids(lab.root) == []
    assert not Path(f"/sys/class/net/{monitoring.state.bridge}").exists(), "the lab's bridge is still there"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{monitoring.podman.registry}/v2/", timeout=2)


def stack(lab: Lab) -> MonitoringLab:
    monitoring = lab.monitoring()
    assert monitoring is not None
    return monitoring


def tree_hashes(lab: Lab) -> dict[str, str]:
    base = stack(lab).compose_dir
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file()}


def active_silences(lab: Lab) -> list[dict]:
    silences = httpx.get(stack(lab).url("alertmanager") + "/api/v2/silences", timeout=5).json()
    return [s for s in silences if s["status"]["state"] != "expired"]


def attachments(results: Path) -> str:
    return "\n".join(p.read_text() for p in results.glob("*-attachment.*"))


def test_the_manuals_silence_matcher_is_refused_before_alertmanager_is_asked() -> None:
    manual = Matcher(name="severity", value=".*", isRegex=True)
    assert matches_empty(manual)
    assert not matches_empty(Matcher(name="component", value="gateway|monitoring", isRegex=True))
    silence = MaintenanceSilence(AlertmanagerClient(Http(), "http://127.0.0.1:9"), SilenceSpec(matchers=(manual,)), "x")
    with pytest.raises(ConfigError, match="all match the empty string"):
        silence.start("manual example")


def test_monitoring_update_on_the_lab(mlab: Lab, tmp_path: Path) -> None:
    run = run_features(mlab, tmp_path, FEATURE)
    assert run.rc == 0, run.output
    evidence = attachments(run.results)
    assert '"digest": "sha256:' in evidence
    names = {a["name"] for r in run.result_files() for s in _walk(r["steps"]) for a in s.get("attachments", [])}
    assert {"更新前のイメージ", "更新後のイメージ"} <= names
    assert {"メンテナンス用サイレンス", "メンテナンス用サイレンスを失効"} <= names
    assert any("promtool" in n for n in names) and any("POST" in n and "/-/reload → 200" in n for n in names)
    assert any(n.startswith("ダッシュボード flatnet-overview のバージョン") for n in names)
    assert "SUCCESS" in evidence  # promtool's own verdict
    assert active_silences(mlab) == []
    # every service the compose file names got its planned image, Grafana's and Loki's too
    for container, image in (("flatnet-prometheus", "prom/prometheus:2.42.0-lab.2"),
                             ("flatnet-alertmanager", "prom/alertmanager:0.25.0-lab.2"),
                             ("flatnet-grafana", "grafana/grafana:10.2.0-lab.2"),
                             ("flatnet-loki", "grafana/loki:2.9.0-lab.2")):
        running = json.loads(stack(mlab).podman.run("podman", "inspect", container).stdout)[0]
        assert running["ImageName"].endswith(image) and running["State"]["Status"] == "running", container


@pytest.mark.parametrize("fault, scenario", [
    ("missing-image-tag", "images"),
    ("bad-prometheus-config", "config"),
    ("alertmanager-down", "images"),
])
def test_each_fault_stops_or_rolls_back(mlab: Lab, tmp_path: Path, fault: str, scenario: str) -> None:
    before = tree_hashes(mlab)
    run = run_features(mlab, tmp_path, FEATURE, "-k", scenario, "--lab-fault", fault)
    try:
        assert run.rc == 1, run.output
        assert "ROLLBACK FAILED" not in run.output
        assert tree_hashes(mlab) == before
        if fault == "alertmanager-down":
            assert "cannot create the maintenance silence, so nothing was changed" in run.output
    finally:
        mlab.use_fault(None)
    ready = [stack(mlab).url(s) + "/-/ready" for s in ("prometheus", "alertmanager")]
    ready += [stack(mlab).url("grafana") + "/api/health", stack(mlab).url("loki") + "/ready"]
    assert all(httpx.get(url, timeout=5).status_code == 200 for url in ready)
    assert active_silences(mlab) == []


def test_a_silence_really_suppresses_the_alert(mlab: Lab) -> None:
    """Watchdog always fires; our silence suppresses it, and once expired it is active again."""
    client = AlertmanagerClient(Http(), stack(mlab).url("alertmanager"))

    def watchdog() -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = client.alerts(alertname="Watchdog")
            if found:
                return found[0]
            time.sleep(0.5)
        raise AssertionError("Watchdog never reached Alertmanager")

    def wait_for(state: str) -> dict:
        deadline = time.monotonic() + 30
        while (alert := watchdog())["status"]["state"] != state:
            assert time.monotonic() < deadline, f"Watchdog stayed {alert['status']['state']}, expected {state}"
            time.sleep(0.5)
        return alert

    wait_for("active")
    spec = SilenceSpec(matchers=(Matcher(name="component", value="monitoring|gateway", isRegex=True),))
    silence = MaintenanceSilence(client, spec, "suppression-proof")
    silence_id = silence.start("suppression proof")
    assert wait_for("suppressed")["status"]["silencedBy"] == [silence_id]
    silence.expire()
    assert silence.state() == "expired"
    wait_for("active")


def _walk(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        yield step
        yield from _walk(step.get("steps", []))


def test_the_dashboard_rollback_reimports_the_export(mlab: Lab, tmp_path: Path) -> None:
    grafana = stack(mlab).url("grafana") + "/api/dashboards/uid/flatnet-overview"
    auth = ("admin", stack(mlab).state.grafana_password)
    before = httpx.get(grafana, auth=auth, timeout=5).json()["dashboard"]
    assert run_features(mlab, tmp_path, FEATURE, "-k", "dashboards").rc == 0
    changed = httpx.get(grafana, auth=auth, timeout=5).json()["dashboard"]
    assert changed["panels"] != before["panels"] or changed["version"] > before["version"]

    run = run_features(mlab, tmp_path, FEATURE, "--run-rollback", "grafana-dashboards-rollback")

    assert run.rc == 0, run.output
    after = httpx.get(grafana, auth=auth, timeout=5).json()["dashboard"]
    assert {k: v for k, v in after.items() if k not in ("id", "version")} == \
        {k: v for k, v in before.items() if k not in ("id", "version")}
