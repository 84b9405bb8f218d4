"""Where monitoring reads production data: tables, the local endpoint's prediction log, and the
data Azure ML's data collector writes to blob storage (any fsspec URL).

A source is named by one string (`--current`, `monitor.current`):

- a CSV/Parquet file or a folder of Parquet files, optionally DVC-tracked and read at a git `rev`
  (through `mlops_actions.data.load_table`);
- `predictions:` (the local endpoint of this project), `predictions:PATH`, a `*.jsonl` prediction
  log or an endpoint state folder holding `predictions.jsonl` (see
  `backends.local_endpoint.predlog`): one row per served prediction, its inputs as columns;
- a URL with a scheme (`azureml://…/paths/modelDataCollector/<endpoint>/<deployment>`,
  `abfs://…`, `file://…`): Azure ML's collected data, JSONL files under
  `<collection>/<yyyy>/<MM>/<dd>/<HH>/` whose lines hold `time`, `correlationid` and `data` (the
  logged rows); `model_inputs` rows are joined with `model_outputs` rows by correlation id and
  position. Reading `azureml://` needs `azureml-fsspec`, `abfs://` needs `adlfs`.

Prediction-log and collected-data sources hold users' requests only by default: rows that our
own pipeline sent (the smoke test, canary probes: the local endpoint logs their `x-mlops-source`
header as `source`, Azure ML collects it when the deployment captures that header) are left out
and counted in `LoadedData.left_out`, unless `include_sources` names their label (or holds
`all`). Shadow (mirrored) copies are left out unless `include_shadow`.

Prediction-log and collected-data sources take a time window (`since` inclusive, `until`
exclusive); a table takes one when `time_column` names a column. An empty window is an InputError
("no rows between …"), like every problem a user can fix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.errors import BackendError, InputError
from mlops_actions.redact import redact_uri

if TYPE_CHECKING:
    import pandas as pd

SourceKind = Literal["table", "predictions", "collected"]

PREDICTIONS_PREFIX = "predictions:"
PREDICTION_LOG_NAME = "predictions.jsonl"
PREDICTION_COLUMN = "prediction"
SCORE_COLUMN = "prediction_score"
META_COLUMNS = (
    "request_id",
    "row",
    "time",
    "deployment",
    "model_name",
    "model_version",
    "shadow",
    "source",
    "prediction",
    "score",
)
"""Columns of `LoadedData.meta` (the same rows as `LoadedData.frame`)."""

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PARTITION = re.compile(r"/(\d{4})/(\d{2})/(\d{2})(?:/(\d{2}))?(?:/|$)")
_INPUT_COLLECTIONS = ("model_inputs", "request")
_OUTPUT_COLLECTIONS = ("model_outputs", "response")
ALL_SOURCES = "all"
"""In `include_sources`: keep the rows of every traffic source."""
_SOURCE_LABEL = re.compile(r"^[a-z][a-z0-9-]{0,31}$")  # the labels the local router accepts
_SOURCE_KEYS = ("xmlopssource",)  # the header's name, as collected (lower case, no dashes)


@dataclass(frozen=True)
class DataSource:
    """One place monitoring data comes from (see the module docstring for the forms)."""

    kind: SourceKind
    location: str
    path: Path | None = None
    rev: str | None = None

    def describe(self) -> str:
        """How reports name the source: the path or URL, the revision, the kind."""
        if self.kind == "predictions":
            return f"prediction log {self.location}"
        if self.kind == "collected":
            return f"collected data {_redact(self.location)}"
        return f"{self.location} at {self.rev}" if self.rev else self.location


@dataclass(frozen=True)
class TimeWindow:
    """[since, until) in UTC; either end may be open."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.since is None and self.until is None

    def describe(self) -> str:
        return f"{_stamp(self.since) if self.since else 'the start'} and " + (
            _stamp(self.until) if self.until else "now"
        )

    def contains_hours(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) overlaps the window (for pruning time partitions)."""
        return (self.until is None or start < self.until) and (
            self.since is None or end > self.since
        )


@dataclass
class LoadedData:
    """A source read into memory.

    `frame` holds the columns drift compares (a table as read; for prediction sources the inputs,
    then `prediction` and, when the model gives one, `prediction_score`). `meta` (prediction
    sources only) holds `META_COLUMNS` for the same rows. `total_rows` counts rows before the
    time window; `version` names the bytes of a table (DVC rev + md5, or a content hash).
    """

    frame: pd.DataFrame
    source: DataSource
    total_rows: int
    window: TimeWindow = field(default_factory=TimeWindow)
    meta: pd.DataFrame | None = None
    version: str | None = None
    notes: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)
    """Rows inside the window that were left out because our pipeline sent them: label → rows."""

    @property
    def prediction_columns(self) -> list[str]:
        return [c for c in (PREDICTION_COLUMN, SCORE_COLUMN) if c in self.frame.columns]


# ---------------------------------------------------------------- naming a source


def parse_source(
    value: str | Path,
    *,
    base_dir: Path | None = None,
    rev: str | None = None,
    state_dir: Path | None = None,
) -> DataSource:
    """Turn `--current`/`--reference` text (or a path from mlops.yaml) into a DataSource.

    Relative paths start at `base_dir` (the folder of mlops.yaml) when given, else at the working
    directory. `predictions:` alone means the endpoint under `state_dir` (default
    `./.mlops/endpoint`). Raises InputError for an empty value.
    """
    if isinstance(value, Path):
        value = _config_path_text(value, base_dir)
    text = value.strip()
    if not text:
        raise InputError("a data source is empty;", hint="pass a path, predictions: or a URL.")
    if text.lower().startswith(PREDICTIONS_PREFIX) and not _URL.match(text):
        rest = text[len(PREDICTIONS_PREFIX) :].strip()
        if rest:
            return _prediction_source(_resolve(Path(rest), base_dir))
        root = state_dir or Path(".mlops") / "endpoint"
        return DataSource(
            "predictions", str(root / PREDICTION_LOG_NAME), root / PREDICTION_LOG_NAME
        )
    if _URL.match(text):
        if rev is not None:
            raise InputError(
                f"a revision ({rev}) was given for {_redact(text)}, which is not in git/DVC;",
                hint="drop the --*-rev flag for URL sources.",
            )
        return DataSource("collected", text)
    path = _resolve(Path(text), base_dir)
    if rev is None and (path.suffix.lower() == ".jsonl" or _is_endpoint_dir(path)):
        return _prediction_source(path)
    return DataSource("table", str(path), path, rev)


def _config_path_text(path: Path, base_dir: Path | None) -> str:
    """mlops.yaml paths are resolved against the config folder, which mangles `predictions:` and
    URLs (`azureml://x` → `<dir>/azureml:/x`); recover what was written."""
    if base_dir is not None:
        try:
            rel = path.relative_to(base_dir)
        except ValueError:
            rel = None
        if rel is not None and rel.parts and rel.parts[0].endswith(":"):
            head, rest = rel.parts[0], "/".join(rel.parts[1:])
            if head.lower() == PREDICTIONS_PREFIX:
                return head + rest
            if head.lower() == "file:":  # file:///abs/path lost its empty host
                return f"file:///{rest}"
            return f"{head}//{rest}"
    return str(path)


def _resolve(path: Path, base_dir: Path | None) -> Path:
    path = path.expanduser()
    if base_dir is not None and not path.is_absolute():
        return base_dir / path
    return path


def _is_endpoint_dir(path: Path) -> bool:
    return path.is_dir() and (
        (path / PREDICTION_LOG_NAME).is_file() or (path / "state.json").is_file()
    )


def _prediction_source(path: Path) -> DataSource:
    if path.is_dir():
        path = path / PREDICTION_LOG_NAME
    return DataSource("predictions", str(path), path)


# ---------------------------------------------------------------- time windows


def parse_time(value: str, *, now: datetime | None = None, flag: str = "--since") -> datetime:
    """ISO 8601 date or time (naive = UTC), or a duration back from now: 30m, 24h, 7d, 2w."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2).lower()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{flag} {value!r} is not a time;",
            hint="use ISO 8601 (2024-05-01 or 2024-05-01T12:00:00Z) or a duration such as 7d.",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def time_window(since: str | None, until: str | None, *, now: datetime | None = None) -> TimeWindow:
    """The window named by `--since`/`--until`; InputError when it is empty or reversed."""
    now = now or datetime.now(UTC)
    start = parse_time(since, now=now, flag="--since") if since else None
    end = parse_time(until, now=now, flag="--until") if until else None
    if start is not None and end is not None and end <= start:
        raise InputError(
            f"--until ({_stamp(end)}) is not after --since ({_stamp(start)});",
            hint="swap them, or widen the window.",
        )
    return TimeWindow(start, end)


def _stamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- traffic sources


def parse_include_sources(value: str, *, flag: str = "--include-source") -> frozenset[str]:
    """`probe,smoke` → {"probe", "smoke"}; `all` keeps every source; empty: users only."""
    labels = frozenset(p.strip().lower() for p in value.split(",") if p.strip())
    bad = sorted(label for label in labels if not _SOURCE_LABEL.match(label))
    if bad:
        raise InputError(
            f"{flag} {value!r}: {bad[0]!r} is not a traffic source label;",
            hint=f"name labels such as probe,smoke, or {ALL_SOURCES}.",
        )
    return labels


def describe_left_out(left_out: Mapping[str, int]) -> str:
    """`52 rows (probe 40, smoke 12)`."""
    parts = ", ".join(f"{label} {rows:,}" for label, rows in sorted(left_out.items()))
    return f"{sum(left_out.values()):,} rows ({parts})"


# ---------------------------------------------------------------- loading


def load_source(
    source: DataSource,
    *,
    window: TimeWindow | None = None,
    time_column: str | None = None,
    include_shadow: bool = False,
    include_sources: Collection[str] = (),
    with_inputs: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> LoadedData:
    """Read a source, keep the rows inside `window`; raises InputError (or BackendError for a
    remote store that fails) with one actionable message. `with_inputs=False` skips the inputs of
    prediction logs (only `meta` is needed). `include_sources`: see the module docstring."""
    window = window or TimeWindow()
    if source.kind == "table":
        return _load_table(source, window, time_column)
    if source.kind == "predictions":
        loaded = load_prediction_log(
            source,
            window=window,
            include_shadow=include_shadow,
            include_sources=include_sources,
            with_inputs=with_inputs,
        )
    else:
        loaded = load_collected_data(
            source,
            window=window,
            include_sources=include_sources,
            storage_options=storage_options,
        )
    return loaded


def _load_table(source: DataSource, window: TimeWindow, time_column: str | None) -> LoadedData:
    import pandas as pd

    from mlops_actions.data import data_version, load_table

    assert source.path is not None
    frame = load_table(source.path, rev=source.rev)
    try:
        version: str | None = data_version(source.path, rev=source.rev).text
    except InputError:
        version = None
    total = len(frame)
    if time_column is None:
        if not window.is_open:
            raise InputError(
                f"--since/--until need a time column to filter {source.describe()};",
                hint="pass --time-column NAME, or use the prediction log as the source.",
            )
        return LoadedData(frame, source, total, window, version=version)
    if time_column not in frame.columns:
        raise InputError(
            f"time column {time_column!r} is not in {source.describe()};",
            hint=f"columns are: {_names(frame.columns)}.",
        )
    times = pd.to_datetime(frame[time_column], utc=True, errors="coerce")
    keep = _in_window(times, window)
    selected = frame.loc[keep].reset_index(drop=True)
    if selected.empty:
        raise InputError(_empty_window_message(source, window, times), hint=_WIDEN)
    return LoadedData(selected, source, total, window, version=version)


_WIDEN = "widen --since/--until, or check that the source is the right one."


def _in_window(times: pd.Series, window: TimeWindow) -> pd.Series:
    import pandas as pd

    keep = pd.Series(True, index=times.index)
    if window.since is not None:
        keep &= times >= pd.Timestamp(window.since)
    if window.until is not None:
        keep &= times < pd.Timestamp(window.until)
    return keep & times.notna() if not window.is_open else keep


def _empty_window_message(source: DataSource, window: TimeWindow, times: pd.Series) -> str:
    valid = times.dropna()
    if valid.empty:
        seen = "it has no rows with a time"
    else:
        seen = f"its {len(valid)} rows run from {_stamp(valid.min())} to {_stamp(valid.max())}"
    return f"no rows between {window.describe()} in {source.describe()} ({seen});"


def load_prediction_log(
    source: DataSource,
    *,
    window: TimeWindow | None = None,
    include_shadow: bool = False,
    include_sources: Collection[str] = (),
    with_inputs: bool = True,
) -> LoadedData:
    """The local endpoint's prediction log as inputs + `prediction` (+ `prediction_score`).

    Shadow (mirrored) predictions are left out unless `include_shadow`: they repeat the inputs of
    the request they mirror. Predictions of our pipeline's requests (a `source` label) are left
    out unless `include_sources` names the label (or holds `all`). `with_inputs=False` reads
    only `meta` (faster). Large logs are parsed by Arrow's JSON reader; a log it cannot type
    (mixed value types, a damaged line) is read record by record with
    `predlog.read_prediction_log`, which defines the format. Raises InputError when the log is
    missing, the window is empty, or it holds only the pipeline's requests.
    """
    from mlops_actions.backends.local_endpoint.predlog import read_prediction_log

    assert source.path is not None
    path = source.path
    if not path.is_file():
        raise InputError(
            f"prediction log not found: {path};",
            hint="start the endpoint (`mlops endpoint up`) and send it requests, or pass the "
            "path of predictions.jsonl.",
        )
    window = window or TimeWindow()
    fast = _arrow_log(path, include_shadow=include_shadow, with_inputs=with_inputs)
    if fast is not None:
        meta, inputs = fast
    else:
        records = read_prediction_log(path)
        if not include_shadow:
            records = (r for r in records if not r.get("shadow"))
        meta, inputs = _rows_to_frames(_log_rows(records), with_inputs=with_inputs)
    return _frames_to_data(
        source, meta, inputs, window, include_sources, what="predictions in the log"
    )


def _log_rows(records: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], Any]]:
    for record in records:
        inputs = record.get("inputs")
        meta = {
            "request_id": record.get("request_id"),
            "row": record.get("row", 0),
            "time": record.get("ts") if record.get("ts") is not None else record.get("time"),
            "deployment": record.get("deployment"),
            "model_name": record.get("model_name"),
            "model_version": record.get("model_version"),
            "shadow": bool(record.get("shadow", False)),
            "source": _label(record.get("source")),
            "prediction": record.get("output"),
            "score": record.get("score"),
        }
        yield meta, inputs if isinstance(inputs, dict) else {}


def _arrow_log(
    path: Path, *, include_shadow: bool, with_inputs: bool
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(meta, inputs) of a log through pyarrow's JSON reader; None when it cannot type the log."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pj
    except ImportError:  # pragma: no cover - pyarrow comes with the drift extra
        return None
    import pandas as pd

    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # a torn last line was never acknowledged: skip it, as predlog
    if end == 0:
        return None
    try:
        table = pj.read_json(pa.BufferReader(pa.py_buffer(data).slice(0, end)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    del data
    names = set(table.column_names)
    nested = (pa.types.is_struct, pa.types.is_list, pa.types.is_large_list, pa.types.is_map)
    if "output" in names and any(t(table.schema.field("output").type) for t in nested):
        return None  # multi-output models: the record reader turns those into JSON text
    if "shadow" in names:
        if not pa.types.is_boolean(table.schema.field("shadow").type):
            return None
        if not include_shadow:
            table = table.filter(pc.invert(pc.fill_null(table.column("shadow"), False)))
    rows = table.num_rows

    def column(name: str, default: object = None) -> Any:
        if name in names:
            return table.column(name).to_pandas()
        return pd.Series([default] * rows, dtype=object)

    time = column("ts") if "ts" in names else column("time")
    if "ts" in names and "time" in names and bool(time.isna().any()):
        time = time.astype(object).where(time.notna(), column("time"))
    meta = pd.DataFrame(
        {
            "request_id": column("request_id"),
            "row": column("row", 0),
            "time": time,
            "deployment": column("deployment"),
            "model_name": column("model_name"),
            "model_version": column("model_version"),
            "shadow": pc.fill_null(table.column("shadow"), False).to_pandas()
            if "shadow" in names
            else False,
            "source": column("source").map(_label).astype(object),
            "prediction": column("output"),
            "score": column("score"),
        },
        columns=list(META_COLUMNS),
    )
    inputs = pd.DataFrame(index=meta.index)
    if with_inputs and "inputs" in names:
        field = table.schema.field("inputs")
        if pa.types.is_null(field.type):  # no record had inputs
            return meta, inputs
        if not pa.types.is_struct(field.type) or any(
            any(t(f.type) for t in nested) for f in field.type
        ):
            return None  # nested inputs: keep the record reader's plain Python values
        children = table.column("inputs").combine_chunks().flatten()
        inputs = pa.Table.from_arrays(children, names=[f.name for f in field.type]).to_pandas()
    return meta, inputs


def _rows_to_frames(
    rows: Iterable[tuple[dict[str, Any], dict[str, Any]]], *, with_inputs: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    metas: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    for meta, row in rows:
        metas.append(meta)
        if with_inputs:
            inputs.append(row)
    meta_frame = pd.DataFrame.from_records(metas, columns=list(META_COLUMNS))
    if not with_inputs:
        return meta_frame, pd.DataFrame(index=meta_frame.index)
    frame = pd.DataFrame.from_records(inputs, index=meta_frame.index) if inputs else None
    return meta_frame, frame if frame is not None else pd.DataFrame(index=meta_frame.index)


def _frames_to_data(
    source: DataSource,
    meta_frame: pd.DataFrame,
    frame: pd.DataFrame,
    window: TimeWindow,
    include_sources: Collection[str],
    *,
    what: str,
) -> LoadedData:
    if meta_frame.empty:
        raise InputError(
            f"no {what}: {source.describe()} is empty;",
            hint="send the endpoint some requests first, or point at another source.",
        )
    meta_frame["time"] = _to_times(meta_frame["time"])
    keep = _in_window(meta_frame["time"], window)
    total = len(meta_frame)
    if not bool(keep.any()):
        raise InputError(_empty_window_message(source, window, meta_frame["time"]), hint=_WIDEN)
    labels = meta_frame["source"]
    pipeline = labels.notna() & keep & ~labels.isin(list(include_sources))
    if ALL_SOURCES in include_sources:
        pipeline &= False
    left_out = {str(k): int(v) for k, v in labels[pipeline].value_counts().items()}
    if left_out and not bool((keep & ~pipeline).any()):
        raise InputError(
            f"no users' requests between {window.describe()} in {source.describe()}: its "
            f"{describe_left_out(left_out)} were sent by the pipeline (smoke test, probes);",
            hint="send the endpoint users' requests, or pass --include-source "
            f"{','.join(sorted(left_out))} to count these.",
        )
    keep &= ~pipeline
    if not bool(keep.all()):
        positions = keep.to_numpy().nonzero()[0]
        meta_frame = meta_frame.iloc[positions].reset_index(drop=True)
        frame = frame.iloc[positions].reset_index(drop=True)
    notes: list[str] = []
    if left_out:
        notes.append(
            f"left out {describe_left_out(left_out)} of pipeline traffic (smoke test, probes): "
            f"pass --include-source {','.join(sorted(left_out))} to count them"
        )
    frame = _add_predictions(frame, meta_frame, notes)
    return LoadedData(frame, source, total, window, meta=meta_frame, notes=notes, left_out=left_out)


def _label(value: Any) -> str | None:
    """A record's traffic source label; None for users' requests."""
    return value if isinstance(value, str) and value else None


def _to_times(values: pd.Series) -> pd.Series:
    import pandas as pd

    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return pd.to_datetime(numeric, unit="s", utc=True)
    return pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="ISO8601")


def _add_predictions(frame: pd.DataFrame, meta: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The model's output as `prediction` and its score as `prediction_score` (when it has one)."""
    frame = frame.copy()
    for name, column in ((PREDICTION_COLUMN, "prediction"), (SCORE_COLUMN, "score")):
        values = meta[column]
        if values.isna().all():
            continue
        if name in frame.columns:
            notes.append(f"an input column is named {name!r}: the model's output was not added")
            continue
        frame[name] = _flat(values)
    both = SCORE_COLUMN in frame.columns and PREDICTION_COLUMN in frame.columns
    if both and frame[SCORE_COLUMN].equals(frame[PREDICTION_COLUMN]):  # a regressor
        frame = frame.drop(columns=[SCORE_COLUMN])
    return frame


def _flat(values: pd.Series) -> pd.Series:
    """Outputs that are lists or dicts (multi-output models) become their JSON text."""
    if values.map(lambda v: isinstance(v, (list, dict))).any():
        return values.map(lambda v: json.dumps(v, sort_keys=True) if v is not None else None)
    return values.infer_objects()


# ---------------------------------------------------------------- Azure ML collected data


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
    files = _jsonl_files(fs, root, source)
    by_collection: dict[str, list[str]] = {}
    for file in files:
        by_collection.setdefault(_collection_of(file, root), []).append(file)
    input_names = [c for c in by_collection if c in _INPUT_COLLECTIONS]
    output_names = [c for c in by_collection if c in _OUTPUT_COLLECTIONS]
    if input_names:
        input_files = [f for c in input_names for f in by_collection[c]]
    else:
        input_files = [f for c, fs_ in by_collection.items() if c not in output_names for f in fs_]
    output_files = [f for c in output_names for f in by_collection[c]]
    if not input_files:
        raise InputError(
            f"{source.describe()} holds model outputs but no model inputs;",
            hint="enable the model_inputs collection on the deployment, or point at its folder.",
        )
    pruned = [f for f in input_files if _partition_overlaps(f, window)]
    outputs = _read_events(fs, [f for f in output_files if _partition_overlaps(f, window)])
    by_id: dict[str, list[Any]] = {}
    for event in outputs:
        cid = event.get("correlationid")
        if cid is not None:
            by_id.setdefault(str(cid), []).extend(_event_rows(event))

    def rows() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for event in _read_events(fs, pruned):
            cid = event.get("correlationid")
            answers = by_id.get(str(cid), []) if cid is not None else []
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

    meta, inputs = _rows_to_frames(rows())
    loaded = _frames_to_data(source, meta, inputs, window, include_sources, what="collected rows")
    if not output_files:
        loaded.notes.append("no model_outputs collection: prediction drift is not computed")
    return loaded


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
        raise InputError(f"cannot open {_redact(url)} ({detail});", hint=hint) from None
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
                f"cannot read {_redact(file)}: {type(exc).__name__}: {exc};",
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
                return _label(str(value).strip().lower()) if value is not None else None
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


_redact = redact_uri  # a URL without userinfo, SAS signatures or tokens (mlops_actions.redact)


def _names(columns: Iterable[object]) -> str:
    shown = [str(c) for c in columns]
    return ", ".join(shown[:20]) + (", …" if len(shown) > 20 else "")
