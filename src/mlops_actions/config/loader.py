"""Loading mlops.yaml: YAML with unique keys, `${VAR}` interpolation, validation into `Settings`,
and every problem turned into one `ConfigError` with file:line:col and the key path."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from mlops_actions.config.schema import DEFAULT_CONFIG, Settings
from mlops_actions.errors import ConfigError
from mlops_actions.metric_catalog import metrics_for

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise _Located(
                f"duplicate key {key!r}; keep one of them",
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _no_duplicates,
)


class _Located(Exception):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.line, self.col = line, col


def _node_at(root: yaml.Node | None, loc: tuple[str | int, ...]) -> tuple[yaml.Node | None, bool]:
    """The deepest node on `loc`, and whether the whole path was found."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            if match is None:
                return node, False
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node, False
            node = node.value[part]
        else:
            return node, False
    return node, True


def _key_node_at(root: yaml.Node | None, loc: tuple[str | int, ...]) -> yaml.Node | None:
    parent, found = _node_at(root, loc[:-1])
    if found and isinstance(parent, yaml.MappingNode):
        return next((k for k, _ in parent.value if k.value == str(loc[-1])), None)
    return None


def _interpolate(value: Any, loc: tuple[str | int, ...], root: yaml.Node | None, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, k), root, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, i), root, where) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is not None:
            return found
        if default is not None:
            return default
        node, _ = _node_at(root, loc)
        raise ConfigError(
            f"environment variable {name} is not set",
            location=_location(where, node),
            key_path=dotted_key(loc),
            hint=f"set it, or give a default as ${{{name}:-value}}.",
        )

    return _ENV_REF.sub(sub, value)


def _location(where: str, node: yaml.Node | None) -> str:
    if node is None:
        return where
    return f"{where}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def dotted_key(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The settings model that owns the mapping at `loc` (to suggest key names)."""
    current: Any = Settings
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            current = _unwrap(current, part)
            if current is None:
                return None
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation, None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any, part: str | int | None) -> Any:
    """Strip Optional/Annotated/list/dict down to the model a path step lands in."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0], part)
    if origin in (list, dict):
        return get_args(annotation)[-1]
    if origin is not None:  # a union such as X | None
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation


def _closest(word: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def explain_error(error: dict[str, Any]) -> tuple[str, str | None]:
    """One pydantic error → (message, hint)."""
    kind, loc, given = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        choices = sorted(owner.model_fields) if owner else []
        choices = [c for c in choices if c != "base_dir"]
        guess = _closest(str(loc[-1]), choices)
        hint = f"did you mean '{guess}'?" if guess else f"known keys: {', '.join(choices)}."
        return f"unknown key '{loc[-1]}';", hint
    if kind == "missing":
        return "required key is missing;", f"add `{loc[-1]}: …` here."
    if kind in ("literal_error", "enum"):
        expected = [e.strip(" '") for e in re.split(r",| or ", error["ctx"]["expected"]) if e]
        guess = _closest(str(given), expected)
        hint = f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(expected)}."
        return f"{given!r} is not allowed;", hint
    if kind in ("model_type", "dict_type"):
        return f"expected a mapping (key: value lines), got {_kind(given)};", None
    if kind == "list_type":
        return f"expected a list (- item lines), got {_kind(given)};", None
    msg = error["msg"]
    msg = msg[0].lower() + msg[1:] if msg else kind
    if msg.startswith("value error, "):
        msg = msg[len("value error, ") :]
    return f"{msg}, got {given!r};" if not isinstance(given, (dict, list)) else f"{msg};", None


def without_misspelt_twins(errors: list[Any]) -> list[Any]:
    """Errors with unknown keys first, less the "missing" twin of each misspelt key.

    A misspelt key shows up twice: as unknown, and as the required key it was meant to be. The
    unknown key is the one to report, since it can say what was meant.
    """
    meant = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            owner = _model_at(tuple(error["loc"][:-1]))
            guess = _closest(str(error["loc"][-1]), sorted(owner.model_fields) if owner else [])
            if guess:
                meant.add((*error["loc"][:-1], guess))
    kept = [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in meant)]
    return sorted(kept, key=lambda e: e["type"] != "extra_forbidden")


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value!r}"


def cross_checks(settings: Settings) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Rules between keys: (path, message, hint) for each violation."""
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    known = metrics_for(settings.model.task)
    names = set(known) | set(settings.evaluate.custom_metrics)
    ev = settings.evaluate
    task = settings.model.task

    def check(loc: tuple[str | int, ...], metric: str) -> None:
        if metric not in names:
            guess = _closest(metric, sorted(names))
            hint = (
                f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(sorted(names))}."
            )
            problems.append((loc, f"'{metric}' is not a {task} metric;", hint))

    check(("evaluate", "primary_metric"), ev.primary_metric)
    for i, guard in enumerate(ev.guardrails):
        check(("evaluate", "guardrails", i, "metric"), guard.metric)
    for key in ev.min:
        check(("evaluate", "min", key), key)
    if ev.primary_metric in ev.custom_metrics and ev.greater_is_better is None:
        problems.append(
            (
                ("evaluate", "primary_metric"),
                f"custom metric '{ev.primary_metric}' needs a direction;",
                "add `greater_is_better: true` (or false) under evaluate.",
            )
        )
    for name, ref in ev.custom_metrics.items():
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", ref):
            problems.append(
                (
                    ("evaluate", "custom_metrics", name),
                    f"{ref!r} is not a 'package.module:function' reference;",
                    "write it as e.g. 'my_metrics:gini'.",
                )
            )
    if settings.validation.engine == "sql" and settings.validation.sql is None:
        problems.append(
            (
                ("validation", "engine"),
                "engine 'sql' needs a table to read;",
                "add validation.sql with connection_string and table.",
            )
        )
    if settings.train.backend == "azureml" and settings.train.azureml is None:
        problems.append(
            (
                ("train", "backend"),
                "backend 'azureml' needs train.azureml settings;",
                "add train.azureml with compute (or instance_type) and workspace.",
            )
        )
    deploy = settings.deploy
    if deploy.backend == "azureml" and not (
        (deploy.azureml and deploy.azureml.workspace)
        or (settings.train.azureml and settings.train.azureml.workspace)
    ):
        problems.append(
            (
                ("deploy", "backend"),
                "backend 'azureml' needs a workspace;",
                "add deploy.azureml.workspace (subscription_id, resource_group, workspace) "
                "or train.azureml.workspace.",
            )
        )
    return problems


def parse_settings(text: str | bytes, *, source: str = DEFAULT_CONFIG, base_dir: Path) -> Settings:
    """Validate YAML text into `Settings`; raises ConfigError naming file:line:col and key path."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"is not UTF-8 text (byte {exc.start} is {text[exc.start : exc.start + 1]!r});",
                location=source,
                hint="save the file as UTF-8.",
            ) from None
    if not text.strip():
        raise ConfigError(
            "is empty;", location=source, hint="run `mlops init` for a commented starter file."
        )
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader subclass)
    except _Located as exc:
        raise ConfigError(str(exc), location=f"{source}:{exc.line}:{exc.col}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"is not valid YAML: {problem};", location=where, hint="fix the syntax there."
        ) from None
    if data is None:
        raise ConfigError(
            "is empty (only comments);",
            location=source,
            hint="run `mlops init` for a commented starter file.",
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"must be a mapping of keys (model:, data:, …), got {_kind(data)};",
            location=_location(source, root),
        )
    data = _interpolate(data, (), root, source)
    try:
        settings = Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        errors = without_misspelt_twins(exc.errors())
        first = errors[0]
        loc = tuple(first["loc"])
        if first["type"] == "extra_forbidden":
            node: yaml.Node | None = _key_node_at(root, loc)
        else:
            node, _ = _node_at(root, loc)
        message, hint = explain_error(dict(first))
        if len(errors) > 1:
            extra = len(errors) - 1
            message = f"{message.rstrip(';')} (and {extra} more problem{'s' if extra > 1 else ''});"
        raise ConfigError(
            message if hint else message.rstrip(";"),
            location=_location(source, node),
            key_path=dotted_key(loc),
            hint=hint,
        ) from None
    problems = cross_checks(settings)
    if problems:
        loc, message, hint = problems[0]
        node, _ = _node_at(root, loc)
        raise ConfigError(
            message, location=_location(source, node), key_path=dotted_key(loc), hint=hint
        )
    settings.base_dir = base_dir
    return settings


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and validate mlops.yaml at `path`; raises ConfigError when it is missing or invalid."""
    file = Path(path)
    shown = str(path)
    if not file.exists():
        raise ConfigError(
            "config file not found;",
            location=shown,
            hint="pass --config PATH, or run `mlops init` to write a starter mlops.yaml.",
        )
    if file.is_dir():
        raise ConfigError("is a folder, not a file;", location=shown, hint="pass the YAML file.")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot be read: {exc.strerror};", location=shown, hint="check its permissions."
        ) from None
    return parse_settings(raw, source=shown, base_dir=file.resolve().parent)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of mlops.yaml, for editor completion and validation."""
    schema = Settings.model_json_schema(mode="validation")
    schema["properties"].pop("base_dir", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlops.yaml"
    return schema
