"""The main job end to end on a real lab gateway: success, each fault, a failed rollback."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Self

import httpx
import pytest

from procedures.lab import Lab, gateway
from procedures.lab.processes import owned_pids

FEATURE = "features/gateway_update.feature"


def live_hashes(lab: Lab) -> dict[str, str]:
    import hashlib

    live = lab.flatnet / "openresty"
    return {str(p.relative_to(live)): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("conf", "lualib") for p in sorted((live / sub).rglob("*")) if p.is_file()}


def served_version(lab: Lab) -> str:
    return httpx.get(f"http://127.0.0.1:{lab.state.api_port}/api/health", timeout=5).json()["version"]


class Prober:
    """Counts failed requests to the live gateway while a procedure runs (bounded, loopback only)."""

    def __init__(self, url: str, max_seconds: float = 120) -> None:
        self.url, self.max_seconds = url, max_seconds
        self.ok = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                httpx.get(self.url, timeout=2).raise_for_status()
                self.ok += 1
            except httpx.HTTPError:
                self.failed += 1
            time.sleep(0.005)


def steps_of(result: dict) -> list[str]:
    return [s["name"] for s in result.get("steps", [])]


def test_update_installs_the_new_release(lab: Lab, features) -> None:
    run = features(FEATURE)
    assert run.rc == 0, run.output
    assert served_version(lab) == gateway.NEW_VERSION
    [result] = run.result_files()
    assert result["status"] == "passed"
    assert any(s.startswith("ROLLBACK gateway-rollback: not needed") for s in steps_of(result))
    assert (run.results / "environment.properties").read_text().count("gateway.version.before=1.25.3.1") == 1


def test_update_selected_with_k(lab: Lab, features) -> None:
    run = features(FEATURE, "-k", "update")
    assert run.rc == 0, run.output
    assert "1 passed" in run.output


@pytest.mark.parametrize("fault", ["bad-config", "lua-error", "unhealthy"])
def test_a_faulty_release_is_rolled_back(lab: Lab, features, fault: str) -> None:
    before = live_hashes(lab)
    pid_before = lab.gateway_pid()
    with Prober(f"http://127.0.0.1:{lab.state.api_port}/api/health") as prober:
        run = features(FEATURE, "--lab-fault", fault)

    assert run.rc == 1, run.output
    assert "ROLLBACK FAILED" not in run.output
    assert served_version(lab) == gateway.CURRENT_VERSION
    assert live_hashes(lab) == before
    [result] = run.result_files()
    assert result["status"] == "failed"
    failed_step = next(s for s in result["steps"] if s["status"] != "passed")
    [rollback] = [s for s in failed_step["steps"] if s["name"].startswith("ROLLBACK: ")]
    assert failed_step["name"] in rollback["name"]
    assert [s["status"] for s in rollback["steps"]] == ["passed"] * 5
    assert all(s["status"] == "skipped" for s in result["steps"][result["steps"].index(failed_step) + 1:])
    if fault in ("bad-config", "lua-error"):
        assert prober.failed == 0 and prober.ok > 0
        assert lab.gateway_pid() == pid_before, "the old gateway must never be stopped"


def test_a_rollback_that_fails_is_loud(lab: Lab, features) -> None:
    run = features(FEATURE, "--lab-fault", "stuck-stop")
    assert run.rc == 12, run.output
    assert "ROLLBACK FAILED" in run.output
    [result] = run.result_files()
    assert result["status"] == "broken"
    assert "ROLLBACK-FAILED" in {label["value"] for label in result["labels"] if label["name"] == "tag"}


def test_emergency_rollback_by_name(lab: Lab, features) -> None:
    assert features(FEATURE).rc == 0
    before_update = lab.flatnet / "openresty-old"
    assert before_update.exists()
    run = features(FEATURE, "--run-rollback", "gateway-rollback")
    assert run.rc == 0, run.output
    assert served_version(lab) == gateway.CURRENT_VERSION
    assert "Roll back the gateway" in run.result_files()[0]["name"]


def test_lab_teardown_leaves_nothing(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab").up()
    ports = (lab.state.http_port, lab.state.api_port)
    assert owned_pids(lab.root)
    lab.down()
    assert owned_pids(lab.root) == []
    for port in ports:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
