"""``python -m procedures.lab up|down|status|fault NAME|images``: manage the lab by hand."""

from __future__ import annotations

import argparse
import json
import sys

from procedures.errors import ProcedureError
from procedures.lab import FAULTS, PARTS, Lab
from procedures.lab.podman import IMAGE_CACHE
from procedures.record.secrets import redact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab", description="The local Flatnet lab.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build what is missing and start what is stopped")
    up.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {','.join(PARTS)}")
    down = sub.add_parser("down", help="stop every lab process and remove the lab")
    down.add_argument("--keep", action="store_true", help="keep the lab's files")
    sub.add_parser("status", help="print the lab's state as JSON")
    fault = sub.add_parser("fault", help="make the plan install a faulty release")
    fault.add_argument("name", choices=[*FAULTS, "none"])
    sub.add_parser("images", help="build the monitoring images into the machine's cache, once (the set-up does)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except ProcedureError as exc:  # a mistake or a machine problem: one message, the traceback only if asked
        if args.verbose:
            raise
        print(f"lab {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    lab = Lab.default()
    if args.command == "up":
        lab.up(tuple(args.parts.split(",")))
        print(f"lab up: inventory {lab.inventory_path}")
    elif args.command == "down":
        lab.down(purge=not args.keep)
        print("lab down")
    elif args.command == "status":
        print(json.dumps(lab.status(), indent=2))
    elif args.command == "images":
        if Lab.build_images():
            print(f"lab images: built into {IMAGE_CACHE}")
    else:
        lab.use_fault(None if args.name == "none" else args.name)
        print(f"plan now installs the {args.name} release: {lab.plan_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
