"""Backups on the target host, each with a manifest of paths, sizes and sha256.

A backup is verified against its manifest right after it is taken and again
before anything is restored from it, so a corrupt backup is never used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.errors import BackupError
from procedures.run import parallel

if TYPE_CHECKING:
    from procedures.host import Host

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class FileEntry:
    size: int
    sha256: str
    mode: str = ""  # octal permission bits: a binary restored without its x bit is not restored


@dataclass(frozen=True)
class Backup:
    """A folder on the target plus what it must contain."""

    path: str
    component: str
    source: str
    taken_at: str
    paths: list[str]
    files: dict[str, FileEntry]
    facts: dict[str, Any] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        return asdict(self)

    def verify(self, host: Host) -> None:
        """Raise BackupError naming the first file whose content differs from the manifest."""
        actual = tree_digest(host, self.path, self.paths)
        mismatch = first_difference(self.files, actual)
        if mismatch:
            raise BackupError(f"backup {self.path} is corrupt: {mismatch}")


def tree_digest(host: Host, base: str, paths: list[str]) -> dict[str, FileEntry]:
    """Size, sha256 and mode of every regular file under ``paths`` (relative to ``base``)."""
    return {name: FileEntry(size, digest, mode) for size, digest, mode, name in host.files.listing(base, paths)}


def first_difference(expected: dict[str, FileEntry], actual: dict[str, FileEntry]) -> str | None:
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            return f"{name} is missing"
        if name not in expected:
            return f"{name} is not in the manifest"
        if expected[name].sha256 != actual[name].sha256:
            return f"{name} has sha256 {actual[name].sha256[:12]}…, expected {expected[name].sha256[:12]}…"
        if expected[name] != actual[name]:
            return f"{name} has mode {actual[name].mode}, expected {expected[name].mode}"
    return None


def take(host: Host, *, source: str, paths: list[str], backups_dir: str, component: str,
         facts: dict[str, Any]) -> Backup:
    """Copy ``paths`` out of ``source`` into a new timestamped folder and prove the copy."""
    now = datetime.now(UTC)
    dest = _new_folder(host, backups_dir, component, now)
    _, digest = parallel.run_all([lambda: host.files.copy_into(source, paths, dest),  # both only read the source
                                  lambda: tree_digest(host, source, paths)], concurrent=host.transport.concurrent)
    backup = Backup(dest, component, source, now.isoformat(timespec="seconds"), paths, digest, facts)
    host.after_changes(lambda: backup.verify(host), None)  # a withheld copy: the manifest says what it would hold
    host.files.write_text(host.files.join(dest, MANIFEST), json.dumps(backup.manifest(), indent=2))
    record.data(f"backup manifest {dest}", backup.manifest())
    return backup


def keep(host: Host, *, contents: dict[str, str], backups_dir: str, component: str,
         facts: dict[str, Any]) -> Backup:
    """A backup of content fetched from an API (dashboards): written, hashed, manifest last."""
    now = datetime.now(UTC)
    dest = _new_folder(host, backups_dir, component, now)
    host.files.make_dir(dest)
    for name, content in contents.items():
        host.files.write_text(host.files.join(dest, name), content)
    names = sorted(contents)
    would_be = {n: FileEntry(len(contents[n].encode()), hashlib.sha256(contents[n].encode()).hexdigest())
                for n in names}
    files = host.after_changes(lambda: tree_digest(host, dest, names), would_be)
    backup = Backup(dest, component, "api", now.isoformat(timespec="seconds"), names, files, facts)
    host.files.write_text(host.files.join(dest, MANIFEST), json.dumps(backup.manifest(), indent=2))
    record.data(f"backup manifest {dest}", backup.manifest())
    return backup


def read_all(host: Host, backup: Backup) -> dict[str, str]:
    """Every file's content, after the backup was verified once against its manifest."""
    backup.verify(host)
    return {name: host.files.read_text(host.files.join(backup.path, name)) for name in backup.paths}


def restore(host: Host, backup: Backup, *, in_place: bool) -> None:
    """Put back exactly the backed-up files under ``backup.source``: verified first, extras removed.

    ``in_place`` rewrites each file's content (bind mounts keep seeing it); otherwise each file
    is copied beside its target and renamed over it, so nobody ever runs a half-written file.
    """
    backup.verify(host)
    current = tree_digest(host, backup.source, backup.paths)
    for extra in sorted(set(current) - set(backup.files)):
        host.files.remove(host.files.join(backup.source, extra))
    for name in sorted(backup.files):
        if current.get(name) != backup.files[name]:
            host.files.copy_file(host.files.join(backup.path, name), host.files.join(backup.source, name),
                                 in_place=in_place)


def install_atomically(host: Host, src: str, dst: str) -> None:
    """Copy beside the target, flush it to disk, rename over: readers see the old file or the new one."""
    host.files.copy_file(src, dst, in_place=False)


def latest(host: Host, backups_dir: str, component: str) -> Backup:
    """The most recent backup of ``component`` that has a manifest."""
    found = host.files.newest(backups_dir, f"{component}-*/{MANIFEST}")
    if not found:
        raise BackupError(f"no {component} backup with a manifest under {backups_dir}")
    return load(host, host.files.path.dirname(found))


def all_of(host: Host, backups_dir: str, component: str) -> list[str]:
    """Every backup folder of ``component`` that has a manifest, oldest first."""
    return [host.files.path.dirname(m) for m in host.files.matching(backups_dir, f"{component}-*/{MANIFEST}")]


def prune(host: Host, backups_dir: str, component: str, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` backups (the plan's retention); returns what was removed."""
    found = all_of(host, backups_dir, component)
    removed = found[:-keep] if len(found) > keep else []
    for path in removed:
        host.files.remove(path)
    record.data(f"{component} backups pruned to the newest {keep}", {"removed": removed, "kept": found[-keep:]})
    return removed


def load(host: Host, path: str) -> Backup:
    raw = json.loads(host.files.read_text(host.files.join(path, MANIFEST)))
    raw["files"] = {name: FileEntry(**entry) for name, entry in raw["files"].items()}
    raw["path"] = path  # where it is now, even if an operator moved it
    return Backup(**raw)


def _new_folder(host: Host, backups_dir: str, component: str, now: datetime) -> str:
    return host.files.join(backups_dir, f"{component}-{now.strftime('%Y%m%d_%H%M%S_%f')}")
