"""The record stays a size a person can open: waits are summarised, changes attached in full, in its language.

Judged on the Allure results a real rolled-back update leaves: how many attachments, how many bytes,
one summary per wait with its count and its first and last exchange, and every changing command there;
every title in Japanese by default, in English when the plan says ``language: en``.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from procedures.lab import Lab
from tests.conftest import Run, lab_files_changed, run_features
from tests.test_monitoring import _walk

MAX_ATTACHMENTS = 80
MAX_BYTES = 1_000_000
STEP_KEYWORDS = ("前提 ", "もし ", "ならば ", "かつ ", "しかし ")  # the Gherkin steps: the feature's own words


def result_of(run: Run) -> dict:
    [result] = [json.loads(p.read_text()) for p in run.results.glob("*-result.json")]
    return result


def size(run: Run) -> tuple[int, int]:
    files = list(run.results.iterdir())
    return sum(1 for f in files if "-attachment" in f.name), sum(f.stat().st_size for f in files)


def attached(run: Run, result: dict, prefix: str) -> list[str]:
    return [(run.results / a["source"]).read_text() for step in _walk(result["steps"])
            for a in step.get("attachments", []) if a["name"].startswith(prefix)]


JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
HTTP_EXCHANGE = re.compile(r"HTTP [A-Z]+ \S+ → (\d+|None)")  # method, URL, status: the same in every language


def titles(result: dict) -> set[str]:
    """Every step and attachment title under the test."""
    return {title for step in [result, *_walk(result["steps"])]
            for title in [step["name"], *(a["name"] for a in step.get("attachments", []))]}


def test_a_rolled_back_update_leaves_a_bounded_record_with_its_waits_summarised(lab: Lab, tmp_path: Path) -> None:
    run = run_features(lab, tmp_path, "features/gateway_update.feature", "--lab-fault", "unhealthy")
    assert run.rc == 1, run.output
    count, total = size(run)
    assert count < MAX_ATTACHMENTS and total < MAX_BYTES, (count, total)

    result = result_of(run)
    [failed_wait, *_] = attached(run, result, "待機: ゲートウェイが 1.27.1.2 で応答すること")
    exchanges = int(failed_wait.split("応答の回数: ", 1)[1].split("\n", 1)[0])
    assert exchanges > 10  # many polls, one attachment
    assert "結果: 打ち切り: VerificationFailed: the gateway does not serve 1.27.1.2" in failed_wait
    assert "× HTTP GET" in failed_wait and "/api/health → 503" in failed_wait
    assert "--- 最初の応答" in failed_wait and "--- 最後の応答" in failed_wait
    # the record's own words are the plan's language (Japanese by default): no title left in English
    english = sorted(t for t in titles(result) if not JAPANESE.search(t) and not HTTP_EXCHANGE.fullmatch(t))
    assert english == []
    # what changed the target is there in full, one attachment each: the hand-over and its undoing
    changes = attached(run, result, "lab: ")
    assert any("kill -USR2" in body for body in changes) and any("kill -HUP" in body for body in changes)


def test_ten_re_verifications_stay_within_half_again_the_bound(lab: Lab, tmp_path: Path) -> None:
    def partly_broken_for_a_while(inventory: dict, plan: dict) -> None:
        inventory["components"]["gateway"]["timeouts"] = {"healthy": 0.3}
        plan["policy"]["partly_broken"] = {"fix_window_minutes": 0.12, "retry_every_seconds": 0.2}
        plan["language"] = "en"  # the record's other language: its own words in English

    lab.use_fault("unhealthy")  # this test's own lab: its plan now installs the unhealthy release
    files = lab_files_changed(lab, tmp_path, partly_broken_for_a_while)
    run = run_features(lab, tmp_path, "features/gateway_update.feature", *files)
    assert run.rc == 1, run.output
    attempts = [s for s in _walk(result_of(run)["steps"]) if s["name"].startswith("re-verify (partly_broken")]
    assert len(attempts) >= 10, len(attempts)
    # in English, what is left of each title once the feature's own (Japanese) texts are taken out is English
    every = titles(result_of(run))
    steps = {t for t in every if t.startswith(STEP_KEYWORDS)}
    scenarios = {"Gateway の問題発生時のロールバック", "Gateway のアップデート実行"}
    feature_texts = sorted(steps | {t.split(" ", 1)[1] for t in steps} | scenarios, key=len, reverse=True)
    own_words = [functools.reduce(lambda title, text: title.replace(text, ""), feature_texts, t) for t in every]
    assert [t for t in own_words if JAPANESE.search(t)] == []
    assert any(t.startswith("wait: the gateway to serve 1.27.1.2") for t in every)
    count, total = size(run)
    assert count < 1.5 * MAX_ATTACHMENTS and total < 1.5 * MAX_BYTES, (count, total)
