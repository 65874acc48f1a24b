"""Thin typed clients for the monitoring APIs, on the recorded ``Http`` client."""

from __future__ import annotations

from procedures.api.http import Http
from procedures.errors import ApiError


class LifecycleClient:
    """A Prometheus-family server: a base URL and a ``/-/ready`` probe."""

    def __init__(self, http: Http, base_url: str) -> None:
        self.http = http
        self.base = base_url.rstrip("/")

    def ready(self) -> bool:
        try:
            return self.http.get(f"{self.base}/-/ready").ok
        except ApiError:
            return False
