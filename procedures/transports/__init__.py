"""Transports run commands on a host and return a ``CommandResult``.

Registry of dotted paths (as testinfra's backends): a transport module is only
imported when an inventory names it, so optional dependencies stay optional.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from procedures.errors import ConfigError

if TYPE_CHECKING:
    from procedures.config.inventory import HostSpec
    from procedures.transports.base import Transport

TRANSPORTS: dict[str, str] = {
    "local": "procedures.transports.posix.LocalTransport",
    "ssh": "procedures.transports.posix.SshTransport",
    "winrm": "procedures.transports.winrm.WinRMTransport",
    "wsl": "procedures.transports.wsl.WslTransport",
    "ansible": "procedures.transports.posix.AnsibleTransport",
}


def get_transport(name: str, spec: HostSpec) -> Transport:
    try:
        dotted = TRANSPORTS[spec.transport]
    except KeyError:
        raise ConfigError(f"host {name!r}: transport {spec.transport!r} is not available here") from None
    module, _, cls = dotted.rpartition(".")
    transport_cls: type[Transport] = getattr(importlib.import_module(module), cls)
    return transport_cls(name, spec)
