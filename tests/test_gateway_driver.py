"""The POSIX gateway driver against the lab's real nginx, locally and over ssh."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from procedures.errors import BackupError, CommandFailed
from procedures.lab import Lab, gateway
from procedures.run.maintenance import Maintenance


@pytest.fixture
def maint(lab: Lab) -> Maintenance:
    return Maintenance.load(lab.inventory_path, lab.plan_path)


def test_facts(lab: Lab, maint: Maintenance) -> None:
    gw = maint.gateway()
    assert gw.version() == gateway.CURRENT_VERSION
    assert gw.pid() == lab.gateway_pid()
    health = gw.health()
    assert health.serving and health.version == gateway.CURRENT_VERSION


def test_backup_manifest_matches_the_files(lab: Lab, maint: Maintenance) -> None:
    backup = maint.gateway().backup({"version_before": gateway.CURRENT_VERSION})
    live = lab.flatnet / "openresty"
    expected = {str(p.relative_to(live)): hashlib.sha256(p.read_bytes()).hexdigest()
                for sub in ("conf", "lualib") for p in (live / sub).rglob("*") if p.is_file()}
    assert {name: entry.sha256 for name, entry in backup.files.items()} == expected
    on_disk = json.loads((Path(backup.path) / "manifest.json").read_text())
    assert on_disk["facts"]["version_before"] == gateway.CURRENT_VERSION
    assert on_disk["files"]["conf/nginx.conf"]["size"] == (live / "conf/nginx.conf").stat().st_size


def test_a_corrupted_backup_is_refused_naming_the_file(maint: Maintenance) -> None:
    gw = maint.gateway()
    backup = gw.backup({})
    (Path(backup.path) / "lualib/flatnet/health.lua").write_text("-- tampered\n")
    with pytest.raises(BackupError, match=re.escape("lualib/flatnet/health.lua has sha256")):
        backup.verify(gw.host)


def test_staging_keeps_the_release_libraries_and_takes_the_site_config(lab: Lab, maint: Maintenance) -> None:
    gw = maint.gateway()
    assert gw.stage(str(lab.releases / "openresty-1.27.1.2-lua-error")) == gateway.NEW_VERSION
    staged, live = lab.flatnet / "openresty-new", lab.flatnet / "openresty"
    assert (staged / "conf/nginx.conf").read_bytes() == (live / "conf/nginx.conf").read_bytes()
    assert (staged / "lualib/flatnet/health.lua").read_bytes() == (live / "lualib/flatnet/health.lua").read_bytes()
    assert b"broken" in (staged / "lualib/resty/release.lua").read_bytes()  # the release's own file survived
    with pytest.raises(CommandFailed, match="could not compile every Lua module"):
        gw.config_test(gw.staging)


def test_config_test_catches_a_build_without_the_lua_module(lab: Lab, maint: Maintenance) -> None:
    gw = maint.gateway()
    gw.stage(str(lab.releases / "openresty-1.27.1.2-bad-config"))
    with pytest.raises(CommandFailed, match=r'unknown directive "lua_package_path"'):
        gw.config_test(gw.staging)


def test_swap_and_swap_back_restore_the_exact_folder(lab: Lab, maint: Maintenance) -> None:
    gw = maint.gateway()
    gw.stage(str(lab.releases / "openresty-1.27.1.2"))
    gw.stop()
    gw.swap_in()
    gw.start()
    assert gw.wait_serving(gateway.NEW_VERSION).serving
    gw.stop()
    assert gw.swap_back() is True
    assert gw.swap_back() is False  # repeating is harmless
    gw.start()
    assert gw.wait_serving(gateway.CURRENT_VERSION).serving
    assert (lab.flatnet / "openresty-failed/VERSION").read_text().strip() == gateway.NEW_VERSION


def test_the_update_runs_over_ssh(lab: Lab, sshd, tmp_path: Path, features) -> None:
    inventory = yaml.safe_load(lab.inventory_path.read_text())
    inventory["hosts"] = {"gw": {**sshd.host_entry(), "lock_dir": str(lab.flatnet)}}
    inventory["components"]["gateway"]["host"] = "gw"
    path = tmp_path / "ssh-inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    run = features("features/gateway_update.feature", "--inventory", str(path), "--plan", str(lab.plan_path))
    assert run.rc == 0, run.output
    assert maint_version(lab) == gateway.NEW_VERSION
    [result] = run.result_files()
    attachments = "".join(p.read_text() for p in run.results.glob("*-attachment.txt"))
    assert "gw$" in attachments or "host=gw" in attachments
    assert result["status"] == "passed"


def maint_version(lab: Lab) -> str:
    return Maintenance.load(lab.inventory_path, lab.plan_path).gateway().version()
