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

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlops_actions.errors import InputError
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
ALL_SOURCES = "all"
"""In `include_sources`: keep the rows of every traffic source."""
_SOURCE_LABEL = re.compile(r"^[a-z][a-z0-9-]{0,31}$")  # the labels the local router accepts


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
            return f"collected data {safe_url(self.location)}"
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
        return f"{stamp(self.since) if self.since else 'the start'} and " + (
            stamp(self.until) if self.until else "now"
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
                f"a revision ({rev}) was given for {safe_url(text)}, which is not in git/DVC;",
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
            f"--until ({stamp(end)}) is not after --since ({stamp(start)});",
            hint="swap them, or widen the window.",
        )
    return TimeWindow(start, end)


def stamp(moment: datetime) -> str:
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


WIDEN = "widen --since/--until, or check that the source is the right one."


def in_window(times: pd.Series, window: TimeWindow) -> pd.Series:
    import pandas as pd

    keep = pd.Series(True, index=times.index)
    if window.since is not None:
        keep &= times >= pd.Timestamp(window.since)
    if window.until is not None:
        keep &= times < pd.Timestamp(window.until)
    return keep & times.notna() if not window.is_open else keep


def empty_window_message(source: DataSource, window: TimeWindow, times: pd.Series) -> str:
    valid = times.dropna()
    if valid.empty:
        seen = "it has no rows with a time"
    else:
        seen = f"its {len(valid)} rows run from {stamp(valid.min())} to {stamp(valid.max())}"
    return f"no rows between {window.describe()} in {source.describe()} ({seen});"


safe_url = redact_uri
"""A URL without userinfo, SAS signatures or tokens (mlops_actions.redact)."""


def column_names(columns: Iterable[object]) -> str:
    shown = [str(c) for c in columns]
    return ", ".join(shown[:20]) + (", …" if len(shown) > 20 else "")
