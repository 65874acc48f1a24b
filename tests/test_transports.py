"""Both POSIX transports, one test body each (testinfra style): local, and ssh to a real sshd."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from procedures.config.inventory import HostSpec
from procedures.errors import CommandFailed, CommandTimeout, TransportError
from procedures.host import Host
from procedures.host.commands import sh
from procedures.run.pids import alive
from tests.conftest import PROJECT, wait_for


@pytest.fixture(params=["local", "ssh"])
def host(request: pytest.FixtureRequest) -> Host:
    if request.param == "local":
        return Host("here", HostSpec(transport="local"))
    return Host("there", HostSpec.model_validate(request.getfixturevalue("sshd").host_entry()))


def test_output_and_exit_code(host: Host) -> None:
    result = host.run("echo out; echo err >&2; exit 3", check=False)
    assert (result.rc, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.host == host.name


def test_a_failing_command_raises_with_its_output(host: Host) -> None:
    with pytest.raises(CommandFailed) as error:
        host.run("echo something broke >&2; false", purpose="check the widget")
    assert "could not check the widget" in str(error.value) and "something broke" in str(error.value)
    assert error.value.result.rc == 1


def test_quoting_survives_spaces_quotes_and_dollars(host: Host, tmp_path) -> None:
    name = str(tmp_path / "it's a $HOME `x` file")
    host.run(f"printf %s {sh('content')} > {sh(name)}")
    assert host.run(f"cat {sh(name)}").stdout == "content"


def test_a_hung_command_is_killed_at_its_deadline(host: Host) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="did not finish within 1s"):
        host.run("sleep 60", timeout=1)
    assert time.monotonic() - started < 10


def test_an_unreachable_ssh_host_is_a_transport_error(sshd) -> None:
    entry = sshd.host_entry() | {"port": 1, "connect_timeout": 2}
    host = Host("nowhere", HostSpec.model_validate(entry))
    with pytest.raises(TransportError, match=r"host nowhere cannot be reached or cannot run commands: "
                                             "ssh: connect to host 127.0.0.1 port 1"):
        host.run("true")


# A run of the procedures, reduced to one local command: a shell that leaves a grandchild in the background.
IN_FLIGHT = """
import sys
from procedures.config.inventory import HostSpec
from procedures.host import Host
Host("here", HostSpec(transport="local")).run(f"sleep 600 & echo $! > {sys.argv[1]}; wait", timeout=600)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda sig: sig.name)
def test_a_local_command_in_flight_ends_with_the_run_that_started_it(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C, a SIGTERM or a kill -9 of the run: what its command started must not live on, to race the
    rollback that follows or an operator's --recover (the command's deadline here is 10 minutes)."""
    pid_file = tmp_path / "pid"
    run = subprocess.Popen([sys.executable, "-c", IN_FLIGHT, str(pid_file)], cwd=PROJECT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 10)
        started = int(pid_file.read_text())
        assert alive(started)
        run.send_signal(sig)
        run.wait(timeout=10)
        wait_for(lambda: not alive(started), 5)  # timed out: the command's process outlived its run
    finally:
        run.kill()
