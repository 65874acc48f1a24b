"""Prometheus HTTP API: readiness, lifecycle reload, served config, queries, alerts."""

from __future__ import annotations

from typing import Any

from procedures.api import LifecycleClient
from procedures.api.http import Reply
from procedures.errors import ApiError


class PrometheusClient(LifecycleClient):
    def reload(self) -> Reply:
        """``POST /-/reload`` (needs ``--web.enable-lifecycle``); a 500 means the new config was rejected."""
        return self.http.request("POST", f"{self.base}/-/reload")

    def config(self) -> str:
        """The configuration Prometheus is actually running, as YAML."""
        return str(_data(self.http.get(f"{self.base}/api/v1/status/config"))["yaml"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        result = _data(self.http.get(f"{self.base}/api/v1/query", params={"query": expr}))["result"]
        return list(result)

    def alerts(self) -> list[dict[str, Any]]:
        return list(_data(self.http.get(f"{self.base}/api/v1/alerts"))["alerts"])


def _data(reply: Reply) -> dict[str, Any]:
    body = reply.json()
    if not reply.ok or not isinstance(body, dict) or body.get("status") != "success":
        raise ApiError(f"Prometheus answered {reply.status}: {reply.text[:200]}", url=reply.url,
                       status=reply.status, body=reply.text)
    data: dict[str, Any] = body["data"]
    return data
