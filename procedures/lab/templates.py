"""Lab file templates: ``{name}`` placeholders, so nginx, Lua and YAML braces stay literal."""

from __future__ import annotations

from importlib import resources


def render(folder: str, template: str, **values: object) -> str:
    text = resources.files(__package__).joinpath(folder, template).read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text
