"""Mistakes an operator can make, each answered by one message in operator words, never a traceback.

Each case is run as the operator runs it (a procedure with --inventory/--plan, or the lab's own
command) and judged by its exit code and its words: what is wrong, where (file, field, host), and
what to do. Nothing here needs a running lab; the ones that start a lab start their own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from procedures.lab import Lab
from procedures.run.lock import LOCK_NAME
from tests.conftest import PROJECT

SECRET = "hunter2-never-shown"
INVENTORY = {
    "hosts": {"lab": {"transport": "local"}},
    "components": {"gateway": {"host": "lab", "root": "/nonexistent/flatnet",
                               "front": {"url": "http://127.0.0.1:9/"},
                               "health": {"url": "http://127.0.0.1:9/api/health"}}},
}
PLAN = {"id": "mw-2026-12", "changes": {"gateway": {"release": "/nonexistent/openresty-1.27.1.2",
                                                   "version": "1.27.1.2"}}}


def changed(base: dict, path: str, value: object) -> dict:
    """A deep copy of ``base`` with ``a.b.c`` set to ``value`` (None: removed)."""
    data = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return data


# name: (inventory, plan, extra arguments, exit code, what the message must say)
MISTAKES: dict[str, tuple[dict | str, dict | str | None, tuple[str, ...], int, list[str]]] = {
    "lock folder not writable": (changed(INVENTORY, "hosts.lab.lock_dir", "/proc/flatnet"), PLAN, (), 13,
                                 ["lab: cannot create the maintenance lock /proc/flatnet/flatnet-maintenance.lock: "
                                  "check that its folder exists (or can be made) and is writable "
                                  "(hosts.lab.lock_dir)", "Nothing was changed."]),
    "misspelled credential key": (changed(INVENTORY, "hosts.lab.pasword", SECRET), PLAN, (), 4,
                                  ["inventory.yaml: invalid inventory", "hosts.lab.pasword: unknown field"]),
    "unknown transport": (changed(INVENTORY, "hosts.lab.transport", "telnet"), PLAN, (), 4,
                          ["hosts.lab.transport: use 'local', 'ssh', 'winrm', 'wsl' or 'ansible' (got 'telnet')"]),
    "port out of range": (changed(INVENTORY, "components.gateway.front.url", "http://127.0.0.1:99999/"), PLAN,
                          (), 4, ["components.gateway.front.url: expected a valid URL: invalid port number"]),
    "not YAML": ("hosts: [lab\n", PLAN, (), 4, ["inventory.yaml: line 2, column 1: not valid YAML"]),
    "components missing": (changed(INVENTORY, "components", None), PLAN, (), 4,
                           ["components: required, but missing"]),
    "component on an unknown host": (changed(INVENTORY, "components.gateway.host", "lba"), PLAN, (), 4,
                                     ["components.gateway.host names 'lba', which is not under hosts (known: lab)"]),
    "plan id with spaces": (INVENTORY, changed(PLAN, "id", "bad id!"), (), 4,
                            ["plan.yaml: invalid plan", "id: use letters, digits, '.', '_' or '-'"]),
    "unknown time zone": (INVENTORY, changed(PLAN, "window", {"start": "2026-12-05 22:00", "end": "2026-12-05 23:00",
                                                            "timezone": "Tokyo"}), (), 4,
                          ["window.timezone: unknown time zone 'Tokyo' (use an IANA name such as Asia/Tokyo)"]),
    "window ends before it starts": (INVENTORY, changed(PLAN, "window", {"start": "2026-12-05 23:00",
                                                                         "end": "2026-12-05 22:00"}), (), 4,
                                     ["window: window.end must be after window.start"]),
    "rolling serial above 100%": (INVENTORY, changed(PLAN, "rolling", {"serial": "150%"}), (), 4,
                                  ["rolling.serial", "a percentage from 1% to 100%"]),
    "credential in the plan's webhook": (INVENTORY, changed(PLAN, "notify", {"webhook": {
        "url": "http://127.0.0.1:9/", "token": SECRET}}), (), 4,
        ["notify.webhook: inline credential 'token' is not allowed; name an environment variable with token_env"]),
    "plan file missing": (INVENTORY, None, (), 4, ["plan.yaml: cannot read: No such file or directory"]),
    "inventory without a plan": (INVENTORY, "", (), 4, ["--inventory needs a --plan that says what to change"]),
    "lab fault on a real target": (INVENTORY, PLAN, ("--lab-fault", "unhealthy"), 4,
                                   ["--lab-fault only applies to the lab, not to --inventory"]),
    "unreachable host": (changed(INVENTORY, "hosts.lab", {"transport": "ssh", "address": "127.0.0.1", "port": 1,
                                                         "user": "root", "connect_timeout": 2}), PLAN, (), 14,
                         ["host lab cannot be reached or cannot run commands: ssh: connect to host 127.0.0.1 port 1",
                          "Nothing was changed. Check the host's address, port and credentials in"]),
}


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = subprocess.run(args, cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})
    return proc.returncode, proc.stdout + proc.stderr


def assert_operator_words(output: str, rc: int, expected_rc: int, words: list[str]) -> None:
    assert rc == expected_rc, output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    assert SECRET not in output
    for fragment in words:
        assert fragment in output, output


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_mistake_in_the_files_or_the_options_is_one_clear_message(tmp_path: Path, name: str) -> None:
    inventory, plan, extra, expected_rc, words = MISTAKES[name]
    files = {"inventory.yaml": inventory, "plan.yaml": plan}
    for file, content in files.items():
        if isinstance(content, dict):
            (tmp_path / file).write_text(yaml.safe_dump(content))
        elif content:
            (tmp_path / file).write_text(content)
    args = ["--inventory", str(tmp_path / "inventory.yaml")] + (["--plan", str(tmp_path / "plan.yaml")]
                                                                if plan != "" else [])
    rc, output = run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
                      f"--alluredir={tmp_path / 'results'}", "features/gateway_update.feature", *args, *extra])
    assert_operator_words(output, rc, expected_rc, words)


def test_a_locked_target_says_who_holds_it_and_what_to_do(tmp_path: Path) -> None:
    holder = {"owner": "ops@console", "controller": socket.gethostname(), "pid": os.getpid(),
              "maintenance": "mw-other", "run": "/elsewhere", "since": "2026-12-03T01:00:00+09:00"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(holder))
    inventory = changed(INVENTORY, "hosts.lab.lock_dir", str(tmp_path))
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(PLAN))
    rc, output = run([sys.executable, "-m", "pytest", "-p", "no:xdist", f"--alluredir={tmp_path / 'results'}",
                      "features/gateway_update.feature", "--inventory", str(tmp_path / "inventory.yaml"),
                      "--plan", str(tmp_path / "plan.yaml")])
    assert_operator_words(output, rc, 13, ["ops@console", "mw-other"])
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == holder  # someone else's lock is left alone


@pytest.mark.parametrize(("args", "expected_rc", "words"), [
    (["up", "--parts", "gatewy"], 1, ["lab up: unknown lab part gatewy: use gateway, monitoring"]),
    (["fault", "bogus"], 2, ["invalid choice: 'bogus'"]),
])
def test_a_mistake_in_the_lab_command_is_one_clear_message(tmp_path: Path, args: list[str], expected_rc: int,
                                                           words: list[str]) -> None:
    rc, output = run([sys.executable, "-m", "procedures.lab", *args], env={"FLATNET_LAB_DIR": str(tmp_path / "lab")})
    assert_operator_words(output, rc, expected_rc, words)


def test_a_lab_port_taken_by_another_program_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab").up()
    lab.down(purge=False)
    with socket.socket() as squatter:  # another program took the gateway's port while the lab was down
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", lab.state.http_port))
        squatter.listen()
        rc, output = run([sys.executable, "-m", "procedures.lab", "up", "--parts", "gateway"],
                         env={"FLATNET_LAB_DIR": str(lab.root)})
    try:
        assert_operator_words(output, rc, 1, ["lab up: a port the lab needs is taken by another program",
                                              f"127.0.0.1:{lab.state.http_port}", "./maint lab down"])
        assert lab.processes() == []
    finally:
        lab.down()


def test_a_missing_program_says_to_run_the_set_up(tmp_path: Path) -> None:
    """The machine's programs, but not iproute2's `ip`, as on a machine where the set-up did not run."""
    path = tmp_path / "bin"
    path.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for program in Path(folder).glob("*") if Path(folder).is_dir() else ():
            if program.name != "ip" and not (path / program.name).exists():
                (path / program.name).symlink_to(program)
    rc, output = run([sys.executable, "-m", "procedures.lab", "up", "--parts", "gateway,cni"],
                     env={"FLATNET_LAB_DIR": str(tmp_path / "lab"), "PATH": str(path)})
    try:
        assert_operator_words(output, rc, 1, ["lab up: ip is missing: run `./maint setup`"])
    finally:
        Lab(tmp_path / "lab").down()
