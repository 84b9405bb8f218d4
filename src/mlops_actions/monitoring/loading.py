"""Reading one monitoring source (a table, a prediction log, collected data) inside a window.

`load_source` picks the reader by the source's kind; the readers share the types and window rules
of `monitoring.sources`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from mlops_actions.errors import InputError
from mlops_actions.monitoring.collected_data import load_collected_data
from mlops_actions.monitoring.prediction_log import load_prediction_log
from mlops_actions.monitoring.sources import (
    WIDEN,
    DataSource,
    LoadedData,
    TimeWindow,
    column_names,
    empty_window_message,
    in_window,
)


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
            hint=f"columns are: {column_names(frame.columns)}.",
        )
    times = pd.to_datetime(frame[time_column], utc=True, errors="coerce")
    keep = in_window(times, window)
    selected = frame.loc[keep].reset_index(drop=True)
    if selected.empty:
        raise InputError(empty_window_message(source, window, times), hint=WIDEN)
    return LoadedData(selected, source, total, window, version=version)
