"""How far a procedure got, so that its rollback undoes only what was done."""

from __future__ import annotations

from dataclasses import dataclass

from procedures import record


@dataclass
class Progress:
    """``prepared`` once the procedure started in this run; ``changed`` once it touched the target.

    An emergency rollback is a fresh run that never prepared, so it always acts.
    """

    prepared: bool = False
    changed: bool = False

    def nothing_to_undo(self) -> bool:
        if self.prepared and not self.changed:
            record.text("rollback", "the procedure stopped before changing anything: nothing to undo")
            return True
        return False
