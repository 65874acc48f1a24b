"""The fault matrix's gateway rows on throwaway labs: a master killed -9 at each step of the update and of
its rollback, a port taken during the swap, a release that refuses to stop (see tests/fault_matrix.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from procedures.lab import Lab
from tests.conftest import paused_run, run_features, running_lab, wait_for, with_gateway_settings
from tests.fault_matrix import GATEWAY, Observed, Row, gateway_as_before, gateway_updated, incident, run_row
from tests.gateway_observed import answers, kill_9, live_hashes, master, orphans


@pytest.fixture
def throwaway(tmp_path: Path) -> Iterator[Lab]:
    """A gateway lab for rows that leave it broken on purpose."""
    with running_lab(tmp_path) as lab:
        yield lab


def stuck_stop(lab: Lab, tmp_path: Path) -> Observed:
    run = run_features(lab, tmp_path, GATEWAY, "--lab-fault", "stuck-stop")
    served = answers(lab, 4)
    return Observed(incident(run), f"answers {sorted(served)} (two masters left for a human)", "new release live",
                    "both masters alive" if master(lab) and master(lab, "previous") else "?")


class Squatter:
    """Another program trying, all the time, to take the gateway's port for itself."""

    def __init__(self, port: int) -> None:
        self.port, self.socket, self.stop = port, socket.socket(), threading.Event()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.thread = threading.Thread(target=self._try, daemon=True)
        self.took_it = False

    def _try(self) -> None:
        while not self.stop.wait(0.0001):
            try:
                self.socket.bind(("127.0.0.1", self.port))
            except OSError:
                continue
            self.socket.listen()
            self.took_it = True
            return

    def __enter__(self) -> Squatter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.socket.close()


def port_taken_stop_start(lab: Lab, tmp_path: Path) -> Observed:
    """The manual's stop-start: the port is free for a moment, and another program takes it."""
    with Squatter(lab.state.http_port) as squatter:
        run = run_features(lab, tmp_path, GATEWAY, *with_gateway_settings(lab, tmp_path, handover="stop-start"))
        assert squatter.took_it
        assert master(lab) is None, "no gateway can run while another program holds its port"
    return Observed(incident(run), "front port held by the other program; no gateway master", "—", "none")


def port_taken_binary_upgrade(lab: Lab, tmp_path: Path) -> Observed:
    """The binary upgrade hands the listening socket over: the port is never free to take."""
    original = master(lab)
    with Squatter(lab.state.http_port) as squatter:
        run = run_features(lab, tmp_path, GATEWAY)
    assert not squatter.took_it
    observed = gateway_updated(lab, run, original)
    observed.health += "; the port was never free"
    return observed


# -- a master killed at each step of the update and of its rollback (paused there, kill -9, go on) --------------
TAKE_OVER = "新しいリリースが稼働中のゲートウェイから引き継ぐ"
VERIFY = "ゲートウェイが新しいバージョンで応答する"
TAKE_BACK = "旧リリースが新リリースから引き継ぐ"


def kill_at(pause: str, victims: list[str], *, updated: bool = False, unhealthy: bool = False,
            survives: bool = False) -> Callable[[Lab, Path], Observed]:
    """Pause the update at ``pause``, kill -9 the ``victims`` masters (``serving``: the pid file's,
    ``previous``: the idle one of a binary upgrade), let it go on. It may only pass when ``updated``."""
    def check(lab: Lab, tmp_path: Path) -> Observed:
        before, original = live_hashes(lab), master(lab)
        killed: list[int] = []
        result = paused_run(lab, tmp_path, pause, lambda: killed.extend(kill_9(lab, victims)),
                            GATEWAY, *(["--lab-fault", "unhealthy"] if unhealthy else []))
        assert killed, f"no master to kill at {pause}"
        wait_for(lambda: master(lab) is not None and not orphans(lab), 5)
        if updated:
            observed = gateway_updated(lab, result, original)
            assert master(lab) not in killed
        else:
            observed = gateway_as_before(lab, before, result, original, survives=survives)
        observed.master += f"; killed {' and '.join(victims)} ({', '.join(map(str, killed))})"
        return observed
    return check


ROWS = {
    "gateway-stuck-stop": Row("gateway update", "new gateway ignores stop and quit", "incident, exit 12", "throwaway",
                              stuck_stop),
    "gateway-port-in-use": Row("gateway update (stop-start)", "another program takes the port during the swap",
                               "incident, exit 12", "throwaway", port_taken_stop_start),
    "gateway-port-squatter": Row("gateway update", "another program tries to take the port during the hand-over",
                                 "updated", "throwaway", port_taken_binary_upgrade),
    "gateway-kill-only-master-before-takeover": Row(
        "gateway update", "kill -9 of the only master before the hand-over", "rolled back", "throwaway",
        kill_at(f"before:{TAKE_OVER}", ["serving"])),
    "gateway-kill-new-master-after-takeover": Row(
        "gateway update", "kill -9 of the new master after the hand-over", "rolled back", "throwaway",
        kill_at(f"after:{TAKE_OVER}", ["serving"], survives=True)),
    "gateway-kill-old-master-after-takeover": Row(
        "gateway update", "kill -9 of the idle old master after the hand-over", "updated", "throwaway",
        kill_at(f"after:{TAKE_OVER}", ["previous"], updated=True)),
    "gateway-kill-both-masters-after-takeover": Row(
        "gateway update", "kill -9 of both masters after the hand-over", "rolled back", "throwaway",
        kill_at(f"after:{TAKE_OVER}", ["serving", "previous"])),
    "gateway-kill-new-master-after-verification": Row(
        "gateway update", "kill -9 of the new master once verified, before retirement", "rolled back", "throwaway",
        kill_at(f"after:{VERIFY}", ["serving"], survives=True)),
    "gateway-kill-old-master-after-verification": Row(
        "gateway update", "kill -9 of the old master once verified", "updated", "throwaway",
        kill_at(f"after:{VERIFY}", ["previous"], updated=True)),
    "gateway-kill-both-masters-after-verification": Row(
        "gateway update", "kill -9 of both masters once verified", "rolled back", "throwaway",
        kill_at(f"after:{VERIFY}", ["serving", "previous"])),
    "gateway-kill-new-master-in-rollback": Row(
        "gateway rollback", "kill -9 of the new master as the rollback starts", "rolled back", "throwaway",
        kill_at(f"before:{TAKE_BACK}", ["serving"], unhealthy=True, survives=True)),
    "gateway-kill-old-master-in-rollback": Row(
        "gateway rollback", "kill -9 of the master it hands back to, as it starts", "rolled back", "throwaway",
        kill_at(f"before:{TAKE_BACK}", ["previous"], unhealthy=True)),
    "gateway-kill-both-masters-in-rollback": Row(
        "gateway rollback", "kill -9 of both masters as the rollback starts", "rolled back", "throwaway",
        kill_at(f"before:{TAKE_BACK}", ["serving", "previous"], unhealthy=True)),
    "gateway-kill-master-after-handback": Row(
        "gateway rollback", "kill -9 of the old master once handed back", "rolled back", "throwaway",
        kill_at(f"after:{TAKE_BACK}", ["serving"], unhealthy=True)),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_fault(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run_row(ROWS[name], request, tmp_path)
