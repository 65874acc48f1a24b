"""Secrets: values that must never reach the record, the logs or a traceback.

A secret enters the program in one place (``Secret.from_env``), registers
itself with the process-wide redactor, and hides its value from ``repr``.
Everything the record or the logs receive goes through ``redact``.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading

from procedures.errors import ConfigError

MASK = "••••••"

_known: set[str] = set()
_lock = threading.Lock()

# Header and key=value forms that carry credentials even when we never saw the value.
_PATTERNS = [
    re.compile(r"(?i)(authorization\s*[:=]\s*)(\S+\s+)?\S+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:password|passwd|secret|token|api[_-]?key)\"?\s*[:=]\s*\"?)[^\s\"',;&]+"),
]


class Secret:
    """A credential whose value is only revealed on purpose.

    >>> s = Secret("hunter2"); repr(s)
    "Secret('••••••')"
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    @classmethod
    def from_env(cls, name: str) -> Secret:
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(f"environment variable {name} is not set (it holds a credential)")
        return cls(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__


def register(value: str) -> None:
    """Remember a secret value and the encodings it travels in (Basic auth, base64)."""
    if len(value) < 4:
        return  # too short to redact without destroying ordinary text
    forms = {value, base64.b64encode(value.encode()).decode().rstrip("=")}
    with _lock:
        _known.update(forms)


def register_basic_auth(user: str, password: str) -> None:
    """The Authorization header's value, in both encodings HTTP clients use for it."""
    for encoding in ("utf-8", "latin-1"):
        register(base64.b64encode(f"{user}:{password}".encode(encoding, "replace")).decode().rstrip("="))


def redact(text: str) -> str:
    """Mask every known secret and every credential-shaped token in ``text``."""
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        text = text.replace(value, MASK)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _PATTERNS[2].sub(lambda m: f"{m.group(1)}{MASK}", text)


class RedactingFilter(logging.Filter):
    """Logging filter that redacts the formatted message before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
