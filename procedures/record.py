"""The maintenance record: evidence attached to the Allure step that is running.

Everything passes through ``secrets.redact`` first. Without an Allure results
directory the calls still log, so evidence is never silently dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import allure

from procedures.secrets import redact

if TYPE_CHECKING:
    from procedures.commands import CommandResult

log = logging.getLogger("flatnet.record")


def text(name: str, body: str) -> None:
    _attach(name, body, allure.attachment_type.TEXT)


def data(name: str, value: Any) -> None:
    """Attach a JSON-serialisable value (versions, manifests, responses)."""
    _attach(name, json.dumps(value, indent=2, ensure_ascii=False, default=str), allure.attachment_type.JSON)


def _attach(name: str, body: str, kind: Any) -> None:
    try:
        allure.attach(redact(body), name=redact(name), attachment_type=kind)
    except KeyError:  # outside any test (the end of the session): there is no step to attach to
        log.info("%s: %s", redact(name), redact(body)[:2000])


def command(result: CommandResult, purpose: str = "") -> None:
    """Attach a command with its exit code, duration and output, titled by its purpose."""
    body = (
        f"$ {result.command}\n"
        f"# host={result.host} rc={result.rc} seconds={result.seconds:.3f}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    log.info("%s: `%s` rc=%s (%.3fs)", result.host, result.command, result.rc, result.seconds)
    text(f"{result.host}: {purpose or _short(result.command)} → rc {result.rc}", body)


def http(method: str, url: str, request_headers: dict[str, str], status: int | None,
         response_headers: dict[str, str], body: str, seconds: float) -> None:
    """Attach one HTTP exchange; credential headers never leave this function unmasked."""
    lines = [f"> {method} {url}"]
    lines += [f"> {k}: {v}" for k, v in request_headers.items()]
    lines.append(f"< {status if status is not None else 'no response'}  ({seconds * 1000:.1f} ms)")
    lines += [f"< {k}: {v}" for k, v in response_headers.items()]
    lines += ["", body]
    log.info("%s %s → %s", method, url, status)
    text(f"HTTP {method} {url} → {status}", "\n".join(lines))


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """A nested step in the record (an action inside a Gherkin step)."""
    with allure.step(redact(title)):
        yield


def _short(cmd: str, width: int = 80) -> str:
    first = cmd.splitlines()[0] if cmd else cmd
    return first if len(first) <= width else first[: width - 1] + "…"
