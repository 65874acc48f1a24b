"""What notices and the work report say to people, judged on versions as the lab's drivers report them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from procedures.config.plan import Plan
from procedures.notices.wording import change_lines, plan_time

# The versions a planned maintenance of every component records ("versions before/after" in its record):
# the gateway's release, the stack's images by container, the CNI plugin's sha256, Nebula's version.
VERSIONS = {
    "gateway": {"before": "1.25.3.1", "after": "1.27.1.2"},
    "monitoring": {
        "before": {"flatnet-prometheus": "127.0.0.1:38123/prom/prometheus:2.42.0-lab.1",
                   "flatnet-alertmanager": "127.0.0.1:38123/prom/alertmanager:0.25.0-lab.1"},
        "after": {"flatnet-prometheus": "127.0.0.1:38123/prom/prometheus:2.42.0-lab.2",
                  "flatnet-alertmanager": "127.0.0.1:38123/prom/alertmanager:0.25.0-lab.1"}},
    "cni": {"before": "9f2c1e7d4b3a29e0c6b5d8f7a1e2c3b4d5e6f708192a3b4c5d6e7f8091a2b3c4",
            "after": "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"},
    "nebula": {"before": "1.6.1", "after": "1.8.2"},
}


def reads_as_written_by_a_person(text: str) -> list[str]:
    """The lines a person would stumble on: a Python repr, or English prose outside quoted detail."""
    problems = []
    for line in text.splitlines():
        if "{'" in line or "['" in line:
            problems.append(f"a repr: {line}")
        prose = re.sub(r"`[^`]*`|「[^」]*」|\([^)]*\)|https?://\S+|\S+@\S+|/\S+", "", line)
        if re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", prose) and not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", prose):
            problems.append(f"English prose: {line}")
    return problems


def test_every_change_is_one_readable_line() -> None:
    assert change_lines(VERSIONS) == [
        "Gateway (OpenResty) 1.25.3.1 → 1.27.1.2",
        "Alertmanager 0.25.0-lab.1（変更なし）",
        "Prometheus 2.42.0-lab.1 → 2.42.0-lab.2",
        "CNI プラグイン sha256 9f2c1e7d4b3a → sha256 0a1b2c3d4e5f",
        "Nebula 1.6.1 → 1.8.2",
    ]
    assert reads_as_written_by_a_person("\n".join(change_lines(VERSIONS))) == []


def test_a_rolled_back_component_reads_unchanged() -> None:
    assert change_lines({"gateway": {"before": "1.25.3.1", "after": "1.25.3.1"}}) == [
        "Gateway (OpenResty) 1.25.3.1（変更なし）"]


def test_every_time_is_in_the_plans_zone_and_names_it() -> None:
    plan = Plan.model_validate({"id": "mw", "window": {"start": "2026-12-05 22:00", "end": "2026-12-05 23:30",
                                                       "timezone": "Asia/Tokyo"}})
    moment = datetime(2026, 12, 5, 13, 42, 7, tzinfo=UTC)
    assert plan_time(plan, moment) == "2026年12月05日 22:42 (Asia/Tokyo)"
    assert plan_time(plan, "2026-12-05T13:42:07+00:00", seconds=True) == "2026年12月05日 22:42:07 (Asia/Tokyo)"
    assert plan_time(Plan.model_validate({"id": "mw"}), moment) == "2026年12月05日 22:42 (Asia/Tokyo)"


def test_the_judge_of_readability_can_fail() -> None:
    assert reads_as_written_by_a_person("・monitoring: {'flatnet-prometheus': 'x'}")
    assert reads_as_written_by_a_person("- services: all healthy and happy")
    assert reads_as_written_by_a_person("- ロールバック理由: 「does not serve the new version」") == []
