"""The base of the lab's HTTP stand-ins: quiet, and answering without Nagle's delay.

``http.server`` writes a reply's headers and its body in two writes. With Nagle's algorithm on, the
body waits until the client acknowledges the headers, and a client that delays its acknowledgement
(Linux: 40 ms) stalls every exchange. A WinRM command is four or five exchanges: through the WS-Man
stand-in each took 180 ms, and a Nebula update on the Windows stand-in 7.4 s instead of 0.8 s.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandInHandler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # socketserver.StreamRequestHandler: TCP_NODELAY on each connection

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the procedures record every exchange themselves."""


def serve_in_background(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    """Serve on a daemon thread that looks for a shutdown every 20 ms: ``shutdown()`` waits for that look,
    and with serve_forever's default of 0.5 s every test that stopped a stand-in took half a second longer."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


def stop_serving(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
