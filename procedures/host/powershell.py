"""PowerShell scripts, built in one place.

Every value enters a script as a single-quoted literal: nothing in it is
expanded (``$``, backticks, ``$(…)``), and the quote characters PowerShell
accepts (' and the typographic ‘ ’ ‚ ‛) are doubled. Every script stops at the
first error and checks native exit codes; success is judged by the exit code.
No secret is ever placed in a script (scripts reach the record and Windows logs).
"""

from __future__ import annotations

import re
import subprocess
from html import unescape

from procedures.errors import ConfigError

_CLIXML_STRING = re.compile(r'<S S="Error">(.*?)</S>', re.S)
_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_QUOTES = "'\u2018\u2019\u201a\u201b"
# powershell.exe -EncodedCommand goes through cmd.exe: 8191 characters in all.
COMMAND_LINE_LIMIT = 8191
LAUNCHER = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "


def quote(value: str) -> str:
    """``C:\\it's $here`` → ``'C:\\it''s $here'``."""
    if "\x00" in value:
        raise ConfigError(f"a NUL character cannot be passed to PowerShell: {value!r}")
    return "'" + "".join(ch + ch if ch in _QUOTES else ch for ch in value) + "'"


def native(executable: str, *args: str) -> str:
    """Call a program and fail on a non-zero exit code (PowerShell itself does not)."""
    _no_double_quotes(args)
    call = " ".join(["&", quote(executable), *(quote(a) for a in args)])
    return (f"{call}\nif ($LASTEXITCODE -ne 0) {{ throw ({quote(executable + ' exited ')} + $LASTEXITCODE) }}")


def native_stderr_ok(executable: str, *args: str) -> str:
    """A program that writes normal output to stderr (``nginx -v``): 'Stop' must not turn that into an error."""
    _no_double_quotes(args)
    return ("$ErrorActionPreference = 'Continue'\n"
            f"{' '.join(['&', quote(executable), *(quote(a) for a in args)])} 2>&1 | ForEach-Object {{ \"$_\" }}\n"
            "$code = $LASTEXITCODE\n$ErrorActionPreference = 'Stop'\n"
            f"if ($code -ne 0) {{ throw ({quote(executable + ' exited ')} + $code) }}")


def _no_double_quotes(args: tuple[str, ...]) -> None:
    for arg in args:
        if '"' in arg:
            raise ConfigError(f"a double quote in a native argument is passed on wrongly by PowerShell 5.1: {arg!r}")


def start_process(executable: str, args: tuple[str, ...] | list[str], folder: str) -> str:
    """Start a detached program. ``-ArgumentList`` is joined with spaces, unquoted, into one Windows command line,
    so it gets that command line ready-made (MS C runtime quoting): an argument with a space stays one argument.
    With no arguments there is no ``-ArgumentList`` (it refuses to be empty)."""
    arguments = f" -ArgumentList {quote(subprocess.list2cmdline(list(args)))}" if args else ""
    return (f"Start-Process -FilePath {quote(executable)} -WorkingDirectory {quote(folder)}{arguments}"
            " -WindowStyle Hidden")


def service(name: str) -> str:
    """The service named exactly ``name`` (``Get-Service -Name`` would read ``[ ] * ?`` in it as wildcards)."""
    return f"(Get-Service | Where-Object {{ $_.Name -eq {quote(name)} }})"


def make_dir(path: str) -> str:
    """Create a folder and its parents, literally (``New-Item -Path`` would read ``[ ]`` as wildcards)."""
    return f"[void][IO.Directory]::CreateDirectory({quote(path)})"


def rename(src: str, new_name: str) -> str:
    return f"Rename-Item -LiteralPath {quote(src)} -NewName {quote(new_name)}"


def wait_service(name: str, status: str, seconds: float) -> str:
    return f"{service(name)}.WaitForStatus({quote(status)}, [TimeSpan]::FromSeconds({seconds:g}))"


def script(*statements: str) -> str:
    """The frame every script runs in: stop on errors, report them on stderr, exit 0 or 1."""
    body = "\n".join(statements)
    return ("$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n"
            f"try {{\n{body}\n}} catch {{\n[Console]::Error.WriteLine(($_ | Out-String))\nexit 1\n}}\nexit 0")


def strip_clixml(text: str) -> str:
    """PowerShell serialises stderr as CLIXML when it is not a console (WinRM, WSL interop): the error strings."""
    if not text.startswith("#< CLIXML"):
        return text
    parts = [_CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), unescape(s)) for s in _CLIXML_STRING.findall(text)]
    return "".join(parts)
