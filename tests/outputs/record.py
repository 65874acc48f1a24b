"""Record the outputs under tests/outputs/ from a fresh lab: ``.venv/bin/python tests/outputs/record.py``.

Each fact the drivers read is asked of the lab's real servers through the real
drivers; the transport's exchanges are written as ``<name>.json`` (command, rc,
stdout, stderr), which ``transports/scripted.py`` replays in the unit tests.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from procedures.host import Host
from procedures.host.commands import CommandResult
from procedures.lab import Lab
from procedures.run.maintenance import Maintenance
from procedures.transports.base import Transport

OUTPUTS = Path(__file__).resolve().parent


class Recording(Transport):
    """Passes each command to the real transport and keeps the exchange."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner.name, inner.spec)
        self.inner, self.exchanges = inner, []

    def run(self, command: str, *, timeout: float) -> CommandResult:
        result = self.inner.run(command, timeout=timeout)
        self.exchanges.append({"command": command, "rc": result.rc, "stdout": result.stdout, "stderr": result.stderr})
        return result


def write(name: str, text: str, root: Path) -> None:
    """The lab's root becomes ``{root}``: a test replays the recording under any root it likes."""
    (OUTPUTS / name).write_text(text.replace(str(root), "{root}"))
    print(f"tests/outputs/{name}")


def recorded(name: str, host: Host, fact, root: Path) -> None:  # type: ignore[no-untyped-def]
    recording = Recording(host.transport)
    host.transport = recording
    try:
        fact()
    finally:
        host.transport = recording.inner
    write(f"{name}.json", json.dumps(recording.exchanges, indent=2, ensure_ascii=False) + "\n", root)


def main() -> None:
    lab = Lab(Path(tempfile.mkdtemp(prefix="flatnet-record-")))
    lab.up(("gateway", "nebula", "cni"))
    try:
        root = lab.root.resolve()
        write("lab-inventory.yaml", lab.inventory_path.read_text(), root)
        m = Maintenance.load(lab.inventory_path, lab.plan_path)
        gateway, nebula, cni = m.gateway(), m.nebula(), m.cni()
        recorded("gateway-version", gateway.host, gateway.version, root)
        recorded("gateway-pid", gateway.host, gateway.pid, root)
        recorded("gateway-snapshot", gateway.host, gateway.snapshot, root)
        recorded("nebula-version", nebula.host, nebula.version, root)
        recorded("nebula-service-running", nebula.host, nebula.service.state, root)
        nebula.service.stop()
        recorded("nebula-service-stopped", nebula.host, nebula.service.state, root)
        nebula.service.start()
        recorded("cni-identity", cni.host, cni.identity, root)
    finally:
        lab.down()
        shutil.rmtree(lab.root, ignore_errors=True)


if __name__ == "__main__":
    main()
