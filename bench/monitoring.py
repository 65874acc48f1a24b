"""Monitoring lab and procedures: how long they take, ours against the manual's bare commands.

    .venv/bin/python bench/monitoring.py [--runs 3]

Ours is ``pytest features/monitoring_update.feature -k <scenario>`` (silence,
backup, validation, verification, record). The baseline is the manual's own
commands in bash on the same lab, with none of that. The ratio is the price of
doing it safely. Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from common import PROJECT, scratch, timed

from procedures.lab import Lab
from procedures.lab.podman import PROMETHEUS


def baseline_scripts(lab: Lab) -> dict[str, str]:
    m = lab.monitoring()
    assert m is not None
    env = " ".join(f"{k}={v}" for k, v in m.podman.env.items())
    compose = f"cd {m.compose_dir} && env {env} podman-compose -p {m.state.project}"
    prom, am, graf = m.url("prometheus"), m.url("alertmanager"), m.url("grafana")
    old, new = PROMETHEUS.tag(1), PROMETHEUS.tag(2)
    toggle = f"(grep -q {new} {{f}} && sed -i s/{new}/{old}/ {{f}} || sed -i s/{old}/{new}/ {{f}})"
    auth = f"-u admin:{m.state.grafana_password}"
    return {
        "images": (f"cd {m.compose_dir} && {toggle.format(f='podman-compose.yml')} && "
                   f"{compose} pull >/dev/null 2>&1 && {compose} down >/dev/null 2>&1 && "
                   f"{compose} up -d >/dev/null 2>&1 && until curl -sf {prom}/-/ready >/dev/null"
                   f" && curl -sf {am}/-/ready >/dev/null; do sleep 0.2; done"),
        "config": (f"cp -r {lab.root}/changes/monitoring-config/prometheus/. {m.compose_dir}/prometheus/ && "
                          f"env {env} podman exec flatnet-prometheus promtool check config "
                          f"/etc/prometheus/prometheus.yml >/dev/null && curl -sf -X POST {prom}/-/reload"),
        "dashboards": (f"curl -sf {auth} {graf}/api/dashboards/uid/flatnet-overview"
                       f" >/dev/null && curl -sf {auth} -H 'Content-Type: application/json'"
                       f" -X POST {graf}/api/dashboards/db -d '{{\"dashboard\":{{\"uid\":\"flatnet-overview\","
                       f"\"title\":\"Flatnet - System Overview\"}},\"overwrite\":true}}' >/dev/null"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = scratch("monitoring-") / "lab"
    lab = Lab(root)
    cold = timed(lambda: lab.up(("gateway", "monitoring")))
    env = {**os.environ, "FLATNET_LAB_DIR": str(lab.root)}
    rows = []
    try:
        scripts = baseline_scripts(lab)
        for scenario, script in scripts.items():
            ours = [timed(lambda s=scenario: subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "features/monitoring_update.feature", "-k", s,
                 f"--alluredir={root.parent}/allure"], cwd=PROJECT, env=env, check=True, capture_output=True))
                for _ in range(args.runs)]
            base = [timed(lambda s=script: subprocess.run(["bash", "-c", s], check=True, capture_output=True))
                    for _ in range(args.runs)]
            rows.append((scenario, statistics.median(ours), statistics.median(base)))
    finally:
        down = timed(lab.down)
    print(f"\nmonitoring lab: cold start {cold:.2f} s, teardown {down:.2f} s (runs per figure: {args.runs})\n")
    print(f"{'procedure':<15}{'ours (s)':>10}{'manual (s)':>12}{'ours/manual':>13}")
    for scenario, ours, base in rows:
        print(f"{scenario:<15}{ours:>10.2f}{base:>12.2f}{ours / base:>13.2f}")


if __name__ == "__main__":
    main()
