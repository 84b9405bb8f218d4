"""What an Azure ML training job runs in: an environment pinned from a lock, and DVC data as input.

`environment_from_lock` builds an Azure ML environment (conda on `BASE_IMAGE`) from exact pins:
the consumer's own lock (`train.lock_file`), else the packages of `RUNTIME_PACKAGES` as this
package's lock or this interpreter has them, so the model trains with the libraries it is served
with. `dvc_input_uri` names where a DVC-tracked file lives in its remote, for a `uri_file` input.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from pathlib import Path
from typing import Any

from mlops_actions.errors import InputError

BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
"""Image under environments built from the lock (Ubuntu with conda, no Python packages)."""

# Libraries the training run needs on Azure ML beyond the model's own: the MLflow plugin that
# talks to the workspace's tracking server. It resolves only when pinned with these versions.
AZURE_MLFLOW_PINS = ("azureml-mlflow==1.60.0", "azure-storage-blob==12.19.0")

RUNTIME_PACKAGES = (
    "mlflow",
    "mlflow-skinny",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "skops",
    "pyarrow",
    "cloudpickle",
    "joblib",
    "threadpoolctl",
)
"""Packages pinned from the mlops-actions lock when the consumer has no lock of its own: those
that decide whether the model trained on Azure ML loads and predicts the same when served."""

_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\#]+))?")


# ---------------------------------------------------------------- environment from the lock


def lock_pins(lock: Path, *, only: tuple[str, ...] | None = None) -> list[str]:
    """`name==version` pins of a requirements lock (hashes dropped, markers evaluated here).

    With `only`, just those packages. Raises InputError when the file cannot be read.
    """
    try:
        text = lock.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"lock file {lock} cannot be read ({exc.strerror});", hint="fix --lock-file."
        ) from None
    from packaging.markers import InvalidMarker, Marker

    wanted = {_normalise(n) for n in only} if only is not None else None
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _REQUIREMENT.match(line.strip())
        if not match:
            continue
        name, version, marker = match.group(1), match.group(2), match.group(3)
        if wanted is not None and _normalise(name) not in wanted:
            continue
        if marker:
            try:
                if not Marker(marker.strip()).evaluate():
                    continue
            except InvalidMarker:
                continue
        pins[_normalise(name)] = f"{name}=={version}"
    return [pins[k] for k in sorted(pins)]


def installed_pins(names: tuple[str, ...] = RUNTIME_PACKAGES) -> list[str]:
    """Pins of the installed versions of `names` (when there is no lock file to read)."""
    from importlib import metadata

    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return sorted(pins)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_from_lock(name: str, pins: list[str] | tuple[str, ...]) -> Any:
    """An Azure ML Environment: conda with this Python and exactly `pins` (plus the MLflow
    plugin). Its version is a hash of the content, so the same lock registers it once."""
    from azure.ai.ml.entities import Environment

    have = {_normalise(p.split("==")[0]) for p in pins}
    extra = [p for p in AZURE_MLFLOW_PINS if _normalise(p.split("==")[0]) not in have]
    major_minor = ".".join(platform.python_version_tuple()[:2])
    conda = {
        "name": name,
        "channels": ["conda-forge"],
        "dependencies": [f"python={major_minor}", "pip", {"pip": [*pins, *extra]}],
    }
    version = hashlib.sha256(json.dumps(conda, sort_keys=True).encode()).hexdigest()[:16]
    return Environment(
        name=name,
        version=version,
        image=BASE_IMAGE,
        conda_file=conda,
        description="Built by mlops-actions from the project's lock: the versions serving uses.",
    )


# ---------------------------------------------------------------- DVC data as a job input


def dvc_input_uri(path: Path, rev: str | None) -> str:
    """The remote location of a DVC-tracked file at `rev`, as a URI Azure ML can read.

    The object's place in the default DVC remote is `files/md5/XX/YYYY…` (DVC 3), read from the
    pointer at `rev` and the remote's URL, so no DVC storage plugin and no network is needed.
    Azure blob remotes (`azure://container/…` + account_name) become
    `https://ACCOUNT.blob.core.windows.net/container/…`; https, azureml, wasbs and abfss URLs are
    kept. Raises InputError for folders and for remotes Azure ML cannot read (local, s3, gs).
    """
    from mlops_actions.data import data_version, find_dvc_repo

    root = find_dvc_repo(path)
    if root is None:
        raise InputError(f"{path} is not inside a DVC repository;", hint="run `dvc init` there.")
    version = data_version(path, rev=rev)
    fix = (
        "set train.azureml.inputs.train to a data asset (azureml:NAME:VERSION) or a URI Azure ML "
        "can read."
    )
    if version.md5.endswith(".dir"):
        raise InputError(
            f"{path.name} is a DVC-tracked folder, which Azure ML cannot read from the remote;",
            hint=fix,
        )
    remote, account = _dvc_default_remote(root)
    if remote is None:
        raise InputError(
            f"{path.name} is DVC-tracked but the repository has no default DVC remote;",
            hint="add one (`dvc remote add -d NAME URL`) and `dvc push`, or " + fix,
        )
    url = f"{remote.rstrip('/')}/files/md5/{version.md5[:2]}/{version.md5[2:]}"
    if url.startswith("azure://") and account:
        return f"https://{account}.blob.core.windows.net/{url[len('azure://') :]}"
    if url.startswith(("https://", "azureml://", "wasbs://", "abfss://")):
        return url
    raise InputError(
        f"data.train is in DVC remote {remote!r}, which Azure ML cannot read;",
        hint="use an Azure blob DVC remote with account_name, or " + fix,
    )


def _dvc_default_remote(root: Path) -> tuple[str | None, str | None]:
    """(URL, Azure account name) of the repository's default DVC remote."""
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    name = config.get("core", {}).get("remote")
    remote = config.get("remote", {}).get(name, {}) if name else {}
    url = remote.get("url")
    account = remote.get("account_name")
    return (str(url) if url else None), (str(account) if account else None)
