"""The machine's cache of lab images: the set-up fills it once, and every lab then copies it instead of building."""

from __future__ import annotations

from pathlib import Path

import pytest

from procedures.lab import podman
from procedures.lab.podman import BUSYBOX, fill_image_cache
from procedures.lab.processes import owned_pids


def test_the_set_up_builds_the_images_once_and_leaves_nothing_running(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podman, "IMAGE_CACHE", tmp_path / "cache")  # not the machine's: this one starts empty
    monkeypatch.setattr(podman, "RUNROOTS", tmp_path / "run")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where the builder's registry and storage live

    assert fill_image_cache((BUSYBOX,)) is True
    [cached] = (tmp_path / "cache").glob("registry-*")
    tags = cached / "docker/registry/v2/repositories/library/busybox/_manifests/tags"
    assert sorted(tag.name for tag in tags.iterdir()) == ["1.35.0-lab.1", "1.35.0-lab.2"]
    assert owned_pids(tmp_path) == [], "the builder's registry is still running"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "run"], "the builder left its folder"
    assert list((tmp_path / "run").iterdir()) == [], "the builder left its podman run root"

    built = {p: p.stat().st_mtime_ns for p in cached.rglob("*")}
    assert fill_image_cache((BUSYBOX,)) is False
    assert {p: p.stat().st_mtime_ns for p in cached.rglob("*")} == built
