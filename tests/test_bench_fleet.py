"""The fleet benchmark still runs and prints its table, with the Ansible column (no figure is judged)."""

from __future__ import annotations

from tests.test_bench_gateway import bench


def test_the_fleet_benchmark_prints_its_table() -> None:
    out = bench("fleet.py", "--sizes", "2", "--serial", "1", "--runs", "1")
    assert "peak RSS MiB" in out and "Ansible serial 1 s" in out and "\n2 " in out, out
