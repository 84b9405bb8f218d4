"""The scoring contract as an OpenAPI 3.1 document, as Azure ML endpoints publish `/swagger.json`.

Built from a deployment's MLflow signature (MLflow's `Schema.to_dict()`: `[{"name", "type",
"required"}, ...]` for column-based schemas) without importing MLflow. The request body is one of
Azure ML's `input_data` (`{columns, index, data}`), MLflow's `dataframe_split` (the same split
form) or `dataframe_records` (one object per row); rows hold the model's input columns in
signature order. A model without a column signature gets open row schemas.
"""

from __future__ import annotations

from typing import Any

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
FLOAT32_MAX = 3.4028234663852886e38

# MLflow column types → JSON Schema.
_TYPES: dict[str, dict[str, Any]] = {
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer", "format": "int32", "minimum": INT32[0], "maximum": INT32[1]},
    "long": {"type": "integer", "format": "int64", "minimum": INT64[0], "maximum": INT64[1]},
    "float": {
        "type": "number",
        "format": "float",
        "minimum": -FLOAT32_MAX,
        "maximum": FLOAT32_MAX,
    },
    "double": {"type": "number", "format": "double"},
    "string": {"type": "string"},
    "binary": {"type": "string", "contentEncoding": "base64"},
    "datetime": {"type": "string", "format": "date-time"},
}

# What the endpoint answers besides 200 (`error` says why).
ERRORS: dict[str, str] = {
    "400": "the body is not a scoring request, or does not match the model's input schema",
    "403": "the request came from a web page of another origin",
    "404": "no deployment of that name (the `azureml-model-deployment` header)",
    "408": "the request did not arrive within the read timeout",
    "413": "the body is larger than the endpoint's limit",
    "415": "the body is not JSON (`Content-Type: application/json`)",
    "421": "the `Host` header does not name this endpoint",
    "500": "the model raised an error while predicting, or the prediction could not be logged",
    "502": "the deployment failed, crashed or answered something that is not a prediction",
    "503": "no deployment receives traffic, or the endpoint serves too many connections",
    "504": "the deployment did not answer within the request timeout",
}


def column_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one MLflow column (or array/object element) spec."""
    kind = spec.get("type")
    if kind == "array" and isinstance(spec.get("items"), dict):
        schema: dict[str, Any] = {"type": "array", "items": column_schema(spec["items"])}
    elif kind == "object" and isinstance(spec.get("properties"), dict):
        properties = {
            str(name): column_schema(value)
            for name, value in spec["properties"].items()
            if isinstance(value, dict)
        }
        required = [
            str(n)
            for n, v in spec["properties"].items()
            if isinstance(v, dict) and v.get("required", True)
        ]
        schema = {"type": "object", "properties": properties, "required": required}
    else:
        schema = dict(_TYPES.get(str(kind), {}))
    if spec.get("required", True) is False and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def _columns(inputs: Any) -> list[dict[str, Any]] | None:
    """The named input columns, or None when the signature is not column-based."""
    if not isinstance(inputs, list) or not inputs:
        return None
    if not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in inputs):
        return None
    if any(c.get("type") == "tensor" for c in inputs):
        return None
    return inputs


def _request_schemas(inputs: Any) -> dict[str, dict[str, Any]]:
    columns = _columns(inputs)
    params = {"type": "object", "description": "inference parameters, when the model takes any"}
    if columns is None:
        row: dict[str, Any] = {"type": "array"}
        names: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
        record: dict[str, Any] = {"type": "object"}
    else:
        cells = [column_schema(c) for c in columns]
        row = {
            "type": "array",
            "prefixItems": cells,
            "items": False,
            "minItems": len(cells),
            "maxItems": len(cells),
        }
        names = {"type": "array", "const": [c["name"] for c in columns]}
        record = {
            "type": "object",
            "properties": {c["name"]: s for c, s in zip(columns, cells, strict=True)},
            "required": [c["name"] for c in columns if c.get("required", True)],
        }
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": names,
            "index": {
                "type": "array",
                "items": {"type": ["integer", "string"]},
                "description": "one label per row of `data` (optional)",
            },
            "data": {"type": "array", "minItems": 1, "items": row},
        },
    }

    def body(key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": [key],
            "properties": {key: value, "params": params},
            "additionalProperties": False,
        }

    return {
        "AzureInputData": body("input_data", split),
        "DataframeSplit": body("dataframe_split", split),
        "DataframeRecords": body(
            "dataframe_records", {"type": "array", "minItems": 1, "items": record}
        ),
    }


def _output_schema(outputs: Any) -> dict[str, Any]:
    if isinstance(outputs, list) and len(outputs) == 1 and isinstance(outputs[0], dict):
        return column_schema(outputs[0])  # one column: each prediction is a value
    if isinstance(outputs, list) and outputs and all(isinstance(o, dict) for o in outputs):
        return {
            "type": "object",
            "properties": {
                str(o.get("name")): column_schema(o) for o in outputs if o.get("name") is not None
            },
        }
    return {}


_REF = "#/components/schemas/"


def document(
    *,
    endpoint: str,
    url: str,
    deployment: str,
    model_name: str,
    model_version: str,
    signature: dict[str, Any] | None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `POST /score` (and `/invocations`) for one deployment."""
    operation = _operation(model_name, model_version)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{endpoint} scoring",
            "version": str(model_version),
            "description": f"Deployment {deployment} serving model {model_name} "
            f"version {model_version}.",
        },
        "servers": [{"url": url}],
        "paths": {
            "/score": {"post": {**operation, "operationId": "score"}},
            "/invocations": {"post": {**operation, "operationId": "invocations"}},
        },
        "components": {"schemas": _schemas(signature or {})},
    }


def _schemas(signature: dict[str, Any]) -> dict[str, Any]:
    """The request bodies the signature's inputs allow, its predictions, and the error body."""
    schemas: dict[str, Any] = _request_schemas(signature.get("inputs"))
    prediction = _output_schema(signature.get("outputs"))
    schemas["AzurePredictions"] = {"type": "array", "items": prediction}
    schemas["MlflowPredictions"] = {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": {"type": "array", "items": prediction}},
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    }
    return schemas


def _operation(model_name: str, model_version: str) -> dict[str, Any]:
    """The scoring operation: its headers, request body and answers."""
    return {
        "summary": f"Score rows with {model_name} version {model_version}",
        "parameters": [
            {
                "name": "azureml-model-deployment",
                "in": "header",
                "required": False,
                "description": "send the request to this deployment (bypasses the traffic split)",
                "schema": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9-]{0,62}$"},
            },
            {
                "name": "x-request-id",
                "in": "header",
                "required": False,
                "description": "the request id to log and answer (else a new one)",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": f"{_REF}AzureInputData"},
                            {"$ref": f"{_REF}DataframeSplit"},
                            {"$ref": f"{_REF}DataframeRecords"},
                        ]
                    }
                }
            },
        },
        "responses": _responses(),
    }


def _responses() -> dict[str, Any]:
    """The answers of the scoring operation: the predictions, and each error status."""
    responses: dict[str, Any] = {
        "200": {
            "description": "one prediction per row: a bare list for `input_data`, "
            "`{predictions: [...]}` for MLflow's bodies",
            "headers": {
                "x-request-id": {"schema": {"type": "string"}},
                "azureml-model-deployment": {"schema": {"type": "string"}},
            },
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": f"{_REF}AzurePredictions"},
                            {"$ref": f"{_REF}MlflowPredictions"},
                        ]
                    }
                }
            },
        }
    }
    for status, why in ERRORS.items():
        responses[status] = {
            "description": why,
            "content": {"application/json": {"schema": {"$ref": f"{_REF}Error"}}},
        }
    return responses
