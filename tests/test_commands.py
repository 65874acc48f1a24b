"""The README's first command, as an operator runs it: the gateway update on a fresh lab, then the HTML."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from procedures.lab import Lab
from procedures.lab.gateway import NEW_VERSION
from procedures.lab.processes import owned_pids

PROJECT = Path(__file__).resolve().parents[1]


def test_command_one_updates_the_lab_gateway_and_writes_the_html_record(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLATNET_", "PYTEST_"))}
    env["FLATNET_LAB_DIR"] = str(lab.root)
    try:
        run = subprocess.run(["./maint", "run", "features/gateway_update.feature"], cwd=PROJECT, env=env,
                             capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        html = Path(run.stdout.strip().splitlines()[-1].removeprefix("HTML record: "))
        assert html.name == "index.html" and html.stat().st_size > 100_000
        assert "googletagmanager" not in html.read_text()
        health = httpx.get(f"http://127.0.0.1:{lab.state.api_port}/api/health", timeout=5).json()
        assert health["version"] == NEW_VERSION
        assert f"lab {lab.root}: gateway up" in run.stdout  # only the part the gateway update touches
        state = lab.state
        assert (state.monitoring, state.cni, state.nebula, state.fleet) == (None, None, None, None)
    finally:
        lab.down()
    assert owned_pids(lab.root) == []
