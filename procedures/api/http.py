"""HTTP with evidence: every exchange is recorded, every httpx error translated here.

Clients accept an injected ``httpx.Client`` so that the lab's real servers and
a real site's servers are reached by the same code.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from procedures import record
from procedures.errors import ApiError
from procedures.record.secrets import Secret
from procedures.run.dryrun import DryRun, withholding


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


_NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifying, with no CA: every TLS handshake fails


class Http:
    """A small recorded HTTP client with a timeout on every call."""

    def __init__(self, *, timeout: float = 5.0, client: httpx.Client | None = None,
                 dry_run: DryRun | None = None) -> None:
        self._timeout, self._given, self.dry_run = timeout, client, dry_run
        self._clients: dict[str, httpx.Client] = {}

    def _client_for(self, url: str) -> httpx.Client:
        """One client per scheme, made on first use: loading the CA store costs 50 ms, and plain
        ``http://`` never needs it (that client trusts no CA at all, so it could not speak TLS if asked)."""
        if self._given is not None:
            return self._given
        tls = url.lower().startswith("https:")
        if (key := "https" if tls else "http") not in self._clients:
            self._clients[key] = httpx.Client(timeout=self._timeout, trust_env=False, verify=True if tls else _NO_TLS)
        return self._clients[key]

    def request(self, method: str, url: str, *, token: Secret | None = None, record_it: bool = True,
                **kwargs: Any) -> Reply:
        dry = withholding(self.dry_run)
        if dry is not None and method not in {"GET", "HEAD"}:
            dry.request(method, url, kwargs.get("json") or kwargs.get("content"))
            return Reply(url, 200, "{}", 0.0)  # an empty success
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token.reveal()}"
        started = time.monotonic()
        try:
            response = self._client_for(url).request(method, url, headers=headers, **kwargs)
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
        for client in [self._given, *self._clients.values()]:
            if client is not None:
                client.close()
