"""Notices to the people a maintenance affects: the manual's 予告 and 完了 templates, and more.

Every notice is rendered in Japanese from the plan and the run, written to the
plan's notice folder (always), delivered on every channel the plan names, and
attached to the record. A ledger in the folder says what was delivered where,
so a later run (or a checklist) can tell that the announcement went out.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from procedures import record
from procedures.config.plan import Escalation, Notify, Plan, Window
from procedures.errors import ConfigError, DeliveryFailed
from procedures.notices import channels
from procedures.run.dryrun import DryRun, withholding

Kind = Literal["announcement", "completion", "rollback", "escalation", "suspension"]
LEDGER = "deliveries.json"



@functools.cache
def _templates() -> Any:
    """Built on first use: Jinja2 costs a tenth of a second at start-up, and most runs send no notice."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("procedures.notices", "templates"),
        undefined=jinja2.StrictUndefined,  # a missing value is an error, never an empty blank in a notice
        keep_trailing_newline=True,
        autoescape=False,  # plain text mail
    )


@dataclass(frozen=True)
class Notice:
    kind: Kind
    subject: str
    body: str
    maintenance_id: str

    @property
    def text(self) -> str:
        return f"件名: {self.subject}\n\n{self.body}"


@dataclass(frozen=True)
class Delivery:
    kind: str
    channel: str
    target: str
    ok: bool
    detail: str
    at: str


def japanese_time(moment: datetime) -> str:
    return f"{moment.year}年{moment.month:02d}月{moment.day:02d}日 {moment:%H:%M}"


def japanese_window(window: Window) -> str:
    start, end = window.starts, window.ends
    until = f"{end:%H:%M}" if end.date() == start.date() else japanese_time(end)
    return f"{japanese_time(start)} 〜 {until} ({window.timezone})"


def render(kind: Kind, plan: Plan, **facts: Any) -> Notice:
    """Fill the template; refuses a plan that lacks what the notice must say."""
    if kind == "announcement" and (plan.window is None or plan.impact is None or plan.owner is None):
        raise ConfigError("the announcement needs the plan's window, impact and owner")
    window = japanese_window(plan.window) if plan.window else ""
    import jinja2

    try:
        text = _templates().get_template(f"{kind}.j2").render(plan=plan, window=window, **facts)
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"the {kind} notice cannot be filled: {exc.message}") from exc
    head, _, body = text.partition("\n\n")
    return Notice(kind, head.removeprefix("件名: ").strip(), body.strip() + "\n", plan.id)


class Notifier:
    """Sends notices on the plan's channels; a channel that fails never stops the others."""

    def __init__(self, plan: Plan, directory: Path, dry_run: DryRun | None = None) -> None:
        self.plan = plan
        self.directory = directory
        self.dry_run = dry_run
        self._would_deliver: list[Delivery] = []  # a dry run's sends, as they would have gone: never written

    def send(self, notice: Notice) -> list[Delivery]:
        dry = withholding(self.dry_run)
        if dry is not None:
            dry.action(f"send the {notice.kind} notice to {', '.join(self.channels(notice.kind))}", notice.text)
            at = datetime.now().astimezone().isoformat(timespec="seconds")
            self._would_deliver += [Delivery(notice.kind, channel, "", True, "withheld (dry run)", at)
                                    for channel in self.channels(notice.kind)]
            return []
        with record.step(f"notice: {notice.subject}"):
            record.text(f"{notice.kind} notice ({notice.subject})", notice.text)
            sends: list[tuple[str, str, Callable[[], str]]] = [
                ("file", str(self.directory), lambda: channels.to_file(self.directory, notice))]
            reach = self._reach(notice.kind)
            smtp, webhook = (reach.smtp, reach.webhook) if reach is not None else (None, None)
            if smtp is not None:
                sends.append(("smtp", ", ".join(smtp.recipients), lambda: channels.to_smtp(smtp, notice)))
            if webhook is not None:
                sends.append(("webhook", str(webhook.url), lambda: channels.to_webhook(webhook, notice)))
            deliveries = [self._deliver(notice.kind, *send) for send in sends]
            record.data("deliveries", [asdict(d) for d in deliveries])
        return deliveries

    def _deliver(self, kind: str, channel: str, target: str, send: Callable[[], str]) -> Delivery:
        at = datetime.now().astimezone().isoformat(timespec="seconds")
        try:
            delivery = Delivery(kind, channel, target, True, send(), at)
        except DeliveryFailed as exc:
            delivery = Delivery(kind, channel, target, False, str(exc), at)
        self._append(delivery)
        return delivery

    def ledger(self) -> list[Delivery]:
        return self._written() + self._would_deliver

    def _written(self) -> list[Delivery]:
        try:
            return [Delivery(**entry) for entry in json.loads((self.directory / LEDGER).read_text())]
        except FileNotFoundError:
            return []

    def delivered(self, kind: Kind) -> dict[str, Delivery]:
        """The latest successful delivery of ``kind`` per channel."""
        return {d.channel: d for d in self.ledger() if d.kind == kind and d.ok}

    def _reach(self, kind: str) -> Notify | Escalation | None:
        """Who a notice of ``kind`` reaches besides the file: the development team for an escalation, else users."""
        return self.plan.notify.escalation if kind == "escalation" else self.plan.notify

    def channels(self, kind: str) -> list[str]:
        reach = self._reach(kind)
        return ["file"] + [name for name in ("smtp", "webhook") if getattr(reach, name, None) is not None]

    def missing(self, kind: Kind) -> list[str]:
        """The plan's channels that have not taken a notice of ``kind`` yet."""
        delivered = self.delivered(kind)
        return [channel for channel in self.channels(kind) if channel not in delivered]

    def _append(self, delivery: Delivery) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        entries = [asdict(d) for d in self._written()] + [asdict(delivery)]
        (self.directory / LEDGER).write_text(json.dumps(entries, indent=2, ensure_ascii=False))
