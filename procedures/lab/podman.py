"""Podman for the lab: its own configuration, storage, registry and images.

Everything is set through ``CONTAINERS_CONF`` and friends, so nothing under
/etc changes. Images are built offline from Debian's binaries on a static
busybox root, and pushed to a local ``docker-registry`` under two tags each,
so that an image update is a real tag change and a real pull.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from procedures.errors import LabError
from procedures.lab.processes import free_ports, terminate
from procedures.lab.templates import render

BUSYBOX_APPLETS = ("sh", "wget", "ping", "cat", "ls", "sleep", "echo", "grep", "ip", "nc", "true", "false")
LIBS = ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2")


@dataclass(frozen=True)
class ImageSpec:
    """A lab image: Debian binaries on busybox, tagged ``<debian version>-lab.<n>``."""

    repository: str  # e.g. prom/prometheus
    binaries: tuple[str, ...]
    entrypoint: str
    version: str
    data: tuple[str, ...] = ()  # folders the binaries read at run time

    def tag(self, build: int) -> str:
        return f"{self.version}-lab.{build}"


PROMETHEUS = ImageSpec("prom/prometheus", ("/usr/bin/prometheus", "/usr/bin/promtool"),
                       "/usr/bin/prometheus", "2.42.0")
ALERTMANAGER = ImageSpec("prom/alertmanager", ("/usr/bin/prometheus-alertmanager", "/usr/bin/amtool"),
                         "/usr/bin/prometheus-alertmanager", "0.25.0", ("/usr/share/prometheus/alertmanager",))
BUSYBOX = ImageSpec("library/busybox", (), "/bin/sh", "1.35.0")
# The images the compose file names for Grafana and Loki: their containers run busybox's httpd, so that
# an image update of every service is real (pulled, run, inspected); the APIs the procedures call are the
# Grafana and Loki stand-in processes (procedures/lab/standins.py).
GRAFANA = ImageSpec("grafana/grafana", (), "/bin/busybox", "10.2.0")
LOKI = ImageSpec("grafana/loki", (), "/bin/busybox", "2.9.0")


# Podman refuses a runroot longer than 50 characters in `podman container cleanup`, the command conmon
# runs when a container exits. A lab deep in a temporary folder (pytest under xdist: .../popen-gw0/...)
# then never gets its exit code stored, and every `podman run` waits out its 20 s conmon timeout.
RUNROOTS = Path("/run/flatnet-lab")
IMAGE_CACHE = Path("/var/cache/flatnet-lab")  # built lab images, as registry content, one folder per build key


def runroot_of(root: Path) -> Path:
    """The lab's podman run root: one per lab folder, short wherever the lab lives."""
    return RUNROOTS / hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]


class Podman:
    """The lab's podman: commands run with the lab's configuration files."""

    def __init__(self, root: Path, registry: str) -> None:
        self.root = root
        self.registry = registry
        self.runroot = runroot_of(root)
        self.env = {
            "CONTAINERS_CONF": str(root / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
        }

    def write_config(self) -> None:
        for sub in ("podman/tmp", "podman/storage", "podman/run", "cni/net.d", "cni/bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "registry/data").mkdir(parents=True, exist_ok=True)
        for name in ("containers.conf", "storage.conf", "registries.conf", "registry.yml"):
            (self.root / name).write_text(render("monitoring_files", name, root=self.root, registry=self.registry,
                                                 runroot=self.runroot))

    def run(self, *args: str, cwd: Path | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=cwd, env={**os.environ, **self.env}, capture_output=True, text=True,
                              check=check, timeout=timeout)

    # -- the registry ------------------------------------------------------------
    def start_registry(self) -> None:
        log = (self.root / "registry/registry.log").open("ab")
        process = subprocess.Popen(["/usr/bin/docker-registry", "serve", str(self.root / "registry.yml")],
                                   stdout=log, stderr=log, start_new_session=True)
        (self.root / "registry/registry.pid").write_text(str(process.pid))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://{self.registry}/v2/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise LabError(f"the lab registry did not start on {self.registry}: see {self.root / 'registry/registry.log'}")

    def stop_registry(self) -> None:
        pid_file = self.root / "registry/registry.pid"
        if pid_file.exists():
            terminate([int(pid_file.read_text())])

    # -- images --------------------------------------------------------------------
    def import_local(self, ref: str, binaries: tuple[str, ...] = ()) -> None:
        """A local-only image (no registry), e.g. the busybox that stands in for alpine."""
        context = self.root / "images" / "local"
        _rootfs(context, binaries, ())
        tarball = context.with_suffix(".tar")
        with tarfile.open(tarball, "w") as tar:
            tar.add(context, arcname=".")
        self.run("podman", "import", "--change", 'CMD ["/bin/sh"]', str(tarball), ref)
        tarball.unlink()
        shutil.rmtree(context)

    def publish(self, specs: tuple[ImageSpec, ...]) -> None:
        """Every build of ``specs`` in the lab's registry (running). Building is most of a lab's start, so the
        registry's content is kept in the machine's cache once built, and copied from there by the next lab:
        content-addressed blobs, under repository names that do not depend on the registry's port."""
        cache = IMAGE_CACHE / f"registry-{_images_key(specs)}"
        data = self.root / "registry/data"
        if cache.is_dir():
            shutil.copytree(cache, data, dirs_exist_ok=True)
            return
        for spec in specs:
            self.build_and_push(spec)
        staging = IMAGE_CACHE / f".registry-{os.getpid()}-{time.monotonic_ns()}"
        shutil.copytree(data, staging)
        try:
            staging.rename(cache)
        except OSError:  # another lab cached the same images first
            shutil.rmtree(staging, ignore_errors=True)

    def build_and_push(self, spec: ImageSpec, builds: tuple[int, ...] = (1, 2)) -> None:
        """Import one image per build number, push each, and keep none locally (pulls are real)."""
        context = self.root / "images" / spec.repository.replace("/", "_")
        tarball = context.with_suffix(".tar")
        _rootfs(context, spec.binaries, spec.data)
        for build in builds:
            (context / "etc/lab-image").write_text(f"{spec.repository}:{spec.tag(build)}\n")
            with tarfile.open(tarball, "w") as tar:
                tar.add(context, arcname=".")
            ref = f"{self.registry}/{spec.repository}:{spec.tag(build)}"
            self.run("podman", "import", "--change", f'ENTRYPOINT ["{spec.entrypoint}"]',
                     "--change", f"LABEL org.opencontainers.image.version={spec.tag(build)}", str(tarball), ref)
            self.run("podman", "push", "--quiet", ref)
            self.run("podman", "rmi", ref)
        tarball.unlink()
        shutil.rmtree(context)


def fill_image_cache(specs: tuple[ImageSpec, ...]) -> bool:
    """Build ``specs`` into the machine's cache unless they are there; True when it built them.

    The set-up runs this (``./maint lab images``), so that no lab start builds images: the
    first labs of a suite on a fresh machine otherwise built them side by side, each for about 10 s.
    """
    if (IMAGE_CACHE / f"registry-{_images_key(specs)}").is_dir():
        return False
    with tempfile.TemporaryDirectory(prefix="flatnet-lab-images-") as folder:
        root = Path(folder)
        [port] = free_ports(1)
        podman = Podman(root, f"127.0.0.1:{port}")
        podman.write_config()
        podman.start_registry()
        try:
            podman.publish(specs)
        finally:
            podman.stop_registry()
            shutil.rmtree(podman.runroot, ignore_errors=True)
    return True


def _images_key(specs: tuple[ImageSpec, ...]) -> str:
    """What the built images depend on: the specs, the machine's binaries (a Debian upgrade rebuilds), this code."""
    parts = [repr(specs), Path(__file__).read_text(), repr(BUSYBOX_APPLETS)]
    for path in ("/bin/busybox", *LIBS, *(p for spec in specs for p in (*spec.binaries, *spec.data))):
        info = os.stat(path)
        parts.append(f"{path}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _rootfs(dest: Path, binaries: tuple[str, ...], data: tuple[str, ...]) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    for sub in ("bin", "etc", "usr/bin", "lib/x86_64-linux-gnu", "lib64", "tmp"):
        (dest / sub).mkdir(parents=True)
    shutil.copy("/bin/busybox", dest / "bin/busybox")
    for applet in BUSYBOX_APPLETS:
        (dest / "bin" / applet).symlink_to("busybox")
    (dest / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    (dest / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for binary in binaries:
        shutil.copy(binary, dest / binary.lstrip("/"))
    if binaries:
        for lib in LIBS:
            shutil.copy(lib, dest / lib.lstrip("/"))
    for folder in data:
        shutil.copytree(folder, dest / folder.lstrip("/"), symlinks=True)


def free_subnet(prefix: str, numbers: Iterable[int]) -> str:
    """The first ``<prefix>.N.0/24`` (N from ``numbers``) that no route on this machine uses yet."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
    for n in numbers:
        if f"{prefix}.{n}." not in routes:
            return f"{prefix}.{n}.0/24"
    raise LabError(f"no free {prefix}.N.0/24 subnet for the lab: `ip -4 route` shows them all taken; "
                   "stop other labs (`./maint lab down`)")
