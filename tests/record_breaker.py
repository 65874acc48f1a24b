"""A pytest plugin for fault tests: the record fails when a step whose title starts with
``$FLATNET_BREAK_RECORD_AT`` opens (as a full disk under the results folder would make it fail).

It breaks allure's own hook, outside every step body: whatever the runner does around the steps
must not swallow it. Loaded with ``-p tests.record_breaker``.
"""

from __future__ import annotations

import errno
import os

import allure_commons
import pytest

BREAK_ENV = "FLATNET_BREAK_RECORD_AT"


class _Breaker:
    @allure_commons.hookimpl
    def start_step(self, uuid: str, title: str, params: object) -> None:
        if title.startswith(os.environ.get(BREAK_ENV) or "\0"):
            raise OSError(errno.ENOSPC, f"the record cannot be written (injected at {title!r})")


def pytest_configure(config: pytest.Config) -> None:
    allure_commons.plugin_manager.register(_Breaker(), "flatnet-record-breaker")


def pytest_unconfigure(config: pytest.Config) -> None:
    allure_commons.plugin_manager.unregister(name="flatnet-record-breaker")
