"""The work report (作業報告書): what the maintenance did, written in Markdown from the run itself."""

from __future__ import annotations

import getpass
import platform
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from procedures import record
from procedures.notices import japanese_window

if TYPE_CHECKING:
    from procedures.workflow import Workflow

OUTCOME = {"completed": "完了（全サービス正常稼働）", "rolled_back": "ロールバック済み（作業前の状態に復旧）",
           "rollback_failed": "**ロールバック失敗 — エスカレーション済み**", "running": "中断"}
NAME = "work-report.md"


def render(w: Workflow, record_link: str) -> str:
    plan, now = w.plan, datetime.now().astimezone()
    lines = [
        f"# 作業報告書: {plan.id}", "",
        "| 項目 | 内容 |", "|---|---|",
        f"| 作業責任者 | {f'{plan.owner.name} ({plan.owner.contact})' if plan.owner else '—'} |",
        f"| 実施者 | {getpass.getuser()}@{platform.node()} |",
        f"| 予定時間帯 | {japanese_window(plan.window) if plan.window else '—'} |",
        f"| 実施時間 | {w.started_at:%Y-%m-%d %H:%M:%S %Z} – {now:%H:%M:%S} |",
        f"| 結果 | {OUTCOME[w.outcome]} |",
        f"| 記録 (Allure) | {record_link} |",
        f"| サイレンス ID | {w.silence.silence_id if w.silence and w.silence.silence_id else 'なし'} |",
        "", "## 作業内容", *[f"- {line}" for line in plan.summary],
        "", "## 変更 (バージョン)", "| コンポーネント | 作業前 | 作業後 |", "|---|---|---|",
        *[f"| {c} | {v.get('before')} | {v.get('after')} |" for c, v in w.versions.items()],
        "", "## 手順", *[f"- {p} ({c}): {'完了' if p in w.finished else '失敗'}" for c, p in w.started],
        "", "## 確認結果", *[f"- {k}: {v}" for k, v in w.checks.items()],
        "", "## 判断 (ロールバック判断基準)",
        *([f"- {d.check}: {d.failure_class} → {d.action} (期限 {d.deadline}; {d.reason})" for d in w.decide.decisions]
          or ["- 判断を要する事象なし"]),
        "", "## ロールバック",
    ]
    if w.failure:
        lines += [f"- 理由: {w.failure}", f"- 実施: {', '.join(w.rolled_back) or 'なし'}"]
        if w.rollback_error:
            lines += [f"- **失敗**: {w.rollback_error}", f"- インシデントバンドル: {w.incident}"]
    else:
        lines.append("- 不要（全手順が成功）")
    lines += ["", "## 通知", "| 種類 | 経路 | 宛先 | 結果 | 時刻 |", "|---|---|---|---|---|",
              *[f"| {n.kind} | {n.channel} | {n.target} | {'OK' if n.ok else 'NG: ' + n.detail} | {n.at} |"
                for n in w.notifier.ledger()],
              "", "## バックアップ", *[f"- {c}: `{b.path}` ({len(b.files)} files, sha256 manifest)"
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
