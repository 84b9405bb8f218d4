"""Azure ML's collected data as monitoring data (see `monitoring.sources`): the JSONL files the
data collector writes under `<collection>/<yyyy>/<MM>/<dd>/<HH>/` of any fsspec URL."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_actions.errors import BackendError, InputError
from mlops_actions.monitoring.prediction_log import frames_to_data, rows_to_frames, source_label
from mlops_actions.monitoring.sources import (
    DataSource,
    LoadedData,
    TimeWindow,
    safe_url,
)

_PARTITION = re.compile(r"/(\d{4})/(\d{2})/(\d{2})(?:/(\d{2}))?(?:/|$)")
_INPUT_COLLECTIONS = ("model_inputs", "request")
_OUTPUT_COLLECTIONS = ("model_outputs", "response")
_SOURCE_KEYS = ("xmlopssource",)  # the header's name, as collected (lower case, no dashes)


def load_collected_data(
    source: DataSource,
    *,
    window: TimeWindow | None = None,
    include_sources: Collection[str] = (),
    storage_options: Mapping[str, Any] | None = None,
) -> LoadedData:
    """Azure ML data-collector JSONL under an fsspec URL, as inputs + `prediction`.

    The URL may name the deployment folder (holding `model_inputs/` and `model_outputs/`), one
    collection folder, or any folder of JSONL files. Time partitions outside the window are not
    read. Events that carry our `x-mlops-source` header are pipeline traffic, left out as in
    the prediction log; without it every event counts as a user's request. Azure ML collects a
    header only when the deployment lists it in `request_logging.capture_headers` (payload
    logging); where it lands in the event is not verified against a live workspace, so both a
    field named like the collector's `xrequestid` (`xmlopssource`, any case and dashes) and a
    `headers` object are read. Raises InputError for an unknown protocol, a missing folder or
    no files, BackendError when the store fails.
    """
    window = window or TimeWindow()
    fs, root = _filesystem(source.location, storage_options)
    input_files, output_files = _collections(_jsonl_files(fs, root, source), root)
    if not input_files:
        raise InputError(
            f"{source.describe()} holds model outputs but no model inputs;",
            hint="enable the model_inputs collection on the deployment, or point at its folder.",
        )
    outputs = _read_events(fs, [f for f in output_files if _partition_overlaps(f, window)])
    by_id: dict[str, list[Any]] = {}
    for event in outputs:
        cid = event.get("correlationid")
        if cid is not None:
            by_id.setdefault(str(cid), []).extend(_event_rows(event))
    inputs = _read_events(fs, [f for f in input_files if _partition_overlaps(f, window)])
    meta, frame = rows_to_frames(_rows(inputs, by_id))
    loaded = frames_to_data(source, meta, frame, window, include_sources, what="collected rows")
    if not output_files:
        loaded.notes.append("no model_outputs collection: prediction drift is not computed")
    return loaded


def _collections(files: list[str], root: str) -> tuple[list[str], list[str]]:
    """(input files, output files): the model_inputs/model_outputs collections; without an
    input collection, every file outside the outputs holds inputs."""
    by_collection: dict[str, list[str]] = {}
    for file in files:
        by_collection.setdefault(_collection_of(file, root), []).append(file)
    input_names = [c for c in by_collection if c in _INPUT_COLLECTIONS]
    output_names = [c for c in by_collection if c in _OUTPUT_COLLECTIONS]
    if input_names:
        input_files = [f for c in input_names for f in by_collection[c]]
    else:
        input_files = [f for c, fs_ in by_collection.items() if c not in output_names for f in fs_]
    return input_files, [f for c in output_names for f in by_collection[c]]


def _rows(
    events: Iterator[dict[str, Any]], answers_by_id: Mapping[str, list[Any]]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(meta, inputs) per collected input row, its output found by correlation id and position."""
    for event in events:
        cid = event.get("correlationid")
        answers = answers_by_id.get(str(cid), []) if cid is not None else []
        for position, row in enumerate(_event_rows(event)):
            output = answers[position] if position < len(answers) else None
            prediction, score = _split_output(output)
            meta = {
                "request_id": cid,
                "row": position,
                "time": event.get("time"),
                "deployment": _deployment_of(event.get("source")),
                "model_name": None,
                "model_version": event.get("modelversion"),
                "shadow": False,
                "source": _event_source(event),
                "prediction": prediction,
                "score": score,
            }
            yield meta, row if isinstance(row, dict) else {"value": row}


def _filesystem(url: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    import fsspec  # type: ignore[import-untyped]

    try:
        fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except (ValueError, ImportError) as exc:
        scheme = url.split("://", 1)[0]
        package = {"azureml": "azureml-fsspec", "abfs": "adlfs", "abfss": "adlfs", "az": "adlfs"}
        hint = (
            f"install {package[scheme]} (`pip install {package[scheme]}`) where the step runs."
            if scheme in package
            else "use a URL fsspec can open (azureml://, abfs://, file://, …)."
        )
        detail = " ".join(str(exc).split())[:200]
        raise InputError(f"cannot open {safe_url(url)} ({detail});", hint=hint) from None
    return fs, str(root).rstrip("/")


def _jsonl_files(fs: Any, root: str, source: DataSource) -> list[str]:
    try:
        if not fs.exists(root):
            raise InputError(
                f"{source.describe()} does not exist;",
                hint="check the datastore path of the deployment's data collector.",
            )
        found = [str(p) for p in fs.find(root) if str(p).endswith(".jsonl")]
    except InputError:
        raise
    except (OSError, RuntimeError) as exc:  # remote stores raise their errors as OSError
        raise BackendError(
            f"cannot list {source.describe()}: {type(exc).__name__}: {exc};",
            hint="check the credentials (azure/login) and the network, then re-run.",
        ) from None
    if not found:
        raise InputError(
            f"{source.describe()} holds no .jsonl files;",
            hint="point at the folder the data collector writes (…/modelDataCollector/"
            "<endpoint>/<deployment>).",
        )
    return sorted(found)


def _collection_of(file: str, root: str) -> str:
    """The data-collector collection a file belongs to (`model_inputs`, …), else ''."""
    parts = file[len(root) :].strip("/").split("/")
    names = [*root.rstrip("/").split("/")[-1:], *parts]
    for name in reversed(names[:-1]):
        if name in _INPUT_COLLECTIONS or name in _OUTPUT_COLLECTIONS:
            return name
    return ""


def _partition_overlaps(file: str, window: TimeWindow) -> bool:
    if window.is_open:
        return True
    matches = list(_PARTITION.finditer(file))
    if not matches:
        return True
    year, month, day, hour = matches[-1].groups()
    try:
        start = datetime(int(year), int(month), int(day), int(hour or 0), tzinfo=UTC)
    except ValueError:
        return True
    return window.contains_hours(start, start + timedelta(hours=1 if hour else 24))


def _read_events(fs: Any, files: list[str]) -> Iterator[dict[str, Any]]:
    for file in files:
        try:
            with fs.open(file, "rb") as handle:
                data = handle.read()
        except (OSError, RuntimeError) as exc:
            raise BackendError(
                f"cannot read {safe_url(file)}: {type(exc).__name__}: {exc};",
                hint="check the credentials and the network, then re-run.",
            ) from None
        for raw in data.splitlines():
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a line cut by a writer that was still appending
            if isinstance(event, dict):
                yield event


def _event_rows(event: Mapping[str, Any]) -> list[Any]:
    data = event.get("data")
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        inner = data.get("data") or data.get("input_data")
        if isinstance(inner, list):
            return inner
        if isinstance(inner, dict) and isinstance(inner.get("data"), list):
            columns = inner.get("columns")
            if isinstance(columns, list):
                return [dict(zip(columns, row, strict=False)) for row in inner["data"]]
        return [data]
    return []


def _event_source(event: Mapping[str, Any]) -> str | None:
    """The `x-mlops-source` header of a collected event (a field, or inside `headers`)."""
    holders: list[Mapping[str, Any]] = [event]
    headers = event.get("headers")
    if isinstance(headers, Mapping):
        holders.append(headers)
    for holder in holders:
        for key, value in holder.items():
            normal = str(key).lower().replace("-", "").replace("_", "")
            if normal in _SOURCE_KEYS:
                return source_label(str(value).strip().lower()) if value is not None else None
    return None


def _split_output(output: Any) -> tuple[Any, Any]:
    """A collected output row → (prediction, score)."""
    if isinstance(output, dict):
        prediction = next(
            (output[k] for k in ("prediction", "predictions", "label", "output") if k in output),
            None,
        )
        score = next((output[k] for k in ("score", "probability", "proba") if k in output), None)
        if prediction is None and len(output) == 1:
            prediction = next(iter(output.values()))
        return prediction, score
    if isinstance(output, float) and math.isnan(output):
        return None, None
    return output, None


def _deployment_of(source: Any) -> str | None:
    if isinstance(source, str) and "/deployments/" in source:
        return source.rsplit("/deployments/", 1)[1].split("/")[0] or None
    return None
