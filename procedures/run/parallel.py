"""Independent work at the same time: the waits are on commands and HTTP, so threads are enough.

Each call runs in a copy of the caller's context (the dry run, the record's
current step), so its evidence lands where a serial call's would.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def run_all(calls: Sequence[Callable[[], Any]], *, concurrent: bool = True) -> list[Any]:
    """Every call at once (or in turn, when the target cannot take two at a time); their results in order.

    The first failure is raised once all have ended.
    """
    if len(calls) <= 1 or not concurrent:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="parallel") as pool:
        futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
    return [future.result() for future in futures]
