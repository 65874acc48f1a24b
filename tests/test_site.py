"""``./maint site init`` on a simulated Flatnet PC (a WSL2 /proc, mounts and F:\\flatnet under tmp_path),
and the example inventory it documents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from procedures.config.inventory import load_inventory
from procedures.config.site import detect, init
from procedures.errors import ConfigError

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLE = PROJECT / "examples" / "flatnet-pc.yaml"


def flatnet_pc(root: Path, *, interop: bool = True, nebula: bool = True) -> Path:
    (root / "proc/sys/fs/binfmt_misc").mkdir(parents=True)
    (root / "proc/net").mkdir()
    (root / "proc/version").write_text("Linux version 5.15.167.4-microsoft-standard-WSL2 (root@1a2b) #1 SMP\n")
    (root / "proc/sys/fs/binfmt_misc/WSLInterop").write_text(
        ("enabled" if interop else "disabled") + "\ninterpreter /init\nflags: PF\n")
    (root / "proc/mounts").write_text("C:\\134 /mnt/c 9p rw,noatime,aname=drvfs;path=C:\\;uid=1000 0 0\n"
                                      "F:\\134 /mnt/f 9p rw,noatime,aname=drvfs;path=F:\\;uid=1000 0 0\n")
    (root / "proc/net/route").write_text("Iface\tDestination\tGateway\tFlags\n"
                                         "eth0\t00000000\t0110A8C0\t0003\neth0\t0010A8C0\t00000000\t0001\n")
    flatnet = root / "mnt/f/flatnet"
    (flatnet / "config").mkdir(parents=True)
    (flatnet / "config/nginx.conf").write_text("http {\n  server {\n    listen 80;\n  }\n"
                                               "  server {\n    listen 127.0.0.1:8080;\n  }\n}\n")
    if nebula:
        (flatnet / "nebula").mkdir()
        (flatnet / "nebula/nebula.exe").write_bytes(b"MZ")
    windows_powershell = root / "mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"
    windows_powershell.parent.mkdir(parents=True)
    windows_powershell.write_bytes(b"MZ")
    (root / "opt/cni/bin").mkdir(parents=True)
    (root / "opt/cni/bin/flatnet").write_bytes(b"\x7fELF")
    return root


def test_a_flatnet_pc_is_detected(tmp_path: Path) -> None:
    found = detect(flatnet_pc(tmp_path))
    assert (found.wsl, found.interop, found.drive, str(found.mount)) == (True, True, "F", "/mnt/f")
    assert (found.gateway_ports, found.nebula, found.cni, found.windows_address) == ([80, 8080], True, True,
                                                                                      "192.168.16.1")


def test_init_writes_a_valid_inventory_with_what_it_found_and_marks_the_rest(tmp_path: Path) -> None:
    output = tmp_path / "inventory.yaml"
    text = init(output, root=flatnet_pc(tmp_path / "pc"))
    inventory = load_inventory(output)
    assert inventory.hosts["windows"].transport == "wsl" and inventory.hosts["windows"].os == "windows"
    assert inventory.hosts["windows"].powershell == "/mnt/c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"
    assert inventory.hosts["wsl"].transport == "local"
    gateway = inventory.components.gateway
    assert gateway is not None and gateway.root == "F:\\flatnet" and str(gateway.front.url) == "http://192.168.16.1/"
    assert gateway.nginx_args == ("-c", "F:\\flatnet\\config\\nginx.conf")
    assert inventory.components.nebula is not None and inventory.components.cni is not None
    assert "# FILL IN: the monitoring stack" in text and "networkingMode=mirrored" in text


def test_what_cannot_be_detected_is_said_in_the_file(tmp_path: Path) -> None:
    text = init(tmp_path / "inventory.yaml", root=flatnet_pc(tmp_path / "pc", interop=False, nebula=False))
    assert "# FILL IN: WSL interop is off" in text and "add components.nebula" in text


def test_an_existing_inventory_is_never_overwritten(tmp_path: Path) -> None:
    output = tmp_path / "inventory.yaml"
    output.write_text("mine\n")
    with pytest.raises(ConfigError, match="exists: keep it"):
        init(output, root=flatnet_pc(tmp_path / "pc"))
    assert output.read_text() == "mine\n"


def test_the_command_refuses_in_operator_words(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text("mine\n")
    result = subprocess.run([sys.executable, "-m", "procedures.config.site", "init"], cwd=tmp_path,
                            capture_output=True, text=True, env={"PYTHONPATH": str(PROJECT)}, check=False)
    assert (result.returncode, result.stderr.strip()) == (
        2, "site init: inventory.yaml exists: keep it, or write elsewhere with --output (or replace it with --force)")


def test_the_example_is_what_init_writes_for_a_typical_pc(tmp_path: Path) -> None:
    written = init(tmp_path / "inventory.yaml", root=flatnet_pc(tmp_path / "pc"))
    assert yaml.safe_load(EXAMPLE.read_text()) == yaml.safe_load(written)
    load_inventory(EXAMPLE)
