"""Who holds the gateway's ports, judged on `ss`/`ps` outputs recorded from the lab (tests/outputs/):
one master and its workers, a binary upgrade in flight, and the worker a killed master leaves behind."""

from __future__ import annotations

from pathlib import Path

from procedures.drivers import gateway_processes as processes

OUTPUTS = Path(__file__).parent / "outputs"


def recorded(name: str) -> dict[int, processes.Listener]:
    return processes.parse_listeners((OUTPUTS / name).read_text())


def test_one_master_and_its_worker_hold_the_ports() -> None:
    listening = recorded("listeners-one-master.txt")
    assert {pid: entry.parent for pid, entry in listening.items()} == {10770: 1, 10771: 10770}
    assert all(entry.is_nginx for entry in listening.values())
    assert processes.problem(listening, master=10770, previous=None) is None


def test_during_a_binary_upgrade_the_idle_previous_master_may_hold_them_too() -> None:
    listening = recorded("listeners-binary-upgrade.txt")
    assert processes.problem(listening, master=10783, previous=10770) is None
    assert processes.problem(listening, master=10783, previous=None) is not None  # retired: it must be gone


def test_the_worker_of_a_killed_master_is_a_stray_the_other_master_is_not() -> None:
    listening = recorded("listeners-new-master-killed.txt")
    [orphan] = processes.strays(listening, {10770})
    assert (orphan.pid, orphan.parent, orphan.title) == (10784, 1, "nginx: worker process")
    problem = processes.problem(listening, master=10770, previous=None)
    assert problem is not None and "10784 (nginx: worker process, parent 1)" in problem


def test_a_master_without_workers_does_not_serve() -> None:
    listening = processes.parse_listeners("10770     1 nginx: master process /usr/sbin/nginx\n")
    problem = processes.problem(listening, master=10770, previous=None)
    assert problem == "master 10770 has no worker on the gateway's ports"


def test_a_foreign_listener_is_a_stray_but_not_nginx() -> None:
    listening = processes.parse_listeners((OUTPUTS / "listeners-one-master.txt").read_text()
                                          + "4242   900 python3 squatter.py\n")
    [foreign] = processes.strays(listening, {10770})
    assert foreign.pid == 4242 and not foreign.is_nginx


def test_ports_come_from_the_urls_with_the_scheme_default() -> None:
    assert processes.ports_of("http://127.0.0.1:8080/api/health", "http://10.0.0.1/", "https://gw/") == [80, 443, 8080]


def test_the_fact_command_reads_every_port_and_says_when_it_cannot() -> None:
    command = processes.listeners_command([80, 8080])
    assert "( sport = :80 or sport = :8080 )" in command
    assert command.startswith(f"command -v ss >/dev/null || exit {processes.NO_FACT_RC}")
