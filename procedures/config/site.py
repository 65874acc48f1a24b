"""``./maint site init``: a starting inventory for a Flatnet PC, from what this WSL2 can see of it.

A Flatnet site is usually one Windows PC: the gateway and Nebula on Windows
under ``F:\\flatnet``, the CNI plugin and the monitoring stack in its own WSL2,
which sees that folder as ``/mnt/f/flatnet``. From there the Windows side is
driven over WSL interop (transport ``wsl``), the WSL2 side locally. What can be
detected is filled in; what cannot is marked ``# FILL IN``; the result is
validated like every inventory before it is written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

import yaml

from procedures.config.inventory import load_inventory
from procedures.errors import ConfigError

WINDOWS_POWERSHELL = "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"
_LISTEN = re.compile(r"^\s*listen\s+(?:[\w.\[\]:]+:)?(\d+)\b", re.M)


@dataclass
class Detected:
    """What this machine tells about the PC it runs on; ``notes`` say what it could not tell."""

    wsl: bool = False
    interop: bool = False
    powershell: str | None = None
    drive: str | None = None  # the Windows drive letter holding flatnet (F)
    mount: Path | None = None  # where WSL2 mounts it (/mnt/f)
    gateway_ports: list[int] = field(default_factory=list)
    nebula: bool = False
    cni: bool = False
    windows_address: str = "127.0.0.1"
    notes: list[str] = field(default_factory=list)

    @property
    def flatnet(self) -> Path | None:
        return self.mount / "flatnet" if self.mount else None


def detect(root: Path = Path("/")) -> Detected:
    """Read /proc, the mounts and Flatnet's own files under ``root`` (``/`` on a real PC)."""
    found = Detected()
    version = _read(root / "proc/version")
    found.wsl = "microsoft" in version.lower()
    if not found.wsl:
        found.notes.append("/proc/version does not mention Microsoft: this is not WSL2")
    interop = [_read(p) for p in (root / "proc/sys/fs/binfmt_misc").glob("WSLInterop*")]
    found.interop = any(text.startswith("enabled") for text in interop)
    if not found.interop:
        found.notes.append("WSL interop is off: set [interop] enabled=true in /etc/wsl.conf, then wsl --shutdown")
    found.powershell = next((exe for exe in ("powershell.exe", "pwsh.exe")
                             if any((d / exe).exists() for d in _path_dirs(root))), None)
    if found.powershell is None and (root / WINDOWS_POWERSHELL[1:]).exists():
        found.powershell = WINDOWS_POWERSHELL  # interop's appendWindowsPath is off: the full path still works
    if found.powershell is None:
        found.notes.append("no powershell.exe on PATH nor in C:\\Windows\\System32: hosts.windows.powershell")
    for line in _read(root / "proc/mounts").splitlines():
        fields = line.split()
        if len(fields) > 2 and re.fullmatch(r"/mnt/[a-z]", fields[1]) and (root / fields[1][1:] / "flatnet").is_dir():
            found.mount, found.drive = Path(fields[1]), fields[1][-1].upper()
            break
    if found.flatnet is None:
        found.notes.append("no /mnt/<drive>/flatnet: which drive holds F:\\flatnet? (root, and every Windows path)")
        return found
    local = root / str(found.flatnet)[1:]
    found.gateway_ports = sorted({int(p) for p in _LISTEN.findall(_read(local / "config/nginx.conf"))})
    if not found.gateway_ports:
        found.notes.append("no 'listen' in config\\nginx.conf: the gateway's front and health URLs")
    found.nebula = (local / "nebula" / "nebula.exe").exists()
    found.cni = (root / "opt/cni/bin/flatnet").exists()
    if route := _default_gateway(_read(root / "proc/net/route")):
        found.windows_address = route
        found.notes.append(f"the Windows host answers WSL2 at {route} (NAT networking; with networkingMode="
                           "mirrored it is 127.0.0.1): check the gateway's URLs")
    return found


def inventory_for(found: Detected) -> dict[str, Any]:
    drive = found.drive or "F"
    root = str(PureWindowsPath(f"{drive}:\\flatnet"))
    address = found.windows_address
    front = found.gateway_ports[0] if found.gateway_ports else 80
    components: dict[str, Any] = {"gateway": {
        "host": "windows", "flavor": "windows", "root": root,
        "nginx_args": ["-c", f"{root}\\config\\nginx.conf"],
        "front": {"url": f"http://{address}:{front}/"},
        "health": {"url": f"http://{address}:{front}/health"},
    }}
    if found.nebula:
        components["nebula"] = {"host": "windows", "service": {"manager": "windows", "name": "Nebula"}}
    if found.cni:
        components["cni"] = {"host": "wsl", "backups_dir": "/var/backups/flatnet/cni"}
    return {"name": "flatnet-pc", "hosts": {
        "windows": {"transport": "wsl", "powershell": found.powershell or "powershell.exe"},
        "wsl": {"transport": "local"}}, "components": components}


def render(inventory: dict[str, Any], found: Detected) -> str:
    head = ["# Flatnet PC inventory, written by `./maint site init`: check it before the first maintenance.",
            "# The Windows side is driven over WSL interop (transport wsl), the WSL2 side locally."]
    head += [f"# FILL IN: {note}" for note in found.notes]
    if not found.nebula:
        head.append("# FILL IN: no F:\\flatnet\\nebula\\nebula.exe found: add components.nebula if this PC runs it")
    head.append("# FILL IN: the monitoring stack (components.monitoring: compose_dir, backups_dir, the URLs)")
    return "\n".join(head) + "\n" + yaml.safe_dump(inventory, sort_keys=False, allow_unicode=True)


def init(output: Path, *, root: Path = Path("/"), force: bool = False) -> str:
    """Detect, write ``output`` (never over an existing file unless ``force``) and validate it."""
    if output.exists() and not force:
        raise ConfigError(f"{output} exists: keep it, or write elsewhere with --output (or replace it with --force)")
    found = detect(root)
    text = render(inventory_for(found), found)
    output.write_text(text, encoding="utf-8")
    load_inventory(output)
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./maint site", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("init", help="write a starting inventory for this Flatnet PC")
    start.add_argument("--output", type=Path, default=Path("inventory.yaml"))
    start.add_argument("--force", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    try:
        text = init(args.output, force=args.force)
    except ConfigError as exc:
        print(f"site init: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    print(f"written: {args.output} (validated; see the FILL IN lines)", file=sys.stderr)
    return 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _path_dirs(root: Path) -> list[Path]:
    return [root / d.lstrip("/") for d in os.environ.get("PATH", "").split(os.pathsep) if d]


def _default_gateway(route: str) -> str | None:
    """/proc/net/route's default route (destination 00000000), as a dotted address."""
    for line in route.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            value = int(fields[2], 16)
            return ".".join(str((value >> shift) & 0xFF) for shift in (0, 8, 16, 24))
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
