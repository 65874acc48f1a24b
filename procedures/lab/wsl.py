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

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

from procedures.lab.http_standin import StandInHandler, serve_in_background, stop_serving
from procedures.lab.wsl_exe import TASKKILL_CALLS, URL_ENV
from procedures.lab.wsman import Reply

HERE = Path(__file__).resolve().parent  # where wsl_exe.py is: the executables import it alone


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

        class Handler(StandInHandler):
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
        serve_in_background(self._server)
        bin_dir.mkdir(parents=True, exist_ok=True)
        exe = bin_dir / self.name
        for name, entry in ((self.name, "powershell"), ("taskkill.exe", "taskkill")):
            exe = bin_dir / name  # started once per script: Python without site, and only wsl_exe.py (stdlib)
            exe.write_text(f"#!{sys.executable} -S\n# LAB STAND-IN for {name} (procedures/lab/wsl_exe.py)\n"
                           f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
                           f"from wsl_exe import {entry}\nsys.exit({entry}(sys.argv[1:]))\n")
            exe.chmod(0o755)
        self.taskkill_calls = bin_dir / TASKKILL_CALLS
        port = self._server.server_address[1]
        return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", URL_ENV: f"http://127.0.0.1:{port}/"}

    def stop(self) -> None:
        if self._server:
            stop_serving(self._server)

    def scripts(self) -> list[str]:
        return [call.script for call in self.calls]
