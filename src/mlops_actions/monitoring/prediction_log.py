"""The local endpoint's prediction log as monitoring data (see `monitoring.sources`): inputs as
columns, the model's output as `prediction` (and `prediction_score`), the rest as `meta`.

The row-to-frame helpers here are shared with `monitoring.collected_data`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions.errors import InputError
from mlops_actions.monitoring.sources import (
    ALL_SOURCES,
    META_COLUMNS,
    PREDICTION_COLUMN,
    SCORE_COLUMN,
    WIDEN,
    DataSource,
    LoadedData,
    TimeWindow,
    describe_left_out,
    empty_window_message,
    in_window,
)

if TYPE_CHECKING:
    import pandas as pd


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
        meta, inputs = rows_to_frames(_log_rows(records), with_inputs=with_inputs)
    return frames_to_data(
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
            "source": source_label(record.get("source")),
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
    meta = _arrow_meta(table)
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


def _arrow_meta(table: Any) -> pd.DataFrame:
    """`META_COLUMNS` of an Arrow table of log records (absent fields as nulls)."""
    import pandas as pd
    import pyarrow.compute as pc

    names = set(table.column_names)
    rows = table.num_rows

    def column(name: str, default: object = None) -> Any:
        if name in names:
            return table.column(name).to_pandas()
        return pd.Series([default] * rows, dtype=object)

    time = column("ts") if "ts" in names else column("time")
    if "ts" in names and "time" in names and bool(time.isna().any()):
        time = time.astype(object).where(time.notna(), column("time"))
    return pd.DataFrame(
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
            "source": column("source").map(source_label).astype(object),
            "prediction": column("output"),
            "score": column("score"),
        },
        columns=list(META_COLUMNS),
    )


def rows_to_frames(
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


def frames_to_data(
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
    keep = in_window(meta_frame["time"], window)
    total = len(meta_frame)
    if not bool(keep.any()):
        raise InputError(empty_window_message(source, window, meta_frame["time"]), hint=WIDEN)
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


def source_label(value: Any) -> str | None:
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
