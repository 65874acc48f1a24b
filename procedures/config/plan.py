"""The maintenance plan: what changes, when, for whom, who answers, and how to decide on a rollback.

The manual's workflow starts with a plan (日時, 影響範囲, 所要時間, ロールバック計画);
here it is a YAML file validated completely before anything runs. Component
procedures need only ``id`` and ``changes``; the planned-maintenance workflow
also needs the window, the impact, the owner and the work summary
(``Plan.workflow_gaps``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, HttpUrl, PrivateAttr, field_validator, model_validator

from procedures.config.base import AbsolutePath, EnvName, Port, Seconds, Strict, load

Minutes = Annotated[float, Field(gt=0, le=24 * 60)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$|^[^@\s]+@localhost$")]
NonEmpty = Annotated[str, Field(min_length=1)]


class GatewayChange(Strict):
    """The release to install: a folder on the gateway host, and the version it must report."""

    release: str
    version: str | None = None


class ConfigChange(Strict):
    """A folder holding the new ``prometheus/`` and ``alertmanager/`` trees, and what the served config must show."""

    source: str
    verify_contains: tuple[str, ...] = ()


class MonitoringChange(Strict):
    images: dict[str, str] = Field(default_factory=dict)
    config: ConfigChange | None = None
    dashboards: tuple[str, ...] = ()


class CniChange(Strict):
    """The new plugin binary (a path on the host) and, if the plan says so, a new conflist."""

    binary: str
    conflist: str | None = None


class NebulaChange(Strict):
    """A folder holding the new ``nebula`` and ``nebula-cert``, and the version they report."""

    release: str
    version: str | None = None


class Changes(Strict):
    """The components to change; the workflow changes them in the order the plan lists them."""

    gateway: GatewayChange | None = None
    monitoring: MonitoringChange | None = None
    cni: CniChange | None = None
    nebula: NebulaChange | None = None
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: Any) -> Changes:
        changes: Changes = handler(data)
        listed = list(data) if isinstance(data, dict) else []
        changes._order = tuple(name for name in listed if getattr(changes, name, None) is not None)
        return changes

    def planned(self) -> tuple[str, ...]:
        rest = [name for name in type(self).model_fields if getattr(self, name) is not None]
        return self._order + tuple(name for name in rest if name not in self._order)


class Matcher(Strict):
    """An Alertmanager v2 matcher, with the API's own field names."""

    model_config = Strict.model_config | {"populate_by_name": True}

    name: str
    value: str
    is_regex: bool = Field(False, alias="isRegex")
    is_equal: bool = Field(True, alias="isEqual")


class SilenceSpec(Strict):
    """The maintenance window's silence: scoped by matchers, always expired at the end."""

    matchers: tuple[Matcher, ...]
    duration_minutes: Annotated[int, Field(gt=0, le=24 * 60)] = 120
    required: bool = True


class Window(Strict):
    """日時: local times in ``timezone``; an offset in ``start``/``end`` is honoured too."""

    start: datetime
    end: datetime
    timezone: str = "Asia/Tokyo"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Tokyo)") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.local(self.end) <= self.local(self.start):
            raise ValueError("window.end must be after window.start")
        if self.local(self.end) - self.local(self.start) > timedelta(days=7):
            raise ValueError("the window is longer than 7 days: check the dates")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        return moment.replace(tzinfo=self.zone) if moment.tzinfo is None else moment.astimezone(self.zone)

    @property
    def starts(self) -> datetime:
        return self.local(self.start)

    @property
    def ends(self) -> datetime:
        return self.local(self.end)


class Impact(Strict):
    """影響範囲: the services that stop and the users who notice, and the expected downtime."""

    services: Annotated[tuple[NonEmpty, ...], Field(min_length=1)]
    users: Annotated[tuple[NonEmpty, ...], Field(min_length=1)]
    expected_downtime_minutes: Annotated[int, Field(ge=0, le=24 * 60)]


class Contact(Strict):
    name: NonEmpty
    contact: NonEmpty


class SmtpChannel(Strict):
    host: str = "127.0.0.1"
    port: Port = 25
    sender: Email
    recipients: Annotated[tuple[Email, ...], Field(min_length=1)]
    starttls: bool = False
    user: str | None = None
    password_env: EnvName | None = None
    timeout: Seconds = 10


class WebhookChannel(Strict):
    """A JSON POST (chat incoming webhooks and ticket systems take this shape)."""

    url: HttpUrl
    token_env: EnvName | None = None
    timeout: Seconds = 10


class Escalation(Strict):
    """The development team's channels (ロールバック失敗時: 開発チームにエスカレーション), never the users'."""

    smtp: SmtpChannel | None = None
    webhook: WebhookChannel | None = None


class Notify(Strict):
    """Where notices go besides the records folder, where they are always written.

    ``smtp``/``webhook`` reach the users; ``escalation`` reaches the development team, and only it
    takes the escalation notice (without it, that notice is written to the records folder only).
    """

    smtp: SmtpChannel | None = None
    webhook: WebhookChannel | None = None
    escalation: Escalation | None = None


class ImmediateRule(Strict):
    decide_within_minutes: Minutes = 5


class FixWindowRule(Strict):
    fix_window_minutes: Minutes = 15
    retry_every_seconds: Seconds = 5


class DegradedRule(Strict):
    decide_within_minutes: Minutes = 30
    threshold_ms: Annotated[float, Field(gt=0)] = 500
    samples: Annotated[int, Field(ge=1, le=1000)] = 20
    retry_every_seconds: Seconds = 10


class OperatorRule(Strict):
    decide_within_minutes: Minutes = 60
    on_deadline: Literal["rollback", "continue"] = "rollback"


class DecisionPolicy(Strict):
    """The manual's ロールバック判断基準, with its time limits as defaults."""

    service_down: ImmediateRule = ImmediateRule()
    partly_broken: FixWindowRule = FixWindowRule()
    degraded: DegradedRule = DegradedRule()
    log_errors: OperatorRule = OperatorRule()


class Staging(Strict):
    """テスト環境での検証（可能な場合）: done, with evidence, or explicitly not applicable, with why."""

    verified: str | None = None
    not_applicable: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Staging:
        if (self.verified is None) == (self.not_applicable is None):
            raise ValueError("give exactly one of staging.verified (the evidence) or staging.not_applicable (why)")
        return self


class Retention(Strict):
    keep_backups: Annotated[int, Field(ge=1, le=1000)] = 5
    backup_max_age_hours: Annotated[float, Field(gt=0)] = 24


class Rolling(Strict):
    """How a fleet is updated, as Ansible's ``serial`` and ``max_fail_percentage`` would say it.

    ``serial`` is a batch size, or a percentage of the fleet (rounded down, at
    least one host). A batch whose failed hosts exceed ``max_fail_percentage``
    stops the roll (0: the first failure stops it). Failed hosts are always
    rolled back; ``rollback_updated`` says whether the hosts already updated
    are rolled back too when the roll stops.
    """

    serial: Annotated[int, Field(ge=1)] | Annotated[str, Field(pattern=r"^(100|[1-9][0-9]?)%$")] = 1
    max_fail_percentage: Annotated[float, Field(ge=0, le=100)] = 0
    rollback_updated: bool = False

    def batches(self, names: list[str]) -> list[list[str]]:
        size = self.serial if isinstance(self.serial, int) else int(len(names) * int(self.serial[:-1]) / 100)
        size = max(1, size)
        return [names[i:i + size] for i in range(0, len(names), size)]


class Plan(Strict):
    """What one maintenance changes, and everything the workflow needs to run it."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    language: Literal["ja", "en"] = "ja"  # the record's: its interface, outcome lines and summaries
    # ロールバック失敗時 「必要に応じてサービスを停止」: stop the affected service and tell its users
    on_rollback_failure: Literal["keep_running", "stop_service"] = "keep_running"
    records_dir: AbsolutePath | None = None  # notices, their ledger, the work report (default reports/maintenance/<id>)
    window: Window | None = None
    impact: Impact | None = None
    summary: tuple[NonEmpty, ...] = ()
    owner: Contact | None = None
    changes: Changes = Changes()
    silence: SilenceSpec | None = None
    notify: Notify = Notify()
    policy: DecisionPolicy = DecisionPolicy()
    staging: Staging | None = None
    retention: Retention = Retention()
    rolling: Rolling = Rolling()

    @model_validator(mode="after")
    def _downtime_fits(self) -> Plan:
        if self.window and self.impact:
            length = (self.window.ends - self.window.starts).total_seconds() / 60
            if self.impact.expected_downtime_minutes > length:
                raise ValueError(f"impact.expected_downtime_minutes ({self.impact.expected_downtime_minutes}) "
                                 f"is longer than the window ({length:.0f} minutes)")
        return self

    def minutes_needed(self) -> float:
        """The window the plan needs at worst: its downtime, then the longest wait before a rollback decision."""
        policy = self.policy
        waits = (policy.service_down.decide_within_minutes, policy.partly_broken.fix_window_minutes,
                 policy.degraded.decide_within_minutes, policy.log_errors.decide_within_minutes)
        return (self.impact.expected_downtime_minutes if self.impact else 0) + max(waits)

    def workflow_gaps(self) -> list[str]:
        """The fields the planned-maintenance workflow needs that this plan leaves out."""
        wanted = {"window": self.window, "impact": self.impact, "owner": self.owner, "summary": self.summary,
                  "staging": self.staging, "changes": self.changes.planned()}
        return [name for name, value in wanted.items() if not value]


def load_plan(path: Path) -> Plan:
    return load(path, Plan)
