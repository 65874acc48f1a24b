"""Collect ``.feature`` files directly: ``pytest features/gateway_update.feature``.

pytest-bdd only generates tests from ``scenarios()`` called in a Python
module, so each feature file becomes a synthetic module that makes exactly
that call. Step definitions come from the root conftest's ``pytest_plugins``.

A step that no definition matches fails the collection of its file, with the
closest known steps: pytest-bdd alone would only notice when the step runs,
which for a maintenance means half-way through it.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from procedures.plugin.bdd import (
    get_fixture_names,
    getfixturedefs,
    scenario_wrapper_template_registry,
    step_function_context_registry,
)


class FeatureFile(pytest.Module):
    """A ``.feature`` file seen by pytest as a module of scenario tests."""

    def _getobj(self) -> Any:
        module = types.ModuleType(f"feature_{self.path.stem}")
        module.__file__ = str(self.path)
        code = f"from pytest_bdd import scenarios\nscenarios({str(self.path)!r})\n"
        exec(compile(code, str(self.path), "exec"), module.__dict__)
        return module

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        collected = list(super().collect())
        problems = unknown_steps([i for i in collected if isinstance(i, pytest.Function)])
        if problems:
            raise self.CollectError("\n\n".join(problems))
        return collected


def unknown_steps(items: Iterable[pytest.Function]) -> list[str]:
    """Every step of these scenarios (one feature file's) that no step definition matches, with the closest."""
    problems: list[str] = []
    definitions: list[Any] | None = None  # the same for every scenario of one file: looked up once
    for item in items:
        template = scenario_wrapper_template_registry.get(item.obj)
        if template is None:
            continue
        definitions = definitions if definitions is not None else step_definitions(item)
        for step in template.render({}).steps:
            if any(d.type in (None, step.type) and d.parser.is_matching(step.name) for d in definitions):
                continue
            known = sorted({d.parser.name for d in definitions if d.type in (None, step.type)})
            close = difflib.get_close_matches(step.name, known, n=3, cutoff=0.5)
            hint = "".join(f"\n    {step.type} {c!r}" for c in close) if close else " none is close"
            problems.append(f"{template.feature.filename}:{step.line_number}: no step definition matches "
                            f"{step.keyword} {step.name!r}\n  closest known steps:{hint}")
    return sorted(set(problems))


def step_definitions(item: pytest.Function) -> list[Any]:
    """The context (type, parser) of every step definition visible to ``item``, as pytest-bdd sees them."""
    manager, found = item.session._fixturemanager, []
    for name in get_fixture_names(manager):
        for fixturedef in getfixturedefs(manager, name, item) or []:
            context = step_function_context_registry.get(fixturedef.func)
            if context is not None:
                found.append(context)
    return found


def collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".feature":
        return FeatureFile.from_parent(parent, path=file_path)
    return None
