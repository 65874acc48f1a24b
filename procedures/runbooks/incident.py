"""When a rollback fails (ロールバック失敗時の対処): keep the evidence, then escalate.

``collect`` gathers every component's recent logs, ``podman-compose logs``,
the configuration trees, the maintenance's records and this run's record into
one archive. Collecting never raises: a part that cannot be read leaves a note
in the archive instead, because the archive is needed most when things are broken.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from procedures import record
from procedures.errors import ProcedureError

if TYPE_CHECKING:
    from procedures.host import Host
    from procedures.run.maintenance import Maintenance

LOG_TAIL_BYTES = 1 << 20


def collect(m: Maintenance, reason: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    name = f"incident-{m.plan.id}-{stamp}"
    with tempfile.TemporaryDirectory(prefix="flatnet-incident-") as tmp:
        root = Path(tmp) / name
        root.mkdir()
        (root / "README.txt").write_text(
            f"Flatnet incident bundle\nmaintenance: {m.plan.id}\ninventory: {m.inventory.name}\n"
            f"collected: {datetime.now().astimezone().isoformat(timespec='seconds')}\n\n{reason}\n", encoding="utf-8")
        for part, gather in _parts(m).items():
            try:
                gather(root)
            except (ProcedureError, OSError) as exc:
                _write(root / f"{part}.UNAVAILABLE.txt", f"could not collect {part}: {exc}")
        # The maintenance's records and this run's own record; never the whole folder around it (with
        # --alluredir /tmp/x the run's folder is /tmp), and never through a symbolic link.
        for label, folder in (("records", m.records_dir), ("run/allure-results", m.results_dir),
                              ("run/decisions", m.run_dir / "decisions")):
            if folder.is_dir():
                shutil.copytree(folder, root / label, symlinks=True, ignore=shutil.ignore_patterns("incident-*"))
        m.run_dir.mkdir(parents=True, exist_ok=True)
        archive = m.run_dir / f"{name}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(root, arcname=name)
            members = sorted(tar.getnames())
    record.text("incident bundle", f"{archive}\n\n" + "\n".join(members))
    return archive


def _parts(m: Maintenance) -> dict[str, Callable[[Path], None]]:
    components = m.inventory.components
    parts: dict[str, Callable[[Path], None]] = {}
    if components.gateway:
        gateway = m.gateway()

        def gateway_part(root: Path) -> None:
            _tail(gateway.host, gateway.path(gateway.c.error_log), root / "logs/gateway-error.log")
            _tree(gateway.host, gateway.live, list(gateway.c.backup_paths), root / "config/gateway")
        parts["gateway"] = gateway_part
    if components.monitoring:
        stack = m.monitoring()

        def monitoring_part(root: Path) -> None:
            logs = stack.compose("logs", purpose="keep podman-compose logs", check=False)
            _write(root / "logs/podman-compose.log", logs.stdout + logs.stderr)
            ps = stack.podman("ps", "-a", purpose="list the containers", check=False)
            _write(root / "logs/podman-ps.txt", ps.stdout + ps.stderr)
            _tree(stack.host, stack.c.compose_dir, [stack.c.compose_file, *stack.c.config_paths],
                  root / "config/monitoring")
        parts["monitoring"] = monitoring_part
    if components.nebula:
        node = m.nebula()

        def nebula_part(root: Path) -> None:
            _tail(node.host, node.c.log, root / "logs/nebula.log")
            _write(root / "config/nebula/config.yaml", node.host.files.read_text(node.c.config))
        parts["nebula"] = nebula_part
    if components.cni:
        cni = m.cni()
        parts["cni"] = lambda root: _write(root / "config/cni" / Path(cni.c.conflist).name,
                                           cni.host.files.read_text(cni.c.conflist))
    return parts


def _tail(host: Host, path: str, dest: Path) -> None:
    size = host.files.size(path)
    _write(dest, host.files.read_from(path, max(0, size - LOG_TAIL_BYTES)))


def _tree(host: Host, base: str, paths: list[str], dest: Path) -> None:
    for _size, _digest, _mode, name in host.files.listing(base, paths):
        _write(dest / name, host.files.read_text(host.files.join(base, name)))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
