"""Lineage: what a training run was made from, recorded as `mlops.*` tags and read back.

`collect_tags` gathers, before the training command starts, everything needed to tell later
where a model came from: the git commit, branch and whether the tree had uncommitted changes,
the GitHub workflow run, the data version, the hash of the lock file, Python and key package
versions, and the resolved parameters. `lineage_of` follows a run id or a model version back
through that record, and `render_markdown` shows the chain in one screen.

Tags (all strings): `mlops.git.commit`, `mlops.git.branch`, `mlops.git.dirty` ('true'/'false'),
`mlops.workflow.run_url`, `mlops.data.version`, `mlops.data.hash`, `mlops.data.path`,
`mlops.lock.hash`, `mlops.lock.file`, `mlops.python`, `mlops.packages` (JSON),
`mlops.params` (JSON), `mlops.backend`, `mlops.command`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_actions.backends.compute import ParamValue
from mlops_actions.errors import InputError
from mlops_actions.mlflow_errors import mlflow_failure
from mlops_actions.redact import mask_uri, redact_text, redact_uri

KEY_PACKAGES = (
    "mlops-actions",
    "mlflow",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "skops",
    "azure-ai-ml",
)
"""Packages whose versions decide whether a model loads and predicts the same elsewhere."""

TAG_COMMIT = "mlops.git.commit"
TAG_BRANCH = "mlops.git.branch"
TAG_DIRTY = "mlops.git.dirty"
TAG_WORKFLOW = "mlops.workflow.run_url"
TAG_DATA_VERSION = "mlops.data.version"
TAG_DATA_HASH = "mlops.data.hash"
TAG_DATA_PATH = "mlops.data.path"
TAG_LOCK_HASH = "mlops.lock.hash"
TAG_LOCK_FILE = "mlops.lock.file"
TAG_PYTHON = "mlops.python"
TAG_PACKAGES = "mlops.packages"
TAG_PARAMS = "mlops.params"
TAG_BACKEND = "mlops.backend"
TAG_COMMAND = "mlops.command"
TAG_REPRODUCES = "mlops.reproduces"

LINEAGE_TAGS = (
    (TAG_COMMIT, "commit"),
    (TAG_BRANCH, "branch"),
    (TAG_DATA_VERSION, "training data"),
    (TAG_WORKFLOW, "workflow run"),
    (TAG_LOCK_HASH, "lock"),
)
"""The tags a report shows to say where a model came from, with their labels, in that order."""

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


# ---------------------------------------------------------------- collecting


@dataclass(frozen=True)
class CodeVersion:
    """The git state of the folder the training runs from (all None outside a git checkout)."""

    commit: str | None
    branch: str | None
    dirty: bool | None


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version(folder: Path, env: Mapping[str, str] | None = None) -> CodeVersion:
    """Commit, branch and dirty flag of the checkout holding `folder`.

    Dirty means tracked files differ from the commit (untracked files such as `.mlops/` do not
    count). On GitHub Actions' detached checkouts the branch comes from GITHUB_HEAD_REF or
    GITHUB_REF_NAME.
    """
    env = os.environ if env is None else env
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return CodeVersion(None, None, None)
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    if branch in (None, "HEAD"):
        branch = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME") or None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return CodeVersion(commit, branch, bool(status) if status is not None else None)


def workflow_run_url(env: Mapping[str, str] | None = None) -> str | None:
    """The GitHub Actions run this process belongs to, when there is one."""
    env = os.environ if env is None else env
    server, repo, run = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    if not (server and repo and run):
        return None
    url = f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    attempt = env.get("GITHUB_RUN_ATTEMPT")
    return f"{url}/attempts/{attempt}" if attempt and attempt != "1" else url


def default_lock_file() -> Path | None:
    """requirements/dev.txt of the mlops-actions checkout this package runs from, if any."""
    import mlops_actions

    candidate = Path(mlops_actions.__file__).resolve().parents[2] / "requirements" / "dev.txt"
    return candidate if candidate.is_file() else None


def lock_hash(lock: Path | None) -> tuple[str, str]:
    """(hash, source) of the lock: sha256 of the file, else of the installed distributions."""
    if lock is not None:
        try:
            return f"sha256:{hashlib.sha256(lock.read_bytes()).hexdigest()}", lock.name
        except OSError as exc:
            raise InputError(
                f"lock file {lock} cannot be read ({exc.strerror});",
                hint="fix --lock-file, or drop it to use the installed packages.",
            ) from None
    from importlib import metadata

    names = sorted(
        f"{d.metadata['Name'].lower()}=={d.version}"
        for d in metadata.distributions()
        if d.metadata["Name"]
    )
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()
    return f"sha256:{digest}", "installed-distributions"


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed versions of `names` (packages that are not installed are left out)."""
    from importlib import metadata

    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass(frozen=True)
class DataRecord:
    """Which data the run trained on."""

    path: str
    version: str
    hash: str


def data_record(path: Path | None, *, rev: str | None, base: Path) -> DataRecord | None:
    """The version of the training data (mlops_actions.data.data_version); None without data."""
    if path is None:
        return None
    from mlops_actions.data import data_version

    version = data_version(path, rev=rev)
    try:
        shown = path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        shown = str(path)
    return DataRecord(shown, version.text, version.md5)


def collect_tags(
    *,
    code_dir: Path,
    data: DataRecord | None,
    params: Mapping[str, ParamValue],
    lock: Path | None,
    backend: str,
    command: str,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The lineage tags of a run about to start (see the module docstring for the names)."""
    from mlops_actions.backends.compute import format_param

    tags: dict[str, str] = {}
    code = code_version(code_dir, env)
    if code.commit:
        tags[TAG_COMMIT] = code.commit
        tags["mlflow.source.git.commit"] = code.commit  # shown by the MLflow UI
    if code.branch:
        tags[TAG_BRANCH] = code.branch
    if code.dirty is not None:
        tags[TAG_DIRTY] = "true" if code.dirty else "false"
    url = workflow_run_url(env)
    if url:
        tags[TAG_WORKFLOW] = url
    if data is not None:
        tags[TAG_DATA_VERSION] = data.version
        tags[TAG_DATA_HASH] = data.hash
        tags[TAG_DATA_PATH] = data.path
    tags[TAG_LOCK_HASH], tags[TAG_LOCK_FILE] = lock_hash(lock)
    tags[TAG_PYTHON] = platform.python_version()
    tags[TAG_PACKAGES] = json.dumps(package_versions(), sort_keys=True)
    tags[TAG_PARAMS] = json.dumps({k: format_param(v) for k, v in params.items()})
    tags[TAG_BACKEND] = backend
    tags[TAG_COMMAND] = command
    return tags


# ---------------------------------------------------------------- reading back


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version made from the run, and the aliases that point at it."""

    name: str
    version: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Lineage:
    """The chain behind one run: code, data, environment, params, metrics, models."""

    run_id: str
    run_name: str
    experiment: str
    status: str
    started: str
    resolved_from: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    model_uris: list[str] = field(default_factory=list)
    versions: list[RegisteredVersion] = field(default_factory=list)

    @property
    def recorded_params(self) -> dict[str, str]:
        """The parameters mlops passed to the command (`mlops.params`), else the run's params."""
        return recorded_params(self.tags, self.params)


def recorded_params(tags: Mapping[str, str], params: Mapping[str, str]) -> dict[str, str]:
    """The parameters mlops passed to a run's command (`mlops.params`), else its params."""
    raw = tags.get(TAG_PARAMS)
    if raw:
        try:
            loaded = json.loads(raw)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            return {str(k): str(v) for k, v in loaded.items()}
    return dict(params)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def resolve_reference(client: Any, ref: str, *, default_model: str | None) -> tuple[str, str]:
    """(run id, how it was found) for a run id, logged model or model version reference.

    Accepted: a run id (or an Azure ML job name); `m-…` or `models:/m-…` (a logged model);
    `NAME/VERSION`, `NAME@ALIAS`, `models:/NAME/VERSION`, `models:/NAME@ALIAS`; a bare `VERSION`
    or `@ALIAS` of the configured model. Raises InputError when nothing matches.
    """
    from mlflow.exceptions import MlflowException

    text = ref.strip()
    body = text[len("models:/") :] if text.startswith("models:/") else text
    try:
        if body.startswith("m-") and not _RUN_ID.match(body):
            model = client.get_logged_model(body)
            if not model.source_run_id:
                raise InputError(
                    f"logged model {body} has no source run;", hint="it was not logged by a run."
                )
            return str(model.source_run_id), f"logged model {body}"
        if _RUN_ID.match(body) or not (set(body) & {"/", "@"} or body.isdigit()):
            client.get_run(body)  # an MLflow run id, or an Azure ML job name (its run id)
            return body, f"run {body}"
        name, alias, version = _split_version_ref(body, default_model)
        if alias is not None:
            mv = client.get_model_version_by_alias(name, alias)
            via = f"{name}@{alias} (version {mv.version})"
        else:
            mv = client.get_model_version(name, version)
            via = f"{name} version {mv.version}"
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise InputError(
                f"{ref!r} was not found in the tracking store ({redact_text(_first_line(exc))});",
                hint="pass a run id, NAME/VERSION, NAME@ALIAS or a models:/ URI that exists.",
            ) from None
        raise mlflow_failure(exc, f"look up {ref!r}") from None
    if mv.run_id:
        return str(mv.run_id), via
    source = str(mv.source or "")
    if source.startswith("models:/m-"):
        model = client.get_logged_model(source[len("models:/") :])
        if model.source_run_id:
            return str(model.source_run_id), via
    raise InputError(
        f"{via} does not record the run it came from;",
        hint="register versions from a logged model (models:/m-…) so the run is known.",
    )


def _split_version_ref(body: str, default_model: str | None) -> tuple[str, str | None, str]:
    if "@" in body:
        name, _, alias = body.rpartition("@")
        name = name or (default_model or "")
        if name and alias:
            return name, alias, ""
    elif "/" in body:
        name, _, version = body.rpartition("/")
        if name and version.isdigit():
            return name, None, version
    elif body.isdigit() and default_model:
        return default_model, None, body
    raise InputError(
        f"{body!r} is neither a run id nor a model version;",
        hint="pass a run id, NAME/VERSION, NAME@ALIAS, models:/m-… or a version number.",
    )


def lineage_of(tracking_uri: str, ref: str, *, default_model: str | None = None) -> Lineage:
    """Follow `ref` (see `resolve_reference`) to its run and read the whole chain."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from mlops_actions.config import secure_sqlite_store

    secure_sqlite_store(tracking_uri)
    mask_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    run_id, via = resolve_reference(client, ref, default_model=default_model)
    try:
        run = client.get_run(run_id)
        experiment = client.get_experiment(run.info.experiment_id)
        models = list(
            client.search_logged_models(
                experiment_ids=[run.info.experiment_id],
                filter_string=f"source_run_id = '{run_id}'",
            )
        )
        versions = _versions_of(client, run_id)
    except MlflowException as exc:
        raise mlflow_failure(exc, f"read run {run_id}") from None
    from datetime import UTC, datetime

    started = (
        datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        if run.info.start_time
        else ""
    )
    return Lineage(
        run_id=run_id,
        run_name=run.info.run_name or "",
        experiment=experiment.name if experiment else run.info.experiment_id,
        status=run.info.status,
        started=started,
        resolved_from=via,
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        tags=dict(run.data.tags),
        model_uris=[m.model_uri for m in models],
        versions=versions,
    )


def _versions_of(client: Any, run_id: str) -> list[RegisteredVersion]:
    found = list(client.search_model_versions(f"run_id = '{run_id}'"))
    # search_model_versions returns empty aliases: read them from each registered model once.
    aliases_by_name: dict[str, dict[str, str]] = {}
    versions = []
    for mv in found:
        if mv.name not in aliases_by_name:
            model = client.get_registered_model(mv.name)
            aliases_by_name[mv.name] = {str(k): str(v) for k, v in (model.aliases or {}).items()}
        aliases = tuple(
            sorted(a for a, v in aliases_by_name[mv.name].items() if v == str(mv.version))
        )
        versions.append(RegisteredVersion(mv.name, str(mv.version), aliases))
    versions.sort(key=lambda v: (v.name, int(v.version) if v.version.isdigit() else 0))
    return versions


def render_markdown(lineage: Lineage) -> str:
    """The chain in one screen: run → code, data, environment, params, metrics, models."""
    from mlops_actions.reports.markdown import escape, table

    tags = lineage.tags
    code = tags.get(TAG_COMMIT, "")
    if code:
        code = code[:12]
        if tags.get(TAG_BRANCH):
            code += f" on {tags[TAG_BRANCH]}"
        if tags.get(TAG_DIRTY) == "true":
            code += " (uncommitted changes)"
    else:
        code = "not recorded"
    data = tags.get(TAG_DATA_VERSION, "not recorded")
    if tags.get(TAG_DATA_PATH):
        data += f" ({tags[TAG_DATA_PATH]})"
    try:
        packages = json.loads(tags.get(TAG_PACKAGES, "{}"))
    except ValueError:
        packages = {}
    env_parts = [f"Python {tags[TAG_PYTHON]}"] if TAG_PYTHON in tags else []
    env_parts += [f"{k} {v}" for k, v in packages.items() if k != "mlops-actions"]
    lock = tags.get(TAG_LOCK_HASH, "")
    if lock:
        env_parts.append(f"lock {lock[:19]} ({tags.get(TAG_LOCK_FILE, '?')})")
    params = lineage.recorded_params
    rows: list[tuple[str, str]] = [
        (
            "run",
            f"{lineage.run_id} · {lineage.run_name} · {lineage.experiment} · {lineage.status}"
            + (f" · {lineage.started}" if lineage.started else ""),
        ),
        ("code", code),
    ]
    if tags.get(TAG_WORKFLOW):
        rows.append(("workflow run", tags[TAG_WORKFLOW]))
    if tags.get(TAG_REPRODUCES):
        rows.append(("reproduces", tags[TAG_REPRODUCES]))
    rows += [
        ("data", data),
        ("environment", ", ".join(env_parts) or "not recorded"),
        ("params", ", ".join(f"{k}={v}" for k, v in params.items()) or "none"),
        (
            "metrics",
            ", ".join(f"{k}={v:.4g}" for k, v in sorted(lineage.metrics.items())) or "none",
        ),
        ("logged model", ", ".join(lineage.model_uris) or "none"),
        (
            "registered",
            ", ".join(
                f"{v.name} v{v.version}" + (f" ({', '.join('@' + a for a in v.aliases)})")
                if v.aliases
                else f"{v.name} v{v.version}"
                for v in lineage.versions
            )
            or "not registered",
        ),
    ]
    head = f"### Lineage of {escape(redact_text(lineage.resolved_from))}\n\n"
    return head + table(["", "value"], [(key, redact_text(value)) for key, value in rows])


def lineage_outputs(lineage: Lineage) -> dict[str, object]:
    """The chain as action outputs / `--json`."""
    tags = {k: redact_text(v) for k, v in lineage.tags.items()}
    return {
        "run-id": lineage.run_id,
        "experiment": lineage.experiment,
        "status": lineage.status,
        "git-commit": tags.get(TAG_COMMIT, ""),
        "git-branch": tags.get(TAG_BRANCH, ""),
        "git-dirty": tags.get(TAG_DIRTY, ""),
        "workflow-run-url": tags.get(TAG_WORKFLOW, ""),
        "data-version": tags.get(TAG_DATA_VERSION, ""),
        "lock-hash": tags.get(TAG_LOCK_HASH, ""),
        "params": {k: redact_text(v) for k, v in lineage.recorded_params.items()},
        "metrics": lineage.metrics,
        "model-uri": redact_uri(lineage.model_uris[0]) if lineage.model_uris else "",
        "versions": [
            {"name": v.name, "version": v.version, "aliases": list(v.aliases)}
            for v in lineage.versions
        ],
    }
