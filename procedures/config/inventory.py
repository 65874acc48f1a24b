"""The inventory: what exists (hosts, how to reach them, where each component lives), validated
completely before any action runs. Credentials appear only as names of environment variables
(``*_env`` fields), never as values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from procedures.config.base import AbsolutePath, EnvName, Port, Seconds, Strict, describe, load

OS = Literal["posix", "windows"]
WINDOWS_TRANSPORTS = frozenset({"winrm", "wsl"})  # the transports that speak PowerShell to a Windows host


class HostSpec(Strict):
    """How to reach one machine."""

    transport: Literal["local", "ssh", "winrm", "wsl", "ansible"]
    address: str = "127.0.0.1"
    port: Port | None = None
    user: str | None = None
    identity_file: Path | None = None
    known_hosts_file: Path | None = None
    password_env: EnvName | None = None
    connect_timeout: Seconds = 10
    command_timeout: Seconds = 120
    lock_dir: AbsolutePath | None = None  # where the maintenance lock lives (default: F:\flatnet, /var/lib/flatnet)
    ansible_inventory: Path | None = None  # ansible only: the inventory that says how to reach ``address``
    # wsl only: the PowerShell that WSL interop runs (powershell.exe, or pwsh.exe for PowerShell 7)
    powershell: str = "powershell.exe"
    # WinRM only
    scheme: Literal["https", "http"] = "https"
    auth: Literal["ntlm", "kerberos", "basic", "certificate"] = "ntlm"
    ca_trust_path: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    operation_timeout: Seconds = 5

    @property
    def os(self) -> OS:
        """The one place that tells a Windows host: drivers, files, services and the lock ask the host for it."""
        return "windows" if self.transport in WINDOWS_TRANSPORTS else "posix"

    @model_validator(mode="after")
    def _remote_needs_user(self) -> HostSpec:
        if (self.transport == "ansible") != (self.ansible_inventory is not None):
            raise ValueError("'ansible_inventory' goes with transport ansible, and only with it")
        if self.transport not in ("local", "ansible", "wsl") and not self.user:
            raise ValueError(f"a {self.transport} host needs 'user'")
        return self


class HealthCheck(Strict):
    """An HTTP endpoint that proves a component serves."""

    url: HttpUrl
    version_field: str | None = None
    token_env: EnvName | None = None
    timeout: Seconds = 5


class GatewayTimeouts(Strict):
    stop: Seconds = 15
    start: Seconds = 15
    healthy: Seconds = 15
    drain: Seconds = 2  # a master let go (QUIT) may finish its connections this long, then it is stopped


class GatewayProbe(Strict):
    """The bounded prober that counts the requests a hand-over drops (new connection per request)."""

    enabled: bool = True
    rate: float = Field(default=400, gt=0, le=2000)  # requests per second, at most


MANUAL_ROOT = "F:\\flatnet"  # the manual's Windows layout, the default for Windows flavors


class GatewayComponent(Strict):
    """An OpenResty gateway laid out as in the manual: live, staged, old and failed folders.

    ``flavor: windows`` defaults to the manual's layout (``F:\\flatnet``, ``nginx.exe``, no luajit).
    """

    @model_validator(mode="before")
    @classmethod
    def _windows_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("flavor") == "windows":
            data = {"root": MANUAL_ROOT, "binary": "nginx.exe", "lua_check": None, "handover": "stop-start", **data}
        return data

    host: str
    flavor: Literal["posix", "windows"] = "posix"
    root: AbsolutePath
    install_dir: str = "openresty"
    staging_dir: str = "openresty-new"
    old_dir: str = "openresty-old"
    failed_dir: str = "openresty-failed"
    backups_dir: str = "backups"
    binary: str = "nginx"
    nginx_args: tuple[str, ...] = ()
    pid_file: str = "logs/nginx.pid"
    error_log: str = "logs/error.log"  # relative to root, like pid_file
    backup_paths: tuple[str, ...] = ("conf", "lualib")
    # With ``-c`` naming a file outside the release folders (Flatnet: F:\\flatnet\\config\\nginx.conf): what beside
    # that file belongs to the configuration. It is backed up, restored and verified with the gateway.
    config_companions: tuple[str, ...] = ("conf.d", "lualib")
    site_config: tuple[str, ...] = ("conf", "lualib")
    lua_check: str | None = "luajit -bl"
    front: HealthCheck
    health: HealthCheck
    timeouts: GatewayTimeouts = GatewayTimeouts()
    # binary-upgrade: nginx's USR2/WINCH/QUIT, no request refused (POSIX only).
    # stop-start: the manual's method, the only one on Windows.
    handover: Literal["binary-upgrade", "stop-start"] = "binary-upgrade"
    probe: GatewayProbe = GatewayProbe()
    # A verification passes only when the release answered right this many checks in a row (never one lucky answer).
    consistent_answers: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _handover_fits_flavor(self) -> GatewayComponent:
        if self.handover == "binary-upgrade" and self.flavor == "windows":
            raise ValueError("handover: nginx on Windows has no binary upgrade; use stop-start")
        return self

    @field_validator("install_dir", "staging_dir", "old_dir", "failed_dir", "backups_dir")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value or value in {".", ".."}:
            raise ValueError(f"must be a folder name inside root, got {value!r}")
        return value

    @field_validator("backup_paths", "site_config")
    @classmethod
    def _relative(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if PurePosixPath(item).is_absolute() or ".." in PurePosixPath(item).parts:
                raise ValueError(f"paths are relative to the install folder, got {item!r}")
        return value


class ContainerService(Strict):
    """A compose service with an HTTP API (Prometheus, Alertmanager)."""

    container: str
    url: HttpUrl
    ready_path: str = "/-/ready"


class GrafanaService(Strict):
    url: HttpUrl
    user: str = "admin"
    password_env: EnvName | None = None
    token_env: EnvName | None = None

    @model_validator(mode="after")
    def _some_credential(self) -> GrafanaService:
        if not (self.password_env or self.token_env):
            raise ValueError("Grafana needs password_env or token_env")
        return self


class LokiService(Strict):
    url: HttpUrl
    ready_path: str = "/ready"


class MonitoringTimeouts(Strict):
    ready: Seconds = 120
    compose: Seconds = 300


class MonitoringComponent(Strict):
    """Flatnet's podman-compose monitoring stack."""

    host: str
    compose_dir: AbsolutePath
    compose_file: str = "podman-compose.yml"
    compose_project: str | None = None
    compose_command: str = "podman-compose"
    environment: dict[EnvName, str] = {}
    backups_dir: AbsolutePath
    config_paths: tuple[str, ...] = ("prometheus", "alertmanager")
    prometheus: ContainerService
    alertmanager: ContainerService
    grafana: GrafanaService | None = None
    loki: LokiService | None = None
    timeouts: MonitoringTimeouts = MonitoringTimeouts()


class CniComponent(Strict):
    """The Flatnet CNI plugin binary and its conflist (production: /opt/cni/bin, /etc/cni/net.d)."""

    host: str
    plugin_dir: AbsolutePath = "/opt/cni/bin"
    plugin_name: str = "flatnet"
    conflist: AbsolutePath = "/etc/cni/net.d/10-flatnet.conflist"
    extra_plugin_dirs: tuple[str, ...] = ("/usr/lib/cni",)
    network: str = "flatnet"
    gateway_ip: str = "10.87.1.1"
    test_image: str = "docker.io/library/alpine:latest"
    environment: dict[EnvName, str] = {}
    backups_dir: AbsolutePath


class ServiceSpec(Strict):
    """How the host runs a service: a Windows service, systemd, or runit (the lab)."""

    manager: Literal["windows", "systemd", "runit"]
    name: str
    timeout: Seconds = 30


class NebulaComponent(Strict):
    """A Nebula node run as a service. With ``service.manager: windows`` every path defaults to
    the manual's layout (``F:\\flatnet\\nebula``, ``F:\\flatnet\\config\\nebula``, service ``Nebula``)."""

    @model_validator(mode="before")
    @classmethod
    def _windows_defaults(cls, data: Any) -> Any:
        service = data.get("service") if isinstance(data, dict) else None
        if isinstance(service, dict) and service.get("manager") == "windows":
            root = MANUAL_ROOT
            data = {"bin_dir": f"{root}\\nebula", "config": f"{root}\\config\\nebula\\config.yaml",
                    "cert": f"{root}\\config\\nebula\\host.crt", "ca_dir": f"{root}\\pki",
                    "backups_dir": f"{root}\\backups", "log": f"{root}\\logs\\nebula.log",
                    **data, "service": {"name": "Nebula", **service}}
        return data

    host: str
    bin_dir: AbsolutePath
    binaries: tuple[str, ...] = ("nebula", "nebula-cert")
    config: AbsolutePath
    cert: AbsolutePath
    ca_dir: AbsolutePath | None = None  # where ca.key lives (upstream backups miss it): backed up too when named
    backups_dir: AbsolutePath
    log: AbsolutePath
    service: ServiceSpec
    lighthouse_ip: str = "10.100.0.1"
    tcp_check_url: HttpUrl | None = None
    overlay_exec_prefix: str = ""
    ping_command: str = "ping -c 1 -W 1"
    http_get_command: str = "curl -fsS -m 2"
    overlay_wait: Seconds = 20
    cert_min_days: Annotated[int, Field(ge=0)] = 30


class AnsibleSource(Strict):
    """Fleet members from an Ansible inventory a team already keeps: the hosts of ``group``.

    Each host is reached as Ansible would (testinfra's ansible backend), and its
    ``flatnet_gateway`` variable, a mapping, overrides the fleet's defaults.
    """

    inventory: Path
    group: str = "all"
    lock_dir: AbsolutePath | None = None  # where the maintenance lock lives on its hosts


class GatewayFleet(Strict):
    """Many gateways updated as a rolling update: listed ``members``, or the hosts of an Ansible group.

    A member is a gateway component: the ``defaults`` with the member's own
    values over them (``host`` names an entry under ``hosts``).
    """

    defaults: dict[str, Any] = {}
    members: dict[str, dict[str, Any]] = {}
    ansible: AnsibleSource | None = None

    @model_validator(mode="after")
    def _members_are_gateways(self) -> GatewayFleet:
        if bool(self.members) == bool(self.ansible):
            raise ValueError("list 'members' or name an 'ansible' inventory, exactly one of them")
        for name, overrides in self.members.items():
            try:
                self.component(overrides)
            except ValidationError as exc:
                raise ValueError(f"member {name!r}: " + "; ".join(line.strip() for line in describe(exc).splitlines())
                                 ) from None
        return self

    def component(self, overrides: dict[str, Any]) -> GatewayComponent:
        """A member: the defaults with its own values over them, mapping by mapping."""
        return GatewayComponent.model_validate(_merged(self.defaults, overrides))


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, mapping by mapping (a member's ``front.url`` keeps the default ``front`` rest)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class Components(Strict):
    gateway: GatewayComponent | None = None
    monitoring: MonitoringComponent | None = None
    cni: CniComponent | None = None
    nebula: NebulaComponent | None = None
    gateway_fleet: GatewayFleet | None = None

    def single(self) -> Iterator[tuple[str, Any]]:
        """The components that live on one host each (not the fleet), as (name, component)."""
        for name, component in self:
            if component is not None and name != "gateway_fleet":
                yield name, component


class Inventory(Strict):
    """Every host and component a procedure may touch."""

    name: str = "flatnet"
    hosts: dict[str, HostSpec]
    components: Components

    @model_validator(mode="after")
    def _hosts_exist(self) -> Inventory:
        for name, component in self.components.single():
            if component.host not in self.hosts:
                known = ", ".join(sorted(self.hosts)) or "none"
                raise ValueError(
                    f"components.{name}.host names {component.host!r}, which is not under hosts (known: {known})"
                )
            spec = self.hosts[component.host]
            if _os_of(component) != spec.os:
                raise ValueError(f"components.{name} is set up for {_os_of(component)}, but its host "
                                 f"{component.host!r} is a {spec.os} host (transport {spec.transport}): "
                                 "make the component's flavor (or service manager) match its host")
        fleet = self.components.gateway_fleet
        if fleet is not None:
            for member, overrides in fleet.members.items():
                host = (fleet.defaults | overrides).get("host")
                if host not in self.hosts:
                    raise ValueError(f"components.gateway_fleet.members.{member}.host names {host!r}, "
                                     "which is not under hosts")
        return self


def _os_of(component: Any) -> OS:
    """The OS a component's settings are written for: the gateway's flavor, Nebula's service manager."""
    if isinstance(component, GatewayComponent):
        return component.flavor
    if isinstance(component, NebulaComponent):
        return "windows" if component.service.manager == "windows" else "posix"
    return "posix"  # the CNI plugin and the monitoring stack live in WSL2


def load_inventory(path: Path) -> Inventory:
    return load(path, Inventory)
