"""The record as its readers open it: the single-file HTML of a rolled-back update, in headless Chromium.

Debian's chromium (installed by the set-up), driven by Playwright for Python pointed at it: no browser
download happens. The page must render within 5 s, and a reader must find, by clicking as a person
would: the scenario, its outcome line, the failed step with its error, the rollback nested under it,
a command's output, and the summary of the wait that failed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from procedures.lab import Lab
from procedures.record import report
from tests.conftest import run_features

CHROMIUM = Path("/usr/bin/chromium")
# No network, no first-run work: the page is a local file and the record must never phone home.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is installed by ./maint setup")


def test_a_rolled_back_update_reads_in_a_real_browser(lab: Lab, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    run_dir = tmp_path / "run"
    run = run_features(lab, tmp_path, "features/gateway_update.feature", "--lab-fault", "unhealthy",
                       f"--alluredir={run_dir / 'allure-results'}")
    assert run.rc == 1, run.output
    index = report.build(run_dir)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.monotonic()
            page.goto(index.as_uri())
            scenario = page.get_by_text("Gateway のアップデート実行").first
            expect(scenario).to_be_visible(timeout=5000)
            rendered = time.monotonic() - started
            assert rendered < 5, rendered

            scenario.click()
            description = page.frame_locator("iframe").first
            expect(description.get_by_text("結果: ロールバック完了")).to_be_visible()
            expect(description.get_by_text("Gateway (OpenResty)")).to_be_visible()

            failed = page.get_by_text("ならば ゲートウェイが新しいバージョンで応答する").first
            expect(failed).to_be_visible()
            expect(page.get_by_text("VerificationFailed").first).to_be_visible()
            failed.click()
            wait = page.get_by_text("待機: ゲートウェイが 1.27.1.2 で応答すること").first
            expect(wait).to_be_visible()
            wait.click()
            expect(page.get_by_text("異なる応答").first).to_be_visible()

            page.get_by_text("ロールバック: Gateway の問題発生時のロールバック").first.click()
            page.get_by_text("もし 旧リリースが新リリースから引き継ぐ").first.click()
            command = page.get_by_text("lab: 旧 master が worker を再び起動 (HUP) → rc 0", exact=True)
            expect(command).to_be_visible()
            command.click()  # the command that changed the target, opened in full
            expect(page.get_by_text("kill -HUP", exact=False).first).to_be_visible()
            expect(page.get_by_text("# host=lab rc=0", exact=False).first).to_be_visible()

            shot = tmp_path / "failed-test.png"
            page.screenshot(path=str(shot), full_page=True, timeout=10000)
            assert shot.stat().st_size > 20_000
        finally:
            browser.close()
