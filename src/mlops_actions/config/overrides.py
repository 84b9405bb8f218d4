"""Flags over mlops.yaml: one mapping of dotted keys, validated by the same models as the file.

A command declares which flag stands for which key (`commands.options.setting_flag`); the CLI
collects the flags that were given into an `Override` list and `apply_overrides` returns new
settings. The pydantic models and the cross-checks of the loader judge the result, so a flag
obeys the ranges, choices and rules of its key, and an error names both the flag and the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlops_actions.config.loader import cross_checks, dotted_key, explain_error
from mlops_actions.config.schema import Settings
from mlops_actions.errors import ConfigError


@dataclass(frozen=True)
class Override:
    """One setting given on the command line (or as an action input)."""

    key: str
    """Dotted key path in mlops.yaml, e.g. `evaluate.min_improvement`."""
    value: Any
    origin: str
    """What set it, for messages: the flag (`--min-improvement`)."""
    clears: tuple[str, ...] = ()
    """Keys that depend on this one and go back to their defaults when its value changes
    (`evaluate.greater_is_better` follows `evaluate.primary_metric`)."""


def apply_overrides(settings: Settings, overrides: Sequence[Override]) -> Settings:
    """`settings` with each override set; the original is not changed.

    Relative paths in overrides are taken from the working directory (where the flag was typed),
    not from the config folder. Raises ConfigError located at the override's origin, with the
    key path, when the result does not validate.
    """
    if not overrides:
        return settings
    data = settings.model_dump(mode="python")
    for override in overrides:
        value = override.value
        if isinstance(value, Path) and not value.is_absolute():
            value = value.resolve()
        path = override.key.split(".")
        if override.clears and _get(data, path) != value:
            for dependent in override.clears:
                _drop(data, dependent.split("."))
        _set(data, path, value)
    origins = {o.key: o.origin for o in overrides}
    try:
        result = Settings.model_validate(data, context={"base_dir": settings.base_dir})
    except ValidationError as exc:
        raise _located(exc, origins) from None
    problems = cross_checks(result)
    if problems:
        loc, message, hint = problems[0]
        key = dotted_key(loc)
        raise ConfigError(message, location=_origin(key, origins), key_path=key, hint=hint)
    result.base_dir = settings.base_dir
    return result


def section_from_overrides(name: str, overrides: Sequence[Override], base_dir: Path) -> Any:
    """Section `name` of mlops.yaml (e.g. `validation`) from the overrides alone, for commands
    that also run without a config file: the section's defaults with the flags over them.

    Overrides of other sections are ignored. Relative paths are taken from `base_dir` (the
    working directory). Raises ConfigError located at the flag, with the key path.
    """
    model = Settings.model_fields[name].annotation
    if not isinstance(model, type):
        raise TypeError(f"{name} is not a section of mlops.yaml")
    data: dict[str, Any] = {}
    mine = [o for o in overrides if o.key.startswith(name + ".")]
    for override in mine:
        _set(data, override.key.split(".")[1:], override.value)
    origins = {o.key: o.origin for o in mine}
    try:
        return model.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _located(exc, origins, prefix=(name,)) from None


def _located(
    exc: ValidationError, origins: dict[str, str], prefix: tuple[str, ...] = ()
) -> ConfigError:
    """The first pydantic error as a ConfigError at the flag that caused it."""
    first = exc.errors()[0]
    key = dotted_key(prefix + tuple(first["loc"]))
    message, hint = explain_error(dict(first))
    return ConfigError(
        message.rstrip(";") + ";",
        location=_origin(key, origins),
        key_path=key,
        hint=hint or f"give {_origin(key, origins)} a value that {key} accepts.",
    )


def _set(data: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    data[path[-1]] = value


def _get(data: dict[str, Any], path: list[str]) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)  # type: ignore[assignment]
    return data


def _drop(data: dict[str, Any], path: list[str]) -> None:
    parent = _get(data, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _origin(key: str, origins: dict[str, str]) -> str:
    """The flag behind `key`, or behind the nearest key above or below it; else the config."""
    for given, origin in origins.items():
        if key == given or key.startswith(given + ".") or given.startswith(key + "."):
            return origin
    return "mlops.yaml"
