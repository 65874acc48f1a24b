"""A ``-c`` configuration outside the release folders, as the real Flatnet runs its gateway
(``nginx.exe -c F:\\flatnet\\config\\nginx.conf``): the release swap never touches it, so it is backed
up on its own (the gateway's backup names it), put back before the previous release takes over, and
verified with the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from procedures.host import backups

if TYPE_CHECKING:
    from procedures.drivers.gateway import Gateway

COMPONENT = "gateway_config"  # not "gateway-…": backups.latest(…, "gateway") must never find it


def located(g: Gateway) -> tuple[str, list[str]] | None:
    """The ``-c`` file's folder and what of it to keep, when it is outside the release folders; else None."""
    args = list(g.c.nginx_args)
    if "-c" not in args[:-1]:
        return None
    conf, path = args[args.index("-c") + 1], g.host.files.path
    if not path.isabs(conf):
        return None  # relative to the prefix: inside the release, in backup_paths

    def normal(p: str) -> str:
        return str(path.normcase(path.normpath(p)))

    if any(normal(conf).startswith(normal(folder) + path.sep) for folder in (g.live, g.staging, g.old, g.failed)):
        return None
    folder = path.dirname(conf)
    kept = [path.basename(conf), *g.c.config_companions]
    return folder, [name for name in kept if g.exists(g.host.files.join(folder, name))]


def backup_of(g: Gateway, backup: backups.Backup) -> backups.Backup | None:
    """The ``-c`` configuration's backup that the gateway's ``backup`` names, if any."""
    path = backup.facts.get("config_backup")
    return backups.load(g.host, str(path)) if path else None


def restore(g: Gateway, backup: backups.Backup) -> None:
    """Put the ``-c`` configuration back as recorded (only what differs; nothing when there is none)."""
    if kept := backup_of(g, backup):
        backups.restore(g.host, kept, in_place=False)
