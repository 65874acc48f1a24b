"""Driver logic and parsers, on outputs recorded from the lab's real servers (tests/outputs/, written by
tests/outputs/record.py) and replayed by the scripted transport: no host, no lab, milliseconds each."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from procedures.config.inventory import Inventory, load_inventory
from procedures.drivers.cni import CniPlugin
from procedures.drivers.gateway import Gateway, nginx_version
from procedures.drivers.gateway_windows import gateway_for
from procedures.drivers.nebula import NebulaNode, node_for
from procedures.errors import DriverError, TransportError
from procedures.host import Host
from procedures.host.services import runit_state
from procedures.run.dryrun import DryRun
from procedures.transports.scripted import Exchange, ScriptedTransport, load_exchanges

OUTPUTS = Path(__file__).parent / "outputs"
ROOT = "/srv/flatnet-lab"  # not where it was recorded


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = tmp_path_factory.mktemp("site") / "inventory.yaml"
    path.write_text((OUTPUTS / "lab-inventory.yaml").read_text().replace("{root}", ROOT))
    return load_inventory(path)


def replaying(inventory: Inventory, *recordings: str, dry_run: DryRun | None = None) -> Host:
    exchanges = [e for name in recordings for e in load_exchanges(OUTPUTS / f"{name}.json", root=ROOT)]
    spec = inventory.hosts["lab"]
    return Host("lab", spec, ScriptedTransport("lab", spec, exchanges), dry_run=dry_run)


def transport(host: Host) -> ScriptedTransport:
    assert isinstance(host.transport, ScriptedTransport)
    return host.transport


def gateway(inventory: Inventory, *recordings: str) -> Gateway:
    return gateway_for(replaying(inventory, *recordings), inventory.components.gateway)  # type: ignore[arg-type]


# -- parsers, pure ---------------------------------------------------------------------------
@pytest.mark.parametrize(("output", "version"), [
    ("nginx version: openresty/1.25.3.1\n", "1.25.3.1"),
    ("nginx: [emerg] open() \"conf/nginx.conf\" failed\n", None),
])
def test_nginx_version(output: str, version: str | None) -> None:
    assert nginx_version(output) == version


@pytest.mark.parametrize(("status", "state"), [
    ("run: /etc/service/nebula: (pid 11423) 1s\n", "run"),
    ("down: /etc/service/nebula: 0s, normally up\n", "down"),
    ("down: /etc/service/nebula: 1s, normally up, want up\n", "down (want up)"),
    ("fail: /etc/service/nebula: unable to change to service directory: file does not exist\n", "fail"),
    ("", "unknown"),
])
def test_runit_state(status: str, state: str) -> None:
    assert runit_state(status) == state


# -- drivers on recorded exchanges ------------------------------------------------------------
def test_the_gateway_reads_its_version_with_nginx_v_in_the_live_folder(inventory: Inventory) -> None:
    g = gateway(inventory, "gateway-version")
    assert g.version() == "1.25.3.1"
    assert transport(g.host).finished
    assert transport(g.host).sent[0].startswith(f"cd {ROOT}/flatnet/openresty && ")


def test_a_version_nginx_does_not_state_is_a_driver_error(inventory: Inventory) -> None:
    [recorded] = load_exchanges(OUTPUTS / "gateway-version.json", root=ROOT)
    spec = inventory.hosts["lab"]
    broken = ScriptedTransport("lab", spec, [replace(recorded, stderr="nginx: [alert] could not open\n")])
    g = gateway_for(Host("lab", spec, broken), inventory.components.gateway)  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="cannot read a version from `nginx -v`: 'nginx: \\[alert\\] could not"):
        g.version()


def test_the_running_master_comes_from_the_pid_file_and_a_dead_one_is_none(inventory: Inventory) -> None:
    g = gateway(inventory, "gateway-pid")
    [recorded] = load_exchanges(OUTPUTS / "gateway-pid.json", root=ROOT)
    assert g.pid() == int(recorded.stdout)
    transport(g.host).then(replace(recorded, rc=1, stdout=""))
    assert g.pid() is None


def test_a_snapshot_hashes_every_backed_up_file(inventory: Inventory) -> None:
    snapshot = gateway(inventory, "gateway-snapshot").snapshot()
    assert sorted(snapshot) == ["conf/mime.types", "conf/nginx.conf", "lualib/flatnet/health.lua",
                                "lualib/resty/release.lua"]
    [recorded] = load_exchanges(OUTPUTS / "gateway-snapshot.json", root=ROOT)
    size, digest, mode, _ = next(line for line in recorded.stdout.splitlines()
                                 if line.endswith("\tconf/nginx.conf")).split("\t")
    assert (snapshot["conf/nginx.conf"].size, snapshot["conf/nginx.conf"].sha256, snapshot["conf/nginx.conf"].mode) \
        == (int(size), digest, mode)


def test_the_nebula_version_is_its_answer_and_the_hash_of_every_binary(inventory: Inventory) -> None:
    node: NebulaNode = node_for(replaying(inventory, "nebula-version"), inventory.components.nebula)  # type: ignore[arg-type]
    version = node.version()
    assert version["version"] and set(version["sha256"]) == {"nebula", "nebula-cert"}
    assert "error" not in version


def test_the_nebula_service_state_is_read_from_sv_status(inventory: Inventory) -> None:
    host = replaying(inventory, "nebula-service-running", "nebula-service-stopped")
    node = node_for(host, inventory.components.nebula)  # type: ignore[arg-type]
    assert [node.service.state(), node.service.state()] == ["run", "down"]


def test_a_cni_plugin_that_does_not_answer_version_is_named_with_its_error(inventory: Inventory) -> None:
    digest, answer = load_exchanges(OUTPUTS / "cni-identity.json", root=ROOT)
    spec = inventory.hosts["lab"]
    plugin = CniPlugin(Host("lab", spec, ScriptedTransport("lab", spec, [digest, answer])),
                       inventory.components.cni)  # type: ignore[arg-type]
    assert plugin.identity()["version"]["cniVersion"] == "1.0.0"
    transport(plugin.host).then(digest, replace(answer, rc=1, stdout="", stderr="exec format error\n"))
    broken = plugin.identity()
    assert broken["version"] is None and broken["error"] == "exec format error"


# -- the dry run, carried by the host -----------------------------------------------------------
def test_a_previewing_host_withholds_changes_and_still_reads(inventory: Inventory) -> None:
    dry = DryRun()
    host = replaying(inventory, "gateway-pid", dry_run=dry)
    dry.begin()
    withheld = host.run("rm -rf /srv/flatnet/openresty", change=True, purpose="remove the release")
    assert (withheld.rc, withheld.stdout) == (0, "")
    assert dry.withheld == [{"host": "lab", "purpose": "remove the release",
                             "command": "rm -rf /srv/flatnet/openresty"}]
    gateway_for(host, inventory.components.gateway).pid()  # type: ignore[arg-type]
    assert transport(host).finished and len(transport(host).sent) == 1  # the read went out, the change did not
    asked: list[str] = []
    assert host.wait_for(lambda: bool(asked.append("x")), 60, "something withheld") is True
    assert asked == []
    assert host.after_changes(lambda: "read", "would be") == "would be"
    dry.end()
    assert host.after_changes(lambda: "read", "would be") == "read"


def test_a_host_outside_a_preview_sends_its_changes(inventory: Inventory) -> None:
    spec = inventory.hosts["lab"]
    host = Host("lab", spec, ScriptedTransport("lab", spec, [Exchange("touch /tmp/x")]), dry_run=DryRun())
    host.run("touch /tmp/x", change=True)
    assert transport(host).finished
    assert host.wait_for(lambda: False, 0.05, "nothing") is False


def test_a_wait_asks_at_once_then_less_often(inventory: Inventory) -> None:
    """Ready at once is seen at once; a wait that runs to its timeout asks about ten times a second, not a hundred
    (every question costs the target commands)."""
    host = Host("lab", inventory.hosts["lab"], ScriptedTransport("lab", inventory.hosts["lab"], []))
    asked: list[float] = []
    started = time.monotonic()
    assert host.wait_for(lambda: not asked.append(time.monotonic()), 5, "ready at once") is True
    assert len(asked) == 1 and asked[0] - started < 0.05
    asked.clear()
    assert host.wait_for(lambda: bool(asked.append(time.monotonic())), 0.5, "never") is False
    assert 4 <= len(asked) <= 10, asked  # at 0, 10, 30, 70, 150 ms, then every 100 ms: 9 in 0.5 s (every 10 ms: 50)
    assert asked[-1] - asked[0] > 0.45


def test_the_scripted_transport_refuses_a_command_the_recording_does_not_have(inventory: Inventory) -> None:
    spec = inventory.hosts["lab"]
    host = Host("lab", spec, ScriptedTransport("lab", spec, [Exchange("nginx -v")]))
    with pytest.raises(TransportError, match="sent 'nginx -t', but the recording has 'nginx -v' next"):
        host.run("nginx -t")
    with pytest.raises(TransportError, match="nothing recorded answers 'nginx -v'"):
        host.run("nginx -v")
