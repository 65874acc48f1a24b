"""HTTP with evidence: every exchange is recorded, every httpx error translated here.

Clients accept an injected ``httpx.Client`` so that the lab's real servers and
a real site's servers are reached by the same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from procedures import dryrun, record
from procedures.errors import ApiError
from procedures.secrets import Secret


@dataclass(frozen=True)
class Reply:
    """The parts of a response procedures judge: status, text, and JSON when there is some."""

    url: str
    status: int
    text: str
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return httpx.Response(self.status, text=self.text).json()
        except ValueError:
            return None


class Http:
    """A small recorded HTTP client with a timeout on every call."""

    def __init__(self, *, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(timeout=timeout, trust_env=False)

    def request(self, method: str, url: str, *, token: Secret | None = None, record_it: bool = True,
                **kwargs: Any) -> Reply:
        dry = dryrun.active()
        if dry is not None and method not in {"GET", "HEAD"}:
            dry.request(method, url, kwargs.get("json") or kwargs.get("content"))
            return Reply(url, 200, "{}", 0.0)  # an empty success
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token.reveal()}"
        started = time.monotonic()
        try:
            response = self._client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            seconds = time.monotonic() - started
            if record_it:
                record.http(method, url, headers, None, {}, f"{type(exc).__name__}: {exc}", seconds)
            raise ApiError(f"{method} {url} failed: {type(exc).__name__}: {exc}", url=url) from exc
        seconds = time.monotonic() - started
        reply = Reply(url, response.status_code, response.text, seconds)
        if record_it:
            record.http(method, url, dict(response.request.headers), response.status_code,
                        dict(response.headers), response.text, seconds)
        return reply

    def get(self, url: str, **kwargs: Any) -> Reply:
        return self.request("GET", url, **kwargs)

    def close(self) -> None:
        self._client.close()
