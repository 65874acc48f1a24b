"""The LAB STAND-IN executables' own code: ``powershell.exe`` and ``taskkill.exe`` as tests put them on PATH.

Started once per script, so it imports nothing but the standard library (not
``procedures``): the test's stand-in server (``procedures/lab/wsl.py``) holds
the interpreter; this only carries the script there and the reply back.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

URL_ENV = "FLATNET_POWERSHELL_STANDIN"
PID_STATEMENT = "[Console]::Out.WriteLine('flatnet-windows-pid ' + $PID)"  # the wsl transport's frame
TASKKILL_CALLS = "taskkill.calls"  # beside the stand-ins: one line of arguments per taskkill.exe call


def powershell(argv: list[str]) -> int:
    """The stand-in executable: Windows PowerShell's command line in, the interpreter's reply out."""
    if "-EncodedCommand" not in argv or argv.index("-EncodedCommand") + 1 >= len(argv):
        sys.stderr.write(f"stand-in powershell.exe: only -EncodedCommand is understood, got {argv}\n")
        return 64
    script = base64.b64decode(argv[argv.index("-EncodedCommand") + 1]).decode("utf-16-le")
    if PID_STATEMENT in script:  # the frame's first statements run first, as in PowerShell
        sys.stdout.write(f"flatnet-windows-pid {os.getpid()}\n")
        sys.stdout.flush()
    request = urllib.request.Request(os.environ[URL_ENV], method="POST", data=json.dumps(
        {"argv": argv, "script": script, "pid": os.getpid()}).encode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        reply = json.loads(answer.read())
    if reply["hang"]:
        while True:
            time.sleep(60)
    sys.stdout.buffer.write(reply["stdout"].encode())
    sys.stderr.buffer.write(reply["stderr"].encode())
    return int(reply["rc"])


def taskkill(argv: list[str]) -> int:
    """The taskkill.exe stand-in: ``/T /F /PID n`` records the call and ends that PID (a stand-in's own)."""
    with (Path(sys.argv[0]).parent / TASKKILL_CALLS).open("a") as calls:
        calls.write(" ".join(argv) + "\n")
    if argv[:3] != ["/T", "/F", "/PID"] or len(argv) != 4 or not argv[3].isdigit():
        sys.stderr.write(f"ERROR: Invalid argument/option - {argv}\n")
        return 1
    try:
        os.kill(int(argv[3]), signal.SIGKILL)
    except ProcessLookupError:
        sys.stderr.write(f'ERROR: The process "{argv[3]}" not found.\n')
        return 128
    return 0
