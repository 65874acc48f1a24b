"""The lab overlay: real Nebula 1.6 between two network namespaces, the host node under runit.

- A CA and certificates made with ``nebula-cert`` (lab-only keys, under the lab root).
- A lighthouse (overlay 10.100.0.1) and the Flatnet host node (10.100.1.1), each in a
  namespace of its own, joined by a veth pair whose underlay exists only inside them.
- Tun devices are on, so ICMP and TCP cross the overlay; a small HTTP service listens on
  the lighthouse's overlay address.
- The host node is a *service* under runit (``runsv``/``sv``): there is no systemd here.

Releases are Debian's real binaries with a build marker appended (told apart by sha256);
faulty ones: ``broken`` (a truncated binary that cannot run) and ``no-handshake`` (a build
that reaches the lighthouse on the wrong port, so no handshake completes).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from procedures.errors import LabError
from procedures.lab.processes import owned_pids, terminate
from procedures.lab.templates import render

VERSION = "1.6.1"
CURRENT, NEW = "lab.1", "lab.2"
FAULTS = ("broken", "no-handshake")
LIGHTHOUSE_IP, HOST_IP = "10.100.0.1", "10.100.1.1"
BINARIES = ("nebula", "nebula-cert")


@dataclass
class NebulaState:
    lighthouse_netns: str
    host_netns: str
    veth: str
    underlay: str  # 10.200.N: .1 lighthouse, .2 host


class NebulaLab:
    def __init__(self, root: Path, state: NebulaState) -> None:
        self.root = root
        self.state = state
        self.flatnet = root / "flatnet"
        self.pki = root / "flatnet/pki"
        self.config_dir = root / "flatnet/config/nebula"
        self.bin_dir = root / "flatnet/nebula"
        self.releases = root / "nebula-releases"
        self.service = root / "sv/nebula"
        self.lighthouse_dir = root / "nebula-lighthouse"

    @classmethod
    def new_state(cls, root: Path) -> NebulaState:
        h = hashlib.sha256(str(root).encode()).hexdigest()
        return NebulaState(f"fnl{h[:8]}", f"fnh{h[:8]}", f"fnv{h[:8]}", f"10.200.{int(h[8:10], 16)}")

    def release(self, name: str) -> Path:
        return self.releases / f"nebula-{VERSION}-{name}"

    # -- build -----------------------------------------------------------------------
    def build(self) -> None:
        for folder in (self.pki, self.config_dir, self.bin_dir, self.lighthouse_dir / "www", self.flatnet / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        self._certificates()
        for build in (CURRENT, NEW, "broken", "no-handshake"):
            self._release(build)
        for binary in BINARIES:
            shutil.copy2(self.release(CURRENT) / binary, self.bin_dir / binary)
        host_map = json.dumps({LIGHTHOUSE_IP: [f"{self.state.underlay}.1:4242"]})
        (self.config_dir / "config.yaml").write_text(render(
            "nebula_files", "node.yaml", pki=self.config_dir, name="host", static_host_map=host_map,
            am_lighthouse="false", lighthouse_hosts=f"['{LIGHTHOUSE_IP}']", port=0))
        (self.lighthouse_dir / "config.yaml").write_text(render(
            "nebula_files", "node.yaml", pki=self.lighthouse_dir, name="lighthouse", static_host_map="{}",
            am_lighthouse="true", lighthouse_hosts="[]", port=4242))
        (self.lighthouse_dir / "www/index.html").write_text("flatnet lighthouse over the overlay\n")
        self.service.mkdir(parents=True, exist_ok=True)
        run = self.service / "run"
        run.write_text(
            "#!/bin/sh\n# Flatnet lab: the Nebula host node as a supervised service (runit).\n"
            f"exec >> {self.flatnet}/logs/nebula.log 2>&1\n"
            f"exec ip netns exec {self.state.host_netns} {self.bin_dir}/nebula -config {self.config_dir}/config.yaml\n")
        run.chmod(0o755)

    def _certificates(self) -> None:
        cert = "/usr/bin/nebula-cert"
        subprocess.run([cert, "ca", "-name", "flatnet-lab", "-duration", "8760h", "-out-crt", str(self.pki / "ca.crt"),
                        "-out-key", str(self.pki / "ca.key")], check=True, capture_output=True)
        nodes = (("host", HOST_IP, self.config_dir), ("lighthouse", LIGHTHOUSE_IP, self.lighthouse_dir))
        for name, ip, folder in nodes:
            subprocess.run([cert, "sign", "-ca-crt", str(self.pki / "ca.crt"), "-ca-key", str(self.pki / "ca.key"),
                            "-name", name, "-ip", f"{ip}/16", "-out-crt", str(folder / f"{name}.crt"),
                            "-out-key", str(folder / f"{name}.key")], check=True, capture_output=True)
            shutil.copy(self.pki / "ca.crt", folder / "ca.crt")

    def _release(self, build: str) -> None:
        dest = self.release(build)
        dest.mkdir(parents=True, exist_ok=True)
        for binary in BINARIES:
            data = Path(f"/usr/bin/{binary}").read_bytes() + f"\nflatnet-lab-build {VERSION}-{build}\n".encode()
            target = dest / binary
            if build == "broken" and binary == "nebula":
                data = data[: 64 * 1024]  # a download cut short
            if build == "no-handshake" and binary == "nebula":
                (dest / "nebula.bin").write_bytes(data)
                (dest / "nebula.bin").chmod(0o755)
                data = render("nebula_files", "no-handshake.sh", real=dest / "nebula.bin").encode()
            target.write_bytes(data)
            target.chmod(0o755)

    # -- run ------------------------------------------------------------------------------
    def start(self) -> None:
        s = self.state
        if not Path(f"/var/run/netns/{s.host_netns}").exists():
            for command in (
                f"ip netns add {s.lighthouse_netns}", f"ip netns add {s.host_netns}",
                f"ip link add {s.veth}a type veth peer name {s.veth}b",
                f"ip link set {s.veth}a netns {s.lighthouse_netns}", f"ip link set {s.veth}b netns {s.host_netns}",
                f"ip -n {s.lighthouse_netns} addr add {s.underlay}.1/24 dev {s.veth}a",
                f"ip -n {s.host_netns} addr add {s.underlay}.2/24 dev {s.veth}b",
                f"ip -n {s.lighthouse_netns} link set {s.veth}a up", f"ip -n {s.host_netns} link set {s.veth}b up",
                f"ip -n {s.lighthouse_netns} link set lo up", f"ip -n {s.host_netns} link set lo up",
            ):
                subprocess.run(command.split(), check=True, capture_output=True)
        log = (self.flatnet / "logs/nebula-lighthouse.log").open("ab")
        subprocess.Popen(["ip", "netns", "exec", s.lighthouse_netns, "/usr/bin/nebula", "-config",
                          str(self.lighthouse_dir / "config.yaml")], stdout=log, stderr=log, start_new_session=True)
        self._wait_tun(s.lighthouse_netns)
        subprocess.Popen(["ip", "netns", "exec", s.lighthouse_netns, "busybox", "httpd", "-f", "-p",
                          f"{LIGHTHOUSE_IP}:8080", "-h", str(self.lighthouse_dir / "www")],
                         stdout=log, stderr=log, start_new_session=True)
        subprocess.Popen(["runsv", str(self.service)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        subprocess.run(["sv", "-w", "15", "up", str(self.service)], check=False, capture_output=True)

    def is_running(self) -> bool:
        out = subprocess.run(["sv", "status", str(self.service)], capture_output=True, text=True, check=False)
        return out.stdout.startswith("run:")

    def _wait_tun(self, netns: str, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        show = ["ip", "-n", netns, "link", "show", "nebula1"]
        while subprocess.run(show, capture_output=True, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise LabError(f"nebula in {netns} did not bring its tun up: is /dev/net/tun available (modprobe tun)?")
            time.sleep(0.02)

    def stop(self) -> None:
        """runsv first (it stops its service), then the namespaces, which take veth and tun with them."""
        if self.service.exists():
            subprocess.run(["sv", "-w", "5", "down", str(self.service)], check=False, capture_output=True)
            subprocess.run(["sv", "exit", str(self.service)], check=False, capture_output=True)
        terminate(owned_pids(self.root))
        for netns in (self.state.lighthouse_netns, self.state.host_netns):
            subprocess.run(["ip", "netns", "del", netns], check=False, capture_output=True)

    def inventory(self) -> dict[str, Any]:
        return {
            "host": "lab",
            "bin_dir": str(self.bin_dir),
            "config": str(self.config_dir / "config.yaml"),
            "cert": str(self.config_dir / "host.crt"),
            "ca_dir": str(self.pki),
            "backups_dir": str(self.flatnet / "backups"),
            "log": str(self.flatnet / "logs/nebula.log"),
            "service": {"manager": "runit", "name": str(self.service)},
            "lighthouse_ip": LIGHTHOUSE_IP,
            "tcp_check_url": f"http://{LIGHTHOUSE_IP}:8080/",
            "overlay_exec_prefix": f"ip netns exec {self.state.host_netns}",
            "ping_command": "busybox ping -c 1 -W 1",
            "http_get_command": "timeout 3 busybox wget -q -O-",  # busybox 1.35 wget -T segfaults
            "cert_min_days": 30,
            "overlay_wait": 8,
        }

    def plan(self, fault: str | None) -> dict[str, Any]:
        return {"release": str(self.release(fault if fault in FAULTS else NEW)), "version": VERSION}

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.state)
