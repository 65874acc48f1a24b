"""The lab's cold start and the test loop's start-up, like with like in one run.

    .venv/bin/python bench/lab.py [--runs N]

1. Cold start of every part (``./maint lab up``), and of the gateway alone, each into a new folder:
   with the machine's image cache empty (every lab built its monitoring images before the cache) and
   with it warm (every lab on a set-up machine: the set-up fills the cache once, ``./maint lab images``).
   The cold-cache runs use a cache of their own, so the machine's cache is left as it is.
2. pytest start-up plus collection of every feature, and of one.

Every figure is the median of ``--runs`` runs (at least 3), and says how many.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from common import PROJECT, median, scratch, table, timed

from procedures.lab import PARTS, Lab
from procedures.lab import podman as lab_podman


def cold_start(parts: tuple[str, ...]) -> tuple[float, float]:
    lab = Lab(scratch("cold-") / "lab")
    up = timed(lambda: lab.up(parts))
    return up, timed(lab.down)


def collect(target: str) -> float:
    return timed(lambda: subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", target], cwd=PROJECT,
                                        check=True, capture_output=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = max(3, parser.parse_args().runs)
    machine_cache = lab_podman.IMAGE_CACHE
    cold_cache = []
    for _ in range(runs):
        lab_podman.IMAGE_CACHE = scratch("image-cache-")  # empty: the images are built, as before the cache
        cold_cache.append(cold_start(PARTS))
    lab_podman.IMAGE_CACHE = machine_cache
    cold_start(("monitoring",))  # fills the machine's cache if it is empty, outside the measurement
    warm_cache = [cold_start(PARTS) for _ in range(runs)]
    gateway = [cold_start(("gateway",)) for _ in range(runs)]
    collect_all = [collect("features") for _ in range(runs)]
    collect_one = [collect("features/gateway_update.feature") for _ in range(runs)]
    table(f"1. lab cold start, into a new folder (median of {runs})", ["parts", "up s", "down s"],
          [[f"all ({', '.join(PARTS)}), image cache empty", median([u for u, _ in cold_cache]),
            median([d for _, d in cold_cache])],
           [f"all ({', '.join(PARTS)}), image cache warm", median([u for u, _ in warm_cache]),
            median([d for _, d in warm_cache])],
           ["gateway", median([u for u, _ in gateway]), median([d for _, d in gateway])]])
    table(f"2. pytest start-up + collection (median of {runs})", ["what", "seconds"],
          [["every feature", median(collect_all)], ["features/gateway_update.feature", median(collect_one)]])


if __name__ == "__main__":
    main()
