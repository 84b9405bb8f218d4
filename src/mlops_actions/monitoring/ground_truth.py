"""Ground truth for performance-report: the labels table read, deduplicated and joined to the
prediction log by request id (and `row`, when the labels have that column).

Label quality is reported, not hidden: duplicate keys (identical, or conflicting: the latest
label wins), labels that match no prediction, labels that arrived after their prediction's window
had closed (late) or before the prediction, null labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

_EXAMPLES = 3


@dataclass(frozen=True, kw_only=True)
class LabelTable:
    """Where the ground truth is, and which of its columns hold what."""

    path: Path
    key_column: str
    label_column: str
    time_column: str | None = None
    """When each label arrived (to count late labels); None: not known."""
    rev: str | None = None
    """Git revision at which a DVC-tracked table is read."""

    def describe(self) -> str:
        return str(self.path) + (f" at {self.rev}" if self.rev else "")


@dataclass(frozen=True)
class LabelQuality:
    """What the labels hold besides usable labels: duplicates, strays, late ones."""

    labels: int
    matched: int
    unmatched: int
    unmatched_examples: tuple[str, ...]
    duplicates: int
    conflicting: int
    null_labels: int
    late: int | None
    before_prediction: int | None
    ambiguous_predictions: int


def read_labels(table: LabelTable) -> tuple[pd.DataFrame, dict[str, int]]:
    """Labels keyed by text id (and row), one per key: the latest of duplicates."""
    import pandas as pd

    from mlops_actions.data import load_table

    raw = load_table(table.path, rev=table.rev)
    where = f"the labels in {table.path}"
    wanted = [table.key_column, table.label_column]
    if table.time_column:
        wanted.append(table.time_column)
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise InputError(
            f"{where} have no column {missing[0]!r};",
            hint=f"columns are: {', '.join(map(str, raw.columns[:20]))}; set "
            "monitor.ground_truth.key_column/label_column/time_column or the flags.",
        )
    total = len(raw)
    frame = pd.DataFrame(
        {"key": request_keys(raw[table.key_column]), "label": raw[table.label_column]}
    )
    frame["row"] = pd.to_numeric(raw["row"], errors="coerce") if "row" in raw.columns else 0
    if table.time_column:
        frame["label_time"] = pd.to_datetime(raw[table.time_column], utc=True, errors="coerce")
    else:
        frame["label_time"] = pd.NaT
    frame = frame[frame["key"].notna()]
    null_labels = int(frame["label"].isna().sum())
    frame = frame[frame["label"].notna()]
    frame["order"] = range(len(frame))
    keys = ["key", "row"]
    dup = frame[frame.duplicated(keys, keep=False)]
    duplicates = int(len(dup) - dup.groupby(keys).ngroups) if len(dup) else 0
    conflicting = int((dup.groupby(keys)["label"].nunique() > 1).sum()) if len(dup) else 0
    frame = frame.sort_values(["label_time", "order"], na_position="first", kind="stable")
    frame = frame.drop_duplicates(keys, keep="last").drop(columns=["order"])
    return frame, {
        "labels": total,
        "duplicates": duplicates,
        "conflicting": conflicting,
        "null_labels": null_labels,
    }


def request_keys(values: pd.Series) -> pd.Series:
    """Ids as text, whatever the reader guessed (1234 and 1234.0 and "1234" are one id)."""
    import pandas as pd

    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if len(whole) and bool((whole == whole.round()).all()):
            values = values.astype("Int64")
    present = values.notna().to_numpy()
    out = pd.Series(None, index=values.index, dtype=object)
    text = values[present].astype(str).str.strip()
    out[present] = text.where(text != "", None).to_numpy()
    return out


def join_labels(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    table: LabelTable,
    counts: Mapping[str, int],
) -> tuple[pd.DataFrame, LabelQuality]:
    import pandas as pd

    frame = predictions.copy()
    frame["key"] = request_keys(frame["request_id"])
    frame["row"] = pd.to_numeric(frame["row"], errors="coerce").fillna(0).astype("int64")
    frame["shadow"] = frame["shadow"].fillna(False).astype(bool)
    frame["deployment_key"] = frame["deployment"].fillna("(unknown)").astype(str)
    frame["version_key"] = frame["model_version"].map(
        lambda v: "(unknown)" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    )
    by_row = bool((labels["row"] != 0).any())
    ambiguous = 0
    if not by_row:
        # Without a `row` column a label names a whole request: only one-row requests match it.
        pairs = frame.loc[~frame["shadow"], ["key", "row"]].drop_duplicates()
        multi = pairs.loc[pairs.duplicated("key", keep=False), "key"].unique()
        is_multi = frame["key"].isin(multi)
        ambiguous = int((is_multi & ~frame["shadow"]).sum())
        labels = labels.drop(columns=["row"])
        joined = frame.merge(labels, on="key", how="left")
        joined.loc[is_multi.to_numpy(), ["label", "label_time"]] = None
    else:
        labels = labels.assign(row=labels["row"].fillna(0).astype("int64"))
        joined = frame.merge(labels, on=["key", "row"], how="left")
    known = set(frame["key"].dropna())
    label_keys = labels["key"]
    unmatched_mask = ~label_keys.isin(known)
    unmatched = int(unmatched_mask.sum())
    examples = tuple(str(k) for k in label_keys[unmatched_mask].head(_EXAMPLES))
    if len(labels) and unmatched == len(labels):
        sample = ", ".join(repr(k) for k in examples)
        ids = ", ".join(repr(str(k)) for k in frame["key"].dropna().head(_EXAMPLES))
        raise InputError(
            f"none of the {len(labels)} labels in {table.path} matches a prediction: "
            f"{table.key_column} values such as {sample} are not request ids of the log "
            f"(which look like {ids or 'nothing: the log has no ids'});",
            hint="check monitor.ground_truth.key_column (--key-column) and that the labels "
            "belong to this endpoint.",
        )
    quality = LabelQuality(
        labels=counts["labels"],
        matched=int(len(labels) - unmatched),
        unmatched=unmatched,
        unmatched_examples=examples,
        duplicates=counts["duplicates"],
        conflicting=counts["conflicting"],
        null_labels=counts["null_labels"],
        late=None,
        before_prediction=None,
        ambiguous_predictions=ambiguous,
    )
    return joined, quality


def label_timing(
    joined: pd.DataFrame, origin: datetime, step: timedelta, has_time: bool
) -> tuple[int | None, int | None]:
    """(late, before prediction) among labelled served rows, when labels carry a time."""
    import pandas as pd

    if not has_time:
        return None, None
    rows = joined[joined["label"].notna() & ~joined["shadow"] & joined["label_time"].notna()]
    window_end = pd.Timestamp(origin) + (rows["window"] + 1) * pd.Timedelta(step)
    late = int((rows["label_time"] > window_end).sum())
    before = int((rows["label_time"] < rows["time"]).sum())
    return late, before


def with_timing(quality: LabelQuality, late: int | None, before: int | None) -> LabelQuality:
    from dataclasses import replace

    return replace(quality, late=late, before_prediction=before)
