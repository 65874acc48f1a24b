"""The maintenance record: evidence attached to the Allure step that is running.

Everything passes through ``secrets.redact`` first. Without an Allure results
directory the calls still log, so evidence is never silently dropped.

A wait or a poll (``with record.poll(what):``) asks the same question many
times; its exchanges are summarised into one attachment when it ends (the first
and the last in full, each distinct answer once with its count and time range),
so a 15-minute re-verification window does not grow the record without bound.
What changes a target is never asked inside a poll, so it is always attached in full.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import allure

from procedures.record.i18n import language, words
from procedures.record.secrets import redact

if TYPE_CHECKING:
    from procedures.host.commands import CommandResult

log = logging.getLogger("flatnet.record")


def text(name: str, body: str) -> None:
    _attach(words(name), body, allure.attachment_type.TEXT)


def data(name: str, value: Any) -> None:
    """Attach a JSON-serialisable value (versions, manifests, responses)."""
    _attach(words(name), json.dumps(value, indent=2, ensure_ascii=False, default=str), allure.attachment_type.JSON)


def _attach(title: str, body: str, kind: Any) -> None:
    """``title`` is already in the record's language."""
    title, body = redact(title), redact(body)
    summary = _POLL.get()
    if summary is not None:
        summary.add(title, body)
        return
    try:
        allure.attach(body, name=title, attachment_type=kind)
    except KeyError:  # outside any test (the end of the session): there is no step to attach to
        log.info("%s: %s", title, body[:2000])


def command(result: CommandResult, purpose: str = "") -> None:
    """Attach a command with its exit code, duration and output, titled by its purpose."""
    body = (
        f"$ {result.command}\n"
        f"# host={result.host} rc={result.rc} seconds={result.seconds:.3f}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    log.info("%s: `%s` rc=%s (%.3fs)", result.host, result.command, result.rc, result.seconds)
    _attach(f"{result.host}: {words(purpose) or _short(result.command)} → rc {result.rc}", body,
            allure.attachment_type.TEXT)


def command_failed(host: str, command: str, purpose: str, error: Exception) -> None:
    """Attach a command that never ran to its end (the transport failed: unreachable, timed out)."""
    _attach(f"{host}: {words(purpose or 'command')} → {type(error).__name__}", f"$ {command}\n{error}",
            allure.attachment_type.TEXT)


def http(method: str, url: str, request_headers: dict[str, str], status: int | None,
         response_headers: dict[str, str], body: str, seconds: float) -> None:
    """Attach one HTTP exchange; credential headers never leave this function unmasked."""
    lines = [f"> {method} {url}"]
    lines += [f"> {k}: {v}" for k, v in request_headers.items()]
    lines.append(f"< {status if status is not None else 'no response'}  ({seconds * 1000:.1f} ms)")
    lines += [f"< {k}: {v}" for k, v in response_headers.items()]
    lines += ["", body]
    log.info("%s %s → %s", method, url, status)
    _attach(f"HTTP {method} {url} → {status}", "\n".join(lines), allure.attachment_type.TEXT)  # no words to translate


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """A nested step in the record (an action inside a Gherkin step)."""
    with allure.step(redact(words(title))):
        yield


def _short(cmd: str, width: int = 80) -> str:
    first = cmd.splitlines()[0] if cmd else cmd
    return first if len(first) <= width else first[: width - 1] + "…"


# -- waits and polls, summarised --------------------------------------------------------------------
# Lines that differ between two identical answers: timings, dates, durations.
_VOLATILE = re.compile(r"(?im)^< date:.*$|\(\d+(\.\d+)? ms\)|seconds=\d+(\.\d+)?")


@dataclass
class _Exchange:
    at: datetime
    name: str
    body: str


@dataclass
class _Summary:
    what: str
    first: _Exchange | None = None
    last: _Exchange | None = None
    answers: dict[tuple[str, str], list[Any]] = field(default_factory=dict)  # (name, body) → [count, first, last]

    def add(self, name: str, body: str) -> None:
        exchange = _Exchange(datetime.now().astimezone(), name, body)
        self.first = self.first or exchange
        self.last = exchange
        seen = self.answers.setdefault((name, _VOLATILE.sub("", body)), [0, exchange.at, exchange.at])
        seen[0] += 1
        seen[2] = exchange.at

    @property
    def count(self) -> int:
        return sum(seen[0] for seen in self.answers.values())

    def render(self, outcome: str) -> str:
        say = _SUMMARY_WORDS[language()]
        head, _, rest = outcome.partition(":")
        lines = [f"{say['what']}: {words(self.what)}", f"{say['outcome']}: {words(head)}{':' + rest if rest else ''}",
                 f"{say['count']}: {self.count}"]
        if self.first and self.last:
            lines.append(say["span"].format(f"{self.first.at:%H:%M:%S.%f}"[:-3], f"{self.last.at:%H:%M:%S.%f}"[:-3],
                                            (self.last.at - self.first.at).total_seconds()))
        lines += ["", say["distinct"]]
        lines += [f"  {n:>5} × {name}   ({a:%H:%M:%S} – {b:%H:%M:%S})" for (name, _), (n, a, b) in self.answers.items()]
        for which, exchange in (("first", self.first), ("last", self.last)):
            if exchange is not None:
                lines += ["", f"--- {say[which]}, {exchange.at:%H:%M:%S.%f}"[:-3] + f": {exchange.name}", exchange.body]
        return "\n".join(lines)


_SUMMARY_WORDS = {
    "en": {"what": "waited for", "outcome": "outcome", "count": "exchanges", "span": "from {} to {} ({:.1f} s)",
           "distinct": "distinct answers (count, first – last seen):", "first": "first exchange",
           "last": "last exchange"},
    "ja": {"what": "待機した対象", "outcome": "結果", "count": "応答の回数", "span": "{} から {} まで ({:.1f} 秒)",
           "distinct": "異なる応答 (回数、最初 – 最後に見た時刻):", "first": "最初の応答", "last": "最後の応答"},
}


_POLL: contextvars.ContextVar[_Summary | None] = contextvars.ContextVar("flatnet_record_poll", default=None)


@contextlib.contextmanager
def poll(what: str) -> Iterator[None]:
    """Summarise what is attached inside into one attachment at the end (a poll inside a poll joins it)."""
    if _POLL.get() is not None:
        yield
        return
    summary = _Summary(what)
    token = _POLL.set(summary)
    outcome = "interrupted"
    try:
        yield
        outcome = "done"
    except BaseException as exc:
        outcome = f"stopped: {type(exc).__name__}: {exc}"
        raise
    finally:
        _POLL.reset(token)
        if summary.answers:
            text(f"wait: {what} ({summary.count} exchanges, {len(summary.answers)} distinct; "
                 f"{outcome.split(':')[0]})", summary.render(outcome))
