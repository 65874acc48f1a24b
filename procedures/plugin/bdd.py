"""Every pytest-bdd (and pytest) internal the project touches, in one place, each with why and its way out.

pytest-bdd's public API runs a scenario as a test of its own. Running a
scenario *inside* another test (a rollback, a checklist, the workflow's
procedures, the dry run's preview) and refusing unknown steps at collection
need its internals. The pin on pytest-bdd in pyproject.toml exists for the
imports below: when one moves, this module is the only one to mend.
"""

from __future__ import annotations

# Calls a step function the way pytest calls a fixture function (generator steps, finalizers). Way out: none
# public; calling the function directly would lose ``yield`` steps.
from _pytest.fixtures import call_fixture_func

# A step's failure raised by ``pytest.fail`` is not an Exception; runners catch it too. Way out: pytest.fail.Exception.
from _pytest.outcomes import Failed

# The fixture manager's names and definitions, across pytest versions (collection's "closest known steps"),
# and ``target_fixture`` injection after a step. Way out: request.getfixturevalue for the injection only.
from pytest_bdd.compat import get_fixture_names, getfixturedefs, inject_fixture

# Every feature under a folder, parsed (rollbacks and the workflow find scenarios by @id). Way out:
# pytest_bdd.parser.FeatureParser on each file.
from pytest_bdd.feature import get_features

# The parsed model: features, scenarios, steps (types, and the rendering of a scenario template).
from pytest_bdd.parser import Feature, Scenario, ScenarioTemplate, Step

# Which step definition a step resolves to, its parsed arguments, the definitions visible to an item, and the
# scenario behind a generated test function. Way out: pytest-bdd exposing "run this scenario here" (none yet).
from pytest_bdd.scenario import (
    get_step_function,
    parse_step_arguments,
    scenario_wrapper_template_registry,
)

# A step definition's text and type, from its fixture function (collection's "closest known steps").
from pytest_bdd.steps import step_function_context_registry

# The arguments a step function takes, so that only those are passed. Way out: inspect.signature.
from pytest_bdd.utils import get_required_args

__all__ = ["Failed", "Feature", "Scenario", "ScenarioTemplate", "Step", "call_fixture_func",
           "get_features", "get_fixture_names", "get_required_args",
           "get_step_function", "getfixturedefs", "inject_fixture", "parse_step_arguments",
           "scenario_wrapper_template_registry", "step_function_context_registry"]
