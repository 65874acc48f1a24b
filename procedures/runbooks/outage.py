"""ロールバック失敗時 「必要に応じてサービスを停止」: the plan may say to stop the affected service outright.

A failed rollback leaves a target in a state nobody verified: half of an update, a
release that will not quit. With the plan's ``on_rollback_failure: stop_service``
the components of the failed procedure are stopped, what refuses a clean stop is
stopped by PID (only the component's own masters, named by its PID files), and the
users are told (the ``suspension`` notice). The default keeps them running, for a
person to judge with the incident bundle at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from procedures import notices, record
from procedures.errors import DriverError, ProcedureError
from procedures.notices.wording import COMPONENTS, plan_time

if TYPE_CHECKING:
    from procedures.run.maintenance import Maintenance


def stop_and_tell(m: Maintenance, components: list[str], owner: str) -> None:
    """Stop each component (one that cannot be stopped is said so, and the others still are); tell the users."""
    stopped, refused = {}, {}
    for component in components:
        try:
            stopped[component] = _STOPS[component](m)
        except ProcedureError as exc:
            refused[component] = str(exc)
    record.data("services stopped after the failed rollback", {"stopped": stopped, "could not be stopped": refused})
    m.notifier().send(notices.render(
        "suspension", m.plan, finished=plan_time(m.plan, datetime.now().astimezone()), owner=owner,
        stopped=[COMPONENTS.get(c, c) for c in stopped], still_running=[COMPONENTS.get(c, c) for c in refused]))


def _gateway(m: Maintenance) -> str:
    gateway = m.gateway()
    masters = [pid for pid in (gateway.pid(), gateway.previous_pid()) if pid is not None]
    try:
        gateway.stop()
    except ProcedureError as exc:  # a release that refuses to stop is often why its rollback failed
        record.text("stop", f"a clean stop failed ({exc}): stopping the gateway's masters by PID")
    if masters:  # the previous master too (a half-done hand-over), and whatever ignored the clean stop
        gateway.stop_by_pid(masters)
    gateway.clear_strays()
    if gateway.host.after_changes(gateway.is_running, False):
        raise DriverError(f"the gateway still runs on {gateway.host.name} after its masters were killed")
    return f"stopped (masters {', '.join(map(str, masters)) or 'none running'})"


def _nebula(m: Maintenance) -> str:
    m.nebula().service.stop()
    return "service stopped"


def _monitoring(m: Maintenance) -> str:
    m.monitoring().compose("down", purpose="stop the stack")
    return "stack stopped (podman-compose down)"


def _cni(_: Maintenance) -> str:
    return "nothing runs to stop: the plugin runs when a container starts (new containers may fail to)"


_STOPS: dict[str, Callable[[Maintenance], str]] = {
    "gateway": _gateway, "nebula": _nebula, "monitoring": _monitoring, "cni": _cni}
