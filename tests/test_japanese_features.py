"""The procedures read in the manual's language: every feature is ``# language: ja``, the step definitions
match the Japanese text, each step's record shows the manual's command it performs or replaces, and an
unknown step still names the closest known ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from procedures.lab import Lab
from procedures.plugin import manual

PROJECT = Path(__file__).resolve().parents[1]
FEATURES = sorted((PROJECT / "features").rglob("*.feature"))
STEP = re.compile(r"^\s*(前提|もし|ならば|かつ|しかし) (.+)$", re.M)


def test_every_feature_is_written_in_japanese() -> None:
    assert FEATURES and [f.name for f in FEATURES if "# language: ja" not in f.read_text(encoding="utf-8")] == []
    for feature in FEATURES:
        text = feature.read_text(encoding="utf-8")
        assert "機能:" in text and "Feature:" not in text and "Scenario:" not in text, feature
        assert all(re.fullmatch(r"[\x21-\x7e]+", tag) for tag in re.findall(r"@(\S+)", text)), feature  # ASCII ids


def test_every_manual_command_belongs_to_a_step_of_a_feature() -> None:
    steps = {m.group(2).strip() for f in FEATURES for m in STEP.finditer(f.read_text(encoding="utf-8"))}
    commands = yaml.safe_load(manual.FILE.read_text(encoding="utf-8"))
    assert len(commands) > 30 and sorted(set(commands) - steps) == []


def test_a_steps_record_shows_the_manuals_command(lab: Lab, features) -> None:
    run = features("features/gateway_update.feature")
    assert run.rc == 0, run.output

    def step(node: dict, name: str) -> dict | None:
        for child in node.get("steps", []):
            if child["name"] == name:
                return child
            if (found := step(child, name)) is not None:
                return found
        return None

    [result] = [r for r in run.result_files() if r["name"] == "Gateway のアップデート実行"]
    config_test = step(result, "かつ 展開した設定で設定テストが通る")
    assert config_test is not None
    title = "手順書のコマンド (このステップが実施または置き換えるもの)"
    [shown] = [a for a in config_test["attachments"] if a["name"] == title]
    shown_text = (run.results / shown["source"]).read_text(encoding="utf-8")
    assert shown_text == "cd F:\\flatnet\\openresty-new\n.\\nginx.exe -t"


def test_an_unknown_japanese_step_names_the_closest_known_ones(tmp_path: Path) -> None:
    feature = tmp_path / "typo.feature"
    feature.write_text("# language: ja\n@component:gateway\n機能: 誤字\n\n  シナリオ: 誤字のある手順\n"
                       "    前提 ゲートウェイが稼動している\n", encoding="utf-8")
    plugins = ["-p", "no:cacheprovider", "-p", "procedures.plugin", "-p", "steps.gateway"]
    out = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", *plugins, str(feature)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False,
                         env={**os.environ, "PYTHONPATH": str(PROJECT)})
    assert out.returncode != 0, out.stdout
    assert "no step definition matches 前提 'ゲートウェイが稼動している'" in out.stdout, out.stdout
    assert "given 'ゲートウェイが稼働している'" in out.stdout
