"""LAB STAND-IN for ``powershell.exe`` as WSL interop runs it: a program of that name, put on PATH by tests.

It takes the launcher's arguments exactly as Windows PowerShell would
(``-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand <base64 UTF-16LE>``),
decodes the script, and hands it to the same interpreter the WS-Man stand-in
uses (its rules, or a simulated Windows world) through a loopback server the
test runs. Like PowerShell running the transport's frame, it first prints its
PID (``flatnet-windows-pid N``); then the reply's stdout and stderr, and exits
with its code. A ``hang`` reply never returns, so a deadline must end it: a
``taskkill.exe`` stand-in beside it records each call and ends the PID it names. What it cannot show
is what Windows would do with the script: that is the real-Windows smoke test's job.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from procedures.lab.wsman import Reply

URL_ENV = "FLATNET_POWERSHELL_STANDIN"
PID_STATEMENT = "[Console]::Out.WriteLine('flatnet-windows-pid ' + $PID)"  # the wsl transport's frame
TASKKILL_CALLS = "taskkill.calls"  # beside the stand-ins: one line of arguments per taskkill.exe call
PROJECT = Path(__file__).resolve().parents[2]


@dataclass
class Invocation:
    argv: list[str]
    script: str  # the decoded payload, as Windows PowerShell would run it
    pid: int


@dataclass
class PowerShellStandIn:
    """``start(bin_dir)`` writes ``bin_dir/<name>`` and serves ``answer``; ``calls`` lists every invocation."""

    answer: Callable[[str], Reply]
    name: str = "powershell.exe"
    calls: list[Invocation] = field(default_factory=list)
    taskkill_calls: Path | None = None  # what taskkill.exe was asked, once started
    _server: ThreadingHTTPServer | None = None

    def start(self, bin_dir: Path) -> dict[str, str]:
        """The environment a run needs: the stand-in first on PATH, and where it asks for answers."""
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                call = Invocation(**json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                stand_in.calls.append(call)
                reply = stand_in.answer(call.script)
                body = json.dumps({"stdout": reply.stdout, "stderr": reply.stderr, "rc": reply.rc,
                                   "hang": reply.hang}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        bin_dir.mkdir(parents=True, exist_ok=True)
        exe = bin_dir / self.name
        exe.write_text(f"#!{sys.executable}\n# LAB STAND-IN for {self.name} (procedures/lab/wsl.py)\n"
                       f"import sys\nsys.path.insert(0, {str(PROJECT)!r})\n"
                       "from procedures.lab.wsl import main\nsys.exit(main(sys.argv[1:]))\n")
        exe.chmod(0o755)
        taskkill = bin_dir / "taskkill.exe"
        taskkill.write_text(f"#!{sys.executable}\n# LAB STAND-IN for taskkill.exe (procedures/lab/wsl.py)\n"
                            f"import sys\nsys.path.insert(0, {str(PROJECT)!r})\n"
                            "from procedures.lab.wsl import taskkill\nsys.exit(taskkill(sys.argv[1:]))\n")
        taskkill.chmod(0o755)
        self.taskkill_calls = bin_dir / TASKKILL_CALLS
        port = self._server.server_address[1]
        return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", URL_ENV: f"http://127.0.0.1:{port}/"}

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def scripts(self) -> list[str]:
        return [call.script for call in self.calls]


def main(argv: list[str]) -> int:
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
