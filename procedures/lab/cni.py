"""The lab CNI: Debian's real bridge plugin installed as ``flatnet``, and a podman network on it.

Two builds are told apart by their sha256 (a build marker appended after the
ELF image, which the loader ignores) and answer ``CNI_COMMAND=VERSION`` like
any CNI plugin. Faulty builds for injection:

- ``not-a-plugin``: not executable (a half-finished copy);
- ``add-fails``: runs, but every ADD fails with a bridge error (code 100, as Flatnet's plugin).

The subnet is Flatnet's single-host 10.87.1.0/24 with gateway 10.87.1.1 when it
is free; a second lab on the machine (the test suite's, beside an operator's lab)
takes the next free 10.87.N.0/24. The inventory carries the gateway IP, so the
procedures never assume Flatnet's. The bridge gets a name of the lab's own.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from procedures.errors import LabError
from procedures.lab.podman import Podman, free_subnet

CURRENT_VERSION = "0.1.0"
NEW_VERSION = "0.2.0"
FAULTS = ("not-a-plugin", "add-fails")
SUBNET = "10.87.1.0/24"  # Flatnet's own
TEST_IMAGE = "localhost/flatnet-lab/busybox-ping:latest"
BRIDGE_PLUGIN = Path("/usr/lib/cni/bridge")
_ADD_FAILS = """#!/bin/sh
# Lab fault: a flatnet build whose ADD always fails (the bridge cannot be set up).
if [ "$CNI_COMMAND" = ADD ]; then
  cat >/dev/null
  echo '{"cniVersion":"1.0.0","code":100,"msg":"failed to set up bridge flatnet (lab fault add-fails)"}'
  exit 1
fi
exec /usr/lib/cni/bridge "$@"
"""


@dataclass
class CniState:
    bridge: str
    subnet: str = SUBNET

    @property
    def gateway(self) -> str:
        return self.subnet.rsplit(".", 1)[0] + ".1"


@contextlib.contextmanager
def subnet_choice() -> Iterator[None]:
    """Machine-wide, only while a lab picks its free 10.87.N.0/24 and claims it with its bridge: once the
    route exists, every other lab sees the subnet as taken. A lab that is up holds no lock."""
    fd = os.open("/run/lock/flatnet-cni-lab.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class CniLab:
    def __init__(self, root: Path, state: CniState, podman: Podman) -> None:
        self.root = root
        self.state = state
        self.podman = podman
        self.bin_dir = root / "cni/bin"
        self.conf_dir = root / "cni/net.d"
        self.builds = root / "cni/builds"
        self.changes = root / "changes/cni"

    @classmethod
    def new_state(cls, root: Path) -> CniState:
        return CniState(bridge="fnb" + hashlib.sha256(str(root).encode()).hexdigest()[:8],
                        subnet=free_subnet("10.87", range(1, 255)))

    @property
    def conflist(self) -> Path:
        return self.conf_dir / "10-flatnet.conflist"

    def build_path(self, fault: str | None = None) -> Path:
        return self.builds / (f"flatnet-{NEW_VERSION}-{fault}" if fault else f"flatnet-{NEW_VERSION}")

    def build(self) -> None:
        subnet = self.state.subnet
        routes = subprocess.run(["ip", "-4", "route", "show", subnet], capture_output=True, text=True,
                                check=False).stdout.strip()
        if routes:
            raise LabError(f"{subnet} was free a moment ago and is now in use ({routes}): another lab took it. "
                           "Run the command again: the lab picks the next free 10.87.N.0/24.")
        # Claim the subnet now (the bridge plugin adopts an existing bridge), not at the first container.
        for command in (["ip", "link", "add", self.state.bridge, "type", "bridge"],
                        ["ip", "addr", "add", f"{self.state.gateway}/24", "dev", self.state.bridge],
                        ["ip", "link", "set", self.state.bridge, "up"]):
            subprocess.run(command, check=True, capture_output=True)
        self.builds.mkdir(parents=True, exist_ok=True)
        current = self.builds / f"flatnet-{CURRENT_VERSION}"
        for version, dest in ((CURRENT_VERSION, current), (NEW_VERSION, self.build_path())):
            dest.write_bytes(BRIDGE_PLUGIN.read_bytes() + f"\nflatnet-lab-build {version}\n".encode())
            dest.chmod(0o755)
        broken = self.build_path("not-a-plugin")
        shutil.copy(self.build_path(), broken)
        broken.chmod(0o644)
        failing = self.build_path("add-fails")
        failing.write_text(_ADD_FAILS)
        failing.chmod(0o755)
        shutil.copy2(current, self.bin_dir / "flatnet")
        self.conflist.write_text(json.dumps(self.conflist_body(), indent=2) + "\n")
        self.changes.mkdir(parents=True, exist_ok=True)
        new = self.conflist_body()
        new["plugins"][0]["mtu"] = 1400  # the plan's conflist change: a smaller MTU
        (self.changes / "10-flatnet.conflist").write_text(json.dumps(new, indent=2) + "\n")
        self.podman.import_local(TEST_IMAGE)

    def conflist_body(self) -> dict[str, Any]:
        return {
            "cniVersion": "1.0.0",
            "name": "flatnet",
            "plugins": [{
                "type": "flatnet", "bridge": self.state.bridge, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "dataDir": str(self.root / "cni/ipam"),
                         "ranges": [[{"subnet": self.state.subnet, "gateway": self.state.gateway}]]},
            }],
        }

    def stop(self) -> None:
        self.podman.run("podman", "rm", "--all", "--force", "--time", "2", check=False)
        subprocess.run(["ip", "link", "del", self.state.bridge], capture_output=True, check=False)

    def inventory(self) -> dict[str, Any]:
        return {
            "host": "lab",
            "plugin_dir": str(self.bin_dir),
            "conflist": str(self.conflist),
            "extra_plugin_dirs": ["/usr/lib/cni"],
            "network": "flatnet",
            "gateway_ip": self.state.gateway,
            "test_image": TEST_IMAGE,
            "environment": self.podman.env,
            "backups_dir": str(self.root / "flatnet/backups"),
        }

    def plan(self, fault: str | None) -> dict[str, Any]:
        return {"binary": str(self.build_path(fault if fault in FAULTS else None)),
                "conflist": str(self.changes / "10-flatnet.conflist")}

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.state)  # the gateway follows from the subnet
