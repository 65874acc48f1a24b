"""``python -m procedures.record.report [RUN_DIR]``: build the single-file HTML record with Allure 3.

Allure 3's awesome plugin always embeds a Google Analytics tag; a maintenance
record must not phone home when an operator opens it, so the tag is removed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
LATEST = PROJECT / "reports" / "latest"
_ANALYTICS = re.compile(
    r"\s*<script async src=\"https://www\.googletagmanager\.com/[^\"]*\"></script>\s*<script>.*?</script>", re.DOTALL
)


LANGUAGE_ENV = "FLATNET_RECORD_LANGUAGE"  # read by allurerc.mjs
LANGUAGE_PROPERTY = "language"  # in the run's environment.properties (written by the plugin)


def language_of(results: Path) -> str:
    """The plan's record language, as the run wrote it into environment.properties (default: Japanese)."""
    try:
        lines = (results / "environment.properties").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return "ja"
    found = [line.split("=", 1)[1].strip() for line in lines if line.startswith(f"{LANGUAGE_PROPERTY}=")]
    return found[0] if found in (["ja"], ["en"]) else "ja"


def build(run_dir: Path) -> Path:
    results = run_dir / "allure-results"
    if not results.is_dir():
        raise SystemExit(f"no Allure results in {results}")
    out = run_dir / "html"
    subprocess.run(
        ["npx", "--no-install", "allure", "generate", str(results), "--config", str(PROJECT / "allurerc.mjs"),
         "-o", str(out)],
        cwd=PROJECT, check=True, stdout=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1", LANGUAGE_ENV: language_of(results)},
    )
    index = out / "index.html"
    index.write_text(_ANALYTICS.sub("", index.read_text(encoding="utf-8")), encoding="utf-8")
    return index


def main(argv: list[str]) -> int:
    run_dir = Path(argv[0]) if argv else LATEST.resolve()
    print(build(run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
