"""The benchmarks still run and print every figure (smallest sizes; no figure is judged here).

One file per benchmark: ``--dist loadfile`` then runs them on different workers."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import PROJECT


def bench(script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLATNET_", "PYTEST_XDIST"))}
    proc = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_gateway_benchmark_prints_every_comparison() -> None:
    out = bench("gateway.py", "--runs", "1", "--updates", "1")
    for figure in ("1. 1 consecutive gateway updates under load", "failed requests, ours/manual: 0/",
                   "ratio ours/Ansible, each as written:", "ratio ours/Ansible, method-equal", "3. time to rollback",
                   "method-equal poll:", "ratio ours/Ansible, method-equal (both binary upgrade",
                   "method-equal hand-back (both HUP the previous master):", "pytest start-up + collection",
                   "lab teardown"):
        assert figure in out, out
