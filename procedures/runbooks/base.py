"""What every component's runbook shares: how far it got, the guard on its rollback steps, and the backup
its rollback restores (this run's, or the newest on the target for an emergency rollback in a later run)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from procedures.host import backups

if TYPE_CHECKING:
    from procedures.host import Host
    from procedures.run.progress import Progress

Self = TypeVar("Self", bound="Procedure")


class Procedure:
    """A runbook: a dataclass with a ``progress`` field, whose rollback steps are ``@undo_step``s."""

    progress: Progress

    @staticmethod
    def recorded(kept: backups.Backup | None, host: Host, backups_dir: str, component: str) -> backups.Backup:
        """The backup this run took, else the newest one on the target (an emergency rollback in a later run)."""
        return kept or backups.latest(host, backups_dir, component)


def undo_step(step: Callable[[Self], None]) -> Callable[[Self], None]:
    """A rollback step: skipped, on the record, when the procedure stopped before changing anything."""
    @functools.wraps(step)
    def guarded(self: Self) -> None:
        if not self.progress.nothing_to_undo():
            step(self)
    return guarded


__all__ = ["Procedure", "undo_step"]
