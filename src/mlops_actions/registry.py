"""The MLflow model registry as the pipeline uses it: champion/challenger pointers, idempotent
registration, promotion with a recorded predecessor, rollback.

Pointers are MLflow aliases (`champion`, `challenger`). Where the tracking server has no alias API
(Azure ML's MLflow endpoint is not known to have one), the same functions keep each pointer in a
tag of the registered model, `mlops.alias.<alias>` = version: one tag write moves it, so there is
never more than one champion either way. `alias_mode="auto"` asks the server once and picks.

Every write that reads before it writes (register: "is this candidate already a version?",
promote: "who is champion now?") runs under a registry-wide lock per model: a registered model
named `<name>__mlops_lock`, whose creation is atomic on every backend. So two concurrent promotions
end with one champion and each promoted version tagged with the version it replaced, and the same
candidate registered twice (even at once) becomes one version.

Blocking; raises InputError for versions or models that do not exist, BackendError when the
registry fails.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mlops_actions.config import secure_sqlite_store
from mlops_actions.errors import BackendError, InputError
from mlops_actions.mlflow_errors import (
    EXISTS,
    MISSING,
    UNSUPPORTED,
    error_code,
    is_mlflow_error,
)
from mlops_actions.redact import mask_uri, redact_text, redact_uri
from mlops_actions.registry_lock import (
    RegistryLock,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModel, Run
    from mlflow.entities.model_registry import ModelVersion

    from mlops_actions.config import Settings

AliasMode = Literal["auto", "aliases", "tags"]
T = TypeVar("T")

CHAMPION = "champion"
CHALLENGER = "challenger"
ALIAS_TAG_PREFIX = "mlops.alias."
CANDIDATE_TAG = "mlops.candidate"
PREVIOUS_CHAMPION_TAG = "mlops.previous_champion"
MODEL_PREVIOUS_CHAMPION_TAG = "mlops.champion.previous"
ALIAS_MODE_ENV = "MLOPS_REGISTRY_ALIASES"

_NO_SUCH_ENTITY = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"}
"""Codes a tracking server answers for a run or logged model that does not exist."""
_TAG_VALUE_LIMIT = 5000


@dataclass(frozen=True)
class Registration:
    """A candidate as a registered model version; `created` is False when it already was one."""

    name: str
    version: str
    created: bool

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class Promotion:
    """Where the champion pointer went and where it came from (None: there was no champion)."""

    name: str
    version: str
    previous: str | None
    changed: bool


@dataclass(frozen=True)
class Rollback:
    """The champion moved back from `from_version` to `to_version`."""

    name: str
    from_version: str
    to_version: str


def actor() -> str:
    """Who is acting: the GitHub user of the workflow run, else the OS user."""
    name = os.environ.get("GITHUB_ACTOR")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def tag_value(value: object) -> str:
    """A tag value MLflow accepts (text, at most 5,000 characters)."""
    text = str(value)
    return text if len(text) <= _TAG_VALUE_LIMIT else text[: _TAG_VALUE_LIMIT - 1] + "…"


class ModelRegistry:
    """Champion/challenger pointers and versions of registered models in one MLflow registry."""

    def __init__(
        self,
        tracking_uri: str,
        registry_uri: str | None = None,
        *,
        alias_mode: AliasMode | None = None,
        lock_timeout: float = 120.0,
        lock_ttl: float = 600.0,
        lock_heartbeat: float = 5.0,
    ) -> None:
        from mlflow import MlflowClient

        self._tracking_uri = tracking_uri
        self._registry_uri = registry_uri or tracking_uri
        mask_uri(f"{self._tracking_uri} {self._registry_uri}")
        for uri in {self._tracking_uri, self._registry_uri}:
            secure_sqlite_store(uri)
        self.tracking_uri = redact_uri(tracking_uri)
        """The tracking URI as it may be shown (no credentials); the client has the full one."""
        self.registry_uri = redact_uri(self._registry_uri)
        self.client: MlflowClient = MlflowClient(
            tracking_uri=tracking_uri, registry_uri=self._registry_uri
        )
        mode = alias_mode or os.environ.get(ALIAS_MODE_ENV, "auto")
        if mode not in ("auto", "aliases", "tags"):
            raise InputError(
                f"{ALIAS_MODE_ENV}={mode!r} is not a registry alias mode;",
                hint="use auto, aliases or tags.",
            )
        self.alias_mode: AliasMode = mode  # type: ignore[assignment]
        self._aliases: bool | None = {"aliases": True, "tags": False}.get(mode)
        self.lock_timeout = lock_timeout
        self.lock_ttl = lock_ttl
        self.lock_heartbeat = lock_heartbeat
        """A held lock's heartbeat tag is renewed this often; one unrenewed for
        `LOCK_MISSED_BEATS` periods is broken (its owner died without releasing it)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRegistry:
        """The registry named by mlops.yaml (`tracking_uri`, `registry_uri`)."""
        return cls(settings.resolved_tracking_uri(), settings.registry_uri)

    # ------------------------------------------------------------------ pointers

    def uses_aliases(self) -> bool:
        """True when the server has MLflow's alias API (asked once, then remembered)."""
        if self._aliases is None:
            try:
                self.client.get_model_version_by_alias("mlops-alias-probe", "probe")
                self._aliases = True
            except Exception as exc:  # noqa: BLE001 - classified below
                if is_mlflow_error(exc) and error_code(exc) in UNSUPPORTED:
                    self._aliases = False
                elif is_mlflow_error(exc) and error_code(exc) in MISSING:
                    self._aliases = True
                else:
                    raise self._backend("ask the registry whether it has aliases", exc) from None
        return self._aliases

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version `alias` points at, or None when it points nowhere (or no such model)."""
        try:
            if self.uses_aliases():
                return str(self.client.get_model_version_by_alias(name, alias).version)
            tags = self.client.get_registered_model(name).tags or {}
        except Exception as exc:  # noqa: BLE001
            if self._lost_aliases(exc):
                return self.alias_version(name, alias)
            # An unset alias is INVALID_PARAMETER_VALUE ("alias … not found") on MLflow 3.
            if is_mlflow_error(exc) and error_code(exc) in MISSING | {"INVALID_PARAMETER_VALUE"}:
                return None
            raise self._backend(f"read alias {alias!r} of model {name!r}", exc) from None
        value = tags.get(ALIAS_TAG_PREFIX + alias)
        return str(value) if value else None

    def champion_version(self, name: str) -> str | None:
        """The version that serves as champion, or None before the first promotion."""
        return self.alias_version(name, CHAMPION)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `alias` at `version` (an alias, or the fallback tag)."""
        try:
            if self.uses_aliases():
                self.client.set_registered_model_alias(name, alias, version)
            else:
                self.client.set_registered_model_tag(name, ALIAS_TAG_PREFIX + alias, version)
        except Exception as exc:  # noqa: BLE001
            if self._lost_aliases(exc):
                self.set_alias(name, alias, version)
                return
            raise self._backend(f"point alias {alias!r} of {name!r} at {version}", exc) from None

    def _lost_aliases(self, exc: BaseException) -> bool:
        """True (and tag mode from now on) when an alias call says the API does not exist.

        The probe in `uses_aliases` may not tell: a server can answer "no such model" for a
        probe and still lack the alias endpoints.
        """
        unsupported = is_mlflow_error(exc) and error_code(exc) in UNSUPPORTED
        if unsupported and self._aliases and self.alias_mode == "auto":
            self._aliases = False
            return True
        return False

    def model_uri(self, name: str, *, version: str | None = None, alias: str | None = None) -> str:
        """A `models:/` URI for a version, or for an alias (resolved here in tag mode)."""
        if version is None:
            if alias is None:
                raise ValueError("give a version or an alias")
            if self.uses_aliases():
                return f"models:/{name}@{alias}"
            found = self.alias_version(name, alias)
            if found is None:
                raise InputError(
                    f"model {name!r} has no version with alias {alias!r};",
                    hint="register and promote one first.",
                )
            version = found
        return f"models:/{name}/{version}"

    def load_model(self, name: str, version: str | None = None, *, alias: str | None = None) -> Any:
        """The pyfunc model of a version or alias; BackendError when it cannot be loaded."""
        uri = self.model_uri(name, version=version, alias=alias)
        with self.using_uris():
            import mlflow.pyfunc

            try:
                return mlflow.pyfunc.load_model(uri)
            except Exception as exc:  # noqa: BLE001
                raise self._backend(f"load {uri}", exc) from None

    @contextmanager
    def using_uris(self) -> Iterator[None]:
        """MLflow's process-wide tracking/registry URIs set to this registry's, then restored.

        Loading a `models:/` URI has no client argument: it reads these globals. Setting them also
        sets MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI in os.environ, so both are put back exactly
        (unset stays unset), or later subprocesses would inherit our store.
        """
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        env = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        saved_tracking = getattr(tracking_utils, "_tracking_uri", None)
        saved_registry = getattr(registry_utils, "_registry_uri", None)
        mlflow.set_tracking_uri(self._tracking_uri)
        mlflow.set_registry_uri(self._registry_uri)
        try:
            yield
        finally:
            tracking_utils.set_tracking_uri(saved_tracking)  # type: ignore[arg-type]
            registry_utils._registry_uri = saved_registry
            for key, value in env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    # ------------------------------------------------------------------ versions

    def get_version(self, name: str, version: str) -> ModelVersion:
        """One version; InputError when the model or version does not exist."""
        try:
            return self.client.get_model_version(name, str(version))
        except Exception as exc:  # noqa: BLE001
            if is_mlflow_error(exc) and error_code(exc) in MISSING | {"INVALID_PARAMETER_VALUE"}:
                raise InputError(
                    f"model {name!r} has no version {version!r};",
                    hint="list versions in the MLflow UI or pass a version that exists.",
                ) from None
            raise self._backend(f"read version {version} of {name!r}", exc) from None

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of `name`, oldest first (all pages)."""
        found: list[ModelVersion] = []
        token: str | None = None
        try:
            while True:
                page = self.client.search_model_versions(
                    f"name='{_quote(name)}'", max_results=200, page_token=token
                )
                found.extend(page)
                token = page.token
                if not token:
                    break
        except Exception as exc:  # noqa: BLE001
            if is_mlflow_error(exc) and error_code(exc) in MISSING:
                return []
            raise self._backend(f"list versions of {name!r}", exc) from None
        return sorted(found, key=lambda v: int(v.version))

    def find_version(self, name: str, model_uri: str) -> ModelVersion | None:
        """The version registered from `model_uri` by `register`, if there is one."""
        for version in self.versions(name):
            tags = version.tags or {}
            if tags.get(CANDIDATE_TAG) == model_uri:
                return version
        return None

    def register(
        self,
        name: str,
        model_uri: str,
        *,
        run_id: str | None,
        tags: Mapping[str, object] | None = None,
        alias: str | None = CHALLENGER,
        await_seconds: float = 300.0,
    ) -> Registration:
        """Register `model_uri` as a new version of `name` and point `alias` at it.

        Idempotent: a candidate registered before (found by its `mlops.candidate` tag) returns
        that version and changes nothing but the alias.
        """
        with self.lock(name):
            existing = self.find_version(name, model_uri)
            if existing is not None:
                version, created = str(existing.version), False
            else:
                version, created = (
                    self._create_version(name, model_uri, run_id, dict(tags or {}), await_seconds),
                    True,
                )
            if alias and self.alias_version(name, alias) != version:
                self.set_alias(name, alias, version)
        return Registration(name, version, created)

    def _create_version(
        self,
        name: str,
        model_uri: str,
        run_id: str | None,
        tags: dict[str, object],
        await_seconds: float,
    ) -> str:
        self._ensure_model(name)
        values = {k: tag_value(v) for k, v in tags.items()}
        values[CANDIDATE_TAG] = model_uri
        model_id = model_uri[len("models:/") :] if model_uri.startswith("models:/m-") else None
        try:
            # The store resolves a models:/ source through MLflow's process-wide URIs.
            with self.using_uris():
                created = self.client.create_model_version(
                    name, model_uri, run_id=run_id, tags=values, model_id=model_id
                )
        except Exception as exc:  # noqa: BLE001
            raise self._backend(f"register {model_uri} as a version of {name!r}", exc) from None
        version = str(created.version)
        deadline = time.monotonic() + await_seconds
        status = str(getattr(created, "status", "READY") or "READY")
        while status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
            time.sleep(1.0)
            status = str(self.get_version(name, version).status)
        if status not in ("READY", ""):
            raise BackendError(
                f"version {version} of {name!r} ended in status {status};",
                hint="see the version's status message in the registry, then register again.",
            )
        return version

    def _ensure_model(self, name: str) -> None:
        try:
            self.client.create_registered_model(name)
        except Exception as exc:  # noqa: BLE001
            if not (is_mlflow_error(exc) and error_code(exc) in EXISTS):
                raise self._backend(f"create registered model {name!r}", exc) from None

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, object]) -> None:
        """Set tags on one version."""
        try:
            for key, value in tags.items():
                self.client.set_model_version_tag(name, version, key, tag_value(value))
        except Exception as exc:  # noqa: BLE001
            raise self._backend(f"tag version {version} of {name!r}", exc) from None

    # ------------------------------------------------------------------ runs and logged models

    def get_run(self, run_id: str) -> Run | None:
        """The tracking run `run_id`, or None when it does not exist.

        Blocking, read-only; BackendError when the tracking server fails.
        """
        return self._read_or_none(lambda: self.client.get_run(run_id), f"read run {run_id}")

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric logged on run `run_id`; {} when there is no such run.

        Blocking, read-only; BackendError when the tracking server fails.
        """
        run = self.get_run(run_id)
        return {} if run is None else dict(run.data.metrics)

    def set_run_tags(
        self, run_id: str, tags: Mapping[str, object], *, action: str | None = None
    ) -> None:
        """Set `tags` on run `run_id` (values cut to what MLflow accepts), one write per tag.

        Idempotent: a tag set again is overwritten. Blocking; BackendError when the tracking
        server fails, saying it failed to `action` (default "tag run RUN_ID"); tags written
        before the failure stay.
        """
        try:
            for key, value in tags.items():
                self.client.set_tag(run_id, key, tag_value(value))
        except Exception as exc:  # noqa: BLE001
            raise self._backend(action or f"tag run {run_id}", exc) from None

    def get_logged_model(self, model_id: str) -> LoggedModel | None:
        """The logged model `m-…`, or None when it does not exist.

        Blocking, read-only; BackendError when the tracking server fails.
        """
        return self._read_or_none(
            lambda: self.client.get_logged_model(model_id), f"read logged model {model_id}"
        )

    def _read_or_none(self, read: Callable[[], T], action: str) -> T | None:
        """`read()`, or None when what it reads does not exist; BackendError otherwise."""
        try:
            return read()
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in _NO_SUCH_ENTITY:
                return None
            raise self._backend(action, exc) from None

    def logged_models_of_run(self, run_id: str, experiment_id: str) -> list[LoggedModel]:
        """The logged models that run `run_id` produced; [] when the server cannot list them.

        Servers without the LoggedModel API (older MLflow, some hosted ones) keep models as run
        artifacts only, so any failure here means "look at the artifacts", never an error.
        Blocking, read-only.
        """
        try:
            return list(
                self.client.search_logged_models(
                    experiment_ids=[experiment_id],
                    filter_string=f"source_run_id = '{_quote(run_id)}'",
                )
            )
        except Exception:  # noqa: BLE001 - servers without LoggedModels: use the run's artifacts
            return []

    def has_model_artifact(self, run_id: str, artifact_path: str) -> bool:
        """Whether run `run_id` holds an MLflow model (an `MLmodel` file) at `artifact_path`.

        False when the artifacts cannot be listed. Blocking, read-only.
        """
        try:
            files = self.client.list_artifacts(run_id, artifact_path)
        except Exception:  # noqa: BLE001 - unreadable artifacts: no model to load either
            return False
        return any(f.path.endswith("MLmodel") for f in files)

    # ------------------------------------------------------------------ champion moves

    def promote(self, name: str, version: str) -> str | None:
        """Move `champion` to `version`; returns the previous champion (None if there was none).

        The promoted version is tagged `mlops.previous_champion` (and the registered model
        `mlops.champion.previous`) before the pointer moves, so a rollback always finds its way
        back. Promoting the current champion again changes nothing and returns its recorded
        predecessor.
        """
        return self.promotion(name, version).previous

    def promotion(self, name: str, version: str) -> Promotion:
        """`promote`, with whether anything changed."""
        version = str(version)
        with self.lock(name):
            target = self.get_version(name, version)
            current = self.champion_version(name)
            if current == version:
                recorded = (target.tags or {}).get(PREVIOUS_CHAMPION_TAG) or None
                return Promotion(name, version, recorded, changed=False)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.set_version_tags(
                name,
                version,
                {
                    PREVIOUS_CHAMPION_TAG: current or "",
                    "mlops.promoted_at": stamp,
                    "mlops.promoted_by": actor(),
                },
            )
            self._set_model_tag(name, MODEL_PREVIOUS_CHAMPION_TAG, current or "")
            self.set_alias(name, CHAMPION, version)
        return Promotion(name, version, current, changed=True)

    def rollback(self, name: str) -> Rollback:
        """Move `champion` back to the version it replaced; InputError when there is none."""
        with self.lock(name):
            current = self.champion_version(name)
            if current is None:
                raise InputError(
                    f"model {name!r} has no champion to roll back;",
                    hint="promote a version first (`mlops register --promote VERSION`).",
                )
            tags = self.get_version(name, current).tags or {}
            previous = tags.get(PREVIOUS_CHAMPION_TAG) or None
            if previous is None:
                raise InputError(
                    f"version {current} of {name!r} was the first champion: there is nothing to "
                    "roll back to;",
                    hint="promote another version instead.",
                )
            self.get_version(name, previous)
            self.set_version_tags(
                name,
                current,
                {"mlops.rolled_back": "true", "mlops.rolled_back_to": previous},
            )
            self.set_alias(name, CHAMPION, previous)
        return Rollback(name, current, previous)

    def _set_model_tag(self, name: str, key: str, value: str) -> None:
        try:
            self.client.set_registered_model_tag(name, key, value)
        except Exception as exc:  # noqa: BLE001
            raise self._backend(f"tag registered model {name!r}", exc) from None

    # ------------------------------------------------------------------ locking

    def lock(self, name: str) -> AbstractContextManager[None]:
        """Hold the per-model registry lock (`<name>__mlops_lock`) for the block.

        Waits up to `lock_timeout` seconds; see `registry_lock.RegistryLock` for how a lock left
        by a killed job is broken. BackendError when it stays taken or the server fails.
        """
        return RegistryLock(
            self.client,
            owner=f"{actor()}@{socket.gethostname()}:{os.getpid()}",
            timeout=self.lock_timeout,
            ttl=self.lock_ttl,
            heartbeat=self.lock_heartbeat,
            failure=self._backend,
        ).hold(name)

    # ------------------------------------------------------------------ errors

    def _backend(self, action: str, exc: BaseException) -> BackendError:
        detail = redact_text(" ".join(str(getattr(exc, "message", None) or exc).split())[:300])
        return BackendError(
            f"MLflow registry at {self.registry_uri} failed to {action}: {detail};",
            hint="check that the tracking server is reachable and the credentials may write.",
        )


def _quote(text: str) -> str:
    return text.replace("'", "\\'")
