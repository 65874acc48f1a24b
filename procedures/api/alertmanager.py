"""Alertmanager API v2: silences (create, get, list, expire) and alerts."""

from __future__ import annotations

from typing import Any

from procedures.api import LifecycleClient
from procedures.api.http import Reply
from procedures.errors import ApiError


class AlertmanagerClient(LifecycleClient):
    def create_silence(self, silence: dict[str, Any]) -> str:
        reply = _ok(self.http.request("POST", f"{self.base}/api/v2/silences", json=silence))
        return str(reply.json()["silenceID"])

    def silence(self, silence_id: str) -> dict[str, Any]:
        body: dict[str, Any] = _ok(self.http.get(f"{self.base}/api/v2/silence/{silence_id}")).json()
        return body

    def silences(self) -> list[dict[str, Any]]:
        return list(_ok(self.http.get(f"{self.base}/api/v2/silences")).json())

    def expire(self, silence_id: str) -> None:
        _ok(self.http.request("DELETE", f"{self.base}/api/v2/silence/{silence_id}"))

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        params = {"filter": [f'{k}="{v}"' for k, v in filters.items()]} if filters else None
        return list(_ok(self.http.get(f"{self.base}/api/v2/alerts", params=params)).json())


def _ok(reply: Reply) -> Reply:
    if not reply.ok:
        raise ApiError(f"Alertmanager answered {reply.status}: {reply.text.strip()[:300]}", url=reply.url,
                       status=reply.status, body=reply.text)
    return reply
