"""Rolling gateway update at scale: 1, 10 and 50 lab gateways in batches of 10, on this machine.

    .venv/bin/python bench/fleet.py [--sizes 1,10,50] [--serial 10]

Each size gets a fresh lab of that many gateways (real nginx masters). The
figure is the whole command, ``pytest features/gateway_fleet_update.feature``,
with the lab up: total seconds, seconds per host, and the peak memory (RSS) of
the pytest process, read from the kernel when it exits (wait4). Two baselines: the
same fleet one host at a time (serial 1), so the ratio shows what the parallel
batches buy; and Ansible, the same playbook as bench/gateway.py rolled with the
same ``serial`` and ``max_fail_percentage`` (bench/ansible/gateway_fleet_update.yml,
forks = serial). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from common import PROJECT, median, scratch, table

from procedures.lab import Lab, fleet, gateway

FEATURE = "features/gateway_fleet_update.feature"
PLAYBOOK = PROJECT / "bench/ansible/gateway_fleet_update.yml"


def roll(lab: Lab, serial: int, work: Path) -> tuple[float, float]:
    """One rolling update of the whole fleet: (seconds, peak RSS in MiB) of the pytest process."""
    plan = yaml.safe_load(lab.plan_path.read_text())
    plan["rolling"] = {"serial": serial, "max_fail_percentage": 0}
    plan_path = work / f"plan-serial-{serial}.yaml"
    plan_path.write_text(yaml.safe_dump(plan, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLATNET_", "PYTEST_XDIST"))}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", FEATURE, "--plan", str(plan_path),
                             f"--alluredir={scratch('allure-')}"], cwd=PROJECT,
                            env=env | {"FLATNET_LAB_DIR": str(lab.root)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"the rolling update failed:\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def ansible_roll(lab: Lab, serial: int, work: Path) -> float:
    """The same rolling update by ansible-playbook over the same fleet: seconds of the whole command."""
    part = lab.fleet()
    assert part is not None
    inventory = part.write_ansible_inventory(work / "ansible-inventory.ini")
    venv = Path(sys.executable).parent
    release = lab.releases / gateway.Release(gateway.NEW_VERSION).folder_name
    started = time.perf_counter()
    proc = subprocess.run(
        [str(venv / "ansible-playbook"), "-i", str(inventory), "-f", str(serial), str(PLAYBOOK),
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"release={release}",
         "-e", f"version={gateway.NEW_VERSION}", "-e", f"serial={serial}", "-e", "max_fail_percentage=0",
         "-e", f"run_id={time.time_ns()}"],
        capture_output=True, text=True, check=False, env={"PATH": f"{venv}:/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1"})
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the Ansible rolling update failed:\n{proc.stdout[-3000:]}")
    return seconds


def reset_ansible(lab: Lab) -> None:
    """Back to the old release on every host, as the playbook left it (old release in openresty-old)."""
    part = lab.fleet()
    assert part is not None
    for member in part.members:
        root = part.root_of(member)
        subprocess.run(["bash", "-c", f"cd {root} && openresty/nginx -s stop && while [ -e logs/nginx.pid ]; do "
                        "sleep 0.01; done && rm -rf openresty && mv openresty-old openresty && openresty/nginx"],
                       check=True, capture_output=True)


def reset(lab: Lab) -> None:
    """Back to the old release everywhere, by the fleet's emergency rollback (not measured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLATNET_", "PYTEST_XDIST"))}
    subprocess.run([sys.executable, "-m", "pytest", "-q", FEATURE, "--run-rollback", "gateway-fleet-rollback",
                    "--alluredir", str(scratch("allure-"))], cwd=PROJECT, env=env | {"FLATNET_LAB_DIR": str(lab.root)},
                   check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--serial", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        work = scratch(f"fleet-{size}-")
        os.environ[fleet.COUNT_ENV] = str(size)
        lab = Lab(work / "lab")
        try:
            started = time.perf_counter()
            lab.up(("gateway-fleet",))
            cold = time.perf_counter() - started
            batched, serial_one, memory, playbook = [], [], [], []
            for _ in range(args.runs):
                seconds, rss = roll(lab, args.serial, work)
                batched.append(seconds)
                memory.append(rss)
                reset(lab)
                serial_one.append(roll(lab, 1, work)[0])
                reset(lab)
                playbook.append(ansible_roll(lab, args.serial, work))
                reset_ansible(lab)
        finally:
            lab.down()
        total, one_by_one, ansible = median(batched), median(serial_one), median(playbook)
        rows.append([size, f"{cold:.2f}", total, total / size, max(memory), one_by_one, total / one_by_one, ansible,
                     total / ansible])
    table(f"rolling gateway update, batches of {args.serial} (median of {args.runs}; whole commands)",
          ["gateways", "lab start s", "total s", "s per host", "peak RSS MiB", "serial 1 total s", "ratio",
           f"Ansible serial {args.serial} s", "ours/Ansible"], rows)


if __name__ == "__main__":
    main()
