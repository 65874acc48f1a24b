"""Windows hosts over WinRM (pywinrm), running PowerShell scripts.

pywinrm's own ``run_ps`` has no deadline (it retries operation timeouts forever),
no ``-NoProfile``, and the OEM code page; so the protocol is driven directly:

- a UTF-8 shell (code page 65001) per command, and ``Signal`` + ``Delete`` in ``finally``;
- ``powershell.exe -NoProfile -NonInteractive -EncodedCommand`` (UTF-16LE, base64);
- a real deadline: short ``Receive`` operation timeouts in a loop bounded by ``timeout``;
- scripts that would not fit cmd.exe's command line are refused (``ScriptTooLong``);
- success by exit code; PowerShell's CLIXML progress noise on stderr is decoded away.

The password comes from the environment variable the inventory names and is kept
out of reprs, logs and errors.
"""

from __future__ import annotations

import base64
import contextlib
import time
from typing import TYPE_CHECKING, Any

from procedures.errors import CommandTimeout, ConfigError, ScriptTooLong, TransportError
from procedures.host.commands import CommandResult
from procedures.host.powershell import COMMAND_LINE_LIMIT, LAUNCHER, strip_clixml
from procedures.record.secrets import Secret, register_basic_auth
from procedures.transports.base import Transport

if TYPE_CHECKING:
    from procedures.config.inventory import HostSpec

import requests
from winrm.exceptions import WinRMError, WinRMOperationTimeoutError
from winrm.protocol import Protocol


class WinRMTransport(Transport):
    concurrent = False

    def __init__(self, name: str, spec: HostSpec) -> None:
        super().__init__(name, spec)
        if spec.auth != "certificate" and not spec.password_env:
            raise ConfigError(f"host {name!r}: WinRM {spec.auth} authentication needs password_env")
        self._password = Secret.from_env(spec.password_env) if spec.password_env else None
        if self._password is not None and spec.user:
            register_basic_auth(spec.user, self._password.reveal())
        port = spec.port or (5986 if spec.scheme == "https" else 5985)
        self.endpoint = f"{spec.scheme}://{spec.address}:{port}/wsman"

    def _protocol(self) -> Any:
        spec = self.spec
        return Protocol(
            self.endpoint,
            transport="ssl" if spec.auth == "basic" and spec.scheme == "https" else spec.auth,
            username=spec.user,
            password=self._password.reveal() if self._password else None,
            server_cert_validation="validate",
            # None: never a CA bundle from the environment (pywinrm's "legacy_requests" default)
            ca_trust_path=str(spec.ca_trust_path) if spec.ca_trust_path else None,  # type: ignore[arg-type]
            cert_pem=str(spec.client_cert) if spec.client_cert else None,
            cert_key_pem=str(spec.client_key) if spec.client_key else None,
            operation_timeout_sec=int(spec.operation_timeout),
            read_timeout_sec=int(spec.operation_timeout) + 10,
        )

    def run(self, command: str, *, timeout: float) -> CommandResult:
        line = LAUNCHER + base64.b64encode(command.encode("utf-16-le")).decode()
        if len(line) > COMMAND_LINE_LIMIT:
            raise ScriptTooLong(f"{self.name}: the script needs a {len(line)}-character command line; "
                                f"Windows allows {COMMAND_LINE_LIMIT}")
        started = time.monotonic()
        deadline = started + timeout
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        try:
            protocol = self._protocol()
            shell = protocol.open_shell(codepage=65001, noprofile=True)
            try:
                command_id = protocol.run_command(shell, line)
                try:
                    rc = self._receive(protocol, shell, command_id, deadline, stdout, stderr, command, timeout)
                finally:
                    _quietly(protocol.cleanup_command, shell, command_id)
            finally:
                _quietly(protocol.close_shell, shell)
        except (WinRMError, requests.RequestException, OSError, ValueError) as exc:
            # "from None": the foreign traceback's locals would show the credentials under pytest -l
            raise TransportError(f"{self.name}: WinRM failed: {type(exc).__name__}: "
                                 f"{_clean(exc, self._password)}") from None
        return CommandResult(command, rc, b"".join(stdout).decode("utf-8", "replace"),
                             strip_clixml(b"".join(stderr).decode("utf-8", "replace")),
                             time.monotonic() - started, self.name)

    def _receive(self, protocol: Any, shell: str, command_id: str, deadline: float, stdout: list[bytes],
                 stderr: list[bytes], command: str, timeout: float) -> int:
        while True:
            if time.monotonic() > deadline:
                raise CommandTimeout(f"{self.name}: the script did not finish within {timeout:g}s; abandoned "
                                     "(the remote process was signalled and the shell deleted)")
            try:
                out, err, rc, done = protocol.get_command_output_raw(shell, command_id)
            except WinRMOperationTimeoutError:
                continue
            stdout.append(out)
            stderr.append(err)
            if done:
                return int(rc)

    def __repr__(self) -> str:
        return f"WinRMTransport({self.name!r}, {self.endpoint!r}, auth={self.spec.auth})"


def _quietly(call: Any, *args: Any) -> None:
    with contextlib.suppress(Exception):  # cleanup after the fact must not mask the real outcome
        call(*args)


def _clean(exc: BaseException, password: Secret | None) -> str:
    text = str(exc)
    return text.replace(password.reveal(), "••••••") if password else text
