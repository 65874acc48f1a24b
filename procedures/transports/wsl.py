"""The Windows side of a Flatnet PC, from its own WSL2: PowerShell through WSL interop, no WinRM.

From inside WSL2, ``powershell.exe`` runs directly: no service, network or
credential. This transport runs the very scripts the WinRM flavor builds
(``host/powershell.py``) with the same launcher arguments
(``-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand``), so the
quoting, the error handling and the native exit codes are the same. Its own
frame is two lines before the script: console output in UTF-8 (WinRM's shell
gets code page 65001 instead), and PowerShell's own Windows PID on the first
line of stdout. The deadline is real: on timeout the Windows process tree under
that PID is ended (``taskkill.exe /T /F``: killing the Linux side of an interop
process does not reliably end the Windows one, and never its children, such as
an ``nginx.exe`` it waits for), then the process group this transport started.
stderr's CLIXML is decoded as over WinRM. Reads that
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

PID_LINE = "flatnet-windows-pid "
FRAME = ("[Console]::OutputEncoding = [Text.UTF8Encoding]::new($false)\n"
         f"[Console]::Out.WriteLine('{PID_LINE}' + $PID); [Console]::Out.Flush()\n")
TASKKILL = "taskkill.exe"  # Windows' own, on WSL's PATH with interop (appendWindowsPath)
ARGUMENTS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand")
COMMAND_LINE_LIMIT = 32767  # CreateProcess; no cmd.exe in between, unlike WinRM


def encoded(script: str) -> str:
    return base64.b64encode((FRAME + script).encode("utf-16-le")).decode()


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
        except subprocess.TimeoutExpired as exc:
            windows_pid = pid_of(exc.output or b"")
            ended = end_windows_tree(windows_pid) if windows_pid else "its Windows PID was never printed"
            with_group_killed(proc)
            raise CommandTimeout(f"{self.name}: the script did not finish within {timeout:g}s; the Windows process "
                                 f"tree was {ended}, and {self.executable} (pid {proc.pid}) with its process group "
                                 "killed") from None
        stdout = out.decode("utf-8", "replace")
        first, _, rest = stdout.partition("\n")
        return CommandResult(command, proc.returncode, rest if first.startswith(PID_LINE) else stdout,
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


def pid_of(output: bytes) -> int | None:
    """PowerShell's Windows PID, from the frame's first line of stdout."""
    first = output.decode("utf-8", "replace").split("\n", 1)[0].strip()
    number = first.removeprefix(PID_LINE)
    return int(number) if first.startswith(PID_LINE) and number.isdigit() else None


def end_windows_tree(windows_pid: int) -> str:
    """``taskkill /T /F`` on PowerShell and every process it started; what came of it, in words."""
    try:
        done = subprocess.run([TASKKILL, "/T", "/F", "/PID", str(windows_pid)], capture_output=True, timeout=15,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not ended ({TASKKILL} /T /F /PID {windows_pid} failed: {exc}); end it in Task Manager"
    if done.returncode != 0:
        return (f"not ended ({TASKKILL} /T /F /PID {windows_pid} exited {done.returncode}: "
                f"{done.stderr.decode('utf-8', 'replace').strip()[:200]}); check Task Manager")
    return f"ended ({TASKKILL} /T /F /PID {windows_pid})"


def with_group_killed(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process group this transport started, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
