"""Grafana HTTP API: health, dashboard search, export and import (as documented by Grafana)."""

from __future__ import annotations

import base64
from typing import Any

from procedures.api.http import Http, Reply
from procedures.errors import ApiError
from procedures.record.secrets import Secret, register_basic_auth


class GrafanaClient:
    """Basic auth (``user`` + password) or a service-account bearer token."""

    def __init__(self, http: Http, base_url: str, *, user: str = "admin", password: Secret | None = None,
                 token: Secret | None = None) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self._token = token
        self._headers: dict[str, str] = {}
        if token is None and password is not None:
            register_basic_auth(user, password.reveal())
            basic = base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()
            self._headers = {"Authorization": f"Basic {basic}"}

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = _ok(self.http.get(f"{self.base}/api/health")).json()
        return body

    def search_dashboards(self) -> list[dict[str, Any]]:
        return list(_ok(self._get("/api/search", params={"type": "dash-db"})).json())

    def dashboard(self, uid: str) -> dict[str, Any]:
        """``{"dashboard": …, "meta": …}`` as Grafana exports it."""
        body: dict[str, Any] = _ok(self._get(f"/api/dashboards/uid/{uid}")).json()
        return body

    def import_dashboard(self, dashboard: dict[str, Any], *, message: str = "") -> dict[str, Any]:
        """Save with ``overwrite``; ``id`` is cleared so an export imports anywhere (as Flatnet's restore does)."""
        payload = {"dashboard": {**dashboard, "id": None}, "overwrite": True, "message": message}
        body: dict[str, Any] = _ok(self.http.request("POST", f"{self.base}/api/dashboards/db", json=payload,
                                                     headers=self._headers, token=self._token)).json()
        return body

    def _get(self, path: str, **kwargs: Any) -> Reply:
        return self.http.get(f"{self.base}{path}", headers=self._headers, token=self._token, **kwargs)


def _ok(reply: Reply) -> Reply:
    if not reply.ok:
        raise ApiError(f"Grafana answered {reply.status}: {reply.text.strip()[:300]}", url=reply.url,
                       status=reply.status, body=reply.text)
    return reply
