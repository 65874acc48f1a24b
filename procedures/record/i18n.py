"""The record's own words in the plan's language (``language: ja`` by default, ``en`` as a choice).

The code keeps writing its evidence titles in English, where engineers read them
(a command's ``purpose``, a wait's subject, a step title). The record translates
each title at its edge, when it is attached: a catalogue of English templates
(``i18n_ja.CATALOGUE``) whose ``{placeholders}`` carry the values (paths, hosts,
versions) through untouched. What a placeholder captured is translated in turn,
so ``WOULD RUN: move {src} to {dst}`` reads whole in Japanese.

The language is a cross-cutting fact: decided once per run, from the plan
(``use``), when the run's maintenance is loaded. A title with no entry stays as
written, so a new purpose is never lost, only left in English (the test of the
record's words finds it).
"""

from __future__ import annotations

import functools
import re

from procedures.record.i18n_ja import CATALOGUE

LANGUAGES = ("ja", "en")
_chosen = {"language": "ja"}  # this process's run: one plan, one language

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def use(language: str) -> None:
    """The run's record language, from its plan (one per process: each xdist worker loads the plan)."""
    _chosen["language"] = language if language in LANGUAGES else "ja"


def language() -> str:
    return _chosen["language"]


def words(text: str) -> str:
    """``text`` (an English title) in the record's language; unchanged when there is no entry for it."""
    return text if language() == "en" or not text else _japanese(text)


@functools.lru_cache(maxsize=8192)
def _japanese(text: str) -> str:
    exact = _EXACT.get(text)
    if exact is not None:
        return exact
    for pattern, template in _TEMPLATES:
        found = pattern.fullmatch(text)
        if found:
            return template.format(**{key: _japanese(value) for key, value in found.groupdict().items()})
    return text


def _compile(english: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(english)  # literal, name, literal, name, …
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)"
                              for i, part in enumerate(parts)), re.S)


_EXACT = {en: ja for en, ja in CATALOGUE if not _PLACEHOLDER.search(en)}
_TEMPLATES = [(_compile(en), ja) for en, ja in CATALOGUE if _PLACEHOLDER.search(en)]
