"""What `mlops init` writes into a repository: read from its data, rendered from templates."""

from __future__ import annotations


def template(name: str) -> str:
    """The text of `templates/<name>` shipped with the package."""
    from importlib.resources import files

    return files("mlops_actions").joinpath("templates", name).read_text(encoding="utf-8")
