"""The outcome at a glance: the first line of each procedure's page in the record, in the plan's language.

A reader (the manager, the next shift, an auditor) wants one fact first: is the target back as it was.
So each scenario's page opens with one outcome line and the versions before and after, read from the
target itself when the scenario starts and when it ends, not taken from the procedure's own words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import allure
import pytest

from procedures import record
from procedures.errors import ProcedureError
from procedures.notices.wording import change_lines
from procedures.plugin import embed
from procedures.run.maintenance import Maintenance
from procedures.runbooks.workflow import current_version

VERSIONED = ("gateway", "monitoring", "cni", "nebula")
BEFORE = pytest.StashKey[dict[str, Any]]()

WORDS = {
    "ja": {"passed": "結果: 完了（全ステップ合格）",
           "rolled back": "結果: ロールバック完了（作業前の状態に復旧し、ロールバックの検証に合格）",
           "rollback failed": "結果: **ロールバック失敗** — 至急、人の対応が必要"
                              "（ROLLBACK FAILED、インシデントバンドルを参照）",
           "failed": "結果: 失敗（失敗したステップとその記録を参照）",
           "versions": "バージョン（作業前 → 作業後）"},
    "en": {"passed": "Outcome: completed (every step passed)",
           "rolled back": "Outcome: rolled back (back as before the work; the rollback's checks passed)",
           "rollback failed": "Outcome: **ROLLBACK FAILED** — a human must take over now (see the incident bundle)",
           "failed": "Outcome: failed (see the failed step and its record)",
           "versions": "Versions (before → after)"},
}


def components(tags: set[str]) -> list[str]:
    touched = embed.scenario_components(tags)
    return [c for c in VERSIONED if c in touched]


def versions_now(m: Maintenance, names: list[str]) -> dict[str, Any]:
    """What each component runs now; a component that cannot answer is ``None`` (the outcome says unknown)."""
    found: dict[str, Any] = {}
    for name in names:
        try:
            found[name] = current_version(m, name)
        except ProcedureError:
            found[name] = None
    return found


def remember_before(request: pytest.FixtureRequest, maintenance: Callable[[], Maintenance], tags: set[str]) -> None:
    """Only for a procedure on real components (a scenario without any starts no lab and reads nothing)."""
    names = components(tags)
    if names:
        with record.poll("the versions before the procedure"):  # reads: one attachment, no step of their own
            request.node.stash[BEFORE] = versions_now(maintenance(), names)


def describe(request: pytest.FixtureRequest, maintenance: Callable[[], Maintenance], event: str) -> None:
    """Open the scenario's page with its outcome line and versions (Allure's description, Markdown)."""
    if BEFORE not in request.node.stash:
        return
    m, before = maintenance(), request.node.stash[BEFORE]
    words = WORDS[m.plan.language]
    with record.poll("the versions after the procedure"):
        after = versions_now(m, list(before))
    lines = [words[event]]
    versions = {name: {"before": before[name], "after": after.get(name)} for name in before}
    if versions:
        lines += ["", f"{words['versions']}:", *[f"- {line}" for line in change_lines(versions, m.plan.language)]]
    allure.dynamic.description("\n".join(lines))  # type: ignore[no-untyped-call]
