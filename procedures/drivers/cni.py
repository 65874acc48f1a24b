"""The Flatnet CNI plugin: a binary and a conflist, checked the way CNI itself calls them.

``flatnet --version`` does not exist (the manual's check prints nothing useful):
a CNI plugin answers ``CNI_COMMAND=VERSION``. Its identity is that answer plus
the sha256 of the binary. The binary is installed atomically (copy beside,
fsync, rename over), because podman may exec it at any moment.
"""

from __future__ import annotations

import json
import posixpath
import secrets
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.errors import ConfigError, DriverError, VerificationFailed
from procedures.host import backups
from procedures.host.commands import CommandResult, sh

if TYPE_CHECKING:
    from procedures.config.inventory import CniComponent
    from procedures.host import Host


class CniPlugin:
    def __init__(self, host: Host, component: CniComponent) -> None:
        self.host = host
        self.c = component

    @property
    def binary(self) -> str:
        return posixpath.join(self.c.plugin_dir, self.c.plugin_name)

    @property
    def cni_path(self) -> str:
        return ":".join((self.c.plugin_dir, *self.c.extra_plugin_dirs))

    def podman(self, *args: str, purpose: str, check: bool = True) -> CommandResult:
        env = " ".join(sh(f"{k}={v}") for k, v in sorted(self.c.environment.items()))
        return self.host.run(f"{'env ' + env + ' ' if env else ''}podman {sh(*args)}", purpose=purpose, check=check)

    # -- facts ---------------------------------------------------------------------
    def identity(self, binary: str | None = None) -> dict[str, Any]:
        """sha256 of the binary and its ``CNI_COMMAND=VERSION`` answer (or why there is none)."""
        path = binary or self.binary
        digest = self.host.run(f"sha256sum {sh(path)} | cut -d' ' -f1", purpose="hash the plugin").stdout.strip()
        answer = self.host.run(f"echo '{{\"cniVersion\":\"1.0.0\"}}' | CNI_COMMAND=VERSION {sh(path)}",
                               purpose="ask the plugin its CNI versions (CNI_COMMAND=VERSION)", check=False)
        identity: dict[str, Any] = {"path": path, "sha256": digest}
        try:
            identity["version"] = json.loads(answer.stdout) if answer.rc == 0 else None
        except ValueError:
            identity["version"] = None
        if identity["version"] is None:
            identity["error"] = (answer.stderr or answer.stdout).strip()[:300] or f"exit {answer.rc}"
        return identity

    def containers_on_network(self) -> list[dict[str, str]]:
        """The manual's ``podman ps --filter network=flatnet``."""
        out = self.podman("ps", "--filter", f"network={self.c.network}", "--format", "json",
                          purpose=f"list the containers on {self.c.network}").stdout
        return [{"name": c["Names"][0], "id": c["Id"][:12], "image": c["Image"]} for c in json.loads(out or "[]")]

    def plugin_config(self, conflist: str | None = None) -> dict[str, Any]:
        """What CNI hands the first plugin on stdin: its own section plus the list's name and version."""
        data = self._read_conflist(conflist or self.c.conflist)
        return {**data["plugins"][0], "name": data["name"], "cniVersion": data["cniVersion"]}

    # -- operations ----------------------------------------------------------------
    def backup(self, facts: dict[str, Any]) -> backups.Backup:
        return backups.take(self.host, source="/", paths=[self.host.files.split_anchor(p)[1]
                                                          for p in (self.binary, self.c.conflist)],
                            backups_dir=self.c.backups_dir, component="cni", facts=facts)

    def install_binary(self, new: str) -> None:
        backups.install_atomically(self.host, new, self.binary)

    def check_conflist(self, path: str) -> dict[str, Any]:
        """It must parse, name this network, and name only plugin types that exist on the host."""
        data = self._read_conflist(path)
        if data.get("name") != self.c.network:
            raise ConfigError(f"{path}: network name is {data.get('name')!r}, expected {self.c.network!r}")
        for plugin in data["plugins"]:
            kind = plugin.get("type")
            found = self.host.run(
                " || ".join(f"test -x {sh(posixpath.join(d, str(kind)))}" for d in self.cni_path.split(":")),
                purpose=f"find plugin type {kind!r}", check=False)
            if not kind or found.rc != 0:
                raise ConfigError(f"{path}: plugin type {kind!r} is not installed in {self.cni_path}")
        return data

    def install_conflist(self, new: str) -> None:
        self.check_conflist(new)
        backups.install_atomically(self.host, new, self.c.conflist)

    def restore(self, backup: backups.Backup) -> None:
        backups.restore(self.host, backup, in_place=False)

    # -- verification --------------------------------------------------------------
    def ping_from_new_container(self) -> str:
        """The manual's check: a new container on the network pings the gateway."""
        out = self.podman("run", "--rm", "--network", self.c.network, self.c.test_image,
                          "ping", "-c", "3", "-W", "2", self.c.gateway_ip,
                          purpose="ping the gateway from a new container", check=False)
        if out.rc != 0:
            raise VerificationFailed(f"a new container on {self.c.network} cannot ping {self.c.gateway_ip}: "
                                     f"{(out.stderr or out.stdout).strip()[-300:]}")
        return out.stdout

    def add_check_del(self) -> dict[str, Any]:
        """ADD, CHECK and DEL straight through CNI, in a namespace made for it and always removed."""
        netns = f"fncheck-{secrets.token_hex(4)}"
        config = self.plugin_config()
        env = (f"CNI_PATH={sh(self.cni_path)} CNI_NETNS=/var/run/netns/{netns} CNI_IFNAME=eth0 "
               f"CNI_CONTAINERID={netns}")
        self.host.run(f"ip netns add {netns}", purpose="create a namespace for the CNI check")
        try:
            added = self._cni("ADD", env, config)
            result = json.loads(added.stdout)
            self._cni("CHECK", env, {**config, "prevResult": result})
            self._cni("DEL", env, {**config, "prevResult": result})
            record.data("CNI ADD/CHECK/DEL", {"netns": netns, "ADD result": result})
            return result  # type: ignore[no-any-return]
        finally:
            self._cni("DEL", env, config, check=False)
            self.host.run(f"ip netns del {netns}", purpose="remove the namespace", check=False)

    def _cni(self, command: str, env: str, config: dict[str, Any], check: bool = True) -> CommandResult:
        payload = json.dumps(config)
        out = self.host.run(f"printf %s {sh(payload)} | CNI_COMMAND={command} {env} {sh(self.binary)}",
                            purpose=f"CNI {command}", check=False)
        if check and out.rc != 0:
            raise VerificationFailed(f"CNI {command} failed (exit {out.rc}): {(out.stdout + out.stderr).strip()[:300]}")
        return out

    def _read_conflist(self, path: str) -> dict[str, Any]:
        text = self.host.run(f"cat {sh(path)}", purpose=f"read {path}").stdout
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not data.get("plugins") or not data.get("name"):
            raise ConfigError(f"{path}: a conflist needs 'name' and a non-empty 'plugins' list")
        if "cniVersion" not in data:
            raise DriverError(f"{path}: no cniVersion")
        return data
