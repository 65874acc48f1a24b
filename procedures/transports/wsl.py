"""The Windows side of a Flatnet PC, from its own WSL2: PowerShell through WSL interop, no WinRM.

From inside WSL2, ``powershell.exe`` runs directly: no service, network or
credential. This transport runs the very scripts the WinRM flavor builds
(``host/powershell.py``) with the same launcher arguments
(``-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand``), so the
quoting, the error handling and the native exit codes are the same. Its own
frame is one line before the script: console output in UTF-8 (WinRM's shell
gets code page 65001 instead). The deadline is real: on timeout the process
group it started is killed. stderr's CLIXML is decoded as over WinRM. Reads that
Linux does as well and faster (hashing backups, reading logs) go through the
drive mount WSL reports (``/mnt/f``); every change still goes through
PowerShell, so Windows ACLs and locks apply.
"""

from __future__ import annotations

import base64
import contextlib
import ntpath
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from procedures.errors import CommandTimeout, ScriptTooLong, TransportError
from procedures.host.commands import CommandResult
from procedures.host.powershell import strip_clixml
from procedures.transports.base import Transport

if TYPE_CHECKING:
    from procedures.config.inventory import HostSpec

UTF8_FRAME = "[Console]::OutputEncoding = [Text.UTF8Encoding]::new($false)\n"
ARGUMENTS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand")
COMMAND_LINE_LIMIT = 32767  # CreateProcess; no cmd.exe in between, unlike WinRM


def encoded(script: str) -> str:
    return base64.b64encode((UTF8_FRAME + script).encode("utf-16-le")).decode()


class WslTransport(Transport):
    def __init__(self, name: str, spec: HostSpec, mounts: Path = Path("/proc/mounts")) -> None:
        super().__init__(name, spec)
        self.executable = spec.powershell
        self.mounts = mounts

    def local_path(self, path: str) -> Path | None:
        """``F:\\flatnet\\logs`` → ``/mnt/f/flatnet/logs``, following the drive mounts WSL reports."""
        drive, rest = ntpath.splitdrive(path)
        mount = drive_mounts(self.mounts).get(drive.upper())
        return Path(mount, *[part for part in rest.split("\\") if part]) if mount else None

    def run(self, command: str, *, timeout: float) -> CommandResult:
        argv = [self.executable, *ARGUMENTS, encoded(command)]
        if (length := len(" ".join(argv))) > COMMAND_LINE_LIMIT:
            raise ScriptTooLong(f"{self.name}: the script needs a {length}-character command line; "
                                f"Windows allows {COMMAND_LINE_LIMIT}")
        started = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)  # its own process group: the deadline kills all of it
        except OSError as exc:
            raise TransportError(f"{self.name}: cannot start {self.executable} through WSL interop: "
                                 f"{exc.strerror or exc} (is interop on, and {self.executable} on PATH?)") from None
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with_group_killed(proc)
            raise CommandTimeout(f"{self.name}: the script did not finish within {timeout:g}s; "
                                 f"{self.executable} (pid {proc.pid}) and its process group were killed") from None
        return CommandResult(command, proc.returncode, out.decode("utf-8", "replace"),
                             strip_clixml(err.decode("utf-8", "replace")), time.monotonic() - started, self.name)

    def __repr__(self) -> str:
        return f"WslTransport({self.name!r}, {self.executable!r})"


def drive_mounts(mounts: Path) -> dict[str, str]:
    """``{"F:": "/mnt/f"}`` from /proc/mounts: WSL's drvfs mounts (9p with ``aname=drvfs;path=F:\\``, or drvfs)."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[2] not in {"9p", "drvfs"}:
            continue
        source = re.search(r"(?:^|;)path=([A-Za-z]:)", fields[3])
        drive = source.group(1) if source else fields[0].replace("\\134", "\\")[:2]
        if re.fullmatch(r"[A-Za-z]:", drive):
            found[drive.upper()] = fields[1].replace("\\040", " ")
    return found


def with_group_killed(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process group this transport started, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
