"""POSIX hosts: locally, over ssh, or as an Ansible inventory names them (those two through testinfra).

Every command runs under coreutils ``timeout`` on the target: the target kills
what overruns, and the transport reports ``CommandTimeout`` instead of hanging
the run. ``timeout`` puts the command in a process group of its own, out of
reach of the Ctrl-C that stops the run, so locally the command's life is also
tied to the run's: interrupted, the run ends it before its rollback starts, and
killed (-9), the kernel tells ``timeout`` (``setpriv --pdeathsig``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testinfra.backend import get_backend

from procedures.errors import CommandTimeout, TransportError
from procedures.host.commands import CommandResult, sh
from procedures.transports.base import Transport

if TYPE_CHECKING:
    from testinfra.backend.base import BaseBackend

# coreutils timeout: 124 when the deadline hit, 137 when the KILL after the grace period was needed.
_TIMED_OUT = {124, 137}
_KILL_GRACE_SECONDS = 3


class _PosixTransport(Transport):
    def run(self, command: str, *, timeout: float) -> CommandResult:
        deadline = ["timeout", "-k", str(_KILL_GRACE_SECONDS), f"{timeout:g}", "sh", "-c", command]
        started = time.monotonic()
        try:
            rc, stdout, stderr = self._execute(deadline)
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            raise TransportError(f"host {self.name} cannot be reached or cannot run commands: {_why(exc)}") from exc
        result = CommandResult(command, rc, stdout, stderr, time.monotonic() - started, self.name)
        if rc in _TIMED_OUT:
            raise CommandTimeout(f"{self.name}: `{command}` did not finish within {timeout:g}s and was killed")
        return result

    def _execute(self, argv: list[str]) -> tuple[int, str, str]:
        """Exit code, stdout and stderr of ``argv`` run on the host."""
        raise NotImplementedError


def _why(exc: Exception) -> str:
    """testinfra's ssh backend raises RuntimeError(CommandResult) when ssh itself fails (exit 255): its stderr."""
    result = exc.args[0] if exc.args else None
    stderr = getattr(result, "stderr", None)
    if isinstance(stderr, str) and stderr.strip():
        return stderr.strip().splitlines()[-1]
    return str(exc)


class LocalTransport(_PosixTransport):
    """Commands on this machine (the lab's default), ending with the run that started them."""

    def _execute(self, argv: list[str]) -> tuple[int, str, str]:
        process = subprocess.Popen(["setpriv", "--pdeathsig", "TERM", *argv], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stdout, stderr = process.communicate()
        except BaseException:  # Ctrl-C or SIGTERM (the rollback runs next), or anything else while it runs
            process.terminate()  # timeout passes it to the command's process group, and KILLs it after the grace
            process.wait()
            raise
        return process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")


class _TestinfraTransport(_PosixTransport):
    """Commands through one of testinfra's backends (they have no deadline of their own)."""

    _backend: BaseBackend

    def _execute(self, argv: list[str]) -> tuple[int, str, str]:
        out = self._backend.run(sh(*argv))
        return out.rc, out.stdout, out.stderr


class SshTransport(_TestinfraTransport):
    """Commands over OpenSSH, key-based, in batch mode, without a lingering control master."""

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name, spec)
        options = ["-o BatchMode=yes", "-o IdentitiesOnly=yes", "-o LogLevel=ERROR"]
        if spec.known_hosts_file:
            options += [f"-o UserKnownHostsFile={spec.known_hosts_file}", "-o StrictHostKeyChecking=yes"]
        port = f":{spec.port}" if spec.port else ""
        self._backend = get_backend(
            f"ssh://{spec.user}@{spec.address}{port}",
            ssh_identity_file=str(spec.identity_file) if spec.identity_file else None,
            timeout=int(spec.connect_timeout),
            controlpersist=0,
            ssh_extra_args=" ".join(options),
        )


class AnsibleTransport(_TestinfraTransport):
    """A host of an existing Ansible inventory, reached as the inventory says (testinfra's ansible backend).

    testinfra reads the inventory with ``ansible-inventory`` and connects by
    the host's own variables (local, or ssh with its user, port and key), so
    commands do not go through Ansible modules.
    """

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name, spec)
        ansible_on_path()
        self._backend = get_backend(f"ansible://{spec.address}", ansible_inventory=str(spec.ansible_inventory))


def ansible_on_path() -> None:
    """testinfra calls ``ansible-inventory`` by name: make ours (beside this Python) findable."""
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
