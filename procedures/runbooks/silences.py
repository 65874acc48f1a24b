"""The maintenance window's Alertmanager silence.

Alertmanager refuses a silence whose matchers all match the empty string
("at least one matcher must not match the empty string", HTTP 400; checked on
0.25), which is exactly the manual's example ``severity=~".*"``. Such a silence
would also hide every alert of every component. So the matchers are checked
here, before any change, with a message that says what to write instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from procedures import record
from procedures.api.alertmanager import AlertmanagerClient
from procedures.config.plan import Matcher, SilenceSpec
from procedures.errors import ApiError, ConfigError, PreconditionFailed
from procedures.run.dryrun import DryRun, withholding


def matches_empty(matcher: Matcher) -> bool:
    """Whether the matcher selects alerts that lack the label (its value would be empty)."""
    if matcher.is_regex:
        try:
            hit = re.fullmatch(matcher.value, "") is not None
        except re.error as exc:
            raise ConfigError(f"silence matcher {matcher.name}=~{matcher.value!r}: not a valid regex ({exc})") from exc
    else:
        hit = matcher.value == ""
    return hit if matcher.is_equal else not hit


def silence_body(spec: SilenceSpec, *, maintenance_id: str, comment: str, now: datetime) -> dict[str, Any]:
    """The v2 API body; refuses matchers that would all match the empty string."""
    if all(matches_empty(m) for m in spec.matchers):
        shown = ", ".join(f"{m.name}{'=~' if m.is_regex else '='}{m.value!r}" for m in spec.matchers)
        raise ConfigError(
            f"silence matchers {shown} all match the empty string: Alertmanager rejects that, and it would "
            f"silence every alert. Scope the silence to the affected components, e.g. component=~'gateway|cni'"
            f" (or use '.+' rather than '.*')."
        )
    return {
        "matchers": [m.model_dump(by_alias=True) for m in spec.matchers],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=spec.duration_minutes)).isoformat(),
        "createdBy": f"flatnet-maintenance {maintenance_id}",
        "comment": comment,
    }


@dataclass
class MaintenanceSilence:
    """Created at the start of the window, always expired at its end.

    One test may hold it from several places (the workflow, and the monitoring
    procedures inside it): each holder starts and expires it under its own name,
    and Alertmanager sees one silence, expired when the last holder lets go.
    """

    client: AlertmanagerClient
    spec: SilenceSpec
    maintenance_id: str
    silence_id: str | None = None
    skipped: bool = False
    holders: set[str] = field(default_factory=set)
    dry_run: DryRun | None = None

    def start(self, comment: str, holder: str = "procedure") -> str | None:
        if self.holders and (self.silence_id or self.skipped):
            self.holders.add(holder)
            record.text("maintenance silence", f"{self.silence_id or 'no silence'} already covers this "
                                               f"(held by {', '.join(sorted(self.holders))})")
            return self.silence_id
        self.holders.add(holder)
        body = silence_body(self.spec, maintenance_id=self.maintenance_id, comment=comment,
                            now=datetime.now(UTC))
        dry = withholding(self.dry_run)
        if dry is not None:
            dry.action("create the maintenance silence", json.dumps(body, indent=2))
            self.skipped = True
            return None
        try:
            self.silence_id = self.client.create_silence(body)
        except ApiError as exc:
            if self.spec.required:
                raise PreconditionFailed(
                    f"cannot create the maintenance silence, so nothing was changed: {exc}. "
                    "Bring Alertmanager back, or set silence.required: false in the plan to go on without one."
                ) from exc
            self.skipped = True
            record.text("silence skipped", f"Alertmanager did not take the silence ({exc}); the plan allows that")
            return None
        record.data("maintenance silence", {"silenceID": self.silence_id, **body})
        return self.silence_id

    def state(self) -> str:
        if self.silence_id is None:
            return "none"
        return str(self.client.silence(self.silence_id)["status"]["state"])

    def expire(self, holder: str = "procedure") -> None:
        """Idempotent: an expired or never-created silence is left as it is; another holder keeps it."""
        self.holders.discard(holder)
        if self.holders:
            record.text("maintenance silence kept", f"still held by {', '.join(sorted(self.holders))}")
            return
        if self.silence_id is None or self.state() == "expired":
            return
        self.client.expire(self.silence_id)
        record.data("maintenance silence expired", {"silenceID": self.silence_id, "state": self.state()})


def expire_leftovers(client: AlertmanagerClient, maintenance_id: str) -> None:
    """Silences of this maintenance that no run holds any more (a run killed with -9 never expired its own)."""
    for leftover in ours(client, maintenance_id):
        client.expire(leftover["id"])
        record.data("left-over maintenance silence expired", leftover)


def ours(client: AlertmanagerClient, maintenance_id: str) -> list[dict[str, Any]]:
    """The active silences this maintenance created (``createdBy`` names its id)."""
    return [s for s in client.silences()
            if s.get("createdBy") == f"flatnet-maintenance {maintenance_id}" and s["status"]["state"] == "active"]
