"""The rollback engine as a pytest plugin, tested the pytest-bdd way: with pytester.

The toy procedure writes what each step does to a journal file, so the tests
see exactly which steps ran, in which order, and how often.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FEATURE = """\
Feature: Toy
  @rollback:toy-rb
  Scenario: Update the toy
    Given the toy is prepared
    When the toy is changed
    Then the toy works

  Scenario: Unrelated check
    Then the toy works

  @rollback-procedure @id:toy-rb
  Scenario: Roll back the toy
    When the toy change is undone
    Then the toy is as before
"""

STEPS = """\
import os
from pathlib import Path
from pytest_bdd import given, when, then

JOURNAL = Path(os.environ["TOY_JOURNAL"])

def note(text):
    with JOURNAL.open("a") as f:
        f.write(text + "\\n")

def fail_at(name):
    if os.environ.get("TOY_FAIL") == name:
        raise RuntimeError(f"injected failure at {name}")

@given("the toy is prepared")
def prepared():
    note("prepare"); fail_at("prepare")

@when("the toy is changed")
def changed():
    note("change"); fail_at("change")

@then("the toy works")
def works():
    note("check"); fail_at("check")

@when("the toy change is undone")
def undone():
    note("undo"); fail_at("undo")

@then("the toy is as before")
def as_before():
    note("verify-undo")
"""


@pytest.fixture
def toy(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makefile(".feature", toy=FEATURE)
    pytester.makepyfile(toy_steps=STEPS)
    pytester.makeconftest('pytest_plugins = ["procedures.plugin", "toy_steps"]\n')
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    journal = tmp_path / "journal.txt"
    monkeypatch.setenv("TOY_JOURNAL", str(journal))
    monkeypatch.delenv("FLATNET_RUN_DIR", raising=False)
    monkeypatch.setenv("FLATNET_LAB_DIR", str(tmp_path / "lab"))  # a toy never needs one: see below
    return pytester


def journal(tmp_path: Path) -> list[str]:
    path = tmp_path / "journal.txt"
    return path.read_text().split() if path.exists() else []


def run(toy: pytest.Pytester, tmp_path: Path, *args: str, subprocess: bool = False) -> pytest.RunResult:
    args = ("toy.feature", f"--alluredir={tmp_path / 'allure'}", *args)
    return toy.runpytest_subprocess(*args) if subprocess else toy.runpytest(*args)


def results(tmp_path: Path) -> dict[str, dict]:
    return {r["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json"))}


def test_a_passing_procedure_does_not_roll_back(toy, tmp_path, monkeypatch) -> None:
    result = run(toy, tmp_path)
    result.assert_outcomes(passed=2, deselected=1)
    assert "undo" not in journal(tmp_path)


@pytest.mark.parametrize("where", ["prepare", "change", "check"])
def test_a_failing_step_runs_the_rollback_once(toy, tmp_path, monkeypatch, where) -> None:
    monkeypatch.setenv("TOY_FAIL", where)
    result = run(toy, tmp_path, "-k", "update")
    result.assert_outcomes(failed=1, deselected=2)
    assert result.ret == 1
    steps = journal(tmp_path)
    assert steps[steps.index(where) + 1:] == ["undo", "verify-undo"]
    assert steps.count("undo") == 1
    record = results(tmp_path)["Update the toy"]
    assert record["status"] == "failed"
    failed = next(s for s in record["steps"] if s["status"] != "passed")
    assert failed["steps"][0]["name"].startswith("ロールバック: Roll back the toy")


@pytest.mark.parametrize("option", ["-x", "--maxfail=1"])
def test_rollback_runs_under_exitfirst_and_maxfail(toy, tmp_path, monkeypatch, option) -> None:
    monkeypatch.setenv("TOY_FAIL", "change")
    result = run(toy, tmp_path, option)
    assert result.ret == 1
    assert journal(tmp_path) == ["prepare", "change", "undo", "verify-undo"]
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_rollback_runs_under_xdist(toy, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOY_FAIL", "change")
    result = run(toy, tmp_path, "-n", "2", "-p", "xdist", subprocess=True)
    result.assert_outcomes(failed=1, passed=1)
    assert journal(tmp_path).count("undo") == 1


def test_a_failed_rollback_is_loud_and_distinct(toy, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOY_FAIL", "check")
    toy.makepyfile(toy_steps=STEPS.replace('fail_at("undo")', 'fail_at("undo"); fail_at("check")'))
    result = run(toy, tmp_path, "-k", "update")
    assert result.ret == 12
    result.stdout.fnmatch_lines(["*ROLLBACK FAILED*", "*a human must take over now*"])
    assert "verify-undo" not in journal(tmp_path)
    record = results(tmp_path)["Update the toy"]
    assert record["status"] == "broken"
    rollback = next(s for s in record["steps"] if s["status"] != "passed")["steps"][0]
    assert [s["status"] for s in rollback["steps"]] == ["broken", "passed"]
    assert rollback["steps"][1]["name"].endswith("(未実施)")
    assert not (tmp_path / "lab").exists(), "escalating must not start a lab for a test without targets"


def test_failed_rollback_exit_code_survives_xdist(toy, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOY_FAIL", "check")
    toy.makepyfile(toy_steps=STEPS.replace('fail_at("undo")', 'fail_at("check")'))
    result = run(toy, tmp_path, "-n", "2", "-p", "xdist", subprocess=True)
    assert result.ret == 12
    result.stdout.fnmatch_lines(["*ROLLBACK FAILED*"])


def test_rollback_scenarios_run_only_by_name(toy, tmp_path) -> None:
    result = run(toy, tmp_path, "--run-rollback", "toy-rb")
    result.assert_outcomes(passed=1, deselected=2)
    assert journal(tmp_path) == ["undo", "verify-undo"]


def test_a_missing_rollback_scenario_fails_the_rollback(toy, tmp_path, monkeypatch) -> None:
    toy.makefile(".feature", toy=FEATURE.replace("@rollback:toy-rb", "@rollback:nowhere"))
    monkeypatch.setenv("TOY_FAIL", "change")
    result = run(toy, tmp_path, "-k", "update")
    assert result.ret == 12
    result.stdout.fnmatch_lines(["*no scenario tagged @rollback-procedure @id:nowhere*"])


def test_xfail_tags_are_refused(toy, tmp_path) -> None:
    toy.makefile(".feature", toy=FEATURE.replace("@rollback:toy-rb", "@rollback:toy-rb @xfail"))
    result = run(toy, tmp_path)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*@xfail would hide a failed procedure*"])


def test_a_misspelled_step_fails_collection_with_the_closest_steps(toy, tmp_path) -> None:
    toy.makefile(".feature", toy=FEATURE.replace("When the toy is changed", "When the toy is chnaged"))
    result = run(toy, tmp_path)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error: not one step ran
    result.stdout.fnmatch_lines(["*toy.feature:5: no step definition matches When 'the toy is chnaged'",
                                 "*closest known steps:", "*when 'the toy is changed'"])
    assert journal(tmp_path) == []
