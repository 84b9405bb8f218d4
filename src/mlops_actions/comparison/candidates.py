"""Which models are compared: what `--candidate` names, the champion, and loading them.

A candidate is a run id, `runs:/…`, `models:/m-…` (a logged model), `models:/name/version`,
`models:/name@alias`, or a local model folder. Each resolves to a `ModelRef` that carries the run
and its tags, so the report can show lineage and the verdict can be written on the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import BackendError, InputError
from mlops_actions.scoring import ModelFailed, describe_exception

if TYPE_CHECKING:
    from mlops_actions.registry import ModelRegistry

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ModelRef:
    """A model that was scored: what was loaded and where it came from."""

    uri: str
    run_id: str | None = None
    experiment_id: str | None = None
    version: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`v3` for a registered version, else the URI."""
        if self.version is not None:
            return f"v{self.version}"
        return self.uri


def resolve_candidate(registry: ModelRegistry, text: str) -> ModelRef:
    """What `--candidate` names, with its run and the run's tags.

    Accepts a run id, `runs:/…`, `models:/m-…`, `models:/name/version`, `models:/name@alias`,
    or a local model folder. InputError when it does not exist; BackendError when the registry
    fails.
    """
    text = text.strip()
    if not text:
        raise InputError("--candidate is empty;", hint="pass a model URI or an MLflow run id.")
    if _RUN_ID.match(text):
        return _from_run(registry, text, "model")
    if text.startswith("runs:/"):
        run_id, _, artifact = text[len("runs:/") :].partition("/")
        return _from_run(registry, run_id, artifact.strip("/") or "model")
    if text.startswith("models:/"):
        rest = text[len("models:/") :]
        if rest.startswith("m-") and "/" not in rest and "@" not in rest:
            return _from_logged_model(registry, rest)
        return _from_registry_uri(registry, text, rest)
    path = Path(text[len("file://") :] if text.startswith("file://") else text)
    if "://" not in text or text.startswith("file://"):
        if not (path / "MLmodel").is_file():
            raise InputError(
                f"candidate {text!r} does not exist (no MLmodel file there);",
                hint="pass a models:/ URI, runs:/RUN_ID/model, or an MLflow run id.",
            )
        return ModelRef(uri=str(path.resolve()))
    return ModelRef(uri=text)


def _run_tags(registry: ModelRegistry, run_id: str) -> tuple[str, dict[str, str]]:
    run = registry.get_run(run_id)
    if run is None:
        raise InputError(
            f"candidate run {run_id} does not exist in {registry.tracking_uri};",
            hint="check the run id and that MLFLOW_TRACKING_URI / tracking_uri point at "
            "the store the model was trained into.",
        )
    return str(run.info.experiment_id), dict(run.data.tags)


def _from_run(registry: ModelRegistry, run_id: str, artifact_path: str) -> ModelRef:
    experiment_id, tags = _run_tags(registry, run_id)
    logged = registry.logged_models_of_run(run_id, experiment_id)
    named = [m for m in logged if m.name == artifact_path]
    if named:
        chosen = max(named, key=lambda m: m.creation_timestamp or 0)
        return ModelRef(f"models:/{chosen.model_id}", run_id, experiment_id, tags=tags)
    if not registry.has_model_artifact(run_id, artifact_path):
        raise InputError(
            f"run {run_id} has no model at artifact path {artifact_path!r};",
            hint="the training script must log its model with name='model' "
            "(mlflow.<flavor>.log_model(..., name='model')).",
        )
    return ModelRef(f"runs:/{run_id}/{artifact_path}", run_id, experiment_id, tags=tags)


def _from_logged_model(registry: ModelRegistry, model_id: str) -> ModelRef:
    logged = registry.get_logged_model(model_id)
    if logged is None:
        raise InputError(
            f"candidate models:/{model_id} does not exist in {registry.tracking_uri};",
            hint="check the URI (the training step prints it) and the tracking URI.",
        )
    run_id = logged.source_run_id or None
    experiment_id, tags = _run_tags(registry, run_id) if run_id else (str(logged.experiment_id), {})
    return ModelRef(f"models:/{model_id}", run_id, experiment_id, tags=tags)


def _from_registry_uri(registry: ModelRegistry, text: str, rest: str) -> ModelRef:
    if "@" in rest:
        name, _, alias = rest.partition("@")
        version = registry.alias_version(name, alias)
        if version is None:
            raise InputError(
                f"candidate {text!r} does not exist (no alias {alias!r} on model {name!r});",
                hint="check the model name and alias.",
            )
    else:
        name, _, version = rest.partition("/")
        if not version:
            raise InputError(
                f"candidate {text!r} names no version;", hint="use models:/NAME/VERSION."
            )
    mv = registry.get_version(name, version)
    run_id = mv.run_id or None
    experiment_id, tags = _run_tags(registry, run_id) if run_id else (None, {})
    source = str(mv.source or "")
    uri = source if source.startswith("models:/m-") else f"models:/{name}/{mv.version}"
    return ModelRef(uri, run_id, experiment_id, version=str(mv.version), tags=tags)


def champion_ref(registry: ModelRegistry, name: str, version: str) -> ModelRef:
    """The champion `version` of `name`, with its run's tags when the run can be read.

    BackendError when the version cannot be read, including when the champion pointer names a
    version that no longer exists: the registry is then inconsistent, not the input wrong.
    """
    try:
        mv = registry.get_version(name, version)
    except InputError as exc:
        raise BackendError(
            f"the champion of {name!r} points at v{version}, which cannot be read: {exc.message}",
            hint="re-promote an existing version (`mlops register --promote VERSION`).",
        ) from None
    run_id = mv.run_id or None
    tags: dict[str, str] = {}
    experiment_id = None
    if run_id:
        with suppress(BackendError):  # lineage is optional for the champion
            run = registry.get_run(run_id)
            if run is not None:
                tags, experiment_id = dict(run.data.tags), str(run.info.experiment_id)
    return ModelRef(f"models:/{name}/{version}", run_id, experiment_id, str(version), tags)


def load_candidate(registry: ModelRegistry, ref: ModelRef) -> Any:
    """The pyfunc model `ref` names; ModelFailed when it exists but does not load."""
    with registry.using_uris():
        import mlflow.pyfunc

        try:
            return mlflow.pyfunc.load_model(ref.uri)
        except Exception as exc:  # noqa: BLE001
            raise ModelFailed(
                f"the candidate {ref.uri} exists but failed to load ({describe_exception(exc)}); "
                "check that its artifacts are reachable and its flavor is installed"
            ) from None
