"""Rolling updates across a fleet of gateways: batches, parallel inside a batch, a failure threshold.

Each host runs the very steps of the single-host procedure (the Gherkin
scenario's step functions), with its own ``GatewayUpdate``. A host that fails
is rolled back at once by the linked rollback scenario's steps, on that host
only. A batch whose failures exceed the plan's ``max_fail_percentage`` stops
the roll; the hosts already updated are then rolled back too if the plan says so.

Hosts inside a batch run in threads: the work is waiting on subprocesses and
HTTP, so threads give real parallelism on a small controller, and the whole
fleet stays one test with one record, every host nested under its batch
(allure-python keeps a step stack per thread, seeded from the batch's step).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.config.inventory import HostSpec
from procedures.errors import ConfigError, ProcedureError, RollbackFailed, VerificationFailed
from procedures.run import live, parallel
from procedures.runbooks.gateway_update import GatewayUpdate

if TYPE_CHECKING:
    from procedures.config.inventory import AnsibleSource
    from procedures.config.plan import GatewayChange, Rolling
    from procedures.drivers.gateway import Gateway
    from procedures.run.decisions import DecisionEngine

# One step of a scenario, resolved once in the test's thread: its text and a function of the host's update.
HostStep = tuple[str, Callable[[GatewayUpdate], object]]


@dataclass(frozen=True)
class Member:
    name: str
    gateway: Gateway


@dataclass
class HostOutcome:
    """What happened on one host: ``updated``, ``failed, rolled back``, ``rollback failed``,
    ``not started`` (the roll stopped first) or ``rolled back with the fleet``."""

    host: str
    batch: int
    status: str = "not started"
    version_before: str | None = None
    version_after: str | None = None
    seconds: float = 0.0
    error: str | None = None


class FleetStopped(VerificationFailed):
    """A batch crossed the failure threshold: the roll stopped there."""


@dataclass
class FleetUpdate:
    members: Sequence[Member]
    change: GatewayChange | None
    rolling: Rolling
    decisions: Callable[[], DecisionEngine]
    outcomes: dict[str, HostOutcome] = field(default_factory=dict)
    stopped_at: int | None = None  # the batch that crossed the threshold
    _updates: dict[str, GatewayUpdate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.members:
            raise ConfigError("the gateway fleet has no members")
        plan = self.rolling.batches([m.name for m in self.members])
        self._batches = [[m for m in self.members if m.name in names] for names in plan]
        for number, batch in enumerate(self._batches, 1):
            for member in batch:
                self.outcomes[member.name] = HostOutcome(member.name, number)

    def check_serving(self) -> None:
        """Every member serves before anything changes (the single-host procedure's first check, fleet-wide)."""
        down = [m.name for m in self.members if not m.gateway.health().serving]
        if down:
            raise VerificationFailed(f"gateways not serving before the update: {', '.join(down)}; fix them first")

    def roll(self, update: Sequence[HostStep], rollback: Sequence[HostStep]) -> None:
        """Batch after batch; raises FleetStopped when a batch crosses the threshold."""
        record.data("rolling plan", {**self.rolling.model_dump(),
                                     "batches": [[m.name for m in b] for b in self._batches]})
        try:
            for number, batch in enumerate(self._batches, 1):
                title = f"batch {number}/{len(self._batches)}: {', '.join(m.name for m in batch)}"
                live.say(f"▶ {title}")
                with record.step(title):
                    self._in_parallel(batch, lambda m: self._one(m, update, rollback))
                    failed = [m.name for m in batch if self.outcomes[m.name].status != "updated"]
                    share = 100 * len(failed) / len(batch)
                    record.data(f"batch {number} outcome", [vars(self.outcomes[m.name]) for m in batch])
                    if failed and share > self.rolling.max_fail_percentage:
                        self.stopped_at = number
                        raise FleetStopped(
                            f"batch {number}: {len(failed)} of {len(batch)} failed ({share:.0f}% > "
                            f"max_fail_percentage {self.rolling.max_fail_percentage:g}): {', '.join(failed)}; "
                            "the roll stops here")
        finally:
            self.record()

    def verify_all_updated(self) -> None:
        failed = [o for o in self.outcomes.values() if o.status != "updated"]
        if failed:
            raise VerificationFailed("not every gateway was updated: " + ", ".join(
                f"{o.host} ({o.status})" for o in failed))

    def roll_back(self, rollback: Sequence[HostStep]) -> None:
        """The fleet's rollback: updated hosts when the roll stopped and the plan says so; in an
        emergency run (nothing rolled in this run), every member that has a release swapped in."""
        if self.rolling_happened():
            if self.stopped_at is None or not self.rolling.rollback_updated:
                record.text("fleet rollback", "the updated hosts stay updated (the plan's rollback_updated: "
                            f"{self.rolling.rollback_updated}; roll stopped: {self.stopped_at is not None})")
                return
            targets = [m for m in self.members if self.outcomes[m.name].status == "updated"]
        else:
            targets = [m for m in self.members if m.gateway.swapped_in()]
        for number, batch in enumerate(self.rolling.batches([m.name for m in targets]), 1):
            members = [m for m in targets if m.name in batch]
            live.say(f"▶ rollback batch {number}: {', '.join(batch)}")
            with record.step(f"rollback batch {number}: {', '.join(batch)}"):
                self._in_parallel(members, lambda m: self._back(m, rollback))
            for member in members:
                live.say(f"  {member.name}: {self.outcomes[member.name].status}")
        self.record()

    def verify_rolled_back(self) -> None:
        broken = [o for o in self.outcomes.values() if o.status == "rollback failed"]
        if broken:
            raise RollbackFailed("rollback failed on: " + "; ".join(f"{o.host}: {o.error}" for o in broken))

    def rolling_happened(self) -> bool:
        return any(o.status != "not started" for o in self.outcomes.values())

    def record(self) -> None:
        """Every host's outcome under its batch: the fleet's part of the record."""
        by_batch: dict[str, list[dict[str, object]]] = {}
        for outcome in self.outcomes.values():
            by_batch.setdefault(f"batch {outcome.batch}", []).append(
                {k: v for k, v in vars(outcome).items() if k != "batch"})
        record.data("fleet outcome by batch", by_batch)

    # -- one host ----------------------------------------------------------------------------------
    def _one(self, member: Member, update: Sequence[HostStep], rollback: Sequence[HostStep]) -> None:
        outcome, job = self.outcomes[member.name], self._job(member)
        started = time.monotonic()
        try:
            with record.step(f"{member.name}: update"), live.quiet():
                _steps(update, job)
            outcome.status = "updated"
        except Exception as exc:  # noqa: BLE001 - any failure of the host's procedure rolls that host back
            outcome.error = f"{type(exc).__name__}: {exc}"
            self._back(member, rollback, done="failed, rolled back")
        outcome.version_before, outcome.version_after = job.version_before, job.target_version
        outcome.seconds = round(time.monotonic() - started, 3)
        live.say(f"  {member.name}: {outcome.status} ({outcome.seconds:.1f} s)"
                 + (f": {outcome.error.splitlines()[0][:120]}" if outcome.error else ""))

    def _back(self, member: Member, rollback: Sequence[HostStep], done: str = "rolled back with the fleet") -> None:
        outcome = self.outcomes[member.name]
        try:
            with record.step(f"{member.name}: ROLLBACK"), live.quiet():
                _steps(rollback, self._job(member))
            outcome.status = done
        except Exception as exc:  # noqa: BLE001 - reported per host, and by verify_rolled_back
            outcome.status = "rollback failed"
            outcome.error = "; ".join(filter(None, [outcome.error, f"rollback: {type(exc).__name__}: {exc}"]))

    def _job(self, member: Member) -> GatewayUpdate:
        """The host's own update state, shared by its procedure and its rollback."""
        return self._updates.setdefault(member.name, GatewayUpdate(member.gateway, self.change, self.decisions()))

    @staticmethod
    def _in_parallel(members: Sequence[Member], work: Callable[[Member], None]) -> None:
        """At once, unless two members share a host that takes one command at a time (one WinRM session)."""
        hosts = [m.gateway.host for m in members]
        shared = len({id(h) for h in hosts}) < len(hosts)
        concurrent = not shared or all(h.transport.concurrent for h in hosts)
        parallel.run_all([functools.partial(work, m) for m in members], concurrent=concurrent)


def _steps(steps: Sequence[HostStep], job: GatewayUpdate) -> None:
    for text, step in steps:
        with record.step(text):
            step(job)


def host_steps(steps: Sequence[tuple[str, Callable[..., object], Sequence[str]]]) -> list[HostStep]:
    """Step functions as functions of one host's update; a step that needs anything else cannot run per host."""
    resolved: list[HostStep] = []
    for text, func, wanted in steps:
        extra = set(wanted) - {"gateway_update"}
        if extra:
            raise ProcedureError(f"{text!r} needs {', '.join(sorted(extra))}: it cannot run per fleet host")
        resolved.append((text, functools.partial(_call_with_update, func)))
    return resolved


def _call_with_update(func: Callable[..., object], job: GatewayUpdate) -> object:
    return func(gateway_update=job)


def ansible_members(source: AnsibleSource) -> list[tuple[str, HostSpec, dict[str, Any]]]:
    """The hosts of an Ansible group: how to reach each, and its ``flatnet_gateway`` overrides."""
    from testinfra.utils.ansible_runner import AnsibleRunner

    from procedures.transports.posix import ansible_on_path

    if not source.inventory.is_file():
        raise ConfigError(f"ansible inventory {source.inventory} does not exist")
    ansible_on_path()
    try:
        runner = AnsibleRunner(str(source.inventory))
        names = [n for n in runner.get_hosts(source.group) if n != "localhost" or source.group == "localhost"]
        found = [(n, runner.get_variables(n).get("flatnet_gateway") or {}) for n in names]
    except (RuntimeError, AssertionError, ValueError) as exc:  # testinfra's errors, translated at the edge
        raise ConfigError(f"ansible inventory {source.inventory}: {exc}") from exc
    if not found:
        raise ConfigError(f"ansible inventory {source.inventory}: group {source.group!r} has no hosts")
    members = []
    for name, overrides in found:
        if not isinstance(overrides, dict):
            raise ConfigError(f"ansible inventory {source.inventory}: {name}: flatnet_gateway must be a mapping")
        spec = HostSpec(transport="ansible", address=name, ansible_inventory=source.inventory,
                        lock_dir=source.lock_dir)
        members.append((name, spec, overrides))
    return members
