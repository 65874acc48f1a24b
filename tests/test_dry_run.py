"""``--dry-run`` on the lab: every procedure reads for real and changes nothing, and its record
lists each command, script and request it would have sent."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from procedures.lab import Lab
from procedures.lab.processes import owned_pids
from tests.conftest import Run, run_features, running_lab

# feature → actions its preview must list (by purpose), in order
EXPECTED = {
    "features/gateway_update.feature": ["copy into the backup", "test the staged configuration (nginx -t)",
                                        "binary upgrade: new master (USR2), old workers leave (WINCH)"],
    "features/monitoring_update.feature": ["create the maintenance silence", "set the new image tags",
                                           "pull the new images", "stop the stack", "start the stack"],
    "features/nebula_update.feature": ["down the service", "up the service"],
    "features/maintenance_workflow.feature": ["send the announcement notice to file, smtp, webhook",
                                              "copy into the backup"],
}


@pytest.fixture(scope="module")
def dlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("dlab"), ("gateway", "monitoring", "nebula")) as lab:
        yield lab


def target_files(lab: Lab) -> dict[str, str]:
    """Every file of the targets, except the logs the running services write themselves."""
    return {str(p.relative_to(lab.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for base in ("flatnet", "monitoring", "cni") if (lab.root / base).is_dir()
            for p in sorted((lab.root / base).rglob("*"))
            if p.is_file() and "logs" not in p.relative_to(lab.root).parts and "data" not in p.parts}


def process_starts(lab: Lab) -> dict[int, str]:
    """Start time of every lab process: a restart would change it."""
    return {pid: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19] for pid in owned_pids(lab.root)}


def withheld(run: Run) -> list[str]:
    """The purposes of the withheld actions, in order, from each preview's list in the record."""
    results = sorted((json.loads(p.read_text()) for p in run.results.glob("*-result.json")), key=lambda r: r["start"])
    names: list[str] = []

    def walk(steps: list[dict]) -> None:
        for step in steps:
            for a in step.get("attachments", []):
                if re.fullmatch(r"ドライラン: \d+ 件の操作を保留", a["name"]):  # in the plan's language
                    names.extend(action["purpose"] for action in json.loads((run.results / a["source"]).read_text()))
            walk(step.get("steps", []))
    walk(results)  # a preview's list hangs on its test, not on a step
    return names


def assert_nothing_changed(lab: Lab, tmp_path: Path, feature: str, *args: str) -> list[str]:
    files, processes = target_files(lab), process_starts(lab)
    run = run_features(lab, tmp_path, feature, "--dry-run", *args)
    assert run.rc == 0, run.output
    assert "DRY RUN: nothing on the targets will change" in run.output  # the resolved plan, in the terminal
    assert target_files(lab) == files
    assert process_starts(lab) == processes
    assert not (lab.flatnet / "flatnet-maintenance.lock").exists()
    actions = withheld(run)
    for action in actions:
        assert f"WOULD RUN: {action}" in run.output  # the terminal lists them too
    return actions


@pytest.mark.parametrize("feature", list(EXPECTED))
def test_a_dry_run_changes_nothing_and_lists_every_action(dlab: Lab, tmp_path: Path, feature: str) -> None:
    actions = assert_nothing_changed(dlab, tmp_path, feature)
    listed = iter(actions)
    assert all(any(a == wanted for a in listed) for wanted in EXPECTED[feature]), actions
    if feature == "features/monitoring_update.feature":  # the requests are there too: reloads, dashboard imports
        assert any(a.startswith("POST ") and a.endswith("/-/reload") for a in actions), actions
        assert any(a.startswith("POST ") and a.endswith("/api/dashboards/db") for a in actions), actions


def test_the_gateway_preview_holds_the_exact_commands(dlab: Lab, tmp_path: Path) -> None:
    run = run_features(dlab, tmp_path, "features/gateway_update.feature", "--dry-run")
    evidence = "\n".join(p.read_text() for p in run.results.glob("*-attachment.*"))
    live, old = dlab.flatnet / "openresty", dlab.flatnet / "openresty-old"
    assert f"mv {live} {old}" in evidence and 'kill -USR2 \\"$old\\"' in evidence
    assert "解決済みの計画 (ドライラン)" in "\n".join(p.read_text() for p in run.results.glob("*-result.json"))


def test_a_dry_run_of_the_cni_update_changes_nothing(tmp_path: Path) -> None:
    with running_lab(tmp_path, ("gateway", "cni")) as lab:
        actions = assert_nothing_changed(lab, tmp_path, "features/cni_update.feature")
        assert any(a.startswith("install ") for a in actions), actions
