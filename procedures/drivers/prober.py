"""A bounded prober: how many requests a swap drops, and for how long nothing answered.

It runs in a thread beside the swap, one new connection per request (as a
browser on the LAN would open one), at a capped rate and for a capped time,
so it never turns into a load test of someone's gateway.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit


@dataclass
class ProbeReport:
    """What the prober saw: requests sent, failures, and the summed outage windows."""

    url: str
    requests: int = 0
    failed: int = 0
    unavailable_ms: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    def as_record(self) -> dict[str, object]:
        return {"url": self.url, "requests": self.requests, "failed": self.failed,
                "unavailable_ms": round(self.unavailable_ms, 1), "errors": dict(self.errors)}


class Prober:
    """``with Prober(url): swap()`` → ``.report``; at most ``rate`` requests a second, for at most ``limit`` s."""

    def __init__(self, url: str, *, rate: float = 400, limit: float = 60, timeout: float = 1.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path or "/"
        self.interval, self.limit, self.timeout = 1 / rate, limit, timeout
        self.report = ProbeReport(url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gateway-prober", daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        deadline = time.monotonic() + self.limit
        outage_started: float | None = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            sent = time.monotonic()
            error = self._one()
            self.report.requests += 1
            if error:
                self.report.failed += 1
                self.report.errors[error] += 1
                outage_started = sent if outage_started is None else outage_started
            elif outage_started is not None:
                self.report.unavailable_ms += (sent - outage_started) * 1000
                outage_started = None
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - sent)))
        if outage_started is not None:  # still down when the prober stopped
            self.report.unavailable_ms += (time.monotonic() - outage_started) * 1000

    def _one(self) -> str | None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("GET", self.path, headers={"Connection": "close"})
            status = connection.getresponse().status
            return None if status < 500 else f"HTTP {status}"
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__
        finally:
            connection.close()
