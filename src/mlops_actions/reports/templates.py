"""Summary text kept in template files, filled with values already escaped for Markdown.

Each step's Markdown summary is `templates/summaries/<name>.md`, a `string.Template` with `$name`
placeholders: the prose lives in the file, the code computes the values (tables, figures, lists,
each made safe with `reports.markdown`). A missing placeholder is a bug, so it raises KeyError.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def _template(name: str) -> Template:
    text = resources.files("mlops_actions").joinpath("templates", "summaries", f"{name}.md")
    return Template(text.read_text(encoding="utf-8"))


def render(template: str, /, **values: object) -> str:
    """The summary template `template` with `values` in place.

    A placeholder left empty leaves no gap: runs of blank lines become one, except inside fenced
    code blocks (a log tail keeps its lines). Values are inserted as they are: escape
    user-controlled text before (`markdown.escape`). Raises KeyError when the template names a
    value that was not given.
    """
    text = _template(template).substitute({k: str(v) for k, v in values.items()})
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced or line.strip() or (lines and lines[-1].strip()):
            lines.append(line if fenced else line.rstrip())
    return "\n".join(lines).strip() + "\n"
