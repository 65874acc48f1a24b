"""Delivery channels. Each returns what the receiver answered, or raises DeliveryFailed.

Foreign errors (smtplib, sockets, httpx) are translated here, at the edge.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from procedures.api.http import Http
from procedures.errors import ApiError, ConfigError, DeliveryFailed
from procedures.record.secrets import Secret

if TYPE_CHECKING:
    from procedures.config.plan import SmtpChannel, WebhookChannel
    from procedures.notices import Notice


def to_file(directory: Path, notice: Notice) -> str:
    """``<kind>.txt``; a second notice of one kind (a retry) gets ``<kind>-2.txt`` and so on."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path, n = directory / f"{notice.kind}.txt", 1
        while path.exists():
            n += 1
            path = directory / f"{notice.kind}-{n}.txt"
        path.write_text(notice.text, encoding="utf-8")
    except OSError as exc:
        raise DeliveryFailed(f"cannot write the notice into {directory}: {exc.strerror}") from exc
    return str(path)


def message(channel: SmtpChannel, notice: Notice) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = notice.subject
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.recipients)
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain="flatnet-maintenance")
    mail["X-Flatnet-Maintenance"] = notice.maintenance_id
    mail.set_content(notice.body, charset="utf-8")
    return mail


def to_smtp(channel: SmtpChannel, notice: Notice) -> str:
    mail = message(channel, notice)
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
            if channel.starttls:
                smtp.starttls()
            if channel.user:
                smtp.login(channel.user, _password(channel).reveal())
            refused = smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP {channel.host}:{channel.port} did not take the notice: {exc}") from exc
    if refused:
        raise DeliveryFailed(f"SMTP refused recipients: {sorted(refused)}")
    return f"accepted for {len(channel.recipients)} recipient(s), {mail['Message-ID']}"


def _password(channel: SmtpChannel) -> Secret:
    if not channel.password_env:
        raise DeliveryFailed("smtp.user is set but smtp.password_env is not")
    try:
        return Secret.from_env(channel.password_env)
    except ConfigError as exc:
        raise DeliveryFailed(str(exc)) from exc


def to_webhook(channel: WebhookChannel, notice: Notice) -> str:
    try:
        token = Secret.from_env(channel.token_env) if channel.token_env else None
    except ConfigError as exc:
        raise DeliveryFailed(str(exc)) from exc
    payload = {"maintenance_id": notice.maintenance_id, "kind": notice.kind, "subject": notice.subject,
               "text": notice.text}
    http = Http(timeout=channel.timeout)
    try:
        reply = http.request("POST", str(channel.url), json=payload, token=token)
    except ApiError as exc:
        raise DeliveryFailed(str(exc)) from exc
    finally:
        http.close()
    if not reply.ok:
        raise DeliveryFailed(f"webhook {channel.url} answered {reply.status}: {reply.text[:200]}")
    return f"HTTP {reply.status}"
