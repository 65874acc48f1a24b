"""Every procedure end to end on one full lab, and the full lab's cold start and teardown.

    .venv/bin/python bench/procedures.py [--runs 3]

Each figure is the command an operator types with the lab up,
``pytest features/<procedure>.feature``, and beside it the procedures' own time
from the record (the scenarios, without pytest's start-up and collection).
Runs after the first start from the state the previous run left (the procedures
are safe to repeat). The baselines (the manual's commands, Ansible) are in
``gateway.py`` and ``monitoring.py``. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os

from common import measured, median, pytest_run, scratch, table, timed

from procedures.lab import PARTS, Lab, fleet

FEATURES = {
    "gateway update": "features/gateway_update.feature",
    "monitoring: images, configuration, dashboards": "features/monitoring_update.feature",
    "cni update": "features/cni_update.feature",
    "nebula update and certificate check": "features/nebula_update.feature",
    "gateway fleet, 3 gateways": "features/gateway_fleet_update.feature",
    "planned maintenance (every procedure)": "features/maintenance_workflow.feature",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ[fleet.COUNT_ENV] = "3"
    lab = Lab(scratch("procedures-") / "lab")
    rows = []
    try:
        cold = timed(lambda: lab.up(PARTS))
        for name, feature in FEATURES.items():
            walls, inside = [], []
            for _ in range(args.runs):
                seconds, run = measured(lambda f=feature: pytest_run(lab, f))
                walls.append(seconds)
                results = [json.loads(p.read_text()) for p in run.results.glob("*-result.json")]
                inside.append(sum(r["stop"] - r["start"] for r in results) / 1000)
            rows.append([name, median(walls), median(inside)])
    finally:
        down = timed(lab.down)
    table(f"every procedure end to end, full lab up (median of {args.runs})",
          ["procedure", "pytest command s", "the scenarios s (record)"], rows)
    table("the full lab (every part)", ["what", "seconds"], [["cold start", cold], ["teardown", down]])


if __name__ == "__main__":
    main()
