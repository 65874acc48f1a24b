"""File operations on a target host, per operating system (``host.files``).

Drivers and backups say *what* to do with files; this module says how on POSIX
(sh + coreutils) and on Windows (PowerShell). Paths inside manifests always use
``/``, so a manifest reads the same whatever host wrote it.
"""

from __future__ import annotations

import base64
import hashlib
import ntpath
import posixpath
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procedures import record
from procedures.host import powershell as ps
from procedures.host.commands import sh

if TYPE_CHECKING:
    from procedures.host import Host

Listing = list[tuple[int, str, str, str]]  # size, sha256, mode, relative name


class Files(ABC):
    path: Any = posixpath

    def __init__(self, host: Host) -> None:
        self.host = host

    def join(self, *parts: str) -> str:
        return str(self.path.join(*parts))

    def split_anchor(self, target: str) -> tuple[str, str]:
        """``/opt/cni/bin/flatnet`` → ``("/", "opt/cni/bin/flatnet")``; ``F:\\x\\y`` → ``("F:\\", "x\\y")``."""
        drive, rest = self.path.splitdrive(target)
        return drive + self.path.sep, rest.lstrip(self.path.sep)

    def run(self, script: str, purpose: str, check: bool = True) -> str:
        return self.host.run(script, purpose=purpose, check=check).stdout

    def change(self, script: str, purpose: str) -> str:
        """An operation: it alters the target (a dry run withholds it)."""
        return self.host.run(script, purpose=purpose, change=True).stdout

    # each flavor implements these
    @abstractmethod
    def exists(self, target: str) -> bool: ...

    @abstractmethod
    def make_dir(self, target: str) -> None: ...
    @abstractmethod
    def listing(self, base: str, paths: list[str]) -> Listing: ...
    @abstractmethod
    def copy_into(self, base: str, paths: list[str], dest: str) -> None: ...
    @abstractmethod
    def replace_tree(self, src: str, dst: str) -> None: ...
    @abstractmethod
    def merge_into(self, src: str, dst: str) -> None: ...
    @abstractmethod
    def move(self, src: str, dst: str) -> None: ...
    @abstractmethod
    def remove(self, target: str) -> None: ...
    @abstractmethod
    def write_text(self, target: str, text: str) -> None: ...
    @abstractmethod
    def read_text(self, target: str) -> str: ...
    @abstractmethod
    def copy_file(self, src: str, dst: str, *, in_place: bool) -> None: ...
    @abstractmethod
    def matching(self, folder: str, pattern: str) -> list[str]:
        """Paths in ``folder`` matching the glob ``pattern``, in name order (backups: oldest first)."""

    def newest(self, folder: str, pattern: str) -> str | None:
        found = self.matching(folder, pattern)
        return found[-1] if found else None
    @abstractmethod
    def size(self, target: str) -> int:
        """Bytes in ``target``, 0 when it does not exist (a log not written yet)."""
    @abstractmethod
    def read_from(self, target: str, offset: int) -> str:
        """The text after ``offset``: what a log gained since it was measured."""


class PosixFiles(Files):
    def make_dir(self, target: str) -> None:
        self.change(f"mkdir -p {sh(target)}", f"create {target}")

    def exists(self, target: str) -> bool:
        return self.host.run(f"test -e {sh(target)}", check=False, purpose=f"check whether {target} exists").rc == 0

    def listing(self, base: str, paths: list[str]) -> Listing:
        present = " ".join(sh(p) for p in paths)
        out = self.run(
            f"cd {sh(base)} && for p in {present}; do [ -e \"$p\" ] && find \"$p\" -type f; done | LC_ALL=C sort"
            " | while IFS= read -r f; do printf '%s\\t%s\\t%s\\t%s\\n' \"$(stat -c %s \"$f\")\""
            " \"$(sha256sum < \"$f\" | cut -d' ' -f1)\" \"$(stat -c %a \"$f\")\" \"$f\"; done",
            f"hash the files under {base}")
        return [_row(line) for line in out.splitlines()]

    def copy_into(self, base: str, paths: list[str], dest: str) -> None:
        copies = "".join(f" && mkdir -p {sh(posixpath.dirname(dest + '/' + p))} && cp -a {sh(p)} {sh(dest + '/' + p)}"
                         for p in paths)
        self.change(f"mkdir -p {sh(dest)} && cd {sh(base)}{copies}", "copy into the backup")

    def replace_tree(self, src: str, dst: str) -> None:
        self.change(f"rm -rf {sh(dst)} && cp -a {sh(src)} {sh(dst)}", f"lay out {src} as {dst}")

    def merge_into(self, src: str, dst: str) -> None:
        self.change(f"if [ -d {sh(src)} ]; then mkdir -p {sh(dst)} && cp -a {sh(src)}/. {sh(dst)}/; "
                 f"else mkdir -p {sh(posixpath.dirname(dst))} && cp -a {sh(src)} {sh(dst)}; fi",
                 f"copy {src} into {dst}")

    def move(self, src: str, dst: str) -> None:
        self.change(f"mv {sh(src)} {sh(dst)}", f"move {src} to {dst}")

    def remove(self, target: str) -> None:
        self.change(f"rm -rf {sh(target)}", f"remove {target}")

    def write_text(self, target: str, text: str) -> None:
        encoded = base64.b64encode(text.encode()).decode()
        self.change(f"printf %s {encoded} | base64 -d > {sh(target)}", f"write {target}")

    def read_text(self, target: str) -> str:
        return self.run(f"cat {sh(target)}", f"read {target}")

    def copy_file(self, src: str, dst: str, *, in_place: bool) -> None:
        """In place keeps the inode (bind mounts see it); otherwise copy beside, fsync, rename over."""
        if in_place:
            self.change(f"cp -p {sh(src)} {sh(dst)}", f"restore {dst}")
            return
        tmp = posixpath.join(posixpath.dirname(dst), f".{posixpath.basename(dst)}.new")
        self.change(f"cp -p {sh(src)} {sh(tmp)} && sync {sh(tmp)} && mv -f {sh(tmp)} {sh(dst)}", f"install {dst}")

    def matching(self, folder: str, pattern: str) -> list[str]:
        found = self.run(f"ls -1d {sh(folder)}/{pattern} 2>/dev/null | LC_ALL=C sort", f"list {pattern}", check=False)
        return found.splitlines()

    def size(self, target: str) -> int:
        return int(self.run(f"stat -c %s {sh(target)} 2>/dev/null || echo 0", f"measure {target}").strip() or 0)

    def read_from(self, target: str, offset: int) -> str:
        return self.run(f"tail -c +{offset + 1} {sh(target)}", f"read {target} from byte {offset}")


class WindowsFiles(Files):
    path = ntpath

    def join(self, *parts: str) -> str:
        """Manifest names use ``/``; Windows paths get ``\\`` throughout."""
        return ntpath.join(*parts).replace("/", "\\")

    def make_dir(self, target: str) -> None:
        self.change(ps.script(ps.make_dir(target)),
                 f"create {target}")

    def exists(self, target: str) -> bool:
        out = self.run(ps.script(f"Test-Path -LiteralPath {ps.quote(target)}"), f"check whether {target} exists")
        return out.strip() == "True"

    def listing(self, base: str, paths: list[str]) -> Listing:
        if (local := self.host.local_path(base)) is not None:
            return _listed_locally(base, local, paths)
        items = ", ".join(ps.quote(p.replace("/", "\\")) for p in paths)
        out = self.run(ps.script(
            f"$base = {ps.quote(base.rstrip(chr(92)))}",
            f"foreach ($p in @({items})) {{",
            "  $full = Join-Path $base $p",
            "  if (Test-Path -LiteralPath $full) {",
            "    Get-ChildItem -LiteralPath $full -Recurse -File -Force | Sort-Object FullName | ForEach-Object {",
            "      $hash = (Get-FileHash -LiteralPath $_.FullName -Algorithm SHA256).Hash.ToLower()",
            "      $name = $_.FullName.Substring($base.Length + 1).Replace('\\', '/')",
            "      \"{0}`t{1}`t`t{2}\" -f $_.Length, $hash, $name",
            "    }",
            "  }",
            "}"), f"hash the files under {base}")
        return [_row(line) for line in out.splitlines() if line.strip()]

    def copy_into(self, base: str, paths: list[str], dest: str) -> None:
        steps = [ps.make_dir(dest)]
        for p in paths:
            target = ntpath.join(dest, p.replace("/", "\\"))
            steps += [ps.make_dir(ntpath.dirname(target)),
                      f"Copy-Item -LiteralPath {ps.quote(ntpath.join(base, p))} -Destination {ps.quote(target)}"
                      " -Recurse -Force"]
        self.change(ps.script(*steps), "copy into the backup")

    def replace_tree(self, src: str, dst: str) -> None:
        self.remove(dst)
        self.change(ps.script(
            f"Copy-Item -LiteralPath {ps.quote(src)} -Destination {ps.quote(dst)} -Recurse -Force"),
            f"lay out {src} as {dst}")

    def merge_into(self, src: str, dst: str) -> None:
        self.change(ps.script(
            ps.make_dir(dst),
            f"Get-ChildItem -LiteralPath {ps.quote(src)} -Force | "
            f"Copy-Item -Destination {ps.quote(dst)} -Recurse -Force"), f"copy {src} into {dst}")

    def move(self, src: str, dst: str) -> None:
        self.change(ps.script(ps.rename(src, ntpath.basename(dst))), f"rename {src} to {dst}")

    def remove(self, target: str) -> None:
        self.change(ps.script(f"if (Test-Path -LiteralPath {ps.quote(target)}) "
                           f"{{ Remove-Item -LiteralPath {ps.quote(target)} -Recurse -Force }}"), f"remove {target}")

    def write_text(self, target: str, text: str) -> None:
        encoded = base64.b64encode(text.encode()).decode()
        self.change(ps.script(f"[IO.File]::WriteAllBytes({ps.quote(target)}, "
                           f"[Convert]::FromBase64String({ps.quote(encoded)}))"), f"write {target}")

    def read_text(self, target: str) -> str:
        return self.run(ps.script(f"[IO.File]::ReadAllText({ps.quote(target)})"), f"read {target}")

    def copy_file(self, src: str, dst: str, *, in_place: bool) -> None:
        tmp = dst + ".new"
        self.change(ps.script(f"Copy-Item -LiteralPath {ps.quote(src)} -Destination {ps.quote(tmp)} -Force",
                           f"Move-Item -LiteralPath {ps.quote(tmp)} -Destination {ps.quote(dst)} -Force"),
                 f"install {dst}")

    def matching(self, folder: str, pattern: str) -> list[str]:
        # the folder literally (brackets in it are no wildcard), the pattern as one (it may span folders)
        literal = f"[WildcardPattern]::Escape({ps.quote(folder.rstrip(chr(92)))})"
        wanted = f"({literal} + {ps.quote(chr(92) + pattern.replace('/', chr(92)))})"
        out = self.run(ps.script(f"Get-ChildItem -Path {wanted} | "
                                 "Sort-Object FullName | Select-Object -ExpandProperty FullName"), f"list {pattern}")
        return out.splitlines()

    def size(self, target: str) -> int:
        return int(self.run(ps.script(f"if (Test-Path -LiteralPath {ps.quote(target)}) "
                                      f"{{ (Get-Item -LiteralPath {ps.quote(target)}).Length }} else {{ 0 }}"),
                            f"measure {target}").strip() or 0)

    def read_from(self, target: str, offset: int) -> str:
        """Shared read: the service keeps its log open for writing."""
        if (local := self.host.local_path(target)) is not None:
            with local.open("rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", "replace")
            record.text(f"read {target} from byte {offset} (in WSL2: {local})", text[-20000:])
            return text
        return self.run(ps.script(f"$s = [IO.File]::Open({ps.quote(target)}, 'Open', 'Read', 'ReadWrite')",
                                  f"[void]$s.Seek({offset}, 'Begin')",
                                  "(New-Object IO.StreamReader($s)).ReadToEnd()",
                                  "$s.Close()"), f"read {target} from byte {offset}")


def _listed_locally(base: str, local: Path, paths: list[str]) -> Listing:
    """What the PowerShell listing answers (Get-ChildItem -Recurse -File, Get-FileHash), read through WSL's mount."""
    rows: Listing = []
    for name in paths:
        top = local.joinpath(*name.replace("\\", "/").split("/"))
        found = [top] if top.is_file() else sorted((f for f in top.rglob("*") if f.is_file()),
                                                    key=lambda f: str(f).lower())
        for file in found:
            rows.append((file.stat().st_size, hashlib.sha256(file.read_bytes()).hexdigest(), "",
                         file.relative_to(local).as_posix()))
    record.data(f"hash the files under {base} (in WSL2: {local})", [list(row) for row in rows])
    return rows


def _row(line: str) -> tuple[int, str, str, str]:
    size, digest, mode, name = line.split("\t", 3)
    return int(size), digest, mode, name


def files_for(host: Host) -> Files:
    return WindowsFiles(host) if host.os == "windows" else PosixFiles(host)
