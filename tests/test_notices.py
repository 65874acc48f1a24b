"""Notices: the manual's templates filled from a plan, delivered to a real SMTP server and a webhook receiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from procedures.config.plan import Plan
from procedures.errors import ConfigError
from procedures.lab import mailbox
from procedures.lab.processes import owned_pids, terminate
from procedures.notices import Notifier, render

PLAN = {
    "id": "2026-12-05-gateway",
    "window": {"start": "2026-12-05 22:00", "end": "2026-12-05 23:30", "timezone": "Asia/Tokyo"},
    "impact": {"services": ["Gateway", "Grafana"], "users": ["本社 LAN"], "expected_downtime_minutes": 10},
    "summary": ["OpenResty 1.27.1.2 への更新"],
    "owner": {"name": "山田 太郎", "contact": "内線 1234"},
}


@pytest.fixture
def receivers(tmp_path: Path):
    """The lab's real receivers (aiosmtpd and the webhook stand-in), started on their own."""
    from procedures.lab.processes import free_ports

    smtp_port, webhook_port = free_ports(2)
    mailbox.start(tmp_path, smtp_port, webhook_port)
    yield smtp_port, webhook_port, mailbox.Mailbox(tmp_path)
    terminate(owned_pids(tmp_path))


def test_announcement_is_the_manual_template_filled_from_the_plan() -> None:
    notice = render("announcement", Plan.model_validate(PLAN))
    assert notice.subject == "【メンテナンス予告】Flatnet システムメンテナンス"
    for expected in ("2026年12月05日 22:00 〜 23:30", "影響を受けるサービス: Gateway、Grafana", "約 10 分",
                     "・OpenResty 1.27.1.2 への更新", "作業責任者: 山田 太郎", "連絡先: 内線 1234"):
        assert expected in notice.body
    assert "[" not in notice.body and "YYYY" not in notice.body  # no template placeholder left


def test_completion_says_what_happened() -> None:
    plan = Plan.model_validate(PLAN)
    done = render("completion", plan, outcome="completed", finished="2026年12月05日 22:41",
                  done=["gateway: 1.25.3.1 → 1.27.1.2"], reason="")
    assert done.subject == "【完了】Flatnet システムメンテナンス"
    assert "全サービス正常稼働を確認" in done.body and "gateway: 1.25.3.1 → 1.27.1.2" in done.body
    rolled = render("completion", plan, outcome="rolled_back", finished="x", done=[], reason="HTTP 503")
    assert "ロールバック実施" in rolled.subject and "ロールバック理由: 「HTTP 503」" in rolled.body


def test_a_notice_missing_a_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="window, impact and owner"):
        render("announcement", Plan.model_validate({"id": "x"}))
    with pytest.raises(ConfigError, match=r"cannot be filled.*finished"):
        render("completion", Plan.model_validate(PLAN), outcome="completed", done=[], reason="")


def test_delivered_on_every_channel_and_in_the_ledger(tmp_path: Path, receivers) -> None:
    smtp_port, webhook_port, box = receivers
    plan = Plan.model_validate({**PLAN, "notify": {
        "smtp": {"port": smtp_port, "sender": "maint@localhost", "recipients": ["a@localhost", "b@localhost"]},
        "webhook": {"url": f"http://127.0.0.1:{webhook_port}/hook"}}})
    notifier = Notifier(plan, tmp_path / "notices")
    deliveries = notifier.send(render("announcement", plan))
    assert [(d.channel, d.ok) for d in deliveries] == [("file", True), ("smtp", True), ("webhook", True)]
    [mail] = box.mails()
    assert mail["Subject"] == "【メンテナンス予告】Flatnet システムメンテナンス"
    assert mail["To"] == "a@localhost, b@localhost" and mail["X-Flatnet-Maintenance"] == "2026-12-05-gateway"
    assert "山田 太郎" in mail.get_content()
    [hook] = box.webhooks()
    assert hook["kind"] == "announcement" and "山田 太郎" in hook["text"]
    assert (tmp_path / "notices/announcement.txt").read_text().startswith("件名: 【メンテナンス予告】")
    assert set(notifier.delivered("announcement")) == {"file", "smtp", "webhook"}


def test_a_dead_channel_is_reported_and_the_others_still_deliver(tmp_path: Path, receivers) -> None:
    from procedures.lab.processes import free_ports

    _, webhook_port, box = receivers
    [closed] = free_ports(1)
    plan = Plan.model_validate({**PLAN, "notify": {
        "smtp": {"port": closed, "sender": "maint@localhost", "recipients": ["a@localhost"], "timeout": 2},
        "webhook": {"url": f"http://127.0.0.1:{webhook_port}/hook"}}})
    notifier = Notifier(plan, tmp_path / "notices")
    deliveries = {d.channel: d for d in notifier.send(render("announcement", plan))}
    assert not deliveries["smtp"].ok and "did not take the notice" in deliveries["smtp"].detail
    assert deliveries["webhook"].ok and len(box.webhooks()) == 1
    assert set(notifier.delivered("announcement")) == {"file", "webhook"}
