"""How notices and the work report say things to people: one line per change, every time in the plan's zone.

The run knows versions as the drivers report them (a dict of images for the monitoring stack, a sha256
for the CNI plugin); a person reads ``Prometheus 2.42.0-lab.1 → 2.42.0-lab.2``. Times come from several
clocks (the machine's zone, UTC in the ledger); a person reads them all in the maintenance's zone, named.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from procedures.notices import japanese_time

if TYPE_CHECKING:
    from procedures.config.plan import Plan

COMPONENTS = {"gateway": "Gateway (OpenResty)", "monitoring": "監視スタック", "cni": "CNI プラグイン",
              "nebula": "Nebula"}
COMPONENTS_EN = {**COMPONENTS, "monitoring": "Monitoring stack", "cni": "CNI plugin"}
# unchanged, none, unknown, no containers
_WORDS = {"ja": ("（変更なし）", "なし", "不明", "コンテナなし"),
          "en": (" (unchanged)", "none", "unknown", "no containers")}
SERVICES = {"prometheus": "Prometheus", "alertmanager": "Alertmanager", "grafana": "Grafana", "loki": "Loki",
            "promtail": "Promtail"}
DEFAULT_ZONE = "Asia/Tokyo"


def change_lines(versions: dict[str, dict[str, Any]], language: str = "ja") -> list[str]:
    """One line per thing that has a version: the component (or the stack's service), before → after."""
    words, names = _WORDS[language], COMPONENTS if language == "ja" else COMPONENTS_EN
    lines = []
    for component, seen in versions.items():
        before, after = seen.get("before"), seen.get("after")
        if isinstance(before, dict) or isinstance(after, dict):
            services = sorted(set(before or {}) | set(after or {}))
            lines += [_line(_service(s), _tag((before or {}).get(s), words), _tag((after or {}).get(s), words), words)
                      for s in services] or [f"{names['monitoring']}: {words[3]}"]
        else:
            lines.append(_line(names.get(component, component), _short(before, words), _short(after, words), words))
    return lines


def _line(name: str, before: str, after: str, words: tuple[str, ...]) -> str:
    return f"{name} {before}{words[0]}" if before == after else f"{name} {before} → {after}"


def _service(container: str) -> str:
    base = container.removeprefix("flatnet-")
    return SERVICES.get(base, base)


def _tag(image: str | None, words: tuple[str, ...]) -> str:
    """``127.0.0.1:5000/prom/prometheus:2.42.0`` → ``2.42.0`` (a registry's port is not a tag)."""
    if not image:
        return words[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _short(version: object, words: tuple[str, ...]) -> str:
    text = words[2] if version is None else str(version)
    return f"sha256 {text[:12]}" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def zone(plan: Plan) -> ZoneInfo:
    return ZoneInfo(plan.window.timezone if plan.window else DEFAULT_ZONE)


def plan_time(plan: Plan, moment: datetime | str, *, seconds: bool = False) -> str:
    """``2026年12月03日 15:42 (Asia/Tokyo)``: a moment (aware, or an ISO string) in the maintenance's zone."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    local = when.astimezone(zone(plan))
    return japanese_time(local) + (f":{local:%S}" if seconds else "") + f" ({zone(plan).key})"


def plan_clock(plan: Plan, moment: datetime | str) -> str:
    """Only the time of day, for a second time on a line that already named the date and zone."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f"{when.astimezone(zone(plan)):%H:%M:%S}"
