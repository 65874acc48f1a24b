"""Inventory and plan validation: every mistake is refused before any action, naming file and field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from procedures.config.inventory import load_inventory
from procedures.config.plan import load_plan
from procedures.errors import ConfigError
from procedures.lab import Lab


def lab_inventory(lab: Lab) -> dict:
    return yaml.safe_load(lab.inventory_path.read_text())


MISTAKES = {
    "unknown transport": (lambda inv: inv["hosts"]["lab"].update(transport="telnet"),
                          "hosts.lab.transport", "'local', 'ssh', 'winrm', 'wsl' or 'ansible'"),
    "inline password": (lambda inv: inv["hosts"]["lab"].update(password="hunter2"),
                        "hosts.lab", "password_env"),
    "undefined host": (lambda inv: inv["components"]["gateway"].update(host="gw-01"),
                       "components.gateway.host", "not under hosts"),
    "port out of range": (lambda inv: inv["hosts"]["lab"].update(port=70000),
                          "hosts.lab.port", "less than or equal to 65535"),
    "relative root": (lambda inv: inv["components"]["gateway"].update(root="flatnet"),
                      "components.gateway.root", "absolute path"),
    "bad health url": (lambda inv: inv["components"]["gateway"]["health"].update(url="localhost:8080"),
                       "components.gateway.health.url", "URL"),
    "misspelled field": (lambda inv: inv["components"]["gateway"].update(stagging_dir="x"),
                         "components.gateway.stagging_dir", "unknown field"),
    "ssh without user": (lambda inv: inv["hosts"]["lab"].update(transport="ssh"),
                         "hosts.lab", "needs 'user'"),
    "binary upgrade on windows": (lambda inv: inv["components"]["gateway"].update(flavor="windows",
                                                                                   handover="binary-upgrade"),
                                  "components.gateway", "no binary upgrade"),
    "fleet member on an unknown host": (lambda inv: inv["components"].update(gateway_fleet={
        "defaults": inv["components"]["gateway"], "members": {"gw-07": {"host": "gw-07"}}}),
        "components", "gateway_fleet.members.gw-07.host names 'gw-07'"),
    "ansible inventory on an ssh host": (lambda inv: inv["hosts"]["lab"].update(ansible_inventory="/etc/hosts"),
                                         "hosts.lab", "goes with transport ansible"),
    "escaping backup path": (lambda inv: inv["components"]["gateway"].update(backup_paths=["../conf"]),
                             "components.gateway.backup_paths", "relative to the install folder"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_inventory_mistake_names_file_and_field(lab: Lab, tmp_path: Path, mistake: str) -> None:
    break_it, field, expected = MISTAKES[mistake]
    inventory = lab_inventory(lab)
    break_it(inventory)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    with pytest.raises(ConfigError) as error:
        load_inventory(path)
    message = str(error.value)
    assert str(path) in message and field in message and expected in message
    assert "hunter2" not in message


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("hosts:\n  lab: {transport: local\n")
    with pytest.raises(ConfigError, match=r"inventory.yaml: line \d+, column \d+: not valid YAML"):
        load_inventory(path)


def test_plan_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"id": "bad id!", "changes": {"gateway": {"version": "1.2"}}}))
    with pytest.raises(ConfigError) as error:
        load_plan(path)
    assert "id: use letters, digits, '.', '_' or '-', starting with a letter or digit (got 'bad id!')" \
        in str(error.value)
    assert "changes.gateway.release: required, but missing" in str(error.value)


def tree_state(lab: Lab) -> dict[str, str]:
    return {str(p.relative_to(lab.flatnet)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lab.flatnet.rglob("*")) if p.is_file() and "logs" not in p.parts}


@pytest.mark.parametrize("mistake", ["undefined host", "inline password", "relative root", "unknown transport",
                                     "misspelled field"])
def test_an_invalid_inventory_stops_the_run_before_any_action(lab: Lab, tmp_path: Path, features,
                                                              mistake: str) -> None:
    break_it, field, _ = MISTAKES[mistake]
    inventory = lab_inventory(lab)
    break_it(inventory)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    before, pid = tree_state(lab), lab.gateway_pid()

    run = features("features/gateway_update.feature", "--inventory", str(path), "--plan", str(lab.plan_path))

    assert run.rc == 4, run.output
    assert str(path) in run.output and field in run.output
    assert tree_state(lab) == before and lab.gateway_pid() == pid
    assert not list(run.results.glob("*-result.json"))
