"""The work report (作業報告書): what the maintenance did, written in Markdown from the run itself."""

from __future__ import annotations

import getpass
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from procedures import record
from procedures.notices import japanese_window
from procedures.notices.wording import COMPONENTS, change_lines, plan_clock, plan_time

if TYPE_CHECKING:
    from procedures.runbooks.workflow import Workflow

OUTCOME = {"completed": "完了（全サービス正常稼働）", "rolled_back": "ロールバック済み（作業前の状態に復旧）",
           "rollback_failed": "**ロールバック失敗 — エスカレーション済み**", "running": "中断"}
NAME = "work-report.md"


FAILURE_CLASSES = {"service_down": "全サービス停止", "partly_broken": "一部機能不全", "degraded": "性能劣化",
                   "log_errors": "エラーログ増加"}
ACTIONS = {"rollback": "ロールバック", "continue": "続行"}
CHANNELS = {"file": "ファイル", "smtp": "メール", "webhook": "Webhook"}
KINDS = {"announcement": "予告", "completion": "完了", "rollback": "ロールバック実施", "escalation": "緊急連絡"}


def render(w: Workflow, record_link: str) -> str:
    """Japanese throughout; every time in the plan's zone; technical detail (commands, errors) in backticks."""
    plan, now = w.plan, datetime.now(UTC)
    lines = [
        f"# 作業報告書: {plan.id}", "",
        "| 項目 | 内容 |", "|---|---|",
        f"| 作業責任者 | {f'{plan.owner.name} ({plan.owner.contact})' if plan.owner else '—'} |",
        f"| 実施者 | {getpass.getuser()}@{platform.node()} |",
        f"| 予定時間帯 | {japanese_window(plan.window) if plan.window else '—'} |",
        f"| 実施時間 | {plan_time(plan, w.started_at, seconds=True)} 〜 {plan_clock(plan, now)} |",
        f"| 結果 | {OUTCOME[w.outcome]} |",
        f"| 記録 (Allure) | {record_link} |",
        f"| サイレンス ID | {w.silence.silence_id if w.silence and w.silence.silence_id else 'なし'} |",
        "", "## 作業内容", *[f"- {line}" for line in plan.summary],
        "", "## 変更 (バージョン)", *[f"- {line}" for line in change_lines(w.versions)],
        "", "## 手順", *[f"- {p} ({c}): {'完了' if p in w.finished else '失敗'}" for c, p in w.started],
        "", "## 確認結果", *[f"- {k}: {v}" for k, v in w.checks.items()],
        "", "## 判断 (ロールバック判断基準)",
        *([f"- {FAILURE_CLASSES[d.failure_class]} ({d.failure_class}) → {ACTIONS[d.action]}"
           f"（期限 {plan_time(plan, d.deadline)}、試行 {d.attempts} 回）: `{d.check}` — `{d.reason}`"
           for d in w.decide.decisions] or ["- 判断を要する事象なし"]),
        "", "## ロールバック",
    ]
    if w.failure:
        lines += [f"- 理由: `{w.failure}`", f"- 実施: {', '.join(w.rolled_back) or 'なし'}"]
        if w.rollback_error:
            lines += [f"- **失敗**: `{w.rollback_error}`", f"- インシデントバンドル: {w.incident}"]
    else:
        lines.append("- 不要（全手順が成功）")
    lines += ["", "## 通知", "| 種類 | 経路 | 宛先 | 結果 | 時刻 |", "|---|---|---|---|---|",
              *[f"| {KINDS.get(n.kind, n.kind)} | {CHANNELS.get(n.channel, n.channel)} | {n.target} | "
                f"{'成功' if n.ok else '失敗: `' + n.detail + '`'} | {plan_time(plan, n.at, seconds=True)} |"
                for n in w.notifier.ledger()],
              "", "## バックアップ", *[f"- {COMPONENTS.get(c, c)}: `{b.path}`"
                                       f"（{len(b.files)} ファイル、sha256 マニフェスト付き）"
                                       for c, b in w.backups.items()], ""]
    return "\n".join(lines)


def write(w: Workflow, run_dir: Path) -> Path:
    """Into the run's record folder and the maintenance's records folder; attached to the record."""
    text = render(w, str(run_dir / "html" / "index.html"))
    for folder in (run_dir, w.m.records_dir):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / NAME).write_text(text, encoding="utf-8")
    record.text("作業報告書 (work report)", text)
    return w.m.records_dir / NAME
