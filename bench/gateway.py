"""The gateway on the lab: ours against the manual's method and against Ansible, in one run.

    .venv/bin/python bench/gateway.py [--runs 5] [--updates 10]

1. Dropped requests: ``--updates`` consecutive updates under a bounded
   loopback load (our prober, 1000 requests/s at most, a new connection per
   request): the manual's stop/rename/start in bash, against ours
   (``pytest features/gateway_update.feature``, binary upgrade, whole run
   probed), and ours with ``handover: stop-start`` (the manual's method in one
   command, which is what Windows gets).
2. End to end: ``pytest features/gateway_update.feature`` with the lab up,
   against ``ansible-playbook bench/ansible/gateway_update.yml`` (the same
   steps with block/rescue, local connection, same lab); and the procedure's
   own time from the record.
3. Time to rollback (the ``unhealthy`` fault): from the failed verification to
   the verified rollback, ours from the record, Ansible's from its rescue block.
4. pytest start-up plus collection of every feature; lab cold start and teardown.

Medians of ``--runs``. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from common import PROJECT, bash, measured, median, pytest_run, scratch, table, throwaway_lab, timed

from procedures.drivers.prober import Prober, ProbeReport
from procedures.lab import Lab, gateway
from procedures.record.i18n import words

PLAYBOOK = PROJECT / "bench/ansible/gateway_update.yml"
BINARY_UPGRADE_PLAYBOOK = PROJECT / "bench/ansible/gateway_binary_upgrade.yml"  # ours' hand-over, as a playbook
FEATURE = "features/gateway_update.feature"
RATE = 1000
POLL = 0.01  # the playbook's poll loops: ours' first pause; ours then doubles it up to 0.1 s (host.poll_intervals),
#             so the playbook never asks less often than ours


def attachments(results: Path, name: str) -> list[dict]:
    """Every JSON attachment called ``name`` in a run's record (its title in the record's language: Japanese)."""
    found = []
    for result in results.glob("*-result.json"):
        stack = [json.loads(result.read_text())]
        while stack:
            node = stack.pop()
            found += [json.loads((results / a["source"]).read_text())
                      for a in node.get("attachments", []) if a["name"] == words(name)]
            stack += node.get("steps", [])
    return found


def procedure_seconds(results: Path) -> float:
    """The update scenario's own time in the record: its steps, without pytest's start-up."""
    [result] = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    return (result["steps"][-1]["stop"] - result["steps"][0]["start"]) / 1000


def stop_start_inventory(lab: Lab) -> list[str]:
    """Arguments for a run with the manual's method, shrunk to one command (``handover: stop-start``)."""
    inventory = yaml.safe_load(lab.inventory_path.read_text())
    inventory["components"]["gateway"]["handover"] = "stop-start"
    path = scratch("inventory-") / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    return ["--inventory", str(path), "--plan", str(lab.plan_path)]


def reset_ours(lab: Lab) -> None:
    """Back to the release before, with our own (zero-downtime) emergency rollback; then drop the leftovers."""
    pytest_run(lab, FEATURE, "--run-rollback", "gateway-rollback")
    bash(f"rm -rf {lab.flatnet}/openresty-failed")


def manual_swap(lab: Lab) -> str:
    """The manual's stop, rename, start, in bash: what an operator would type."""
    root, release = lab.flatnet, lab.releases / f"openresty-{gateway.NEW_VERSION}"
    return (f"cd {root} && rm -rf openresty-new && cp -a {release} openresty-new && cp -a openresty/conf/nginx.conf"
            " openresty-new/conf/ && cp -a openresty/lualib/flatnet openresty-new/lualib/"
            " && openresty-new/nginx -t -q && openresty/nginx -s stop && while [ -e logs/nginx.pid ]; do sleep 0.001;"
            " done && mv openresty openresty-old && mv openresty-new openresty && openresty/nginx && until curl -sf "
            f"http://127.0.0.1:{lab.state.api_port}/api/health | grep -q {gateway.NEW_VERSION}; do sleep 0.01; done")


def reset_manual(lab: Lab) -> str:
    return (f"cd {lab.flatnet} && openresty/nginx -s stop && while [ -e logs/nginx.pid ]; do sleep 0.01; done && "
            "rm -rf openresty && mv openresty-old openresty && openresty/nginx")


def under_load(lab: Lab, update: Callable[[], object], reset: Callable[[], object], updates: int) -> list[ProbeReport]:
    """``updates`` updates, each probed from before it starts to after it ends; the reset is not probed."""
    reports = []
    for _ in range(updates):
        with Prober(f"http://127.0.0.1:{lab.state.http_port}/", rate=RATE) as prober:
            update()
        reports.append(prober.report)
        reset()
    return reports


def ansible(lab: Lab, *extra: str, playbook: Path = PLAYBOOK) -> subprocess.CompletedProcess[str]:
    venv = Path(sys.executable).parent
    return subprocess.run(
        [str(venv / "ansible-playbook"), "-i", "localhost,", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"root={lab.flatnet}",
         "-e", f"health_url=http://127.0.0.1:{lab.state.api_port}/api/health",
         "-e", f"version={gateway.NEW_VERSION}", "-e", f"backup={lab.flatnet}/backups/ansible-{time.time_ns()}",
         *extra],
        capture_output=True, text=True, check=False, env={"PATH": f"{venv}:/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1"})


def release(lab: Lab, fault: str | None = None) -> str:
    return f"release={lab.releases / gateway.Release(gateway.NEW_VERSION, fault).folder_name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--updates", type=int, default=10)
    args = parser.parse_args()
    colds, downs = [], []
    for _ in range(max(1, args.runs // 2)):
        lab = Lab(scratch("cold-") / "lab")
        colds.append(timed(lab.up))
        downs.append(timed(lab.down))
    with throwaway_lab() as lab:
        # 1. dropped requests
        manual = under_load(lab, lambda: bash(manual_swap(lab)), lambda: bash(reset_manual(lab)), args.updates)
        ours = under_load(lab, lambda: pytest_run(lab, FEATURE), lambda: reset_ours(lab), args.updates)
        stop_start = stop_start_inventory(lab)
        shrunk = under_load(lab, lambda: pytest_run(lab, FEATURE, *stop_start), lambda: reset_ours(lab), args.updates)
        # 2. end to end, and the procedure inside it; then method-equal: both stop and start, both poll at 0.01 s
        ours_wall, ours_inside, ansible_wall, ours_stop_start, ansible_poll, ansible_usr2 = [], [], [], [], [], []
        for _ in range(args.runs):
            seconds, run = measured(lambda: pytest_run(lab, FEATURE))
            ours_wall.append(seconds)
            ours_inside.append(procedure_seconds(run.results))
            reset_ours(lab)
            ours_stop_start.append(timed(lambda: pytest_run(lab, FEATURE, *stop_start)))
            reset_ours(lab)
            for wall, extra, book in ((ansible_wall, (), PLAYBOOK), (ansible_poll, ("-e", f"poll={POLL}"), PLAYBOOK),
                                      (ansible_usr2, ("-e", f"poll={POLL}"), BINARY_UPGRADE_PLAYBOOK)):
                seconds, playbook = measured(lambda extra=extra, book=book: ansible(lab, "-e", release(lab), *extra,
                                                                                   playbook=book))
                if playbook.returncode != 0:
                    raise RuntimeError(f"the Ansible playbook failed:\n{playbook.stdout[-3000:]}")
                wall.append(seconds)
                bash(reset_manual(lab))
        # 3. time to rollback (Ansible as written, and with poll loops at ours' first pause)
        ours_rollback, ansible_rollback, ansible_poll_rollback, ansible_usr2_rollback = [], [], [], []
        for _ in range(args.runs):
            failed = pytest_run(lab, FEATURE, "--lab-fault", "unhealthy", check=False)
            [timing] = attachments(failed.results, "time to rollback")
            ours_rollback.append(timing["seconds"])
            bash(f"rm -rf {lab.flatnet}/openresty-failed")
            for seconds_of, extra, book in ((ansible_rollback, (), PLAYBOOK),
                                            (ansible_poll_rollback, ("-e", f"poll={POLL}"), PLAYBOOK),
                                            (ansible_usr2_rollback, ("-e", f"poll={POLL}"), BINARY_UPGRADE_PLAYBOOK)):
                out = ansible(lab, "-e", release(lab, "unhealthy"), "-e", "retries=1", *extra, playbook=book).stdout
                found = re.search(r"ROLLBACK SECONDS ([0-9.]+)", out)
                if found is None:
                    raise RuntimeError(f"the Ansible playbook did not roll back:\n{out[-3000:]}")
                seconds_of.append(float(found.group(1)))
                bash(f"rm -rf {lab.flatnet}/openresty-failed")
        # 4. start-up and collection
        collect = [timed(lambda: subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "features"],
                                                cwd=PROJECT, check=True, capture_output=True))
                   for _ in range(args.runs)]

    failed_manual = sum(r.failed for r in manual)
    failed_ours = sum(r.failed for r in ours)
    table(f"1. {args.updates} consecutive gateway updates under load (prober: {RATE} req/s at most, loopback)",
          ["method", "requests", "failed", "unavailable ms (median)", "unavailable ms (max)"],
          [["manual: stop, rename, start (bash)", sum(r.requests for r in manual), failed_manual,
            median([r.unavailable_ms for r in manual]), max(r.unavailable_ms for r in manual)],
           ["ours: binary upgrade (whole pytest run)", sum(r.requests for r in ours), failed_ours,
            median([r.unavailable_ms for r in ours]), max(r.unavailable_ms for r in ours)],
           ["ours: stop-start in one command (Windows' method)", sum(r.requests for r in shrunk),
            sum(r.failed for r in shrunk), median([r.unavailable_ms for r in shrunk]),
            max(r.unavailable_ms for r in shrunk)]])
    print(f"failed requests, ours/manual: {failed_ours}/{failed_manual}")
    table(f"2. gateway update end to end, lab up (median of {args.runs})",
          ["what", "seconds"],
          [["pytest features/gateway_update.feature (binary upgrade)", median(ours_wall)],
           ["  the procedure itself (record)", median(ours_inside)],
           ["pytest, handover: stop-start (the playbook's method)", median(ours_stop_start)],
           ["ansible-playbook as an operator writes it (wait_for, uri/until: 1 s polls)", median(ansible_wall)],
           [f"ansible-playbook, shell poll loops every {POLL} s (ours' first pause)", median(ansible_poll)],
           [f"ansible-playbook, binary upgrade (USR2/WINCH/QUIT), polls every {POLL} s", median(ansible_usr2)]])
    print(f"ratio ours/Ansible, each as written: {median(ours_wall) / median(ansible_wall):.2f}")
    print(f"ratio ours/Ansible, method-equal (both stop-start; the playbook polls every {POLL} s, ours from {POLL} s): "
          f"{median(ours_stop_start) / median(ansible_poll):.2f}")
    print(f"ratio ours/Ansible, method-equal (both binary upgrade; the playbook polls every {POLL} s, ours from "
          f"{POLL} s): "
          f"{median(ours_wall) / median(ansible_usr2):.2f}")
    table(f"3. time to rollback, unhealthy release (median of {args.runs})", ["who", "seconds"],
          [["ours: failed verification -> verified rollback", median(ours_rollback)],
           ["Ansible as written: rescue start -> verified", median(ansible_rollback)],
           [f"Ansible, shell poll loops every {POLL} s: rescue start -> verified", median(ansible_poll_rollback)],
           [f"Ansible, binary upgrade (HUP/QUIT), polls every {POLL} s: rescue start -> verified",
            median(ansible_usr2_rollback)]])
    print(f"ours, each run: {', '.join(f'{s:.3f}' for s in ours_rollback)}; "
          f"ratio ours/Ansible, each as written: {median(ours_rollback) / median(ansible_rollback):.2f}; "
          f"method-equal poll: {median(ours_rollback) / median(ansible_poll_rollback):.2f} "
          "(ours hands back to a master that never stopped; the playbook stops and starts); "
          "method-equal hand-back (both HUP the previous master): "
          f"{median(ours_rollback) / median(ansible_usr2_rollback):.2f}")
    table("4. start-up and the lab", ["what", "seconds"],
          [["pytest start-up + collection of every feature", median(collect)],
           ["lab cold start (gateway)", median(colds)], ["lab teardown (gateway)", median(downs)]])


if __name__ == "__main__":
    main()
