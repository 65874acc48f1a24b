"""Backups on the target host, each with a manifest of paths, sizes and sha256.

A backup is verified against its manifest right after it is taken and again
before anything is restored from it, so a corrupt backup is never used.
"""

from __future__ import annotations

import base64
import json
import posixpath
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.commands import sh
from procedures.errors import BackupError

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
    """Size and sha256 of every regular file under ``paths`` (relative to ``base``)."""
    present = " ".join(sh(p) for p in paths)
    listing = host.run(
        f"cd {sh(base)} && for p in {present}; do [ -e \"$p\" ] && find \"$p\" -type f; done | LC_ALL=C sort"
        " | while IFS= read -r f; do printf '%s\\t%s\\t%s\\t%s\\n' \"$(stat -c %s \"$f\")\""
        " \"$(sha256sum < \"$f\" | cut -d' ' -f1)\" \"$(stat -c %a \"$f\")\" \"$f\"; done",
        purpose=f"hash the files under {base}",
    ).stdout
    files: dict[str, FileEntry] = {}
    for line in listing.splitlines():
        size, digest, mode, name = line.split("\t", 3)
        files[name] = FileEntry(int(size), digest, mode)
    return files


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
    dest = posixpath.join(backups_dir, f"{component}-{now.strftime('%Y%m%d_%H%M%S_%f')}")
    copies = " && ".join(f"mkdir -p {sh(posixpath.dirname(dest + '/' + p))} && cp -a {sh(p)} {sh(dest + '/' + p)}"
                         for p in paths)
    host.run(f"mkdir -p {sh(dest)} && cd {sh(source)} && {copies}", purpose="copy into the backup")
    backup = Backup(dest, component, source, now.isoformat(timespec="seconds"), paths,
                    tree_digest(host, source, paths), facts)
    backup.verify(host)
    _write(host, posixpath.join(dest, MANIFEST), json.dumps(backup.manifest(), indent=2))
    record.data(f"backup manifest {dest}", backup.manifest())
    return backup


def keep(host: Host, *, contents: dict[str, str], backups_dir: str, component: str,
         facts: dict[str, Any]) -> Backup:
    """A backup of content fetched from an API (dashboards): written, hashed, manifest last."""
    now = datetime.now(UTC)
    dest = _new_folder(backups_dir, component, now)
    host.run(f"mkdir -p {sh(dest)}", purpose="create the backup folder")
    for name, content in contents.items():
        _write(host, posixpath.join(dest, name), content)
    names = sorted(contents)
    backup = Backup(dest, component, "api", now.isoformat(timespec="seconds"), names,
                    tree_digest(host, dest, names), facts)
    _write(host, posixpath.join(dest, MANIFEST), json.dumps(backup.manifest(), indent=2))
    record.data(f"backup manifest {dest}", backup.manifest())
    return backup


def read(host: Host, backup: Backup, name: str) -> str:
    """One file's content, after the whole backup was verified against its manifest."""
    backup.verify(host)
    return host.run(f"cat {sh(posixpath.join(backup.path, name))}", purpose=f"read {name} from the backup").stdout


def restore(host: Host, backup: Backup, *, in_place: bool) -> None:
    """Put back exactly the backed-up files under ``backup.source``: verified first, extras removed.

    ``in_place`` rewrites each file's content (bind mounts keep seeing it); otherwise each file
    is copied beside its target and renamed over it, so nobody ever runs a half-written file.
    """
    backup.verify(host)
    current = tree_digest(host, backup.source, backup.paths)
    for extra in sorted(set(current) - set(backup.files)):
        host.run(f"rm -f {sh(posixpath.join(backup.source, extra))}", purpose=f"remove {extra}")
    for name in sorted(backup.files):
        if current.get(name) == backup.files[name]:
            continue
        src, dst = posixpath.join(backup.path, name), posixpath.join(backup.source, name)
        if in_place:
            host.run(f"cp -p {sh(src)} {sh(dst)}", purpose=f"restore {name}")
        else:
            install_atomically(host, src, dst, purpose=f"restore {name}")


def install_atomically(host: Host, src: str, dst: str, *, purpose: str) -> None:
    """Copy beside the target, flush it to disk, rename over: readers see the old file or the new one."""
    tmp = posixpath.join(posixpath.dirname(dst), f".{posixpath.basename(dst)}.new")
    host.run(f"cp -p {sh(src)} {sh(tmp)} && sync {sh(tmp)} && mv -f {sh(tmp)} {sh(dst)}", purpose=purpose)


def latest(host: Host, backups_dir: str, component: str) -> Backup:
    """The most recent backup of ``component`` that has a manifest."""
    found = host.run(
        f"ls -1d {sh(backups_dir)}/{component}-*/{MANIFEST} 2>/dev/null | LC_ALL=C sort | tail -n 1",
        purpose="find the latest backup",
    ).stdout.strip()
    if not found:
        raise BackupError(f"no {component} backup with a manifest under {backups_dir}")
    return load(host, posixpath.dirname(found))


def load(host: Host, path: str) -> Backup:
    raw = json.loads(host.run(f"cat {sh(posixpath.join(path, MANIFEST))}", purpose="read the backup manifest").stdout)
    raw["files"] = {name: FileEntry(**entry) for name, entry in raw["files"].items()}
    raw["path"] = path  # where it is now, even if an operator moved it
    return Backup(**raw)


def _new_folder(backups_dir: str, component: str, now: datetime) -> str:
    return posixpath.join(backups_dir, f"{component}-{now.strftime('%Y%m%d_%H%M%S_%f')}")


def _write(host: Host, path: str, content: str) -> None:
    encoded = base64.b64encode(content.encode()).decode()
    host.run(f"printf %s {encoded} | base64 -d > {sh(path)}", purpose=f"write {path}")
