"""LAB STAND-INS for Grafana and Loki, which cannot be installed here.

Each implements exactly the HTTP API subset the procedures use, following
Grafana's and Loki's documented APIs, so the same client code works against
the real servers named in an inventory:

- Grafana: ``GET /api/health``, ``GET /api/search?type=dash-db``,
  ``GET /api/dashboards/uid/<uid>``, ``POST /api/dashboards/db``; every call but
  health needs basic auth or a bearer token, as in Grafana.
- Loki: ``GET /ready``.

Run: ``python -m procedures.lab.standins grafana|loki --port N --state DIR``.
Grafana's credentials come from ``STANDIN_GRAFANA_USER``/``_PASSWORD``/``_TOKEN``.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import os
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from procedures.lab.http_standin import StandInHandler

GRAFANA_VERSION = "10.2.3 (lab stand-in)"


class _Handler(StandInHandler):
    server_version = "flatnet-lab-standin"
    protocol_version = "HTTP/1.1"

    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class GrafanaHandler(_Handler):
    state: Path
    lock = threading.Lock()

    def authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        user, password = os.environ["STANDIN_GRAFANA_USER"], os.environ["STANDIN_GRAFANA_PASSWORD"]
        token = os.environ.get("STANDIN_GRAFANA_TOKEN", "")
        if header.startswith("Bearer ") and token:
            return hmac.compare_digest(header[7:], token)
        if header.startswith("Basic "):
            expected = base64.b64encode(f"{user}:{password}".encode()).decode()
            return hmac.compare_digest(header[6:], expected)
        return False

    def dashboards(self) -> dict[str, dict[str, Any]]:
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.state.glob("*.json"))}

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/api/health":
            return self.reply(200, {"commit": "standin", "database": "ok", "version": GRAFANA_VERSION})
        if not self.authorized():
            return self.reply(401, {"message": "Unauthorized"})
        if url.path == "/api/search":
            if parse_qs(url.query).get("type", ["dash-db"])[0] != "dash-db":
                return self.reply(200, [])
            return self.reply(200, [
                {"id": i + 1, "uid": uid, "title": d["title"], "uri": f"db/{uid}", "url": f"/d/{uid}",
                 "type": "dash-db", "tags": d.get("tags", []), "isStarred": False}
                for i, (uid, d) in enumerate(self.dashboards().items())
            ])
        if url.path.startswith("/api/dashboards/uid/"):
            uid = url.path.rsplit("/", 1)[1]
            dashboard = self.dashboards().get(uid)
            if dashboard is None:
                return self.reply(404, {"message": "Dashboard not found"})
            return self.reply(200, {"dashboard": dashboard, "meta": {"slug": uid, "url": f"/d/{uid}",
                                                                     "version": dashboard["version"]}})
        return self.reply(404, {"message": "Not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if urlparse(self.path).path != "/api/dashboards/db":
            return self.reply(404, {"message": "Not found"})
        if not self.authorized():
            return self.reply(401, {"message": "Unauthorized"})
        try:
            body = json.loads(raw)
            dashboard = dict(body["dashboard"])
            uid, title = dashboard["uid"], dashboard["title"]
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"message": "bad request data"})
        with self.lock:
            current = self.dashboards().get(uid)
            if current and not body.get("overwrite") and dashboard.get("version") != current["version"]:
                return self.reply(412, {"message": "The dashboard has been changed by someone else",
                                        "status": "version-mismatch"})
            dashboard["version"] = (current["version"] if current else 0) + 1
            dashboard["id"] = (current or {}).get("id") or len(self.dashboards()) + 1
            (self.state / f"{uid}.json").write_text(json.dumps(dashboard, indent=2))
        return self.reply(200, {"id": dashboard["id"], "uid": uid, "url": f"/d/{uid}", "status": "success",
                                "version": dashboard["version"], "slug": title.lower().replace(" ", "-")})


class LokiHandler(_Handler):
    def do_GET(self) -> None:
        if urlparse(self.path).path == "/ready":
            return self.reply(200, b"ready\n")
        return self.reply(404, b"404 page not found\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="standins")
    parser.add_argument("kind", choices=["grafana", "loki"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    handler: type[_Handler] = LokiHandler
    if args.kind == "grafana":
        args.state.mkdir(parents=True, exist_ok=True)
        GrafanaHandler.state = args.state
        handler = GrafanaHandler
    ThreadingHTTPServer(("127.0.0.1", args.port), handler).serve_forever()


if __name__ == "__main__":
    main()
