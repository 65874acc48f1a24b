"""The lab's notice receivers: a real SMTP server (aiosmtpd) and a webhook receiver.

The webhook receiver is a **stand-in** for a chat or ticket system's incoming
webhook: it accepts JSON POSTs and keeps them. Both write what they receive
into ``<lab root>/mailbox``, where tests and operators read it. Run as
``python -m procedures.lab.mailbox <lab root> <smtp port> <webhook port>``;
the lab root on the command line is what marks the process as the lab's.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from procedures.errors import LabError
from procedures.lab.http_standin import StandInHandler

FOLDER = "mailbox"


class Mailbox:
    """What the lab's receivers got, in arrival order."""

    def __init__(self, root: Path) -> None:
        self.folder = root / FOLDER

    def mails(self) -> list[EmailMessage]:
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in sorted(self.folder.glob("*.eml"))]

    def webhooks(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("*.json"))]

    def store(self, suffix: str, body: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = f"{time.time_ns()}"
        tmp = self.folder / f".{stamp}{suffix}"
        tmp.write_bytes(body)
        tmp.rename(self.folder / f"{stamp}{suffix}")


def start(root: Path, smtp_port: int, webhook_port: int) -> None:
    """Start the receivers in the background and wait until both accept connections."""
    with (root / "mailbox.log").open("ab") as log:
        subprocess.Popen([sys.executable, "-m", "procedures.lab.mailbox", str(root), str(smtp_port),
                          str(webhook_port)], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 15
    for port in (smtp_port, webhook_port):
        while not accepts(port):
            if time.monotonic() > deadline:
                raise LabError(f"the lab mailbox did not start listening on 127.0.0.1:{port}: "
                               f"see {root / 'mailbox.log'}")
            time.sleep(0.05)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def serve(root: Path, smtp_port: int, webhook_port: int) -> None:
    from aiosmtpd.controller import Controller  # the lab process only: the suite does not need it loaded

    box = Mailbox(root)

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.store(".eml", envelope.original_content or envelope.content)
            return "250 Message accepted for delivery"

    class Webhook(StandInHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                json.loads(body)
            except ValueError:
                self.send_error(400, "not JSON")
                return
            box.store(".json", body)
            self.send_response(204)
            self.end_headers()

    controller = Controller(Keep(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        ThreadingHTTPServer(("127.0.0.1", webhook_port), Webhook).serve_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
