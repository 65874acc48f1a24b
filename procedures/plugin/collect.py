"""Collect ``.feature`` files directly: ``pytest features/gateway_update.feature``.

pytest-bdd only generates tests from ``scenarios()`` called in a Python
module, so each feature file becomes a synthetic module that makes exactly
that call. Step definitions come from the root conftest's ``pytest_plugins``.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest


class FeatureFile(pytest.Module):
    """A ``.feature`` file seen by pytest as a module of scenario tests."""

    def _getobj(self) -> Any:
        module = types.ModuleType(f"feature_{self.path.stem}")
        module.__file__ = str(self.path)
        code = f"from pytest_bdd import scenarios\nscenarios({str(self.path)!r})\n"
        exec(compile(code, str(self.path), "exec"), module.__dict__)
        return module


def collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".feature":
        return FeatureFile.from_parent(parent, path=file_path)
    return None
