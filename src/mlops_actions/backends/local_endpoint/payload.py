"""Scoring bodies: Azure ML's `input_data` and MLflow's `dataframe_split` / `dataframe_records` /
`instances` / `inputs`, read by the router (to log each row) and by the worker (to predict)."""

from __future__ import annotations

import json
from typing import Any, Literal

Style = Literal["azure", "mlflow"]
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
AZURE_KEY = "input_data"


class PayloadError(ValueError):
    """The body is not a scoring request we understand (answered with 400)."""


def parse_body(body: bytes) -> tuple[dict[str, Any], Style]:
    """The JSON body and which protocol it speaks; raises PayloadError."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("the body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise PayloadError(_expected())
    keys = [k for k in (AZURE_KEY, *MLFLOW_KEYS) if k in payload]
    if len(keys) != 1:
        raise PayloadError(_expected())
    return payload, "azure" if keys[0] == AZURE_KEY else "mlflow"


def _expected() -> str:
    return (
        "the body must be a JSON object with exactly one of 'input_data' (Azure ML: "
        "{columns, index, data}) or MLflow's 'dataframe_split', 'dataframe_records', "
        "'instances', 'inputs'"
    )


def _split(value: Any) -> tuple[list[Any], list[list[Any]]] | None:
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        columns = value.get("columns")
        rows = value["data"]
        if columns is None:
            return [], rows
        if isinstance(columns, list) and all(isinstance(r, list) for r in rows):
            return columns, rows
    return None


def rows_for_log(payload: dict[str, Any]) -> list[Any]:
    """One entry per input row: a {column: value} dict when the columns are known."""
    for key in (AZURE_KEY, "dataframe_split"):
        if key in payload:
            value = payload[key]
            split = _split(value)
            if split is not None:
                columns, rows = split
                if columns:
                    return [dict(zip(columns, row, strict=False)) for row in rows]
                return list(rows)
            return list(value) if isinstance(value, list) else [value]
    for key in ("dataframe_records", "instances", "inputs"):
        if key in payload:
            value = payload[key]
            if isinstance(value, list):
                return list(value)
            if (
                isinstance(value, dict)
                and value
                and all(isinstance(v, list) for v in value.values())
            ):
                length = len(next(iter(value.values())))
                return [{k: v[i] for k, v in value.items() if i < len(v)} for i in range(length)]
            return [value]
    return []


def to_mlflow(payload: dict[str, Any], input_columns: list[str] | None) -> dict[str, Any]:
    """The request in MLflow's scoring protocol (one data key, plus `params` when given).

    Azure's `input_data` becomes `dataframe_split` (columns from the body, else from the model's
    input schema) or `dataframe_records`. Raises PayloadError.
    """
    params = payload.get("params")
    if AZURE_KEY not in payload:
        out = {k: payload[k] for k in MLFLOW_KEYS if k in payload}
    else:
        value = payload[AZURE_KEY]
        split = _split(value)
        if split is not None:
            columns, rows = split
            if not columns:
                if not input_columns:
                    raise PayloadError("input_data has no 'columns' and the model has no schema")
                columns = input_columns
            out = {"dataframe_split": {"columns": columns, "data": rows}}
        elif isinstance(value, list) and all(isinstance(r, dict) for r in value):
            out = {"dataframe_records": value}
        elif isinstance(value, list) and all(isinstance(r, list) for r in value):
            if not input_columns:
                raise PayloadError("input_data rows have no column names and the model no schema")
            out = {"dataframe_split": {"columns": input_columns, "data": value}}
        else:
            raise PayloadError(
                "input_data must be {columns, index, data}, a list of row objects or a list of rows"
            )
    if params is not None:
        out["params"] = params
    return out


def answer_body(style: Style, predictions: list[Any]) -> bytes:
    """The client's answer: a bare list for Azure ML bodies, `{"predictions": …}` for MLflow's."""
    value: Any = predictions if style == "azure" else {"predictions": predictions}
    return json.dumps(value, separators=(",", ":")).encode()
